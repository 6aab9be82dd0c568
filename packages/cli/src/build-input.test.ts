import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { UsageError } from './args';
import { type BuildInput, buildInput, sniff } from './build-input';

/** The names in a context's tar stream. */
async function namesOf(input: BuildInput): Promise<string[]> {
  const extract = tar.extract();
  const names: string[] = [];
  const feeding = (async () => {
    for await (const chunk of input.context!()) extract.write(chunk);
    extract.end(undefined);
  })();
  for await (const entry of extract) {
    names.push(entry.header.name);
    entry.resume();
  }
  await feeding;
  return names;
}

const stdinOf = (data: string | Buffer): NodeJS.ReadableStream => Readable.from([Buffer.from(data)]);

describe('build input', () => {
  let dir: string;
  const write = (path: string, content = path): void => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  };
  const tarOf = (...paths: string[]): Buffer => execFileSync('tar', ['-C', join(dir, 'ctx'), '-cf', '-', ...paths]);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctl-input-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("tells a tar, a compressed stream and a Dockerfile apart by their first bytes, as docker's DetectArchiveReader", () => {
    write('ctx/Dockerfile', 'FROM busybox\n');
    const plain = tarOf('Dockerfile');
    assert.equal(sniff(plain), 'tar');
    assert.equal(sniff(gzipSync(plain)), 'gzip');
    assert.equal(sniff(Buffer.from('BZh91AY&SY')), 'bzip2');
    assert.equal(sniff(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00])), 'xz');
    assert.equal(sniff(Buffer.from('FROM busybox\nRUN echo hi\n')), 'text');
    assert.equal(sniff(Buffer.alloc(600, 'FROM busybox\n')), 'text', 'text of a block and more is no tar header');
    // A v7 header (no ustar magic) whose checksum adds up.
    const v7 = Buffer.from(plain.subarray(0, 512));
    v7.fill(0, 257, 265);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : v7[i]!;
    v7.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    assert.equal(sniff(v7), 'tar');
  });

  it('PATH: the Dockerfile at PATH/Dockerfile (or dockerfile), the context walked with PATH/.dockerignore', async () => {
    write('ctx/Dockerfile', 'FROM busybox\n');
    write('ctx/.dockerignore', 'Dockerfile\n.dockerignore\n*.tmp\n');
    write('ctx/a.tmp');
    write('ctx/app.c');
    const input = await buildInput('ctx', { file: undefined, stdin: stdinOf(''), cwd: dir });
    assert.deepEqual([input.dockerfile, input.dockerfileName], ['FROM busybox\n', 'Dockerfile']);
    // Ignored, the Dockerfile still reaches the daemon (as text), but neither rides in the context for COPY.
    assert.deepEqual(await namesOf(input), ['app.c']);
    rmSync(join(dir, 'ctx/Dockerfile'));
    write('ctx/dockerfile', 'FROM scratch\n');
    const lower = await buildInput(join(dir, 'ctx'), { file: undefined, stdin: stdinOf(''), cwd: '/' });
    assert.deepEqual([lower.dockerfile, lower.dockerfileName], ['FROM scratch\n', 'dockerfile']);
  });

  it('-f: relative to the current directory, outside the context too, with its own NAME.dockerignore first', async () => {
    write('ctx/app.c');
    write('ctx/notes.md');
    write('ctx/.dockerignore', 'app.c\n');
    write('ci/app.Dockerfile', 'FROM busybox\nCOPY . /src\n');
    write('ci/app.Dockerfile.dockerignore', '*.md\n');
    const input = await buildInput('ctx', { file: 'ci/app.Dockerfile', stdin: stdinOf(''), cwd: dir });
    assert.equal(input.dockerfileName, 'ci/app.Dockerfile');
    assert.deepEqual(await namesOf(input), ['.dockerignore', 'app.c'], 'ci/app.Dockerfile.dockerignore applies, not ctx/.dockerignore');
    write('ctx/sub/Dockerfile.dev', 'FROM busybox\n');
    const inside = await buildInput('.', { file: 'sub/Dockerfile.dev', stdin: stdinOf(''), cwd: join(dir, 'ctx') });
    assert.equal(inside.dockerfileName, 'sub/Dockerfile.dev');
    assert.deepEqual(await namesOf(inside), ['.dockerignore', 'notes.md', 'sub/', 'sub/Dockerfile.dev']);
  });

  it('-f -: the Dockerfile from stdin with a directory context', async () => {
    write('ctx/x');
    const input = await buildInput('ctx', { file: '-', stdin: stdinOf('FROM busybox\nCOPY x /\n'), cwd: dir });
    assert.deepEqual([input.dockerfile, input.dockerfileName], ['FROM busybox\nCOPY x /\n', '-']);
    assert.deepEqual(await namesOf(input), ['x']);
  });

  it('PATH -: a Dockerfile on stdin is the whole input, without a context', async () => {
    const input = await buildInput('-', { file: undefined, stdin: stdinOf('FROM busybox\nRUN echo hi\n'), cwd: dir });
    assert.deepEqual([input.dockerfile, input.dockerfileName, input.context], ['FROM busybox\nRUN echo hi\n', '-', undefined]);
  });

  it('PATH -: a tar or gzip tar on stdin is the context; its Dockerfile (or -f inside it) is read from it; the spool goes', async () => {
    write('ctx/Dockerfile', 'FROM busybox\nCOPY . /\n');
    write('ctx/docker/alt', 'FROM scratch\n');
    write('ctx/data/file');
    // The spool goes under TMPDIR: a private one, as other tests build at the same time in the shared /tmp.
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = mkdtempSync(join(dir, 'tmp-'));
    const spools = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('ctl-build-'));
    try {
      for (const [what, bytes] of [
        ['tar', tarOf('.')],
        ['gzip', gzipSync(tarOf('.'))],
      ] as const) {
        const input = await buildInput('-', { file: undefined, stdin: stdinOf(bytes), cwd: dir });
        assert.equal(input.dockerfile, 'FROM busybox\nCOPY . /\n', what);
        assert.equal(input.dockerfileName, 'Dockerfile', what);
        const names = await namesOf(input);
        assert.ok(names.includes('./data/file') && names.includes('./Dockerfile'), `${what}: ${names.join(' ')}`);
        assert.equal(spools().length, 1, `${what}: spooled to one private directory`);
        await input.cleanup();
        assert.deepEqual(spools(), [], `${what}: the spool is gone`);
      }
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
    const alt = await buildInput('-', { file: 'docker/alt', stdin: stdinOf(tarOf('.')), cwd: dir });
    assert.deepEqual([alt.dockerfile, alt.dockerfileName], ['FROM scratch\n', 'docker/alt']);
    await alt.cleanup();
    await assert.rejects(buildInput('-', { file: 'nope', stdin: stdinOf(tarOf('.')), cwd: dir }), /the context from stdin has no nope/);
  });

  it('refuses what cannot be built from, before reading anything', async () => {
    const refuses = (path: string, file: string | undefined, message: RegExp, usage = true) =>
      assert.rejects(buildInput(path, { file, stdin: stdinOf('FROM busybox\n'), cwd: dir }), (e: Error) => {
        assert.match(e.message, message);
        assert.equal(e instanceof UsageError, usage, e.message);
        return true;
      });
    write('file');
    write('ctx/.dockerignore', '!\n');
    await refuses('missing', undefined, /unable to prepare context: path "missing" not found/, false);
    await refuses('file', undefined, /context must be a directory/, false);
    await refuses('https://github.com/x/y.git', undefined, /remote contexts are not supported/, false);
    await refuses('-', '-', /can't use stdin for both build context and dockerfile/);
    await refuses('-', 'Dockerfile', /-f\/--file names a Dockerfile in a context/);
    await refuses('ctx', 'nope', /failed to read dockerfile .*nope: no such file/, false);
    write('ctx/Dockerfile', 'FROM busybox\n');
    await refuses('ctx', undefined, /\.dockerignore: .*illegal exclusion pattern/, false);
    await assert.rejects(
      buildInput('-', { file: undefined, stdin: stdinOf(Buffer.from('BZh91AY&SY')), cwd: dir }),
      /a bzip2-compressed context on stdin is not supported/,
    );
    assert.equal(existsSync(join(dir, 'missing')), false);
  });
});
