/**
 * What `ctl build PATH|-` sends: the Dockerfile's text and the context, from docker's sources —
 * a directory (walked with .dockerignore), stdin holding a Dockerfile (no context), or stdin
 * holding a tar context (plain or gzip), told apart by sniffing its first bytes as docker does.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { UsageError } from './args';
import { packContext } from './build-context';
import { Dockerignore, cleanPath } from './dockerignore';

export const DEFAULT_DOCKERFILE = 'Dockerfile';

export interface BuildInput {
  dockerfile: string;
  /** the Dockerfile's name in messages: "Dockerfile", a path, or "-" */
  dockerfileName: string;
  /** the context's tar, made afresh per call; undefined: no context (a Dockerfile from stdin) */
  context: (() => AsyncIterable<Uint8Array>) | undefined;
  /**
   * names a directory context across builds (a hash of its path and ignore file), so that the daemon extracts
   * it over the last one with the same name; "" for stdin (see ctl.build.v1 context_key)
   */
  contextKey: string;
  /** removes what reading stdin left in the temporary directory */
  cleanup(): Promise<void>;
}

export interface InputOptions {
  /** -f/--file as given: a path (relative to cwd), "-" for stdin, or undefined for PATH/Dockerfile */
  file: string | undefined;
  stdin: NodeJS.ReadableStream;
  cwd: string;
  /** a context file left out (socket, fifo, device): warned about */
  onSkip?: (path: string, why: string) => void;
}

type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd';

const MAGIC: [Compression, number[]][] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** What stdin's first bytes say it is: a compressed stream, a tar, or neither (a Dockerfile). */
export function sniff(head: Buffer): Compression | 'tar' | 'text' {
  for (const [name, magic] of MAGIC) if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return name;
  return isTarHeader(head) ? 'tar' : 'text';
}

/** A first block that is a tar header: ustar's magic, or (old v7 archives) a header whose checksum adds up. */
export function isTarHeader(head: Buffer): boolean {
  if (head.length < 512) return false;
  if (head.subarray(257, 262).toString('latin1') === 'ustar') return true;
  const field = head
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : head[i]!;
  return sum === parseInt(field, 8);
}

/** Reads stdin until at least n bytes (or its end) have come; the rest stays to be read. */
async function readHead(stdin: NodeJS.ReadableStream, n: number): Promise<{ head: Buffer; rest: AsyncIterator<Buffer> }> {
  const iterator = (stdin as Readable)[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const parts: Buffer[] = [];
  let length = 0;
  while (length < n) {
    const next = await iterator.next();
    if (next.done) break;
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    parts.push(chunk);
    length += chunk.length;
  }
  return { head: Buffer.concat(parts), rest: iterator };
}

async function* replay(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length) yield head;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

async function readAll(head: Buffer, rest: AsyncIterator<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of replay(head, rest)) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

/** The Dockerfile inside a tar context: `name` (or its lower-case default) among the entries, its text. */
async function dockerfileInTar(file: string, name: string | undefined): Promise<{ text: string; name: string } | undefined> {
  const wanted = cleanPath(name ?? DEFAULT_DOCKERFILE);
  const fallback = name === undefined ? DEFAULT_DOCKERFILE.toLowerCase() : undefined;
  const extract = tar.extract();
  const source = createReadStream(file);
  source.pipe(extract as unknown as NodeJS.WritableStream);
  let found: { text: string; name: string } | undefined;
  try {
    for await (const entry of extract) {
      const entryName = cleanPath(entry.header.name.replace(/^\/+/, ''));
      const match = entry.header.type === 'file' && (entryName === wanted || (entryName === fallback && !found));
      if (!match) {
        entry.resume();
        continue;
      }
      const parts: Buffer[] = [];
      for await (const chunk of entry) parts.push(chunk as Buffer);
      found = { text: Buffer.concat(parts).toString('utf8'), name: entryName };
      if (entryName === wanted) break;
    }
  } finally {
    source.destroy();
  }
  return found;
}

/** stdin's tar (decompressed) into a private temporary file, so that it can be read twice: once for the Dockerfile, once to send. */
async function spool(head: Buffer, rest: AsyncIterator<Buffer>, gzip: boolean): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ctl-build-'));
  const file = join(dir, 'context.tar');
  try {
    const source = Readable.from(replay(head, rest));
    // zlib only when a context comes gzipped: loading it costs every other build a few milliseconds.
    if (gzip) await pipeline(source, (await import('node:zlib')).createGunzip(), createWriteStream(file, { mode: 0o600 }));
    else await pipeline(source, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`reading the context from stdin: ${(err as Error).message}`, { cause: err });
  }
  return { file, dir };
}

const REMOTE = /^(https?:\/\/|git@|git:\/\/|github\.com\/)/;

const nothing = async (): Promise<void> => undefined;

/** The Dockerfile and context for `ctl build PATH` (PATH "-": stdin). */
export async function buildInput(path: string, options: InputOptions): Promise<BuildInput> {
  if (path === '-') return stdinInput(options);
  // Not usage errors (docker's exit 1, not 125): the flags were right, the context is not there.
  if (REMOTE.test(path)) throw new Error(`unable to prepare context: remote contexts are not supported ("${path}"); give a directory or -`);
  const root = resolve(options.cwd, path);
  const info = await stat(root).catch(() => undefined);
  if (!info) throw new Error(`unable to prepare context: path "${path}" not found`);
  if (!info.isDirectory()) throw new Error(`unable to prepare context: context must be a directory: ${root}`);

  let dockerfile: string;
  let dockerfileName: string;
  let dockerfilePath: string | undefined;
  if (options.file === '-') {
    dockerfile = await readAll(Buffer.alloc(0), (options.stdin as Readable)[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
    dockerfileName = '-';
  } else {
    dockerfilePath = options.file !== undefined ? resolve(options.cwd, options.file) : join(root, DEFAULT_DOCKERFILE);
    // Docker takes a lower-case `dockerfile` when there is no `Dockerfile`.
    if (options.file === undefined && !existsSync(dockerfilePath) && existsSync(join(root, DEFAULT_DOCKERFILE.toLowerCase())))
      dockerfilePath = join(root, DEFAULT_DOCKERFILE.toLowerCase());
    try {
      dockerfile = await readFile(dockerfilePath, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`failed to read dockerfile ${dockerfilePath}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    const inside = relative(root, dockerfilePath);
    dockerfileName = !inside.startsWith('..') && !isAbsolute(inside) ? inside.split(sep).join('/') : options.file!;
  }

  // BuildKit's Dockerfile-specific ignore file (`x.Dockerfile.dockerignore` beside it) comes first.
  const specific = dockerfilePath ? `${dockerfilePath}.dockerignore` : undefined;
  const ignoreFile = specific && existsSync(specific) ? specific : join(root, '.dockerignore');
  const ignoreText = existsSync(ignoreFile) ? await readFile(ignoreFile, 'utf8') : '';
  let ignore: Dockerignore;
  try {
    ignore = Dockerignore.parse(ignoreText);
  } catch (err) {
    throw new Error(`${ignoreFile}: ${(err as Error).message}`);
  }
  // The Dockerfile always reaches the daemon (its text is in the options) and .dockerignore is
  // applied here, so neither rides in the context when it ignores them: docker's COPY and ADD
  // never copy an ignored Dockerfile or .dockerignore.
  return {
    dockerfile,
    dockerfileName,
    context: () => packContext(root, { ignore, onSkip: options.onSkip }),
    // The ignore file too: Dockerfiles with their own (x.Dockerfile.dockerignore) send other trees of one directory.
    contextKey: createHash('sha256').update(`${root}\0${ignoreFile}`).digest('hex'),
    cleanup: nothing,
  };
}

async function stdinInput(options: InputOptions): Promise<BuildInput> {
  if (options.file === '-')
    throw new UsageError('invalid argument: can\'t use stdin for both build context and dockerfile ("-f -" with PATH "-")');
  const { head, rest } = await readHead(options.stdin, 512);
  const kind = sniff(head);
  if (kind === 'text') {
    if (options.file !== undefined)
      throw new UsageError('-f/--file names a Dockerfile in a context; with a Dockerfile on stdin there is none (stdin is not a tar)');
    return { dockerfile: await readAll(head, rest), dockerfileName: '-', context: undefined, contextKey: '', cleanup: nothing };
  }
  if (kind !== 'tar' && kind !== 'gzip')
    throw new Error(`a ${kind}-compressed context on stdin is not supported: give a tar or a gzip tar`);
  const { file, dir } = await spool(head, rest, kind === 'gzip');
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const found = await dockerfileInTar(file, options.file).catch((err: unknown) => {
      throw new Error(`the ${kind === 'gzip' ? 'gzip-compressed ' : ''}context on stdin is not a tar archive: ${(err as Error).message}`);
    });
    if (!found) throw new Error(`the context from stdin has no ${options.file ?? DEFAULT_DOCKERFILE}`);
    return { dockerfile: found.text, dockerfileName: found.name, context: () => createReadStream(file), contextKey: '', cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
