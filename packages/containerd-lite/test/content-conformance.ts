/**
 * One conformance suite for the Content contract, run against the local store and against the
 * gRPC client (containerd's content/testsuite in spirit). Every subject lives in a temp dir that
 * its teardown removes, also when a test fails.
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import type { Content } from '../src/content/content';
import { bytesSource, writeBlob } from '../src/content/helpers';

export interface ContentSubject {
  /** The content API as seen from one namespace. */
  content(namespace?: string): Content;
  /** The blob files on disk (hex names under blobs/sha256). */
  blobFiles(): string[];
  teardown(): Promise<void>;
}

export const kind = (k: ErrorKind) => (e: unknown) => isKind(e, k);
export const sha256 = (data: Uint8Array | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export async function readAll(c: Content, digest: string, options?: { offset?: number; size?: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of c.read(digest, options)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export async function put(c: Content, ref: string, data: Buffer | string, labels: Record<string, string> = {}): Promise<string> {
  const bytes = Buffer.from(data);
  const w = await c.writer(ref, { total: bytes.length, expected: sha256(bytes) });
  await w.write(bytes);
  return w.commit(bytes.length, sha256(bytes), labels);
}

export function describeContentConformance(label: string, setup: () => Promise<ContentSubject>): void {
  describe(`content conformance: ${label}`, function () {
    this.timeout(30_000);
    let subject: ContentSubject;
    let c: Content;

    beforeEach(async () => {
      subject = await setup();
      c = subject.content();
    });
    afterEach(async () => {
      await subject.teardown();
    });

    it('writes in chunks, verifies and commits a blob, and reads it back', async () => {
      const data = Buffer.from('hello, content store\n'.repeat(1000));
      const w = await c.writer('ref-1', { total: data.length, expected: sha256(data) });
      assert.equal((await w.status()).offset, 0);
      assert.equal(await w.write(data.subarray(0, 5000)), 5000);
      assert.equal(await w.write(data.subarray(5000), 5000), data.length);
      assert.equal(await w.digest(), sha256(data));
      assert.equal(await w.commit(data.length, sha256(data), { team: 'a' }), sha256(data));
      const info = await c.info(sha256(data));
      assert.equal(info.size, data.length);
      assert.deepEqual(info.labels, { team: 'a' });
      assert.ok(Math.abs(info.createdAt.getTime() - Date.now()) < 60_000);
      assert.ok((await readAll(c, sha256(data))).equals(data));
      assert.deepEqual(subject.blobFiles(), [sha256(data).slice(7)]);
      await assert.rejects(c.status('ref-1'), kind(ErrorKind.NotFound));
    });

    it('refuses a commit whose digest or size does not match, and commits nothing', async () => {
      const data = Buffer.from('the real bytes');
      const wrong = sha256('other bytes');
      const w = await c.writer('bad-digest', { total: data.length });
      await w.write(data);
      await assert.rejects(w.commit(data.length, wrong), kind(ErrorKind.FailedPrecondition));
      await assert.rejects(c.info(sha256(data)), kind(ErrorKind.NotFound));
      await assert.rejects(c.info(wrong), kind(ErrorKind.NotFound));
      assert.deepEqual(subject.blobFiles(), []);
      // The ingest stays, to be resumed or aborted.
      assert.equal((await c.status('bad-digest')).offset, data.length);

      const w2 = await c.writer('bad-size', { expected: sha256(data) });
      await w2.write(data);
      await assert.rejects(w2.commit(data.length + 1), kind(ErrorKind.FailedPrecondition));
      // The expected digest given when the writer opened is checked at commit too.
      const w3 = await c.writer('bad-expected', { expected: wrong });
      await w3.write(data);
      await assert.rejects(w3.commit(), kind(ErrorKind.FailedPrecondition));
      assert.deepEqual(subject.blobFiles(), []);
      assert.deepEqual(await c.list(), []);
    });

    it('resumes an interrupted write by ref at its offset, with the digest over all of it', async () => {
      const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
      const w = await c.writer('resumable', { total: data.length, expected: sha256(data) });
      await w.write(data.subarray(0, 123_457));
      await w.close();
      const st = await c.status('resumable');
      assert.equal(st.offset, 123_457);
      assert.equal(st.total, data.length);
      assert.equal(st.expected, sha256(data));

      const again = await c.writer('resumable');
      assert.equal((await again.status()).offset, 123_457);
      assert.equal(await again.digest(), sha256(data.subarray(0, 123_457)));
      await again.write(data.subarray(123_457), 123_457);
      assert.equal(await again.commit(), sha256(data));
      assert.ok((await readAll(c, sha256(data))).equals(data));
    });

    it('rejects a write at an offset other than the current one, and restarts at 0', async () => {
      const w = await c.writer('offsets');
      await w.write(Buffer.from('abc'));
      await assert.rejects(w.write(Buffer.from('zzz'), 7), kind(ErrorKind.OutOfRange));
      const w2 = await c.writer('offsets');
      assert.equal((await w2.status()).offset, 3);
      await assert.rejects(w2.write(Buffer.from('zzz'), 2), kind(ErrorKind.OutOfRange));
      const w3 = await c.writer('offsets');
      assert.equal(await w3.write(Buffer.from('xyzw'), 0), 4);
      assert.equal(await w3.commit(4), sha256('xyzw'));
      assert.ok((await readAll(c, sha256('xyzw'))).equals(Buffer.from('xyzw')));
    });

    it('lets one writer hold a ref at a time', async () => {
      const w = await c.writer('locked');
      await assert.rejects(c.writer('locked'), kind(ErrorKind.Unavailable));
      await w.close();
      const w2 = await c.writer('locked');
      await w2.close();
    });

    it('reads with offset and size', async () => {
      const digest = await put(c, 'r', '0123456789');
      assert.equal((await readAll(c, digest, { offset: 3, size: 4 })).toString(), '3456');
      assert.equal((await readAll(c, digest, { offset: 6 })).toString(), '6789');
      assert.equal((await readAll(c, digest, { offset: 8, size: 100 })).toString(), '89');
      assert.equal((await readAll(c, digest, { offset: 10 })).length, 0);
      await assert.rejects(readAll(c, digest, { offset: 11 }), kind(ErrorKind.OutOfRange));
      await assert.rejects(readAll(c, sha256('missing')), kind(ErrorKind.NotFound));
      await assert.rejects(readAll(c, 'sha256:nothex'), kind(ErrorKind.InvalidArgument));
    });

    it('updates labels with field masks and lists with containerd filters', async () => {
      const a = await put(c, 'a', 'blob a', { 'containerd.io/gc.ref.content.l.0': 'x', team: 'a' });
      const b = await put(c, 'b', 'blob b', { team: 'b' });
      const before = await c.info(a);
      await new Promise((r) => setTimeout(r, 5));
      const updated = await c.update({ digest: a, labels: { team: 'c', extra: '1' } }, ['labels.team']);
      assert.deepEqual(updated.labels, { 'containerd.io/gc.ref.content.l.0': 'x', team: 'c' });
      assert.ok(updated.updatedAt.getTime() > before.updatedAt.getTime());
      assert.equal(updated.createdAt.getTime(), before.createdAt.getTime());
      assert.deepEqual((await c.update({ digest: b, labels: { only: 'this' } })).labels, { only: 'this' });
      await assert.rejects(c.update({ digest: a, labels: {} }, ['size']), kind(ErrorKind.InvalidArgument));
      await assert.rejects(c.update({ digest: sha256('nope'), labels: {} }), kind(ErrorKind.NotFound));

      const names = async (filters: string[]) => (await c.list(filters)).map((i) => i.digest).sort();
      assert.deepEqual(await names([]), [a, b].sort());
      assert.deepEqual(await names(['labels."containerd.io/gc.ref.content.l.0"==x']), [a]);
      assert.deepEqual(await names([`digest==${b}`]), [b]);
      assert.deepEqual(await names(['labels.team==c', 'labels.only']), [a, b].sort());
      assert.deepEqual(await names(['labels.team!=c']), [b]);
      assert.deepEqual(await names(['labels.team==zz']), []);
      await assert.rejects(c.list(['labels."open']), kind(ErrorKind.InvalidArgument));
      const listed = (await c.list([`digest==${a}`]))[0]!;
      assert.equal(listed.size, 6);
    });

    it('deletes a blob', async () => {
      const digest = await put(c, 'd', 'to delete');
      await c.delete(digest);
      await assert.rejects(c.info(digest), kind(ErrorKind.NotFound));
      await assert.rejects(c.delete(digest), kind(ErrorKind.NotFound));
      assert.deepEqual(subject.blobFiles(), []);
      assert.deepEqual(await c.list(), []);
      // The same bytes can be stored again.
      assert.equal(await put(c, 'd', 'to delete'), digest);
    });

    it('reports statuses, lists them with filters, and aborts', async () => {
      const w1 = await c.writer('pull-layer-1', { total: 100 });
      await w1.write(Buffer.alloc(10));
      await w1.close();
      const w2 = await c.writer('push-config', { expected: sha256('x') });
      await w2.write(Buffer.alloc(3));
      const refs = async (filters: string[]) => (await c.listStatuses(filters)).map((s) => s.ref).sort();
      assert.deepEqual(await refs([]), ['pull-layer-1', 'push-config']);
      assert.deepEqual(await refs(['ref==push-config']), ['push-config']);
      assert.deepEqual(await refs(['ref~=^pull-']), ['pull-layer-1']);
      const st = await c.status('push-config');
      assert.equal(st.offset, 3);
      assert.equal(st.expected, sha256('x'));
      assert.ok(st.startedAt.getTime() <= st.updatedAt.getTime());
      await w2.close();

      await c.abort('pull-layer-1');
      await assert.rejects(c.status('pull-layer-1'), kind(ErrorKind.NotFound));
      await assert.rejects(c.abort('pull-layer-1'), kind(ErrorKind.NotFound));
      assert.deepEqual(await refs([]), ['push-config']);
      const w3 = await c.writer('push-config');
      await w3.abort();
      assert.deepEqual(await refs([]), []);
      // A ref aborted may start again from nothing.
      const w4 = await c.writer('pull-layer-1');
      assert.equal((await w4.status()).offset, 0);
      await w4.abort();
    });

    it('answers AlreadyExists for a blob the namespace has', async () => {
      const digest = await put(c, 'first', 'same bytes');
      await assert.rejects(c.writer('second', { expected: digest }), kind(ErrorKind.AlreadyExists));
      const w = await c.writer('third');
      await w.write(Buffer.from('same bytes'));
      await assert.rejects(w.commit(), kind(ErrorKind.AlreadyExists));
      // The ingest is dropped, as containerd does.
      await assert.rejects(c.status('third'), kind(ErrorKind.NotFound));
      assert.deepEqual(subject.blobFiles(), [digest.slice(7)]);
    });

    it('keeps namespaces apart: records, labels, statuses', async () => {
      const one = subject.content('one');
      const two = subject.content('two');
      const digest = await put(one, 'shared-ref', 'shared bytes', { owner: 'one' });
      await assert.rejects(two.info(digest), kind(ErrorKind.NotFound));
      await assert.rejects(readAll(two, digest), kind(ErrorKind.NotFound));
      assert.deepEqual(await two.list(), []);
      await assert.rejects(c.info(digest), kind(ErrorKind.NotFound));

      // The same ref in another namespace is another ingest.
      const w = await two.writer('shared-ref');
      await w.write(Buffer.from('shared '));
      await w.close();
      const w1 = await one.writer('shared-ref');
      assert.equal((await w1.status()).offset, 0);
      await w1.abort();
      assert.deepEqual(
        (await one.listStatuses()).map((s) => s.ref),
        [],
      );
      assert.equal((await two.status('shared-ref')).offset, 7);

      const w2 = await two.writer('shared-ref');
      await w2.write(Buffer.from('bytes'));
      assert.equal(await w2.commit(12, digest, { owner: 'two' }), digest);
      assert.deepEqual((await two.info(digest)).labels, { owner: 'two' });
      assert.deepEqual((await one.info(digest)).labels, { owner: 'one' });
      assert.deepEqual(subject.blobFiles(), [digest.slice(7)]);

      await one.delete(digest);
      await assert.rejects(one.info(digest), kind(ErrorKind.NotFound));
      assert.equal((await readAll(two, digest)).toString(), 'shared bytes');
      assert.deepEqual(subject.blobFiles(), [digest.slice(7)]);
      await two.delete(digest);
      assert.deepEqual(subject.blobFiles(), []);
    });

    it('writes whole blobs with writeBlob: resuming, waiting for a held ref, taking existing ones', async () => {
      const data = Buffer.from('a blob written by the helper, '.repeat(2000));
      const w = await c.writer('helper', { total: data.length });
      await w.write(data.subarray(0, 10_000));
      await w.close();
      const offsets: number[] = [];
      const source = (offset: number) => {
        offsets.push(offset);
        return bytesSource(data)(offset);
      };
      assert.equal(
        await writeBlob(c, 'helper', source, { total: data.length, expected: sha256(data), labels: { via: 'helper' } }),
        sha256(data),
      );
      assert.deepEqual(offsets, [10_000]);
      assert.deepEqual((await c.info(sha256(data))).labels, { via: 'helper' });
      // Already there: nothing is read.
      assert.equal(await writeBlob(c, 'helper-2', source, { expected: sha256(data) }), sha256(data));
      assert.deepEqual(offsets, [10_000]);
      // The same bytes under another ref, without an expected digest: the digest, not an error.
      assert.equal(await writeBlob(c, 'helper-3', bytesSource(data)), sha256(data));
      await assert.rejects(c.status('helper-3'), kind(ErrorKind.NotFound));

      // A ref held by another writer is waited for.
      const held = await c.writer('busy');
      const release = setTimeout(() => void held.close(), 150);
      try {
        assert.equal(await writeBlob(c, 'busy', bytesSource(Buffer.from('late'))), sha256('late'));
      } finally {
        clearTimeout(release);
      }
      await assert.rejects(
        writeBlob(c, 'wrong', bytesSource(Buffer.from('abc')), { expected: sha256('abd') }),
        kind(ErrorKind.FailedPrecondition),
      );
      const lockedAgain = await c.writer('held-forever');
      await assert.rejects(
        writeBlob(c, 'held-forever', bytesSource(Buffer.from('x')), { lockTimeoutMs: 100 }),
        kind(ErrorKind.Unavailable),
      );
      await lockedAgain.close();
    });

    it('validates digests, refs and labels', async () => {
      await assert.rejects(c.info('sha256:ABC'), kind(ErrorKind.InvalidArgument));
      await assert.rejects(c.info('md5:00'), kind(ErrorKind.InvalidArgument));
      await assert.rejects(c.writer(''), kind(ErrorKind.InvalidArgument));
      await assert.rejects(c.writer('x', { expected: 'nope' }), kind(ErrorKind.InvalidArgument));
      const w = await c.writer('labels');
      await w.write(Buffer.from('l'));
      await assert.rejects(w.commit(0, undefined, { big: 'v'.repeat(5000) }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(c.info(sha256('l')), kind(ErrorKind.NotFound));
    });
  });
}
