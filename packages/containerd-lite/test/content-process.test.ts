/**
 * The content store in a real containerd-lite process: kill -9 of the service mid-write and
 * at random moments (no partial blob ever appears; the ref resumes or aborts after restart),
 * kill -9 of a writing client (its ref is released and resumes), and a 64 MiB blob streamed
 * both ways with the service's peak memory staying flat.
 */
import { WireClient } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { Children, type TempInstance, tempInstance, waitFor, waitForService } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContentClient } from '../src/content/client';
import type { Content } from '../src/content/content';
import { kind, sha256 } from './content-conformance';
import { ErrorKind } from '@ctl/proto/errors';

const REPO = join(__dirname, '..', '..', '..', '..');
const BIN = join(REPO, 'node_modules', '.bin', 'containerd-lite');
const MiB = 1 << 20;

/** Deterministic pseudo-random bytes: chunk i of a blob named by seed, 1 MiB each (AES-CTR keystream). */
function chunk(seed: string, i: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(i, 0);
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(MiB));
}

function blobDigest(seed: string, chunks: number): string {
  const h = createHash('sha256');
  for (let i = 0; i < chunks; i++) h.update(chunk(seed, i));
  return `sha256:${h.digest('hex')}`;
}

/** Peak resident memory of a process, in bytes. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('content store in a containerd-lite process', function () {
  this.timeout(60_000);
  let tmp: TempInstance;
  const children = new Children();
  const wires: WireClient[] = [];

  beforeEach(() => {
    tmp = tempInstance('ctl-content-proc-');
    ensureDir(tmp.state);
  });
  afterEach(async () => {
    for (const w of wires.splice(0)) w.close();
    await children.killAll();
    tmp.remove();
  });

  const socket = () => join(tmp.state, 'containerd-lite.sock');
  const blobDir = () => join(tmp.root, 'containerd-lite', 'content', 'blobs', 'sha256');
  const blobFiles = (): string[] => {
    try {
      return readdirSync(blobDir()).sort();
    } catch {
      return [];
    }
  };

  async function start() {
    const proc = children.spawn(BIN, ['--socket', socket(), '--root', tmp.root, '--state', tmp.state, '--log-level', 'warn']);
    await waitForService(socket());
    return proc;
  }

  function client(namespace = 'default'): ContentClient {
    const wire = new WireClient(socket());
    wires.push(wire);
    return new ContentClient(wire, namespace);
  }

  /** Every blob file holds exactly the bytes its name says. */
  function assertBlobsWhole(): void {
    for (const name of blobFiles()) {
      const digest = createHash('sha256')
        .update(readFileSync(join(blobDir(), name)))
        .digest('hex');
      assert.equal(digest, name, `blob file ${name} is whole`);
    }
  }

  async function hashRead(c: Content, digest: string): Promise<{ digest: string; size: number }> {
    const h = createHash('sha256');
    let size = 0;
    for await (const data of c.read(digest)) {
      h.update(data);
      size += data.length;
    }
    return { digest: `sha256:${h.digest('hex')}`, size };
  }

  it('leaves no partial blob after kill -9 mid-write; the ref resumes or aborts after restart', async () => {
    const chunks = 24;
    const digest = blobDigest('kill', chunks);
    let proc = await start();
    let c = client();
    const w = await c.writer('layer-1', { total: chunks * MiB, expected: digest });
    const other = await c.writer('layer-2');
    await other.write(chunk('other', 0));
    await other.close();
    let sent = 0;
    await assert.rejects(
      (async () => {
        for (; sent < chunks; sent++) {
          if (sent === 10) proc.process.kill('SIGKILL');
          await w.write(chunk('kill', sent));
        }
      })(),
      kind(ErrorKind.Unavailable),
    );
    await proc.exited;
    assert.deepEqual(blobFiles(), []);

    proc = await start();
    c = client();
    await assert.rejects(c.info(digest), kind(ErrorKind.NotFound));
    const st = await c.status('layer-1');
    assert.ok(st.offset > 0 && st.offset <= 10 * MiB, `offset ${st.offset} after the kill`);
    assert.equal(st.total, chunks * MiB);
    assert.equal(st.expected, digest);

    // Resume where the service stopped: the offset need not fall on a chunk boundary.
    const resumed = await c.writer('layer-1');
    let at = (await resumed.status()).offset;
    for (let i = Math.floor(at / MiB); i < chunks; i++) {
      const data = chunk('kill', i).subarray(at - i * MiB);
      at = await resumed.write(data, at);
    }
    assert.equal(await resumed.commit(), digest);
    assert.deepEqual(await hashRead(c, digest), { digest, size: chunks * MiB });
    await c.abort('layer-2');
    assert.deepEqual(await c.listStatuses(), []);
    assert.deepEqual(blobFiles(), [digest.slice(7)]);
    assert.deepEqual(readdirSync(join(tmp.root, 'containerd-lite', 'content', 'ingest')), []);
  });

  it('shows only whole blobs after kill -9 at random moments of writes and commits', async () => {
    let n = 0;
    const committed = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const proc = await start();
      const c = client();
      for (const info of await c.list()) {
        assert.deepEqual(await hashRead(c, info.digest), { digest: info.digest, size: info.size });
      }
      for (const d of committed) assert.equal((await c.info(d)).digest, d);
      assertBlobsWhole();
      for (const s of await c.listStatuses()) await c.abort(s.ref);

      const killer = setTimeout(() => proc.process.kill('SIGKILL'), 20 + Math.floor(Math.random() * 150));
      try {
        for (;;) {
          const data = Buffer.concat([chunk('random', n), Buffer.from(String(n))]).subarray(0, 4096 + (n % 7) * 50_000);
          n++;
          const w = await c.writer(`ref-${n}`, { total: data.length, expected: sha256(data) });
          await w.write(data);
          await w.commit();
          committed.add(sha256(data));
        }
      } catch {
        // The kill interrupts the client mid-call.
      } finally {
        clearTimeout(killer);
      }
      await proc.exited;
    }
    assert.ok(committed.size > 0);
  });

  it('releases the ref of a client killed mid-stream, which then resumes', async () => {
    await start();
    const script = `
      const { WireClient } = require(${JSON.stringify(require.resolve('@ctl/proto'))});
      const { ContentClient } = require(${JSON.stringify(join(__dirname, '..', 'src', 'content', 'client.js'))});
      (async () => {
        const c = new ContentClient(new WireClient(process.argv[1]));
        const w = await c.writer('from-child');
        await w.write(Buffer.alloc(3 * 1024 * 1024, 7));
        process.stdout.write('written\\n');
        setInterval(() => undefined, 1000);
      })();`;
    const child = children.spawn(process.execPath, ['-e', script, socket()]);
    await waitFor('the child to write', () => (child.output().includes('written') ? true : undefined), 20_000);
    child.process.kill('SIGKILL');
    await child.exited;

    const c = client();
    // The service sees the connection drop and closes the writer, which frees the ref.
    const w = await waitFor('the ref to be released', async () => {
      try {
        return await c.writer('from-child');
      } catch (err) {
        if (kind(ErrorKind.Unavailable)(err)) return undefined;
        throw err;
      }
    });
    assert.equal((await w.status()).offset, 3 * MiB);
    await w.write(Buffer.from('end'));
    const expected = sha256(Buffer.concat([Buffer.alloc(3 * MiB, 7), Buffer.from('end')]));
    assert.equal(await w.commit(3 * MiB + 3, expected), expected);
  });

  it('streams large blobs in and out with the service memory flat', async () => {
    const proc = await start();
    const c = client();
    async function roundTrip(seed: string, chunks: number): Promise<void> {
      const digest = blobDigest(seed, chunks);
      const w = await c.writer(seed, { total: chunks * MiB, expected: digest });
      for (let i = 0; i < chunks; i++) await w.write(chunk(seed, i));
      assert.equal(await w.commit(), digest);
      assert.deepEqual(await hashRead(c, digest), { digest, size: chunks * MiB });
    }
    // A first 64 MiB round trip brings the service to its working size (code loaded, garbage
    // the collector has not yet reclaimed); a 128 MiB one after it must not need much more.
    await roundTrip('warm-up', 64);
    const before = peakRss(proc.process.pid!);
    await roundTrip('large', 128);
    const grown = peakRss(proc.process.pid!) - before;
    assert.ok(grown < 32 * MiB, `service peak memory grew by ${(grown / MiB).toFixed(1)} MiB for a 128 MiB blob`);
  });
});
