/**
 * ctl-diff through diffLayer: an overlay upperdir made by a real overlay mount, and two full
 * trees; each layer applied back with applyLayer must reproduce the changed tree. Needs root.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyLayer, diffLayer } from '../src/layers';
import { LayerFixture, isRoot, listTree, setXattr, sha256File, sha256Of } from './layers-fixture';

/** Names and types of a layer's entries (python3's tarfile reads PAX, xattrs and all). */
function tarEntries(tar: Buffer): string[] {
  const script =
    "import sys, tarfile\nfor m in tarfile.open(fileobj=sys.stdin.buffer, mode='r|'): print(m.name, m.type.decode(), m.linkname)";
  return execFileSync('python3', ['-c', script], { input: tar, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.trim());
}

function decompress(file: string, compression: 'gzip' | 'zstd' | 'none'): Buffer {
  if (compression === 'none') return fs.readFileSync(file);
  return execFileSync(compression === 'gzip' ? 'gzip' : 'zstd', ['-dc', file], { maxBuffer: 1 << 30 });
}

function populate(root: string): void {
  for (const d of ['etc', 'usr/lib', 'data/sub', 'gone/deep']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
  fs.writeFileSync(path.join(root, 'etc/keep'), 'keep');
  fs.writeFileSync(path.join(root, 'usr/lib/libx.so'), 'lib');
  fs.writeFileSync(path.join(root, 'data/sub/old'), 'old');
  fs.writeFileSync(path.join(root, 'data/top'), 'top');
  fs.writeFileSync(path.join(root, 'gone/deep/file'), 'gone');
  fs.symlinkSync('usr/lib', path.join(root, 'lib'));
}

/** The same edits, done in a merged overlay view or in a copy of the tree. */
function modify(root: string): void {
  fs.writeFileSync(path.join(root, 'etc/hosts'), '127.0.0.1 localhost changed\n');
  fs.chmodSync(path.join(root, 'etc/keep'), 0o600);
  fs.rmSync(path.join(root, 'gone'), { recursive: true });
  fs.rmSync(path.join(root, 'data'), { recursive: true }); // then recreated: an opaque dir in overlay
  fs.mkdirSync(path.join(root, 'data'));
  fs.writeFileSync(path.join(root, 'data/fresh'), 'fresh');
  fs.writeFileSync(path.join(root, 'new'), 'new file');
  fs.linkSync(path.join(root, 'new'), path.join(root, 'new-link'));
  fs.chownSync(path.join(root, 'new'), 123, 456);
  fs.utimesSync(path.join(root, 'new'), 1500000000.25, 1500000000.25);
  setXattr(path.join(root, 'new'), 'user.tag', 'v1');
  fs.symlinkSync('/etc/hosts', path.join(root, 'abs-link'));
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
}

describe('diffLayer (ctl-diff)', function () {
  let fx: LayerFixture;
  before(function () {
    if (!isRoot) this.skip();
    fx = new LayerFixture();
  });
  after(() => fx?.destroy());

  it('overlay mode: whiteouts and opaque dirs from a real upperdir; applying it back gives the same view', async () => {
    const lower = fx.fresh('lower');
    populate(lower);
    const upper = fx.fresh('upper');
    const merged = fx.overlay(lower, upper);
    modify(merged);
    const expected = listTree(merged);
    fx.umount(merged);

    const out = fx.fresh('layer.tar.gz', false);
    const r = await diffLayer({ upper, mode: 'overlay', compression: 'gzip', output: out });
    const entries = tarEntries(decompress(out, 'gzip'));
    assert.ok(entries.includes('gone/.wh.deep') === false && entries.some((e) => e.startsWith('.wh.gone ')), entries.join('\n'));
    assert.ok(
      entries.some((e) => e.startsWith('data/.wh..wh..opq ')),
      entries.join('\n'),
    );
    assert.ok(entries.some((e) => /^new-link 1 new$/.test(e)) || entries.some((e) => /^new 1 new-link$/.test(e)), 'hardlink entry');
    assert.equal(
      entries.some((e) => e.includes('trusted.overlay')),
      false,
    );
    assert.equal(r.digest, sha256File(out));
    assert.equal(r.size, fs.statSync(out).size);
    const tar = decompress(out, 'gzip');
    assert.equal(r.diffId, sha256Of(tar));
    assert.equal(r.uncompressedSize, tar.length);

    // overlay form into an empty upper, mounted over the same lower
    const upper2 = fx.fresh('upper2');
    const applied = await applyLayer({ input: out, target: upper2, whiteouts: 'overlay', expectDiffId: r.diffId });
    assert.equal(applied.diffId, r.diffId);
    const merged2 = fx.overlay(lower, upper2);
    try {
      assert.deepEqual(listTree(merged2), expected);
    } finally {
      fx.umount(merged2);
    }
    // remove form onto a copy of lower
    const copy = fx.fresh('copy');
    execFileSync('cp', ['-a', `${lower}/.`, copy]);
    await applyLayer({ input: out, target: copy, whiteouts: 'remove' });
    assert.deepEqual(listTree(copy), expected);
  });

  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    it(`compare mode (${compression}): changes between two trees round-trip, deterministically`, async () => {
      const lower = fx.fresh('lower');
      populate(lower);
      const upper = fx.fresh('upper');
      execFileSync('cp', ['-a', `${lower}/.`, upper]);
      modify(upper);
      const out1 = fx.fresh('a.tar', false);
      const out2 = fx.fresh('b.tar', false);
      const r1 = await diffLayer({ upper, lower, mode: 'compare', compression, output: out1 });
      const r2 = await diffLayer({ upper, lower, mode: 'compare', compression, output: out2 });
      assert.deepEqual(r2, r1, 'the same trees give the same layer');
      assert.equal(r1.digest, sha256File(out1));
      assert.equal(r1.diffId, sha256Of(decompress(out1, compression)));
      if (compression === 'none') assert.equal(r1.digest, r1.diffId);
      const entries = tarEntries(decompress(out1, compression));
      assert.ok(
        entries.some((e) => e.startsWith('.wh.gone ')),
        entries.join('\n'),
      );
      assert.equal(
        entries.some((e) => e.startsWith('gone/')),
        false,
        'one whiteout for a removed dir',
      );
      assert.ok(
        entries.some((e) => e.startsWith('data/sub/.wh.old ') || e.startsWith('data/.wh.sub ')),
        entries.join('\n'),
      );
      assert.equal(
        entries.some((e) => e.startsWith('usr/')),
        false,
        'unchanged paths are not emitted',
      );

      const copy = fx.fresh('copy');
      execFileSync('cp', ['-a', `${lower}/.`, copy]);
      await applyLayer({ input: out1, target: copy, whiteouts: 'remove', expectDiffId: r1.diffId });
      assert.deepEqual(listTree(copy), listTree(upper));
    });
  }

  it('errors: a missing tree is NotFound, compare without lower is InvalidArgument', async () => {
    await assert.rejects(
      diffLayer({ upper: path.join(fx.dir, 'none'), mode: 'overlay', compression: 'none', output: fx.fresh('x', false) }),
      { kind: 'NotFound' },
    );
    await assert.rejects(diffLayer({ upper: fx.dir, mode: 'compare', compression: 'none', output: fx.fresh('x', false) }), {
      kind: 'InvalidArgument',
    });
  });

  it('a tree deeper than PATH_MAX fails with the path and reason, without a crash (found by fuzz/diff_fuzzer)', async () => {
    // a failed walk used to free the tar writer, whose flush then hashed into a finished context: SIGSEGV
    const upper = fx.fresh('deep');
    try {
      execFileSync('python3', ['-c', "import os\nfor _ in range(2100): os.mkdir('d'); os.chdir('d')"], { cwd: upper });
      for (const compression of ['none', 'gzip'] as const) {
        await assert.rejects(diffLayer({ upper, mode: 'overlay', compression, output: fx.fresh('x', false) }), {
          kind: 'InvalidArgument',
          message: /^ctl-diff: lstat \/.*\/d\/d\/d/, // the reason is cut off with the 2 KiB message
        });
      }
    } finally {
      execFileSync('rm', ['-rf', upper]); // GNU rm walks deeper than PATH_MAX, fs.rmSync does not
    }
  });
});
