/**
 * Temporary mounts on the real kernel: a writable overlay writes into its upper; the read-only form of
 * the same overlay shows the same files, refuses writes and leaves the upper and work dirs alone; both
 * leave no mount and no directory behind, also when the mount fails.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Mount, mountTable, withReadonlyTempMount, withTempMount } from '../src/mount';

describe('temporary mounts (root)', function () {
  this.timeout(60_000);
  let base: string;
  let overlay: Mount;
  const tmpRoot = (): string => join(base, 'tmp');
  const mountedUnder = async (dir: string): Promise<string[]> =>
    (await mountTable()).map((m) => m.mountPoint).filter((p) => p.startsWith(dir + '/'));

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'ctl-mount-'));
    for (const d of ['lower', 'upper', 'work']) mkdirSync(join(base, d));
    writeFileSync(join(base, 'lower', 'a'), 'lower');
    writeFileSync(join(base, 'upper', 'b'), 'upper');
    const dir = (d: string): string => join(base, d);
    overlay = {
      type: 'overlay',
      source: 'overlay',
      options: [`workdir=${dir('work')}`, `upperdir=${dir('upper')}`, `lowerdir=${dir('lower')}`],
    };
  });

  afterEach(async () => {
    assert.deepEqual(await mountedUnder(base), [], 'nothing stays mounted');
    rmSync(base, { recursive: true, force: true });
  });

  it('withTempMount mounts writable and writes reach the upper', async () => {
    await withTempMount([overlay], tmpRoot(), (dir) => writeFileSync(join(dir, 'c'), 'new'));
    assert.equal(readFileSync(join(base, 'upper', 'c'), 'utf8'), 'new');
    assert.deepEqual(readdirSync(tmpRoot()), []);
  });

  it('withReadonlyTempMount shows upper and lower, refuses writes and does not use the work dir', async () => {
    const workBefore = readdirSync(join(base, 'work'));
    await withReadonlyTempMount([overlay], tmpRoot(), async (dir) => {
      assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'lower');
      assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'upper');
      assert.throws(() => writeFileSync(join(dir, 'c'), 'x'), { code: 'EROFS' });
      const [entry] = (await mountTable()).filter((m) => m.mountPoint === dir);
      assert.equal(entry?.fsType, 'overlay');
    });
    assert.deepEqual(readdirSync(join(base, 'work')), workBefore);
    assert.deepEqual(readdirSync(tmpRoot()), []);
  });

  it('withReadonlyTempMount of a bind mount refuses writes', async () => {
    await withReadonlyTempMount([{ type: 'bind', source: join(base, 'lower'), options: ['rbind', 'rw'] }], tmpRoot(), (dir) => {
      assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'lower');
      assert.throws(() => writeFileSync(join(dir, 'c'), 'x'), { code: 'EROFS' });
    });
  });

  it('a list that fails half way is unmounted before the error', async () => {
    const bind = { type: 'bind', source: join(base, 'lower'), options: ['rbind'] };
    const missing = { type: 'bind', source: join(base, 'nonexistent'), options: ['rbind'] };
    await assert.rejects(
      withTempMount([bind, missing], tmpRoot(), () => assert.fail('fn must not run')),
      /nonexistent/,
    );
    assert.deepEqual(readdirSync(tmpRoot()), []);
  });
});
