/**
 * A cgroupsPath deeper than any fixed table: every directory the runtime makes for it is
 * recorded and removed again on delete (the runtime once kept only the first 48 it made, so the
 * rest, and with them every parent, stayed behind).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Fixture, requireRootAndBusybox } from './helpers';

/** The cgroup hierarchies of this host (v1 controllers and any cgroup2 mount). */
function hierarchies(): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const m = / (\/sys\/fs\/cgroup\/?[^ ]*) .* - (cgroup2?) /.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
}

/** Remove a cgroup directory tree, children first (cgroupfs takes rmdir only). */
function removeCgroupTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) removeCgroupTree(path.join(dir, d.name));
  fs.rmdirSync(dir);
}

describe('cgroups: a deep cgroupsPath (root, real kernel)', function () {
  let fx: Fixture;
  const top = `ctl-deep-it-${process.pid}`;
  before(function () {
    requireRootAndBusybox(this);
    fx = new Fixture();
  });
  afterEach(async () => fx && (await fx.cleanupContainers()));
  after(() => {
    for (const h of hierarchies()) removeCgroupTree(path.join(h, top));
    fx?.destroy();
  });

  it('a container whose cgroupsPath is 60 levels deep runs, and delete leaves no directory of it behind', async () => {
    const id = fx.id();
    const levels = Array.from({ length: 58 }, (_, i) => `l${i}`);
    const cgroupsPath = `/${[top, ...levels, id].join('/')}`;
    const r = await fx.runtime.runForeground(id, fx.bundle(id, ['true'], { cgroupsPath }));
    assert.equal(r.code, 0, r.stderr);
    const left = hierarchies()
      .map((h) => path.join(h, top))
      .filter((d) => fs.existsSync(d));
    assert.deepEqual(left, [], 'cgroup directories left behind');
  });
});
