import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { packContext, walkContext } from './build-context';
import { Dockerignore } from './dockerignore';

interface TarEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string | null;
  sha256?: string;
  size: number;
}

/** Every entry of the context's tar stream, as tar-stream reads it back. */
async function entriesOf(stream: AsyncIterable<Buffer>): Promise<TarEntry[]> {
  const extract = tar.extract();
  const out: TarEntry[] = [];
  const feeding = (async () => {
    for await (const chunk of stream)
      if (!extract.write(chunk)) await new Promise<void>((resolve) => extract.once('drain', () => resolve()));
    extract.end(undefined);
  })();
  for await (const entry of extract) {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of entry) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const h = entry.header;
    out.push({
      name: h.name,
      type: h.type,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      mtime: h.mtime.getTime() / 1000,
      linkname: h.linkname,
      size,
      ...(h.type === 'file' && { sha256: hash.digest('hex') }),
    });
  }
  await feeding;
  return out;
}

describe('build context', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctl-context-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = (path: string, content: string | Buffer = path, mode = 0o644): void => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
    chmodSync(join(dir, path), mode);
  };

  it("sends extended attributes as pax SCHILY.xattr records that GNU tar restores, binary values whole, the host's own left out", async () => {
    const { getXattr, listXattrs, setXattr } = await import('@ctl/runtime-native/xattr');
    file('tagged', 'data');
    mkdirSync(join(dir, 'dir'));
    const binary = Buffer.from([0, 0xff, 0x0a, 0x3d, 0, 7]);
    setXattr(join(dir, 'tagged'), 'user.test', Buffer.from('hello'));
    setXattr(join(dir, 'tagged'), 'user.binary', binary);
    setXattr(join(dir, 'dir'), 'user.on-dir', Buffer.from('d'));
    if (process.getuid?.() === 0) setXattr(join(dir, 'tagged'), 'trusted.overlay.opaque', Buffer.from('y'));
    const chunks: Buffer[] = [];
    for await (const chunk of packContext(dir, { ignore: Dockerignore.parse('') })) chunks.push(chunk);
    const archive = Buffer.concat(chunks);
    assert.ok(archive.includes(Buffer.concat([Buffer.from('SCHILY.xattr.user.binary='), binary, Buffer.from('\n')])));
    assert.ok(!archive.includes('trusted.overlay'), "overlayfs's own attributes stay on the host");
    const out = mkdtempSync(join(tmpdir(), 'ctl-context-untar-'));
    try {
      execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xf', '-', '-C', out], { input: archive });
      assert.deepEqual(listXattrs(join(out, 'tagged')).sort(), ['user.binary', 'user.test']);
      assert.deepEqual(getXattr(join(out, 'tagged'), 'user.binary'), binary);
      assert.deepEqual(getXattr(join(out, 'tagged'), 'user.test'), Buffer.from('hello'));
      assert.deepEqual(getXattr(join(out, 'dir'), 'user.on-dir'), Buffer.from('d'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('streams what .dockerignore lets through, with modes, owners, times, symlinks as symlinks and hard links once', async () => {
    file('Dockerfile', 'FROM busybox\n');
    file('.dockerignore', 'node_modules\n*.log\n');
    file('app/run.sh', '#!/bin/sh\necho hi\n', 0o4751);
    file('app/empty', '');
    file('secret.log');
    file('node_modules/x/index.js');
    chownSync(join(dir, 'app/run.sh'), 1234, 5678);
    // After chown, which clears set-user-id.
    chmodSync(join(dir, 'app/run.sh'), 0o4751);
    utimesSync(join(dir, 'app/run.sh'), 1_600_000_000, 1_600_000_000);
    symlinkSync('app/run.sh', join(dir, 'start'));
    symlinkSync('/nowhere/at/all', join(dir, 'dangling'));
    linkSync(join(dir, 'app/run.sh'), join(dir, 'run-again.sh'));
    const entries = await entriesOf(packContext(dir, { ignore: Dockerignore.parse('node_modules\n*.log\n') }));
    assert.deepEqual(
      entries.map((e) => [e.name, e.type]),
      [
        ['.dockerignore', 'file'],
        ['Dockerfile', 'file'],
        ['app/', 'directory'],
        ['app/empty', 'file'],
        ['app/run.sh', 'file'],
        ['dangling', 'symlink'],
        ['run-again.sh', 'link'],
        ['start', 'symlink'],
      ],
    );
    const byName = new Map(entries.map((e) => [e.name, e]));
    const run = byName.get('app/run.sh')!;
    assert.deepEqual([run.mode, run.uid, run.gid, run.mtime], [0o4751, 1234, 5678, 1_600_000_000]);
    assert.equal(run.sha256, createHash('sha256').update('#!/bin/sh\necho hi\n').digest('hex'));
    assert.equal(byName.get('start')!.linkname, 'app/run.sh');
    assert.equal(byName.get('dangling')!.linkname, '/nowhere/at/all');
    assert.equal(byName.get('run-again.sh')!.linkname, 'app/run.sh');
    assert.equal(byName.get('app/empty')!.size, 0);
  });

  it('keeps a mode of 0 as 0, and reads back with GNU tar', async () => {
    file('locked', 'x', 0);
    const chunks: Buffer[] = [];
    for await (const chunk of packContext(dir, { ignore: Dockerignore.parse('') })) chunks.push(chunk);
    const archive = join(dir, '..', `${join(dir).split('/').pop()}.tar`);
    writeFileSync(archive, Buffer.concat(chunks));
    try {
      assert.match(execFileSync('tar', ['-tvf', archive], { encoding: 'utf8' }), /^---------- 0\/0\s+1 .* locked$/m);
    } finally {
      rmSync(archive, { force: true });
    }
  });

  it('never lists a left-out directory unless an exception may match below it, and sends its entry only for what is sent', async () => {
    file('docs/a.md');
    file('docs/keep/b.txt');
    file('docs/keep/c.md');
    file('vendor/lib/x.go');
    file('main.go');
    const listed: string[] = [];
    const ignore = Dockerignore.parse('docs\nvendor\n!docs/keep/*.txt\n');
    const names: string[] = [];
    for await (const e of walkContext(dir, { ignore, onList: (p) => listed.push(p) })) names.push(e.path);
    assert.deepEqual(listed, ['', 'docs', 'docs/keep']);
    assert.deepEqual(names, ['docs', 'docs/keep', 'docs/keep/b.txt', 'main.go']);
  });

  it('sends the Dockerfile and .dockerignore even when .dockerignore leaves them out, walking down to them', async () => {
    file('Dockerfile');
    file('.dockerignore');
    file('build/ci.Dockerfile');
    file('build/other');
    file('src/x');
    const ignore = Dockerignore.parse('*\n');
    const names: string[] = [];
    for await (const e of walkContext(dir, { ignore, always: ['Dockerfile', '.dockerignore', './build/ci.Dockerfile'] }))
      names.push(e.path);
    assert.deepEqual(names, ['.dockerignore', 'Dockerfile', 'build', 'build/ci.Dockerfile']);
  });

  it('leaves out what a tar cannot carry or the daemon refuses, and never opens an ignored file', async () => {
    file('a');
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    // Opening an ignored fifo for reading would block this test for good.
    execFileSync('mkfifo', [join(dir, 'ignored-pipe')]);
    const skipped: string[] = [];
    const entries = await entriesOf(
      packContext(dir, { ignore: Dockerignore.parse('ignored-pipe\n'), onSkip: (path, why) => skipped.push(`${path}: ${why}`) }),
    );
    assert.deepEqual(
      entries.map((e) => e.name),
      ['a'],
    );
    assert.deepEqual(skipped, ['pipe: a named pipe']);
  });

  it('streams a large file in pieces with the same bytes, and a long path through a pax header', async () => {
    const big = randomBytes(6 * 1024 * 1024 + 123);
    file('big.bin', big);
    const long = `${'d'.repeat(120)}/${'e'.repeat(120)}/${'f'.repeat(90)}`;
    file(long, 'deep');
    let pieces = 0;
    let largest = 0;
    const counted = (async function* () {
      for await (const chunk of packContext(dir, { ignore: Dockerignore.parse('') })) {
        pieces++;
        largest = Math.max(largest, chunk.length);
        yield chunk;
      }
    })();
    const entries = await entriesOf(counted);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.equal(byName.get('big.bin')!.sha256, createHash('sha256').update(big).digest('hex'));
    assert.equal(byName.get(long)!.size, 4);
    assert.ok(pieces > 10 && largest < big.length, `streamed in ${pieces} pieces, the largest ${largest} bytes`);
  });

  it('fails naming the file when one cannot be read', async () => {
    file('ok');
    mkdirSync(join(dir, 'sub'));
    const ignore = Dockerignore.parse('');
    const walk = walkContext(dir, { ignore });
    const first = await walk.next();
    assert.equal(first.value?.path, 'ok');
    rmSync(join(dir, 'sub'), { recursive: true });
    await assert.rejects(
      (async () => {
        for await (const _ of walk);
      })(),
      /ENOENT.*sub/,
    );
  });
});
