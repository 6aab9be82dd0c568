/**
 * Unpacking through the Transfer service onto real snapshots (overlayfs and native drivers of a
 * snapshotter service), and the Diff service: layers applied in order with whiteouts, shared
 * lower layers, diff id checks, a malicious layer, and a diff of a container's changes that
 * applies back to the same tree.
 */
import { WireClient, serviceSocket } from '@ctl/proto';
import { type Mount, mountAll, unmountAll } from '@ctl/runtime-native/mount';
import { SnapshotsClient } from '@ctl/snapshotter/client';
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';

import { bytesSource, writeBlob } from '../src/content/helpers';
import { DiffClient } from '../src/diff/client';
import { TransferClient, type TransferProgress } from '../src/transfer/client';
import { type Descriptor, MediaType, sha256 } from '../src/oci';
import { type TarEntry, ociArchive, tarStream } from './archive-helpers';
import { type Instance, startInstance } from './instance';

const layerTar = async (entries: TarEntry[]): Promise<Buffer> => buffer(tarStream(entries));

const file = (name: string, data: string): TarEntry => ({ name, data });
const dir = (name: string): TarEntry => ({ name, type: 'directory' });

describe('unpack and diff', function () {
  this.timeout(60_000);
  let inst: Instance;
  let work: string;
  let snapWire: WireClient;
  const mounted: string[] = [];

  before(async () => {
    inst = await startInstance({ snapshotter: true, drivers: ['overlayfs', 'native'], gc: { delayMs: 20 } });
    work = mkdtempSync(join(inst.tmp.base, 'work-'));
    snapWire = new WireClient(serviceSocket(inst.tmp, 'snapshotter'));
  });
  after(async () => {
    for (const m of mounted.reverse()) await unmountAll(m).catch(() => undefined);
    snapWire?.close();
    await inst?.teardown();
  });

  const transfer = (ns = 'default') => new TransferClient(inst.wire, ns);
  const snapshots = (driver: string) => new SnapshotsClient(snapWire, driver);
  const importArchive = async (path: string, snapshotter: string, ns = 'default'): Promise<TransferProgress[]> => {
    const events: TransferProgress[] = [];
    await transfer(ns).import({ path, format: '', platforms: [], allPlatforms: false, snapshotter, unpack: true, baseName: '' }, (p) =>
      events.push(p),
    );
    return events;
  };
  const names = async (driver: string): Promise<string[]> => {
    const out: string[] = [];
    await snapshots(driver).walk((i) => void out.push(i.name));
    return out.sort();
  };

  /** Mounts a read-only view of a committed snapshot, runs fn on it, and removes it again. */
  async function inView<T>(driver: string, parent: string, fn: (root: string) => T): Promise<T> {
    const key = `test-view-${Math.random().toString(16).slice(2)}`;
    const mounts = await snapshots(driver).view(key, parent);
    const target = mkdtempSync(join(work, 'mnt-'));
    await mountAll(mounts, target);
    mounted.push(target);
    try {
      return fn(target);
    } finally {
      await unmountAll(mounted.pop()!);
      rmSync(target, { recursive: true });
      await snapshots(driver).remove(key);
    }
  }

  const tree = (root: string): string[] => {
    const out: string[] = [];
    const walk = (d: string, rel: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        out.push(e.isDirectory() ? `${p}/` : p);
        if (e.isDirectory()) walk(join(d, e.name), p);
      }
    };
    walk(root, '');
    return out;
  };

  for (const driver of ['overlayfs', 'native']) {
    it(`applies layers in order with whiteouts and opaque dirs (${driver})`, async () => {
      const base = await layerTar([
        dir('a'),
        file('a/x', 'x1'),
        file('a/y', 'y1'),
        dir('b'),
        file('b/z', 'z1'),
        dir('c'),
        file('c/keep', 'k'),
      ]);
      const top = await layerTar([
        dir('a'),
        file('a/.wh.x', ''),
        dir('b'),
        file('b/n', 'new'),
        file('b/.wh..wh..opq', ''),
        file('c/keep', 'k2'),
        file('d', 'file'),
      ]);
      const ns = `wh-${driver}`;
      const img = await ociArchive(join(work, `wh-${driver}.tar`), 'docker.io/library/wh:1', [base, top]);
      await importArchive(join(work, `wh-${driver}.tar`), driver, ns);
      assert.deepEqual(
        (await names(driver)).filter((n) => n.startsWith(`${ns}/`)),
        img.chain.map((c) => `${ns}/${c}`).sort(),
      );
      const seen = await inView(driver, `${ns}/${img.chain[1]}`, (root) => ({
        tree: tree(root),
        keep: readFileSync(join(root, 'c', 'keep'), 'utf8'),
        n: readFileSync(join(root, 'b', 'n'), 'utf8'),
      }));
      assert.deepEqual(seen.tree, ['a/', 'a/y', 'b/', 'b/n', 'c/', 'c/keep', 'd']);
      assert.equal(seen.keep, 'k2');
      assert.equal(seen.n, 'new');
      // The lower layer's snapshot is untouched by the upper one.
      const lower = await inView(driver, `${ns}/${img.chain[0]}`, tree);
      assert.deepEqual(lower, ['a/', 'a/x', 'a/y', 'b/', 'b/z', 'c/', 'c/keep']);
    });
  }

  it('shares lower layers between images and skips layers already unpacked', async () => {
    const base = await layerTar([dir('etc'), file('etc/os-release', 'ID=test')]);
    const one = await ociArchive(join(work, 'one.tar'), 'docker.io/library/one:1', [base, await layerTar([file('one', '1')])]);
    const two = await ociArchive(join(work, 'two.tar'), 'docker.io/library/two:1', [base, await layerTar([file('two', '2')])]);
    await importArchive(join(work, 'one.tar'), 'overlayfs', 'share');
    const events = await importArchive(join(work, 'two.tar'), 'overlayfs', 'share');
    assert.equal(one.chain[0], two.chain[0]);
    const ours = (await names('overlayfs')).filter((n) => n.startsWith('share/'));
    assert.deepEqual(ours, [...new Set([...one.chain, ...two.chain])].map((c) => `share/${c}`).sort());
    assert.equal(events.filter((e) => e.event === 'unpacking').length, 1, 'only the new top layer is applied');
    const diffIdLabels = (await inst.content('share').list()).filter((i) => i.labels['containerd.io/uncompressed']);
    assert.equal(diffIdLabels.length, 3);
  });

  it('rejects a layer whose diff id does not match, committing nothing', async () => {
    const layer = await layerTar([file('hello', 'world')]);
    const wrong = sha256('something else');
    await ociArchive(join(work, 'bad-diffid.tar'), 'docker.io/library/bad:1', [layer], { diffIds: [wrong] });
    await assert.rejects(importArchive(join(work, 'bad-diffid.tar'), 'overlayfs', 'bad'), /diff id mismatch|diff_id/i);
    assert.deepEqual(
      (await names('overlayfs')).filter((n) => n.startsWith('bad/')),
      [],
      'no committed layer and no extract snapshot left',
    );
  });

  it('rejects a layer that writes outside its snapshot, committing nothing', async () => {
    const sentinel = join(work, 'outside');
    mkdirSync(sentinel);
    const evil = await layerTar([file('ok', 'fine'), file('../../../../../../../../..' + sentinel + '/escaped', 'gotcha')]);
    await ociArchive(join(work, 'evil.tar'), 'docker.io/library/evil:1', [evil], { plain: true });
    await assert.rejects(importArchive(join(work, 'evil.tar'), 'native', 'evil'), /\.\./);
    assert.ok(!existsSync(join(sentinel, 'escaped')));
    assert.deepEqual(
      (await names('native')).filter((n) => n.startsWith('evil/')),
      [],
    );
  });

  it("turns a container's changes into a layer (Diff) that applies back (Apply) to the same tree", async () => {
    const baseTar = await layerTar([dir('app'), file('app/old', 'old'), file('app/gone', 'bye'), dir('cache'), file('cache/a', 'a')]);
    const img = await ociArchive(join(work, 'base.tar'), 'docker.io/library/base:1', [baseTar]);
    await importArchive(join(work, 'base.tar'), 'overlayfs', 'diff');
    const parent = `diff/${img.chain[0]}`;
    const overlay = snapshots('overlayfs');
    // Snapshots in a namespace of containerd-lite that nothing holds are the collector's: hold these.
    const held = { 'containerd.io/gc.root': 'test' };
    // A container's writable snapshot, changed through its mount.
    const rw = await overlay.prepare('diff/container-1', parent, held);
    const target = mkdtempSync(join(work, 'rw-'));
    await mountAll(rw, target);
    mounted.push(target);
    writeFileSync(join(target, 'app', 'new'), 'fresh');
    writeFileSync(join(target, 'app', 'old'), 'changed');
    rmSync(join(target, 'app', 'gone'));
    rmSync(join(target, 'cache'), { recursive: true });
    mkdirSync(join(target, 'cache'));
    writeFileSync(join(target, 'cache', 'b'), 'b');
    const expected = tree(target);
    await unmountAll(mounted.pop()!);

    const diff = new DiffClient(inst.wire, 'diff');
    const left: Mount[] = await overlay.view('diff/parent-view', parent, held);
    const desc: Descriptor = await diff.diff(left, await overlay.mounts('diff/container-1'), { ref: 'commit-1' });
    assert.equal(desc.mediaType, MediaType.ociLayerGzip);
    const info = await inst.content('diff').info(desc.digest);
    assert.equal(info.size, desc.size);
    const diffId = info.labels['containerd.io/uncompressed']!;
    assert.match(diffId, /^sha256:[0-9a-f]{64}$/);

    // Apply it onto a fresh snapshot of the same parent in the other driver's form too.
    const fresh = await overlay.prepare('diff/apply-1', parent, held);
    const applied = await diff.apply(desc, fresh);
    assert.equal(applied.digest, diffId);
    await overlay.commit('diff/applied', 'diff/apply-1', held);
    const got = await inView('overlayfs', 'diff/applied', (root) => ({
      tree: tree(root),
      old: readFileSync(join(root, 'app', 'old'), 'utf8'),
    }));
    assert.deepEqual(got.tree, expected);
    assert.equal(got.old, 'changed');
    for (const key of ['diff/parent-view', 'diff/container-1', 'diff/applied']) await overlay.remove(key);
  });

  it('refuses to apply what is not a layer', async () => {
    const diff = new DiffClient(inst.wire, 'diff');
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const digest = await writeBlob(inst.content('diff'), 'not-a-layer', bytesSource(config), {
      labels: { 'containerd.io/gc.root': 'test' },
    });
    const fresh = await snapshots('native').prepare('diff/apply-bad', '', { 'containerd.io/gc.root': 'test' });
    await assert.rejects(
      diff.apply({ mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, fresh),
      /unsupported layer media type/,
    );
    await assert.rejects(diff.apply({ mediaType: MediaType.ociLayer, digest: sha256('absent'), size: 1 }, fresh), /not found/);
    await snapshots('native').remove('diff/apply-bad');
  });
});
