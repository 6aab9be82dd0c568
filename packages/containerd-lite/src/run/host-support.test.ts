import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blkioWeightSupported, swapLimitSupported } from './host-support';

describe('host support of limits docker may discard', () => {
  let root: string;
  const file = (rel: string, text = ''): void => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  };
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'ctl-cgroot-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('swap limits: v1 with and without swap accounting, v2 with and without memory.swap.max', () => {
    file('memory/memory.limit_in_bytes');
    assert.equal(swapLimitSupported(root), false);
    file('memory/memory.memsw.limit_in_bytes');
    assert.equal(swapLimitSupported(root), true);
    rmSync(join(root, 'memory'), { recursive: true });
    file('cgroup.controllers', 'cpu io memory pids\n');
    assert.equal(swapLimitSupported(root), false);
    file('system.slice/memory.swap.max', 'max\n');
    assert.equal(swapLimitSupported(root), true);
  });

  it('block I/O weight: v1 CFQ or BFQ files, v2 io controller', () => {
    file('blkio/blkio.throttle.read_bps_device');
    assert.equal(blkioWeightSupported(root), false);
    file('blkio/blkio.bfq.weight');
    assert.equal(blkioWeightSupported(root), true);
    rmSync(join(root, 'blkio'), { recursive: true });
    file('cgroup.controllers', 'cpu memory\n');
    assert.equal(blkioWeightSupported(root), false);
    file('cgroup.controllers', 'cpu io memory\n');
    assert.equal(blkioWeightSupported(root), true);
  });
});
