/**
 * mountAll and unmountAll as ctl-mount does them (mount(2) and umount2(2), in ctl-launch's process
 * or, without the launcher, as an executable of their own), on the real kernel: an overlay whose
 * options pass a page (relative paths from their common directory), binds plain, recursive and
 * read-only, generic flags, the recursive unmount of a mount with submounts, and errors of the
 * kinds the callers handle. Every mount made is undone, also when a test fails.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { MOUNT_BINARY, type Mount, mountAll, mountTable, unmountAll } from '../src/mount';

for (const via of ['ctl-launch', 'the ctl-mount executable'] as const) {
  describe(`mounts by ctl-mount, through ${via} (root)`, function () {
    this.timeout(60_000);
    let base: string;
    const launcherSetting = process.env.CTL_LAUNCHER;
    const mountsUnder = async (dir: string): Promise<string[]> =>
      (await mountTable()).map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(dir + '/'));
    const dir = (...parts: string[]): string => {
      const d = join(base, ...parts);
      mkdirSync(d, { recursive: true });
      return d;
    };

    before(function () {
      if (process.getuid?.() !== 0) this.skip();
      if (via === 'the ctl-mount executable') process.env.CTL_LAUNCHER = '0';
    });

    after(() => {
      if (launcherSetting === undefined) delete process.env.CTL_LAUNCHER;
      else process.env.CTL_LAUNCHER = launcherSetting;
    });

    beforeEach(() => {
      base = mkdtempSync(join(tmpdir(), 'ctl-mount-native-'));
    });

    afterEach(async () => {
      const left = await mountsUnder(base);
      for (const m of left.reverse()) execFileSync('umount', ['-l', m]);
      rmSync(base, { recursive: true, force: true });
      assert.deepEqual(left, [], 'nothing stays mounted');
    });

    it('mounts an overlay whose options pass a page, from relative paths, and unmounts it', async () => {
      const names = Array.from({ length: 90 }, (_, i) => `${String(i).padStart(3, '0')}-${'x'.repeat(20)}`);
      const lowers = names.map((n, i) => {
        const d = dir('layers', n);
        writeFileSync(join(d, `only-${i}`), n);
        writeFileSync(join(d, 'shared'), n);
        return d;
      });
      const options = [`workdir=${dir('work')}`, `upperdir=${dir('upper')}`, `lowerdir=${lowers.join(':')}`];
      assert.ok(options.join(',').length > 4096, 'the absolute options pass a page');
      const target = dir('target');
      await mountAll([{ type: 'overlay', source: 'overlay', options }], target);
      assert.equal(readFileSync(join(target, 'only-89'), 'utf8'), names[89]);
      assert.equal(readFileSync(join(target, 'shared'), 'utf8'), names[0], 'the first lowerdir is on top');
      writeFileSync(join(target, 'new'), 'x');
      assert.equal(readFileSync(join(base, 'upper', 'new'), 'utf8'), 'x');
      assert.deepEqual(await mountsUnder(base), [target]);
      await unmountAll(target);
      assert.deepEqual(await mountsUnder(base), []);
    });

    it('bind-mounts read-only with generic flags, and the flags reach the mount', async () => {
      writeFileSync(join(dir('src'), 'a'), 'a');
      const target = dir('target');
      await mountAll([{ type: 'bind', source: join(base, 'src'), options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] }], target);
      try {
        assert.equal(readFileSync(join(target, 'a'), 'utf8'), 'a');
        assert.throws(() => writeFileSync(join(target, 'b'), 'x'), { code: 'EROFS' });
        const line = readFileSync('/proc/self/mountinfo', 'utf8')
          .split('\n')
          .find((l) => l.split(' ')[4] === target);
        const flags = line?.split(' ')[5]?.split(',') ?? [];
        for (const f of ['ro', 'nosuid', 'nodev', 'noexec']) assert.ok(flags.includes(f), `${f} in ${line}`);
      } finally {
        await unmountAll(target);
      }
    });

    it('an rbind takes the submounts along, and unmountAll undoes the whole tree deepest first', async () => {
      const src = dir('src');
      writeFileSync(join(dir('sub-src'), 'deep'), 'deep');
      dir('src', 'sub');
      const target = dir('target');
      await mountAll([{ type: 'bind', source: join(base, 'sub-src'), options: ['rbind'] }], join(src, 'sub'));
      try {
        await mountAll([{ type: 'bind', source: src, options: ['rbind', 'rw'] }], target);
        assert.equal(readFileSync(join(target, 'sub', 'deep'), 'utf8'), 'deep');
        // one more level, mounted on the copy only: the unmount must take it before its parents
        await mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'mode=0755'] }], dir('target', 'sub', 'tmp'));
        assert.deepEqual(await mountsUnder(target), [target, join(target, 'sub'), join(target, 'sub', 'tmp')]);
        await unmountAll(target);
        assert.deepEqual(await mountsUnder(target), []);
        assert.equal(readFileSync(join(src, 'sub', 'deep'), 'utf8'), 'deep', 'the source tree stays mounted');
      } finally {
        await unmountAll(join(src, 'sub')).catch(() => undefined);
      }
    });

    it('reports a missing target and source as NotFound, and naming the path', async () => {
      const missing = join(base, 'nonexistent');
      await assert.rejects(
        mountAll([{ type: 'bind', source: dir('src'), options: ['rbind'] }], missing),
        (err: unknown) => isKind(err, ErrorKind.NotFound) && (err as Error).message.includes(missing),
      );
      await assert.rejects(
        mountAll([{ type: 'bind', source: missing, options: ['rbind'] }], dir('target')),
        (err: unknown) => isKind(err, ErrorKind.NotFound) && (err as Error).message.includes(missing),
      );
      await assert.rejects(unmountAll(missing), (err: unknown) => isKind(err, ErrorKind.NotFound));
    });

    it('reports unmounting what is not mounted as FailedPrecondition, and a busy mount as such', async () => {
      const target = dir('target');
      await assert.rejects(
        unmountAll(target),
        (err: unknown) => isKind(err, ErrorKind.FailedPrecondition) && /not mounted/.test((err as Error).message),
      );
      const mounts: Mount[] = [{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }];
      await mountAll(mounts, target);
      const child = (await import('node:child_process')).spawn('sleep', ['60'], { cwd: target, stdio: 'ignore' });
      try {
        await new Promise((resolve) => child.once('spawn', resolve));
        await assert.rejects(
          unmountAll(target),
          (err: unknown) => isKind(err, ErrorKind.FailedPrecondition) && /busy/i.test((err as Error).message),
        );
      } finally {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      await unmountAll(target);
    });

    it('refuses a usage it does not know', () => {
      const r = (() => {
        try {
          execFileSync(MOUNT_BINARY, ['frobnicate'], { stdio: 'pipe' });
          return 0;
        } catch (err) {
          return (err as { status: number }).status;
        }
      })();
      assert.equal(r, 2);
    });
  });
}
