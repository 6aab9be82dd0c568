/**
 * One conformance suite for the Snapshotter contract, run against every driver and against
 * the gRPC client (containerd's snapshots/testsuite in spirit). Every test mounts what it gets
 * on the real kernel and checks file contents; every mount and temp dir is removed, also when
 * a test fails.
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountAll, unmountAll } from '@ctl/runtime-native/mount';
import { epochNanos, now } from '@ctl/proto/time';
import { type Cleaner, type Mount, SIZE_LIMIT_LABEL, type Snapshotter } from '../src/snapshotter';

export interface ConformanceSubject {
  snapshotter: Snapshotter & Partial<Cleaner>;
  /** Ids or paths the backend holds on disk, to check that removal leaves nothing. */
  onDisk(): Promise<string[]>;
  teardown(): Promise<void>;
}

const kind = (k: ErrorKind) => (e: unknown) => isKind(e, k);

export function describeConformance(label: string, setup: () => Promise<ConformanceSubject>): void {
  describe(`snapshotter conformance: ${label}`, function () {
    this.timeout(60_000);
    let subject: ConformanceSubject;
    let s: Snapshotter & Partial<Cleaner>;
    let tmp: string;
    const mounted: string[] = [];

    beforeEach(async () => {
      subject = await setup();
      s = subject.snapshotter;
      tmp = mkdtempSync(join(tmpdir(), 'ctl-conf-'));
    });
    afterEach(async () => {
      for (const target of mounted.splice(0).reverse()) await unmountAll(target).catch(() => undefined);
      await subject.teardown();
      rmSync(tmp, { recursive: true, force: true });
    });

    let seq = 0;
    async function withMounted<T>(mounts: Mount[], fn: (dir: string) => T | Promise<T>): Promise<T> {
      const dir = join(tmp, `m${seq++}`);
      mkdirSync(dir);
      await mountAll(mounts, dir);
      mounted.push(dir);
      try {
        return await fn(dir);
      } finally {
        await unmountAll(dir);
        mounted.splice(mounted.indexOf(dir), 1);
      }
    }

    /** Commits a layer made by fn on top of parent. */
    async function layer(name: string, parent: string, fn: (dir: string) => void): Promise<void> {
      const key = `${name}-active`;
      await withMounted(await s.prepare(key, parent), fn);
      await s.commit(name, key);
    }

    async function contents(parent: string, file: string): Promise<string | undefined> {
      const key = `view-${seq++}`;
      try {
        return await withMounted(await s.view(key, parent), (dir) =>
          existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8') : undefined,
        );
      } finally {
        await s.remove(key);
      }
    }

    it('prepares, commits and views a layer', async () => {
      await layer('base', '', (d) => writeFileSync(join(d, 'hello'), 'world'));
      const info = await s.stat('base');
      assert.equal(info.kind, 'COMMITTED');
      assert.equal(info.parent, '');
      await assert.rejects(s.stat('base-active'), kind(ErrorKind.NotFound));
      assert.equal(await contents('base', 'hello'), 'world');
    });

    it('shares the parent and keeps child changes out of it', async () => {
      await layer('p', '', (d) => {
        writeFileSync(join(d, 'shared'), 'from parent');
        writeFileSync(join(d, 'doomed'), 'x');
      });
      await layer('c', 'p', (d) => {
        assert.equal(readFileSync(join(d, 'shared'), 'utf8'), 'from parent');
        writeFileSync(join(d, 'shared'), 'changed in child');
        unlinkSync(join(d, 'doomed'));
      });
      assert.equal((await s.stat('c')).parent, 'p');
      assert.equal(await contents('p', 'shared'), 'from parent');
      assert.equal(await contents('p', 'doomed'), 'x');
      assert.equal(await contents('c', 'shared'), 'changed in child');
      assert.equal(await contents('c', 'doomed'), undefined);
    });

    it('stacks a chain of layers', async () => {
      let parent = '';
      for (let i = 0; i < 12; i++) {
        await layer(`l${i}`, parent, (d) => writeFileSync(join(d, `f${i}`), String(i)));
        parent = `l${i}`;
      }
      const key = 'top';
      await withMounted(await s.prepare(key, parent), (d) => {
        for (let i = 0; i < 12; i++) assert.equal(readFileSync(join(d, `f${i}`), 'utf8'), String(i));
      });
    });

    it('mounts a view read-only and refuses to commit it', async () => {
      await layer('base', '', (d) => writeFileSync(join(d, 'f'), '1'));
      const mounts = await s.view('v', 'base');
      assert.deepEqual(await s.mounts('v'), mounts);
      assert.equal((await s.stat('v')).kind, 'VIEW');
      await withMounted(mounts, (d) => assert.throws(() => writeFileSync(join(d, 'g'), '2'), /EROFS/));
      await assert.rejects(s.commit('v2', 'v'), kind(ErrorKind.FailedPrecondition));
    });

    it('answers with containerd error kinds and writes nothing on bad requests', async () => {
      await layer('base', '', () => undefined);
      await s.prepare('active', 'base');
      await assert.rejects(s.prepare('active', 'base'), kind(ErrorKind.AlreadyExists));
      await assert.rejects(s.prepare('base', ''), kind(ErrorKind.AlreadyExists));
      await assert.rejects(s.prepare('x', 'missing'), kind(ErrorKind.NotFound));
      await assert.rejects(s.prepare('x', 'active'), kind(ErrorKind.InvalidArgument));
      await assert.rejects(s.prepare('', 'base'), kind(ErrorKind.InvalidArgument));
      await assert.rejects(s.prepare('k'.repeat(2000), 'base'), kind(ErrorKind.InvalidArgument));
      await assert.rejects(s.prepare('big-labels', '', { huge: 'v'.repeat(5000) }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(s.commit('base', 'active'), kind(ErrorKind.AlreadyExists));
      await assert.rejects(s.commit('n', 'missing'), kind(ErrorKind.NotFound));
      await assert.rejects(s.commit('n', 'base'), kind(ErrorKind.FailedPrecondition));
      await assert.rejects(s.mounts('base'), kind(ErrorKind.FailedPrecondition));
      await assert.rejects(s.mounts('missing'), kind(ErrorKind.NotFound));
      await assert.rejects(s.remove('base'), kind(ErrorKind.FailedPrecondition));
      await assert.rejects(s.remove('missing'), kind(ErrorKind.NotFound));
      await assert.rejects(s.stat('x'), kind(ErrorKind.NotFound));
      await assert.rejects(s.stat('big-labels'), kind(ErrorKind.NotFound));
      const names: string[] = [];
      await s.walk((i) => void names.push(i.name));
      assert.deepEqual(names.sort(), ['active', 'base']);
    });

    it("answers AlreadyExists for a layer already unpacked (containerd's snapshot.ref shortcut)", async () => {
      const ref = 'sha256:' + 'a'.repeat(64);
      const labels = { 'containerd.io/snapshot.ref': ref };
      await s.prepare('ns1/1/extract', '', labels);
      await s.commit('ns1/2/' + ref, 'ns1/1/extract', labels);
      await assert.rejects(
        s.prepare('ns2/3/extract', '', labels),
        (e: unknown) => isKind(e, ErrorKind.AlreadyExists) && (e as Error).message.includes(ref),
      );
      assert.equal(await s.stat('ns2/3/extract').catch(() => undefined), undefined, 'nothing half-made');
      const found: string[] = [];
      await s.walk((i) => void found.push(i.name), [`labels."containerd.io/snapshot.ref"==${ref},parent==""`]);
      assert.deepEqual(found, ['ns1/2/' + ref]);
      // Another parent, or no label, is a plain Prepare.
      await s.prepare('ns2/4/other', 'ns1/2/' + ref, labels);
      await s.prepare('ns2/5/plain', '');
    });

    it('updates labels with field masks and bumps updatedAt', async () => {
      await s.prepare('a', '', { keep: '1', drop: '2' });
      const before = await s.stat('a');
      const after = await s.update({ name: 'a', labels: { add: '3', drop: '' } }, ['labels.add', 'labels.drop']);
      assert.deepEqual(after.labels, { keep: '1', add: '3' });
      assert.ok(epochNanos(after.updatedAt) > epochNanos(before.updatedAt));
      assert.equal(epochNanos(after.createdAt), epochNanos(before.createdAt));
      assert.deepEqual((await s.update({ name: 'a', labels: { only: 'x' } }, ['labels'])).labels, { only: 'x' });
      await assert.rejects(s.update({ name: 'a', labels: {} }, ['parent']), kind(ErrorKind.InvalidArgument));
      await assert.rejects(s.update({ name: 'zz', labels: {} }), kind(ErrorKind.NotFound));
      assert.deepEqual((await s.stat('a')).labels, { only: 'x' });
    });

    it("stamps times to the nanosecond, between instants read just before and after the call (containerd's suite)", async () => {
      // A millisecond clock lands before `before` unless a millisecond tick falls inside the
      // call; a few rounds make that luck impossible.
      const between = async <T>(call: () => Promise<T>): Promise<{ value: T; before: bigint; after: bigint }> => {
        const before = epochNanos(now());
        const value = await call();
        return { value, before, after: epochNanos(now()) };
      };
      const within = (t: Date, w: { before: bigint; after: bigint }, what: string) =>
        assert.ok(w.before < epochNanos(t) && epochNanos(t) < w.after, `${what}: ${w.before} < ${epochNanos(t)} < ${w.after}`);
      for (let i = 0; i < 5; i++) {
        const prepared = await between(() => s.prepare(`t${i}-active`, ''));
        const active = await s.stat(`t${i}-active`);
        within(active.createdAt, prepared, 'prepare createdAt');
        assert.equal(epochNanos(active.updatedAt), epochNanos(active.createdAt));
        const committed = await between(() => s.commit(`t${i}`, `t${i}-active`));
        within((await s.stat(`t${i}`)).createdAt, committed, 'commit createdAt');
        const updated = await between(() => s.update({ name: `t${i}`, labels: { n: String(i) } }));
        within(updated.value.updatedAt, updated, 'update updatedAt');
        assert.equal(epochNanos((await s.stat(`t${i}`)).updatedAt), epochNanos(updated.value.updatedAt));
      }
    });

    it('walks with containerd filters', async () => {
      await layer('base', '', () => undefined);
      await s.prepare('act', 'base', { 'containerd.io/snapshot.ref': 'sha256:abc' });
      await s.view('vw', 'base');
      const walk = async (...filters: string[]) => {
        const names: string[] = [];
        await s.walk((i) => void names.push(i.name), filters);
        return names.sort();
      };
      assert.deepEqual(await walk(), ['act', 'base', 'vw']);
      assert.deepEqual(await walk('kind==committed'), ['base']);
      assert.deepEqual(await walk('parent==base,kind==view'), ['vw']);
      assert.deepEqual(await walk('labels."containerd.io/snapshot.ref"==sha256:abc'), ['act']);
      assert.deepEqual(await walk('name==vw', 'name==act'), ['act', 'vw']);
      await assert.rejects(walk('labels."unterminated'), kind(ErrorKind.InvalidArgument));
    });

    it("reports the real disk use of a snapshot's own layer", async () => {
      await layer('base', '', (d) => writeFileSync(join(d, 'big'), Buffer.alloc(2 * 1024 * 1024, 1)));
      const mounts = await s.prepare('a', 'base');
      await withMounted(mounts, (d) => writeFileSync(join(d, 'small'), Buffer.alloc(64 * 1024, 2)));
      const own = await s.usage('a');
      assert.ok(own.size >= 64 * 1024, `active size ${own.size}`);
      assert.ok(own.inodes >= 2, `active inodes ${own.inodes}`);
      const base = await s.usage('base');
      assert.ok(base.size >= 2 * 1024 * 1024, `base size ${base.size}`);
    });

    it('enforces a size limit on an active snapshot, and nothing outside is affected', async () => {
      await layer('base', '', (d) => writeFileSync(join(d, 'f'), 'base'));
      const limited = await s.prepare('limited', 'base', { [SIZE_LIMIT_LABEL]: '16m' });
      const free = await s.prepare('free', 'base');
      await withMounted(limited, (d) => {
        assert.equal(readFileSync(join(d, 'f'), 'utf8'), 'base');
        writeFileSync(join(d, 'fits'), Buffer.alloc(4 * 1024 * 1024));
        // EDQUOT (btrfs qgroups) has no name in libuv: Node reports it as UNKNOWN with errno -122.
        const full = (e: unknown) =>
          ['ENOSPC', 'EDQUOT'].includes((e as NodeJS.ErrnoException).code ?? '') || (e as NodeJS.ErrnoException).errno === -122;
        assert.throws(() => writeFileSync(join(d, 'too-big'), Buffer.alloc(32 * 1024 * 1024)), full);
      });
      await withMounted(free, (d) => writeFileSync(join(d, 'big'), Buffer.alloc(32 * 1024 * 1024)));
      await assert.rejects(s.prepare('bad-size', '', { [SIZE_LIMIT_LABEL]: 'lots' }), kind(ErrorKind.InvalidArgument));
      await s.remove('limited');
      await s.remove('free');
      await s.remove('base');
      await s.cleanup?.();
      assert.deepEqual(await subject.onDisk(), []);
    });

    it('removes everything it made, leaves first', async () => {
      await layer('p', '', (d) => writeFileSync(join(d, 'f'), '1'));
      await layer('c', 'p', () => undefined);
      await s.view('v', 'c');
      await s.remove('v');
      await s.remove('c');
      await s.remove('p');
      await s.cleanup?.();
      assert.deepEqual(await subject.onDisk(), []);
      await s.walk(() => assert.fail('nothing should be left'));
    });
  });
}
