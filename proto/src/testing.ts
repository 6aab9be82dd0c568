/**
 * Helpers for the packages' tests (and the benchmarks): throw-away instance directories and child
 * processes that are always cleaned up, also when a test fails; OCI image layouts written by hand.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import type { InstanceDirs } from './paths';
import { type WireCall, WireClient, type WireMethod, wireMethod } from './wire';

export interface TempInstance extends InstanceDirs {
  base: string;
  remove(): void;
}

export function tempInstance(prefix = 'ctl-test-'): TempInstance {
  const base = mkdtempSync(join(tmpdir(), prefix));
  return { base, root: join(base, 'root'), state: join(base, 'state'), remove: () => rmSync(base, { recursive: true, force: true }) };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface Child {
  process: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns a process whose output is collected; `killAll` ends those still running. */
export class Children {
  private readonly children: Child[] = [];

  spawn(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
    const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      proc.on('exit', (code, signal) => resolve({ code, signal }));
    });
    const child = { process: proc, output: () => output, exited };
    this.children.push(child);
    return child;
  }

  /** SIGTERMs the children still running, newest first, each given graceMs before SIGKILL. */
  async stopAll(graceMs = 10_000): Promise<void> {
    for (const child of [...this.children].reverse()) {
      if (child.process.exitCode !== null || child.process.signalCode !== null) continue;
      child.process.kill('SIGTERM');
      const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
      await child.exited;
      clearTimeout(timer);
    }
    this.children.length = 0;
  }

  /** SIGKILLs every child this set spawned that is still running (by its own pid). */
  async killAll(): Promise<void> {
    for (const child of this.children) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.process.kill('SIGKILL');
        await child.exited;
      }
    }
    this.children.length = 0;
  }
}

/** Waits until a service answers Version on socket (a stale socket file does not count). */
export async function waitForService(socket: string, timeoutMs = 20_000): Promise<void> {
  const version = wireMethod<object, { version: string }>(
    'containerd/services/version/v1/version',
    'containerd.services.version.v1.Version',
    'Version',
  );
  await waitFor(
    `a service on ${socket}`,
    async () => {
      const client = new WireClient(socket);
      try {
        await client.unary(version, {}, { timeoutMs: 1000 });
        return true;
      } catch {
        return undefined;
      } finally {
        client.close();
      }
    },
    timeoutMs,
    25,
  );
}

/** Whether a command is on PATH (tests that need Debian's containerd, skopeo, … skip without it). */
export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** `sha256:<hex>` of some bytes. */
export const sha256Digest = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A blob as a manifest lists it. */
export interface BlobDescriptor {
  digest: string;
  size: number;
}

/**
 * An OCI image layout written by hand, for tests and benchmarks that need an image of layers of
 * their own: blobs stored by digest, then the config, manifest and index that make the layers
 * one image of this host's platform, named as `ctl image export` names one
 * (`io.containerd.image.name`, and its tag as `org.opencontainers.image.ref.name`).
 */
export function ociLayout(dir: string): {
  put(data: Buffer): BlobDescriptor;
  /** Moves a file in as a blob (a layer too big to hold in memory). */
  putFile(file: string): BlobDescriptor;
  /** Writes the image around the layers (their descriptors and uncompressed digests, in order). */
  finish(image: { layers: (BlobDescriptor & { mediaType: string })[]; diffIds: string[]; name: string; cmd?: string[] }): void;
  /** The layout as a tar archive (what `ctl image import` takes) at `file`; the layout is removed. */
  archive(file: string): string;
} {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer): BlobDescriptor => {
    const digest = sha256Digest(data);
    writeFileSync(join(blobs, digest.slice(7)), data);
    return { digest, size: data.length };
  };
  const putFile = (file: string): BlobDescriptor => {
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(1 << 20);
    const fd = openSync(file, 'r');
    let size = 0;
    try {
      for (let n; (n = readSync(fd, chunk)) > 0; size += n) hash.update(chunk.subarray(0, n));
    } finally {
      closeSync(fd);
    }
    const hex = hash.digest('hex');
    renameSync(file, join(blobs, hex));
    return { digest: `sha256:${hex}`, size };
  };
  return {
    put,
    putFile,
    finish({ layers, diffIds, name, cmd = ['/bin/sh'] }) {
      const platform = { architecture: { x64: 'amd64', arm64: 'arm64' }[process.arch as string] ?? process.arch, os: 'linux' };
      const json = (value: object): BlobDescriptor => put(Buffer.from(JSON.stringify(value)));
      const config = json({ ...platform, config: { Cmd: cmd }, rootfs: { type: 'layers', diff_ids: diffIds } });
      const manifest = json({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers,
      });
      const tag = /:([^/:]+)$/.exec(name)?.[1];
      writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      writeFileSync(
        join(dir, 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              ...manifest,
              platform,
              annotations: { 'io.containerd.image.name': name, ...(tag ? { 'org.opencontainers.image.ref.name': tag } : {}) },
            },
          ],
        }),
      );
    },
    archive(file) {
      execFileSync('tar', ['-cf', file, '-C', dir, 'oci-layout', 'index.json', 'blobs']);
      rmSync(dir, { recursive: true, force: true });
      return file;
    },
  };
}

const MiB = 1 << 20;
const raw = (b: Buffer): Buffer => b;

/** A method of rawGrpcServer: bytes in, bytes out. */
export interface RawMethod {
  requestStream: boolean;
  responseStream: boolean;
  handler: grpc.UntypedHandleCall;
}

/**
 * A grpc-js server on a unix socket whose methods (`/<service>/<name>`) take and give raw bytes,
 * for the light client's tests; messages up to 16 MiB.
 */
export async function rawGrpcServer(socket: string, service: string, methods: Record<string, RawMethod>): Promise<grpc.Server> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * MiB, 'grpc.max_send_message_length': 16 * MiB });
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [name, m] of Object.entries(methods)) {
    definition[name] = {
      path: `/${service}/${name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
      originalName: name,
    };
    handlers[name] = m.handler;
  }
  server.addService(definition as grpc.ServiceDefinition, handlers);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  return server;
}

/** The wire client's side of a rawGrpcServer method. */
export const rawMethod = (service: string, name: string, requestStream: boolean, responseStream: boolean): WireMethod<Buffer, Buffer> => ({
  path: `/${service}/${name}`,
  requestStream,
  responseStream,
  encode: (b) => b,
  decode: (b) => Buffer.from(b),
});

/** Asserts an echo call: a short message back, then 5 MiB and 3 bytes whole, another short one, then the end. */
export async function assertEchoes(call: WireCall<Buffer, Buffer>): Promise<void> {
  await call.send(Buffer.from('one'));
  assert.equal((await call.recv())?.toString(), 'one');
  const big = Buffer.alloc(5 * MiB + 3);
  for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
  await call.send(big);
  assert.ok((await call.recv())?.equals(big));
  await call.send(Buffer.from('two'));
  call.end();
  assert.equal((await call.recv())?.toString(), 'two');
  assert.equal(await call.recv(), undefined);
}
