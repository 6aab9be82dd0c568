import { ErrorKind, isKind } from '@ctl/proto/errors';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBundleDir, removeBundle, unmountRootfsIfMounted } from '../src/tasks/bundle';
import { mountsUnder } from './tasks-fixture';

// A bundle's rootfs is the container's snapshot mounted: removing the bundle must never reach
// into it, and the checks that keep it so read the mount table only when rmdir or umount fail.
describe('task bundles and their mounted rootfs (root, real kernel)', function () {
  this.timeout(30_000);
  let tmp: string;
  let bundle: string;
  let rootfs: string;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-bundle-'));
    bundle = path.join(tmp, 'tasks', 'default', 'c1');
    rootfs = path.join(bundle, 'rootfs');
    makeBundleDir(bundle);
    fs.mkdirSync(rootfs);
    fs.writeFileSync(path.join(bundle, 'config.json'), '{}');
  });

  afterEach(() => {
    for (const mount of mountsUnder(tmp).reverse()) execFileSync('umount', ['--lazy', mount]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses to remove a bundle whose rootfs is mounted, and leaves what the mount holds', () => {
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', rootfs]);
    fs.writeFileSync(path.join(rootfs, 'keep'), 'snapshot data');
    assert.throws(
      () => removeBundle(bundle),
      (err: unknown) => isKind(err, ErrorKind.Internal) && /rootfs is still mounted/.test((err as Error).message),
    );
    assert.equal(fs.readFileSync(path.join(rootfs, 'keep'), 'utf8'), 'snapshot data');
    assert.ok(fs.existsSync(path.join(bundle, 'config.json')));
  });

  it('unmounts a mounted rootfs, takes an unmounted one as done, then removes the bundle', async () => {
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', rootfs]);
    await unmountRootfsIfMounted(bundle);
    assert.deepEqual(mountsUnder(tmp), []);
    await unmountRootfsIfMounted(bundle);
    removeBundle(bundle);
    assert.equal(fs.existsSync(bundle), false);
  });

  it('removes a rootfs that is no mount point, files and all, and a bundle without one', () => {
    fs.writeFileSync(path.join(rootfs, 'left'), 'by a create cut short');
    removeBundle(bundle);
    assert.equal(fs.existsSync(bundle), false);
    makeBundleDir(bundle);
    removeBundle(bundle);
    assert.equal(fs.existsSync(bundle), false);
  });
});
