/**
 * Interop proof: Debian's `ctr` (containerd 1.6) drives containerd-lite's content service with
 * containerd's own Go client: ingest (the bidi Write), ls (List), get (Read), label (Update),
 * active (ListStatuses), rm (Delete), and an ingest resumed after ctr was killed mid-stream.
 */
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { useCtrInterop } from './ctr-interop';

const run = promisify(execFile);

describe('ctr content commands against containerd-lite', function () {
  this.timeout(60_000);
  const interop = useCtrInterop('ctl-content-ctr-');
  const others: ChildProcess[] = [];
  const ctr = async (args: string[], stdinFile?: string): Promise<string> => {
    if (!stdinFile)
      return (
        await run('ctr', ['--address', interop.socket, '--namespace', 'interop', ...args], {
          timeout: 20_000,
          encoding: 'buffer',
          maxBuffer: 64 << 20,
        })
      ).stdout.toString('latin1');
    const fd = openSync(stdinFile, 'r');
    try {
      return await new Promise<string>((resolve, reject) => {
        const p = spawn('ctr', ['--address', interop.socket, '--namespace', 'interop', ...args], { stdio: [fd, 'pipe', 'pipe'] });
        let out = '';
        p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`ctr ${args.join(' ')} exited ${code}: ${out}`))));
      });
    } finally {
      closeSync(fd);
    }
  };

  afterEach(() => {
    for (const p of others.splice(0)) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  });

  function blobFile(name: string, size: number): { path: string; digest: string } {
    const path = join(interop.tmp.base, name);
    const data = createCipheriv('aes-256-ctr', createHash('sha256').update(name).digest(), Buffer.alloc(16)).update(Buffer.alloc(size));
    writeFileSync(path, data);
    return { path, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
  }

  it('ingests, lists, reads, labels and removes content', async () => {
    const blob = blobFile('blob', 3_000_000);
    await ctr(['content', 'ingest', '--expected-size', '3000000', '--expected-digest', blob.digest, 'my-ref'], blob.path);
    const ls = await ctr(['content', 'ls']);
    assert.match(ls, new RegExp(`${blob.digest}\\s+3MB`));
    const got = (
      await run('ctr', ['--address', interop.socket, '--namespace', 'interop', 'content', 'get', blob.digest], {
        encoding: 'buffer',
        maxBuffer: 64 << 20,
      })
    ).stdout;
    assert.equal(`sha256:${createHash('sha256').update(got).digest('hex')}`, blob.digest);

    await ctr(['content', 'label', blob.digest, 'containerd.io/gc.root=yes']);
    assert.match(await ctr(['content', 'ls']), /containerd\.io\/gc\.root=yes/);
    // Another namespace does not see it.
    assert.doesNotMatch(
      (await run('ctr', ['--address', interop.socket, '--namespace', 'elsewhere', 'content', 'ls', '-q'])).stdout,
      /sha256/,
    );

    // A wrong expected digest is refused and nothing is stored.
    const other = blobFile('other', 1000);
    await assert.rejects(
      ctr(['content', 'ingest', '--expected-digest', blob.digest.replace(/.$/, (c) => (c === '0' ? '1' : '0')), 'wrong'], other.path),
    );
    assert.doesNotMatch(await ctr(['content', 'ls', '-q']), new RegExp(other.digest));

    await ctr(['content', 'rm', blob.digest]);
    assert.doesNotMatch(await ctr(['content', 'ls', '-q']), new RegExp(blob.digest));
  });

  it('resumes an ingest after ctr is killed mid-stream', async () => {
    const blob = blobFile('big', 8_000_000);
    // ctr reads its stdin from a pipe that stalls after 3 MB, and is killed there.
    const feeder = spawn('sh', ['-c', `head -c 3000000 "$0"; exec sleep 30`, blob.path], { stdio: ['ignore', 'pipe', 'ignore'] });
    others.push(feeder);
    const stalled = spawn(
      'ctr',
      [
        '--address',
        interop.socket,
        '--namespace',
        'interop',
        'content',
        'ingest',
        '--expected-size',
        '8000000',
        '--expected-digest',
        blob.digest,
        'big-ref',
      ],
      { stdio: [feeder.stdout, 'ignore', 'ignore'] },
    );
    others.push(stalled);
    await waitFor(
      'a partial ingest',
      async () => {
        const active = await ctr(['content', 'active']);
        return /big-ref\s+[1-9]/.test(active) ? true : undefined;
      },
      20_000,
      100,
    );
    stalled.kill('SIGKILL');
    feeder.kill('SIGKILL');
    assert.match(await ctr(['content', 'active']), /big-ref/);

    // From a file (seekable) ctr continues at the offset the service reports.
    await ctr(['content', 'ingest', '--expected-size', '8000000', '--expected-digest', blob.digest, 'big-ref'], blob.path);
    assert.match(await ctr(['content', 'ls']), new RegExp(`${blob.digest}\\s+8MB`));
    assert.doesNotMatch(await ctr(['content', 'active']), /big-ref/);
  });
});
