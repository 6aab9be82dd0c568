/**
 * A real registry for tests: Debian's docker-registry (distribution 2.x) on 127.0.0.1 at a free
 * port, storing in a temp dir of its own; stopped by its pid and its dir removed afterwards. Also
 * plain HTTP helpers that write into it without going through the engine, to set up what a test
 * pulls (an index, a second platform) independently of the code under test.
 */
import { isAlive, waitFor } from '@ctl/proto/testing';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** host:port */
  readonly host: string;
  stop(): Promise<void>;
}

export const sha256 = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A port nothing listens on right now (the kernel's pick, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startRegistry(): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'ctl-registry-'));
  let child: ChildProcess | undefined;
  try {
    const host = `127.0.0.1:${await freePort()}`;
    const config = join(dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${host}`,
        `  secret: ${createHash('sha256').update(dir).digest('hex')}`,
        '',
      ].join('\n'),
    );
    const proc = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.once('error', (err) => (stderr += String(err)));
    await waitFor(
      `docker-registry on ${host}`,
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
        try {
          return (await fetch(`http://${host}/v2/`)).ok || undefined;
        } catch {
          return undefined;
        }
      },
      20_000,
      50,
    );
    return {
      host,
      async stop() {
        if (proc.pid && isAlive(proc.pid) && proc.exitCode === null) {
          proc.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
          if (proc.exitCode === null && proc.signalCode === null) {
            proc.kill('SIGKILL');
            await exited;
          }
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (child?.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Uploads a blob (POST, then PUT with the digest) straight to the registry. */
export async function putBlob(host: string, repo: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  const started = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (started.status !== 202) throw new Error(`start upload: ${started.status} ${await started.text()}`);
  const url = new URL(started.headers.get('location')!, `http://${host}/`);
  url.searchParams.set('digest', digest);
  const res = await fetch(url, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  if (res.status !== 201) throw new Error(`upload ${digest}: ${res.status} ${await res.text()}`);
  return { digest, size: data.length };
}

export async function putManifest(
  host: string,
  repo: string,
  reference: string,
  mediaType: string,
  data: Buffer,
): Promise<{ digest: string; size: number }> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    body: data,
    headers: { 'content-type': mediaType },
  });
  if (res.status !== 201) throw new Error(`put manifest ${repo}:${reference}: ${res.status} ${await res.text()}`);
  return { digest: sha256(data), size: data.length };
}

export async function getManifest(host: string, repo: string, reference: string): Promise<{ mediaType: string; data: Buffer }> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, {
    headers: {
      accept:
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json',
    },
  });
  if (!res.ok) throw new Error(`get manifest ${repo}:${reference}: ${res.status}`);
  return { mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!, data: Buffer.from(await res.arrayBuffer()) };
}

export async function getBlob(host: string, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`);
  if (!res.ok) throw new Error(`get blob ${digest}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}
