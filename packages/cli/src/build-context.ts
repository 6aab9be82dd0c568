/**
 * The build context as `ctl build` sends it: the directory walked with .dockerignore's rules and
 * streamed as a tar of only what is let through. Ignored files are never opened, and an ignored
 * directory is not even listed unless an exception may match below it. Files stream in pieces
 * at the reader's pace (tar-stream's backpressure), never whole.
 */
import type { Stats } from 'node:fs';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { type Dockerignore, cleanPath } from './dockerignore';

export interface ContextEntry {
  /** relative to the context root, `/`-separated */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  stats: Stats;
  /** a symlink's target, or for a hard link the path of the entry it repeats */
  linkname?: string;
}

export interface WalkOptions {
  ignore: Dockerignore;
  /** paths (relative) sent even when .dockerignore leaves them out: the Dockerfile and .dockerignore, as docker does */
  always?: string[];
  /** a file that a tar cannot carry or the daemon would refuse (socket, fifo, device), left out */
  onSkip?: (path: string, why: string) => void;
  /** each directory listed, for tests that ask what was walked */
  onList?: (path: string) => void;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The entries of the context in tar order (a directory before what is in it, names sorted). A
 * directory left out but walked for an exception is sent only when something below it is, so
 * its mode reaches the daemon. A file with several links inside the context is sent once; the
 * others are hard links to it.
 */
export async function* walkContext(root: string, options: WalkOptions): AsyncGenerator<ContextEntry> {
  const { ignore } = options;
  const always = new Set((options.always ?? []).map(cleanPath));
  const alwaysBelow = (dir: string): boolean => [...always].some((p) => p.startsWith(`${dir}/`));
  const linked = new Map<string, string>();
  /** directories left out whose entry is still owed if something below them is sent */
  const owed: { path: string; stats: Stats }[] = [];

  async function* walk(dir: string, rel: string): AsyncGenerator<ContextEntry> {
    options.onList?.(rel);
    const names = (await readdir(dir)).sort(byName);
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const absolute = join(dir, name);
      const excluded = ignore.excludes(path) && !always.has(path);
      const stats = await lstat(absolute);
      if (stats.isDirectory()) {
        if (!excluded) {
          yield* payOwed();
          yield { path, type: 'directory', stats };
          yield* walk(absolute, path);
        } else if (ignore.mayIncludeBelow(path) || alwaysBelow(path)) {
          owed.push({ path, stats });
          yield* walk(absolute, path);
          if (owed.at(-1)?.path === path) owed.pop();
        }
        continue;
      }
      if (excluded) continue;
      if (stats.isSymbolicLink()) {
        yield* payOwed();
        yield { path, type: 'symlink', stats, linkname: await readlink(absolute) };
      } else if (stats.isFile()) {
        yield* payOwed();
        const key = `${stats.dev}:${stats.ino}`;
        const first = stats.nlink > 1 ? linked.get(key) : undefined;
        if (first !== undefined) yield { path, type: 'link', stats, linkname: first };
        else {
          if (stats.nlink > 1) linked.set(key, path);
          yield { path, type: 'file', stats };
        }
      } else if (!stats.isSocket()) {
        options.onSkip?.(path, stats.isFIFO() ? 'a named pipe' : 'a device node');
      }
    }
  }

  function* payOwed(): Generator<ContextEntry> {
    for (const d of owed.splice(0)) yield { path: d.path, type: 'directory', stats: d.stats };
  }

  yield* walk(root, '');
}

/** tar's numeric fields hold 7 octal digits; larger ids go in a pax header. */
const USTAR_ID_MAX = 0o7777777;

type EntryHeader = Parameters<tar.Pack['entry']>[0] & { pax?: Record<string, string> };

function headerOf(entry: ContextEntry): EntryHeader {
  const { stats } = entry;
  const pax: Record<string, string> = {};
  const id = (value: number, key: 'uid' | 'gid'): number => {
    if (value <= USTAR_ID_MAX) return value;
    pax[key] = String(value);
    return 0;
  };
  const header: EntryHeader = {
    // Directories end in "/", as tar writes them.
    name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
    type: entry.type,
    // With the file type bits, so that a mode of 0 is not taken for "unset" (it is masked to 12 bits when written).
    mode: stats.mode,
    uid: id(stats.uid, 'uid'),
    gid: id(stats.gid, 'gid'),
    mtime: stats.mtime,
    size: entry.type === 'file' ? stats.size : 0,
    linkname: entry.linkname,
  };
  if (Object.keys(pax).length) header.pax = pax;
  return header;
}

/** Writes one entry, a file's bytes streamed in with backpressure; resolves once tar-stream has taken all of it. */
async function addEntry(pack: tar.Pack, root: string, entry: ContextEntry): Promise<void> {
  const header = headerOf(entry);
  let sink!: ReturnType<tar.Pack['entry']>;
  const taken = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) => {
      if (!err) resolve();
      else reject(/size mismatch/i.test(err.message) ? new Error(`context: ${entry.path} changed size while it was read`) : err);
    });
  });
  // The entry's callback reports its failure; an unheard 'error' event would crash the process.
  sink.on('error', () => undefined);
  if (entry.type === 'file') {
    if (header.size) {
      // Exactly the size the header promises: a file that grows meanwhile is cut, one that shrinks fails.
      const file = createReadStream(join(root, entry.path), { start: 0, end: header.size - 1, highWaterMark: 256 * 1024 });
      for await (const chunk of file) {
        if (sink.destroyed) break;
        if (!sink.write(chunk as Buffer)) await drained(sink);
      }
    }
    sink.end(undefined);
  }
  await taken;
}

/** Resolves when the sink takes more, or is gone (its entry's callback then says why). */
function drained(sink: ReturnType<tar.Pack['entry']>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      sink.off('drain', done);
      sink.off('close', done);
      resolve();
    };
    sink.on('drain', done);
    sink.on('close', done);
  });
}

export type ContextTar = AsyncIterable<Buffer> & { destroy(err?: Error): void };

/** The context directory as a tar stream of what `options` let through. */
export function packContext(root: string, options: WalkOptions): ContextTar {
  const pack = tar.pack();
  void (async () => {
    for await (const entry of walkContext(root, options)) {
      if (pack.destroying) return;
      await addEntry(pack, root, entry);
    }
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return pack as unknown as ContextTar;
}
