/**
 * ctl-apply through applyLayer: attributes, the diff_id, whiteouts and opaque directories in both
 * modes (overlay mode checked again through a real overlay mount), replacement rules, directory
 * symlinks, errors. Needs root (owners, devices, trusted.* xattrs, mounts).
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { waitFor } from '@ctl/proto/testing';
import { APPLY_BINARY, applyLayer } from '../src/layers';
import { LayerFixture, getXattr, isRoot, makeTar, sha256File, sha256Of } from './layers-fixture';
import type { Compression, TarEntry } from './layers-fixture';

const MTIME = 1600000000;

const NORMAL: TarEntry[] = [
  { name: 'etc/', type: 'dir', mode: 0o750, uid: 12, gid: 34, mtime: MTIME + 1 },
  { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644, mtime: MTIME + 2 },
  { name: 'bin/', type: 'dir', mtime: MTIME + 3 },
  { name: 'bin/su', data: '#!/bin/sh\n', mode: 0o4755, uid: 1000, gid: 1001, mtime: MTIME + 4, xattrs: { 'user.note': 'hello' } },
  { name: 'bin/sg', type: 'hardlink', linkname: 'bin/su' },
  { name: 'bin/sh', type: 'symlink', linkname: 'su', uid: 7, gid: 8 },
  { name: 'tmp/', type: 'dir', mode: 0o1777, mtime: MTIME + 5 },
  { name: 'run/fifo', type: 'fifo', mode: 0o600 },
  { name: 'dev/null', type: 'char', major: 1, minor: 3, mode: 0o666 },
];

/** Whether some process has the file open (a look through /proc/<pid>/fd). */
function openedByAnyProcess(file: string): boolean {
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (fs.readdirSync(`/proc/${pid}/fd`).some((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file)) return true;
    } catch {
      // gone, or not ours to look at
    }
  }
  return false;
}

async function rejectsWith(p: Promise<unknown>, kind: ErrorKind, re: RegExp): Promise<EngineError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EngineError, `not an EngineError: ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    assert.match(err.message, re);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('applyLayer (ctl-apply)', function () {
  let fx: LayerFixture;
  before(function () {
    if (!isRoot) this.skip();
    fx = new LayerFixture();
  });
  after(() => fx?.destroy());

  it('creates the same tree with parallel file writers as with the main thread alone', async () => {
    // Many files over many directories, so that every writer thread gets work; special bits,
    // owners, xattrs, times, a hardlink to a file still in flight, and a file replaced later.
    const entries: TarEntry[] = [];
    for (let d = 0; d < 12; d++) {
      entries.push({ name: `d${d}/`, type: 'dir', mode: 0o755, mtime: MTIME + d });
      for (let f = 0; f < 40; f++) {
        const i = d * 40 + f;
        entries.push({
          name: `d${d}/f${f}`,
          data: `file ${i} `.repeat(i % 97),
          mode: [0o644, 0o600, 0o4755, 0o2750][i % 4],
          uid: i % 5,
          gid: i % 7,
          mtime: MTIME + i,
          ...(i % 50 === 0 ? { xattrs: { 'user.n': String(i) } } : {}),
        });
      }
      entries.push({ name: `d${d}/link`, type: 'hardlink', linkname: `d${d}/f39` });
    }
    const layer = makeTar(fx.fresh('many.tar', false), entries, { compression: 'gzip' });
    const serial = fx.fresh('serial');
    const parallel = fx.fresh('parallel');
    execFileSync(APPLY_BINARY, ['--target', serial, '--whiteouts', 'remove', '--input', layer], {
      env: { ...process.env, CTL_APPLY_WRITERS: '0' },
    });
    execFileSync(APPLY_BINARY, ['--target', parallel, '--whiteouts', 'remove', '--input', layer], {
      env: { ...process.env, CTL_APPLY_WRITERS: '3' },
    });
    // name, type+mode, owner, mtime, size, links, content hash and user xattrs of every path
    const describeTree = (root: string): string =>
      execFileSync(
        'python3',
        [
          '-c',
          [
            'import os, sys, hashlib',
            'root = sys.argv[1]',
            'for d, dirs, files in sorted(os.walk(root)):',
            '    for n in sorted(dirs + files):',
            '        p = os.path.join(d, n); st = os.lstat(p)',
            '        h = hashlib.sha256(open(p, "rb").read()).hexdigest() if os.path.isfile(p) else ""',
            '        x = sorted((k, os.getxattr(p, k, follow_symlinks=False)) for k in os.listxattr(p, follow_symlinks=False) if k.startswith("user."))',
            '        print(os.path.relpath(p, root), oct(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, st.st_size, st.st_nlink, h, x)',
          ].join('\n'),
          root,
        ],
        { encoding: 'utf8', maxBuffer: 16 << 20 },
      );
    const want = describeTree(serial);
    assert.ok(want.split('\n').length > 500);
    assert.equal(describeTree(parallel), want);
  });

  for (const compression of ['none', 'gzip', 'zstd'] as Compression[]) {
    it(`restores owners, modes, times, xattrs, links and special files (${compression})`, async () => {
      const layer = makeTar(fx.fresh('normal.tar', false), NORMAL, { compression });
      const target = fx.fresh('root');
      const r = await applyLayer({ input: layer, target, whiteouts: 'remove' });
      assert.equal(r.entries, NORMAL.length);
      const su = fs.statSync(path.join(target, 'bin/su'));
      assert.equal(su.mode & 0o7777, 0o4755);
      assert.deepEqual([su.uid, su.gid, su.mtimeMs / 1000], [1000, 1001, MTIME + 4]);
      assert.equal(su.nlink, 2);
      assert.equal(fs.statSync(path.join(target, 'bin/sg')).ino, su.ino);
      assert.equal(getXattr(path.join(target, 'bin/su'), 'user.note'), 'hello');
      assert.equal(fs.readlinkSync(path.join(target, 'bin/sh')), 'su');
      const sh = fs.lstatSync(path.join(target, 'bin/sh'));
      assert.deepEqual([sh.uid, sh.gid], [7, 8]);
      const etc = fs.statSync(path.join(target, 'etc'));
      assert.deepEqual([etc.mode & 0o7777, etc.uid, etc.gid, etc.mtimeMs / 1000], [0o750, 12, 34, MTIME + 1]);
      assert.equal(fs.statSync(path.join(target, 'bin')).mtimeMs / 1000, MTIME + 3, 'directory mtime fixed after its children');
      assert.equal(fs.statSync(path.join(target, 'tmp')).mode & 0o7777, 0o1777);
      assert.ok(fs.lstatSync(path.join(target, 'run/fifo')).isFIFO());
      const nul = fs.lstatSync(path.join(target, 'dev/null'));
      assert.ok(nul.isCharacterDevice());
      assert.equal(nul.rdev, (1 << 8) | 3);
    });
  }

  it('skips device nodes with devices: false', async () => {
    const layer = makeTar(fx.fresh('dev.tar', false), NORMAL);
    const target = fx.fresh('root');
    await applyLayer({ input: layer, target, whiteouts: 'remove', devices: false });
    assert.equal(fs.existsSync(path.join(target, 'dev/null')), false);
    assert.ok(fs.lstatSync(path.join(target, 'run/fifo')).isFIFO());
  });

  it('diff_id is sha256 of the whole uncompressed stream, trailing padding included; also from a stream', async () => {
    const tarFile = fx.fresh('pad.tar', false);
    const gz = makeTar(tarFile, NORMAL, { compression: 'gzip', trailingZeros: 20480 + 512 });
    const expected = `sha256:${execFileSync('sha256sum', [tarFile], { encoding: 'utf8' }).split(' ')[0]}`;
    const r1 = await applyLayer({ input: gz, target: fx.fresh('root'), whiteouts: 'remove' });
    assert.equal(r1.diffId, expected);
    assert.equal(r1.size, fs.statSync(tarFile).size);
    const r2 = await applyLayer({ input: fs.createReadStream(gz), target: fx.fresh('root'), whiteouts: 'overlay', expectDiffId: expected });
    assert.equal(r2.diffId, expected);
  });

  it('a gzip of several members, as gzip(1) and pigz concatenate them, reads whole; bytes after the last member are ignored', async () => {
    const tarFile = fx.fresh('members.tar', false);
    const entries: TarEntry[] = [...NORMAL, { name: 'big', data: 'a layer in gzip members\n'.repeat(120000) }];
    const tar = fs.readFileSync(makeTar(tarFile, entries));
    const expected = sha256Of(tar);
    // members that end inside the reader's 1 MiB input blocks and one that ends exactly at one
    const cuts = [0, 1000, 1_300_000, 2_000_000, tar.length];
    const members = cuts.slice(1).map((end, i) => zlib.gzipSync(tar.subarray(cuts[i], end), { level: 1 + (i % 9) }));
    for (const [name, bytes] of [
      ['members.tar.gz', Buffer.concat(members)],
      ['trailing.tar.gz', Buffer.concat([...members, Buffer.from('not gzip\n')])],
    ] as const) {
      const file = fx.fresh(name, false);
      fs.writeFileSync(file, bytes);
      const target = fx.fresh('root');
      const r = await applyLayer({ input: file, target, whiteouts: 'remove', expectDiffId: expected });
      assert.equal(r.size, tar.length);
      assert.equal(fs.readFileSync(path.join(target, 'big'), 'utf8'), 'a layer in gzip members\n'.repeat(120000));
    }
    // a member whose CRC is wrong fails the apply
    const bad = Buffer.concat(members);
    bad[members[0]!.length - 8] ^= 0xff;
    const file = fx.fresh('bad-crc.tar.gz', false);
    fs.writeFileSync(file, bad);
    await assert.rejects(applyLayer({ input: file, target: fx.fresh('root'), whiteouts: 'remove' }), /damaged|CRC/);
  });

  it('follows an input file still being written until it holds inputSize bytes', async () => {
    const entries: TarEntry[] = [...NORMAL, { name: 'big', data: 'some bytes of a layer that downloads\n'.repeat(40000) }];
    const tarFile = fx.fresh('growing.tar', false);
    const whole = fs.readFileSync(makeTar(tarFile, entries, { compression: 'gzip' }));
    const expected = `sha256:${execFileSync('sha256sum', [tarFile], { encoding: 'utf8' }).split(' ')[0]}`;
    const growing = fx.fresh('growing.tar.gz', false);
    fs.writeFileSync(growing, '');
    const target = fx.fresh('root');
    const applied = applyLayer({ input: growing, inputSize: whole.length, target, whiteouts: 'remove', expectDiffId: expected });
    // The bytes come in pieces, each after the event loop has turned: an applier that took the
    // file's end for the layer's would fail on a truncated gzip stream.
    const piece = Math.ceil(whole.length / 8);
    for (let at = 0; at < whole.length; at += piece) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      fs.appendFileSync(growing, whole.subarray(at, at + piece));
    }
    const r = await applied;
    assert.equal(r.diffId, expected);
    assert.equal(fs.readFileSync(path.join(target, 'big'), 'utf8').length, 'some bytes of a layer that downloads\n'.length * 40000);
    assert.equal(fs.readFileSync(path.join(target, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
  });

  it('reads the file an input was moved to once complete, when the input is gone at the open', async () => {
    const tarFile = fx.fresh('moved.tar', false);
    const whole = fs.readFileSync(makeTar(tarFile, NORMAL, { compression: 'gzip' }));
    const moved = fx.fresh('moved.tar.gz', false);
    fs.writeFileSync(moved, whole);
    const target = fx.fresh('root');
    const gone = path.join(fx.dir, 'ingest-gone');
    const r = await applyLayer({ input: gone, inputSize: whole.length, inputMovedTo: moved, target, whiteouts: 'remove' });
    assert.equal(r.diffId, `sha256:${execFileSync('sha256sum', [tarFile], { encoding: 'utf8' }).split(' ')[0]}`);
    assert.equal(fs.readFileSync(path.join(target, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
    await rejectsWith(
      applyLayer({ input: gone, inputSize: whole.length, inputMovedTo: `${gone}-too`, target: fx.fresh('root'), whiteouts: 'remove' }),
      ErrorKind.NotFound,
      /ingest-gone/,
    );
  });

  it('an input file removed before it holds inputSize bytes fails the apply', async () => {
    const whole = fs.readFileSync(makeTar(fx.fresh('cut.tar', false), NORMAL, { compression: 'gzip' }));
    const growing = fx.fresh('cut.tar.gz', false);
    fs.writeFileSync(growing, whole.subarray(0, whole.length >> 1));
    const applied = applyLayer({ input: growing, inputSize: whole.length, target: fx.fresh('root'), whiteouts: 'remove' });
    // Removed once the applier has it open (before, the file would just be missing: NotFound).
    await waitFor('ctl-apply to open its input', () => openedByAnyProcess(growing));
    fs.unlinkSync(growing);
    await rejectsWith(applied, ErrorKind.InvalidArgument, /reading layer/);
  });

  it('an abort signal ends an apply that waits for more of its input: Canceled, and no ctl-apply is left', async () => {
    const whole = fs.readFileSync(makeTar(fx.fresh('wait.tar', false), NORMAL, { compression: 'gzip' }));
    const growing = fx.fresh('wait.tar.gz', false);
    fs.writeFileSync(growing, whole.subarray(0, whole.length >> 1));
    const ac = new AbortController();
    const applied = applyLayer({
      input: growing,
      inputSize: whole.length,
      target: fx.fresh('root'),
      whiteouts: 'remove',
      signal: ac.signal,
    });
    await waitFor('ctl-apply to open its input', () => openedByAnyProcess(growing));
    ac.abort();
    await rejectsWith(applied, ErrorKind.Canceled, /canceled/);
    assert.equal(openedByAnyProcess(growing), false);
  });

  it('a diff id mismatch is FailedPrecondition', async () => {
    const layer = makeTar(fx.fresh('mm.tar', false), NORMAL);
    const wrong = sha256Of(Buffer.from('other'));
    await rejectsWith(
      applyLayer({ input: layer, target: fx.fresh('root'), whiteouts: 'remove', expectDiffId: wrong }),
      ErrorKind.FailedPrecondition,
      /diff id mismatch: layer is sha256:[0-9a-f]{64}, expected sha256:/,
    );
    assert.notEqual(sha256File(layer), wrong);
  });

  it('a missing input is NotFound', async () => {
    await rejectsWith(
      applyLayer({ input: path.join(fx.dir, 'nope.tar'), target: fx.fresh('root'), whiteouts: 'remove' }),
      ErrorKind.NotFound,
      /nope\.tar/,
    );
  });

  /** lower: a/{keep,gone,sub/deep}, opq/{old,sub/old}, file */
  function lowerTree(): string {
    const lower = fx.fresh('lower');
    for (const d of ['a/sub', 'opq/sub']) fs.mkdirSync(path.join(lower, d), { recursive: true });
    for (const f of ['a/keep', 'a/gone', 'a/sub/deep', 'opq/old', 'opq/sub/old', 'file']) fs.writeFileSync(path.join(lower, f), f);
    return lower;
  }

  const WHITEOUT_LAYER: TarEntry[] = [
    { name: 'opq/new', data: 'new' }, // written before the opaque marker: must survive it
    { name: 'opq/sub/', type: 'dir' },
    { name: 'opq/.wh..wh..opq', uid: 5, gid: 6 },
    { name: 'opq/late', data: 'late' },
    { name: 'a/.wh.gone', uid: 5, gid: 6 },
    { name: 'a/.wh.sub' },
    { name: 'a/.wh.absent' },
    { name: '.wh.file' },
    { name: 'x/.wh..wh.reserved' },
  ];

  it("remove mode deletes whited-out paths and the lower content of opaque dirs, keeping this layer's entries", async () => {
    const target = lowerTree();
    await applyLayer({ input: makeTar(fx.fresh('wh.tar', false), WHITEOUT_LAYER), target, whiteouts: 'remove' });
    const files = execFileSync('find', ['.', '-mindepth', '1'], { cwd: target, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    assert.deepEqual(files, ['./a', './a/keep', './opq', './opq/late', './opq/new', './opq/sub']);
  });

  it('overlay mode writes 0:0 char devices and the opaque xattr, and a mounted overlay hides the lower files', async () => {
    const lower = lowerTree();
    const upper = fx.fresh('upper');
    await applyLayer({ input: makeTar(fx.fresh('wh.tar', false), WHITEOUT_LAYER), target: upper, whiteouts: 'overlay' });
    const gone = fs.lstatSync(path.join(upper, 'a/gone'));
    assert.ok(gone.isCharacterDevice());
    assert.equal(gone.rdev, 0);
    assert.deepEqual([gone.uid, gone.gid], [5, 6]);
    assert.ok(fs.lstatSync(path.join(upper, 'file')).isCharacterDevice());
    assert.equal(getXattr(path.join(upper, 'opq'), 'trusted.overlay.opaque'), 'y');
    for (const f of ['opq/.wh..wh..opq', 'a/.wh.gone', 'x/.wh..wh.reserved']) assert.equal(fs.existsSync(path.join(upper, f)), false, f);
    const merged = fx.overlay(lower, upper);
    try {
      const files = execFileSync('find', ['.', '-mindepth', '1'], { cwd: merged, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
      assert.deepEqual(files, ['./a', './a/keep', './opq', './opq/late', './opq/new', './opq/sub']);
    } finally {
      fx.umount(merged);
    }
  });

  for (const whiteouts of ['remove', 'overlay'] as const) {
    it(`a whiteout and a new directory of the same name in one layer hide the lower one's content (${whiteouts}), in either order`, async () => {
      const lower = fx.fresh('lower');
      for (const d of ['d1', 'd2']) {
        fs.mkdirSync(path.join(lower, d));
        fs.writeFileSync(path.join(lower, d, 'old'), 'old');
      }
      const layer = makeTar(fx.fresh('same.tar', false), [
        { name: '.wh.d1' },
        { name: 'd1/', type: 'dir' },
        { name: 'd1/new', data: 'new' },
        { name: 'd2/new', data: 'new' },
        { name: '.wh.d2' },
      ]);
      let view = lower;
      let merged: string | undefined;
      if (whiteouts === 'overlay') {
        const upper = fx.fresh('upper');
        await applyLayer({ input: layer, target: upper, whiteouts });
        view = merged = fx.overlay(lower, upper);
      } else {
        await applyLayer({ input: layer, target: lower, whiteouts });
      }
      try {
        const files = execFileSync('find', ['.', '-mindepth', '1'], { cwd: view, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
        assert.deepEqual(files, ['./d1', './d1/new', './d2', './d2/new']);
      } finally {
        if (merged) fx.umount(merged);
      }
    });
  }

  it('replaces a file by a directory and a directory (non-empty) by a file; dir over dir keeps content', async () => {
    const target = fx.fresh('root');
    fs.mkdirSync(path.join(target, 'was-dir/sub'), { recursive: true });
    fs.writeFileSync(path.join(target, 'was-dir/sub/f'), 'x');
    fs.writeFileSync(path.join(target, 'was-file'), 'x');
    fs.mkdirSync(path.join(target, 'both'));
    fs.writeFileSync(path.join(target, 'both/kept'), 'x');
    fs.symlinkSync('both', path.join(target, 'was-link'));
    const layer = makeTar(fx.fresh('rep.tar', false), [
      { name: 'was-dir', data: 'now a file' },
      { name: 'was-file/', type: 'dir', mode: 0o700 },
      { name: 'was-file/inner', data: 'i' },
      { name: 'both/', type: 'dir', mode: 0o711 },
      { name: 'was-link/', type: 'dir' },
    ]);
    await applyLayer({ input: layer, target, whiteouts: 'remove' });
    assert.equal(fs.readFileSync(path.join(target, 'was-dir'), 'utf8'), 'now a file');
    assert.equal(fs.statSync(path.join(target, 'was-file')).mode & 0o777, 0o700);
    assert.equal(fs.readFileSync(path.join(target, 'was-file/inner'), 'utf8'), 'i');
    assert.equal(fs.statSync(path.join(target, 'both')).mode & 0o777, 0o711);
    assert.ok(fs.existsSync(path.join(target, 'both/kept')));
    assert.ok(fs.lstatSync(path.join(target, 'was-link')).isDirectory(), 'a symlink is not a directory: replaced');
  });

  it('writes through a directory symlink such as lib -> usr/lib', async () => {
    const target = fx.fresh('root');
    const layer = makeTar(fx.fresh('lib.tar', false), [
      { name: 'usr/lib/', type: 'dir' },
      { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
      { name: 'lib/x', data: 'x' },
      { name: 'lib64', type: 'symlink', linkname: '/usr/lib' },
      { name: 'lib64/y', data: 'y' },
    ]);
    await applyLayer({ input: layer, target, whiteouts: 'remove' });
    assert.equal(fs.readFileSync(path.join(target, 'usr/lib/x'), 'utf8'), 'x');
    assert.equal(fs.readFileSync(path.join(target, 'usr/lib/y'), 'utf8'), 'y');
    assert.ok(fs.lstatSync(path.join(target, 'lib')).isSymbolicLink());
  });

  it('a full disk is ResourceExhausted', async () => {
    const small = fx.fresh('small');
    fx.mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs'], small);
    try {
      const layer = makeTar(fx.fresh('big.tar', false), [{ name: 'big', randomBytes: 3 << 20 }], { compression: 'gzip' });
      await rejectsWith(
        applyLayer({ input: layer, target: small, whiteouts: 'remove' }),
        ErrorKind.ResourceExhausted,
        /disk or quota is full/,
      );
    } finally {
      fx.umount(small);
    }
  });

  it('an abort signal kills the tool: Canceled', async () => {
    const ac = new AbortController();
    const { PassThrough } = await import('node:stream');
    const never = new PassThrough(); // a stream that never ends
    const p = applyLayer({ input: never, target: fx.fresh('root'), whiteouts: 'remove', signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await rejectsWith(p, ErrorKind.Canceled, /canceled/);
    never.destroy();
  });
});
