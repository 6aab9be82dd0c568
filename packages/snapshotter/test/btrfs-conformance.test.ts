/**
 * The snapshotter conformance suite (conformance.ts) over the btrfs driver, on a btrfs file
 * system that this file makes in a loop-mounted image and takes down afterwards, also on failure.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { btrfsDriver } from '../src/drivers/btrfs/register';
import { describeConformance } from './conformance';
import { mountedAt } from './fs-helpers';
import { localSubject } from './subjects';

describe('btrfs (root, loop-mounted btrfs image)', function () {
  this.timeout(60_000);
  let base = '';
  let image = '';
  let fs = '';
  let fsMounted = false;
  let roots = 0;

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    base = realpathSync(mkdtempSync(join(tmpdir(), 'ctl-btrfs-conf-')));
    image = join(base, 'btrfs.img');
    fs = join(base, 'fs');
    mkdirSync(fs);
    writeFileSync(image, '');
    truncateSync(image, 1024 * 1024 * 1024);
    execFileSync('mkfs.btrfs', ['-q', image], { stdio: 'ignore' });
    execFileSync('mount', ['-o', 'loop', image, fs]);
    fsMounted = true;
  });

  after(() => {
    if (!base) return;
    if (fsMounted && mountedAt(fs)) execFileSync('umount', [fs]);
    const loops = execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim();
    for (const line of loops.split('\n').filter(Boolean)) execFileSync('losetup', ['-d', line.split(':')[0]]);
    rmSync(base, { recursive: true, force: true });
  });

  // Metadata on the host's disk, snapshots on the btrfs file system; each test its own root.
  describeConformance(
    'btrfs driver',
    localSubject(btrfsDriver, async () => join(fs, `root-${roots++}`, 'btrfs')),
  );
});
