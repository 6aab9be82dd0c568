/**
 * The build tests' engine: a containerd-lite with an overlayfs snapshotter in a temp instance,
 * the busybox image (tools/busybox-image.sh) imported, and a Builder client (grpc-js, from
 * @ctl/proto's contracts) that streams a context made of files given in the test. Teardown stops
 * the services, checks that no mount is left under the instance and removes its cgroups.
 */
import { strict as assert } from 'node:assert';
import { NAMESPACE_HEADER, WireClient, cgroupParent, loadContracts, serviceSocket } from '@ctl/proto';
import { SnapshotsClient } from '@ctl/snapshotter/client';
import type { BuildEvent__Output } from '@ctl/proto/generated/ctl/build/v1/BuildEvent';
import type { BuildOptions } from '@ctl/proto/generated/ctl/build/v1/BuildOptions';
import type { BuildRequest } from '@ctl/proto/generated/ctl/build/v1/BuildRequest';
import type { BuildResult__Output } from '@ctl/proto/generated/ctl/build/v1/BuildResult';
import type { BuilderClient } from '@ctl/proto/generated/ctl/build/v1/Builder';
import type { CacheRecord__Output } from '@ctl/proto/generated/ctl/build/v1/CacheRecord';
import type { PruneResponse__Output } from '@ctl/proto/generated/ctl/build/v1/PruneResponse';
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { RunnerClient } from '../src/run/client';
import { TasksClient } from '../src/tasks/client';
import { TransferClient } from '../src/transfer/client';
import { type Instance, startInstance } from './instance';

export const TOOLS = join(__dirname, '..', '..', '..', '..', 'tools');
export const isRoot = process.getuid?.() === 0;

export interface Built {
  events: BuildEvent__Output[];
  result?: BuildResult__Output;
}

export interface BuildError extends Error {
  code: number;
  details: string;
  events: BuildEvent__Output[];
}

/** A context file: its content (and mode, mtime, extended attributes as pax SCHILY.xattr records). */
export type ContextFile = string | { data: string; mode?: number; mtime?: Date; xattrs?: Record<string, string> };

export interface BuildCall {
  done: Promise<Built>;
  events: BuildEvent__Output[];
  cancel(): void;
}

export class BuildEngine {
  inst!: Instance;
  builder!: BuilderClient;
  snapshots!: SnapshotsClient;
  private snapshotsWire?: WireClient;
  readonly ns: string;

  constructor(suite: string) {
    this.ns = `build-${suite}`;
  }

  async start(): Promise<void> {
    this.inst = await startInstance({ snapshotter: true, drivers: ['overlayfs'] });
    const archive = join(this.inst.tmp.base, 'busybox.tar');
    execFileSync('bash', [join(TOOLS, 'busybox-image.sh'), archive]);
    await new TransferClient(this.inst.wire, this.ns).import(
      { path: archive, format: '', platforms: [], allPlatforms: false, snapshotter: 'overlayfs', unpack: true, baseName: '' },
      () => undefined,
    );
    this.snapshotsWire = new WireClient(serviceSocket(this.inst.tmp, 'snapshotter'));
    this.snapshots = new SnapshotsClient(this.snapshotsWire, 'overlayfs');
    const Builder = loadContracts().ctl.build.v1.Builder;
    this.builder = new Builder(`unix://${serviceSocket(this.inst.tmp, 'containerd-lite')}`, grpc.credentials.createInsecure());
  }

  async stop(): Promise<string[]> {
    this.builder?.close();
    this.snapshotsWire?.close();
    if (!this.inst) return [];
    const base = this.inst.tmp.base;
    const parent = cgroupParent(this.inst.tmp);
    await this.inst.teardown().catch(() => undefined);
    const left = this.mounts(base);
    for (const m of [...left].reverse()) execFileSync('umount', ['-l', m]);
    for (const dir of [...cgroupDirs(join(parent, this.ns)), ...cgroupDirs(parent)]) if (existsSync(dir)) rmdirSync(dir);
    return left;
  }

  mounts(base = this.inst.tmp.base): string[] {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(base));
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    metadata.set(NAMESPACE_HEADER, this.ns);
    return metadata;
  }

  listCache(): Promise<CacheRecord__Output[]> {
    return new Promise((resolve, reject) =>
      this.builder.ListCache({}, this.metadata(), (err, res) => (err ? reject(err) : resolve(res!.records))),
    );
  }

  prune(all: boolean, keepDurationSeconds = 0): Promise<PruneResponse__Output> {
    return new Promise((resolve, reject) =>
      this.builder.Prune({ all, keepDurationSeconds }, this.metadata(), (err, res) => (err ? reject(err) : resolve(res!))),
    );
  }

  /** Starts a build of the Dockerfile with the files as its context. */
  call(dockerfile: string, files: Record<string, ContextFile> = {}, options: BuildOptions = {}): BuildCall {
    const stream = this.builder.Build(this.metadata());
    const events: BuildEvent__Output[] = [];
    let result: BuildResult__Output | undefined;
    const done = new Promise<Built>((resolve, reject) => {
      stream.on('data', (e: BuildEvent__Output) => {
        events.push(e);
        if (e.result) result = e.result;
      });
      stream.on('error', (err: grpc.ServiceError) => reject(Object.assign(err, { events })));
      stream.on('end', () => resolve({ events, ...(result ? { result } : {}) }));
    });
    done.catch(() => undefined);
    void (async () => {
      const write = (r: BuildRequest): void => void stream.write(r);
      write({ options: { dockerfileName: 'Dockerfile', network: 'none', ...options, dockerfile } });
      const pack = tar.pack();
      for (const [name, f] of Object.entries(files)) {
        const file = typeof f === 'string' ? { data: f } : f;
        const pax = file.xattrs ? Object.fromEntries(Object.entries(file.xattrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v])) : undefined;
        pack.entry({ name, mode: file.mode ?? 0o644, mtime: file.mtime ?? new Date(0), ...(pax ? { pax } : {}) }, file.data);
      }
      pack.finalize();
      for await (const chunk of pack as AsyncIterable<Buffer>) write({ context: { data: chunk } });
      write({ context: { eof: true } });
      stream.end();
    })();
    return { done, events, cancel: () => stream.cancel() };
  }

  build(dockerfile: string, files: Record<string, ContextFile> = {}, options: BuildOptions = {}): Promise<Built> {
    return this.call(dockerfile, files, options).done;
  }

  /** Runs a command in a container of the image; its exit status. */
  async runIn(image: string, cmd: string[]): Promise<number> {
    const runner = new RunnerClient(this.inst.wire, this.ns);
    const tasks = new TasksClient(this.inst.wire, this.ns);
    const created = await runner.create({ image, config: { process: { cmd } }, snapshotter: 'overlayfs' });
    try {
      await tasks.create(created.id, { rootfs: created.rootfs });
      const exited = tasks.wait(created.id);
      await tasks.start(created.id);
      return (await exited).exitStatus;
    } finally {
      await runner.remove(created.id, true);
    }
  }
}

/** The steps' done events by their started names. */
/** A suite's engine: started before its tests (skipped when not root), stopped after them, no mount left. */
export function useBuildEngine(suite: string): BuildEngine {
  const engine = new BuildEngine(suite);
  before(async function () {
    if (!isRoot) this.skip();
    await engine.start();
  });
  after(async () => {
    const left = await engine.stop();
    assert.deepEqual(left, [], 'mounts were left behind');
  });
  return engine;
}

export function steps(built: { events: BuildEvent__Output[] }): { name: string; cached: boolean; error: string }[] {
  const names = new Map<string, string>();
  const out: { name: string; cached: boolean; error: string }[] = [];
  for (const e of built.events) {
    if (e.started) names.set(e.started.id, e.started.name);
    if (e.done) out.push({ name: names.get(e.done.id) ?? e.done.id, cached: e.done.cached, error: e.done.error });
  }
  return out;
}

/** A cgroup path's directory in each hierarchy of this host (v1, hybrid or v2). */
function cgroupDirs(path: string): string[] {
  const root = '/sys/fs/cgroup';
  if (existsSync(join(root, 'cgroup.controllers'))) return [join(root, path)];
  return readdirSync(root).map((h) => join(root, h, path));
}
