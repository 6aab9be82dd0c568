import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { overlayfsDriver } from '../src/drivers/overlayfs/register';
import { mountAll, unmountAll } from '@ctl/runtime-native/mount';
import { openDatabase } from '@ctl/proto';
import { tempInstance } from '@ctl/proto/testing';
import { SCHEMA } from '../src/layout';
import { MetaSnapshotter } from '../src/metadata';
import { SIZE_LIMIT_LABEL } from '../src/snapshotter';
import { MiB, fill, mountedAt } from './fs-helpers';
import { localSubject } from './subjects';

describe('overlayfs driver specifics', function () {
  this.timeout(120_000);
  const mounted: string[] = [];
  let tmp: string;
  let teardown: () => Promise<void>;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'ctl-ovl-'));
  });
  afterEach(async () => {
    for (const m of mounted.splice(0).reverse()) await unmountAll(m).catch(() => undefined);
    await teardown?.();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function mountAt(mounts: Parameters<typeof mountAll>[0], name: string): Promise<string> {
    const dir = join(tmp, name);
    mkdirSync(dir);
    await mountAll(mounts, dir);
    mounted.push(dir);
    return dir;
  }

  async function unmount(dir: string): Promise<void> {
    await unmountAll(dir);
    mounted.splice(mounted.indexOf(dir), 1);
  }

  it('returns a bind mount for a single layer and overlay mounts for chains, as containerd does', async () => {
    const subject = await localSubject(overlayfsDriver)();
    teardown = subject.teardown;
    const s = subject.snapshotter;
    const first = await s.prepare('a', '');
    assert.equal(first[0]!.type, 'bind');
    assert.deepEqual(first[0]!.options, ['rw', 'rbind']);
    await s.commit('A', 'a');
    const view = await s.view('v', 'A');
    assert.equal(view[0]!.type, 'bind');
    assert.deepEqual(view[0]!.options, ['ro', 'rbind']);
    const child = await s.prepare('b', 'A');
    assert.equal(child[0]!.type, 'overlay');
    assert.match(child[0]!.options.join(','), /workdir=.*,upperdir=.*,lowerdir=/);
  });

  it('gives an active snapshot its work dir back when a crash cut a commit between the driver and the record', async () => {
    const subject = await localSubject(overlayfsDriver)();
    teardown = subject.teardown;
    const s = subject.snapshotter;
    await s.prepare('base', '');
    await s.commit('B', 'base');
    const first = await s.prepare('c', 'B');
    const workdir = /workdir=([^,]+)/.exec(first[0]!.options.join(','))![1]!;
    // What the driver's half of commit does before the record changes.
    rmSync(workdir, { recursive: true });
    const again = await s.mounts('c');
    assert.deepEqual(again, first);
    const dir = await mountAt(again, 'c');
    writeFileSync(join(dir, 'f'), 'x');
    await unmount(dir);
  });

  it('mounts a chain of 210 layers, past the one-page limit of mount options', async () => {
    const subject = await localSubject(overlayfsDriver)();
    teardown = subject.teardown;
    const s = subject.snapshotter;
    let parent = '';
    // Layers are written straight into their upper dirs: mounting 210 times would only test speed.
    for (let i = 0; i < 210; i++) {
      const mounts = await s.prepare(`k${i}`, parent);
      const upper =
        mounts[0]!.type === 'bind'
          ? mounts[0]!.source
          : mounts[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
      writeFileSync(join(upper, `f${i}`), String(i));
      await s.commit(`layer-${i}`, `k${i}`);
      parent = `layer-${i}`;
    }
    const top = await s.prepare('top', parent);
    assert.ok(top[0]!.options.join(',').length > 4096, 'the options really pass one page');
    const dir = await mountAt(top, 'top');
    for (const i of [0, 1, 100, 209]) assert.equal(readFileSync(join(dir, `f${i}`), 'utf8'), String(i));
    writeFileSync(join(dir, 'new'), 'x');
    await unmount(dir);
  });

  it('mounts a size-limited layer again when the service opens after a reboot unmounted it', async () => {
    const tmp = tempInstance('ctl-ovl-restore-');
    const root = join(tmp.root, 'overlayfs');
    let db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    let s = await MetaSnapshotter.open(db, await overlayfsDriver.open({ root }));
    let layerDir = '';
    teardown = async () => {
      if (layerDir && mountedAt(layerDir)) execFileSync('umount', [layerDir]);
      await db.close().catch(() => undefined);
      tmp.remove();
    };
    const mounts = await s.prepare('limited', '', { [SIZE_LIMIT_LABEL]: '16m' });
    layerDir = dirname(mounts[0]!.source);
    const dir = await mountAt(mounts, 'before');
    writeFileSync(join(dir, 'kept'), 'across the reboot');
    await unmount(dir);
    // What a reboot does to the layer's own file system: it is no longer mounted.
    execFileSync('umount', [layerDir]);
    assert.equal(mountedAt(layerDir), false);
    await db.close();

    db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    s = await MetaSnapshotter.open(db, await overlayfsDriver.open({ root }));
    assert.equal(mountedAt(layerDir), true, 'mounted again at open');
    const after = await mountAt(await s.mounts('limited'), 'after');
    assert.equal(readFileSync(join(after, 'kept'), 'utf8'), 'across the reboot');
    assert.equal(fill(join(after, 'big'), 32 * MiB).code, 'ENOSPC', 'the limit holds again');
    await unmount(after);
    await s.remove('limited');
    await s.cleanup();
    assert.equal(mountedAt(layerDir), false);
  });
});
