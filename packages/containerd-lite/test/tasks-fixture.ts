/**
 * Fixtures of the tasks tests (root, real kernel): a busybox rootfs, an in-memory containers
 * store, a recording publisher, and a TaskManager over a throw-away instance. Cleanup kills and
 * deletes every task, then checks that no mount, cgroup or process is left; it runs after each
 * test, also when the test failed.
 */
import { createLogger } from '@ctl/proto';
import { notFound } from '@ctl/proto/errors';
import { type TempInstance, isAlive, tempInstance, waitFor } from '@ctl/proto/testing';
import { buildSpec } from '@ctl/runtime-native';
import { mountTableSync } from '@ctl/runtime-native/mount';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Container, SPEC_TYPE_URL } from '../src/containers/containers';
import type { Publisher } from '../src/events/events';
import { TaskManager, type TaskManagerOptions } from '../src/tasks/manager';

export const BUSYBOX = '/bin/busybox';

export interface Recorded {
  namespace: string;
  topic: string;
  type: string;
  event: Record<string, unknown>;
}

export class RecordingPublisher implements Publisher {
  readonly events: Recorded[] = [];
  publish(namespace: string, topic: string, type: string, event: Record<string, unknown>): void {
    this.events.push({ namespace, topic, type, event });
  }
  topics(id?: string): string[] {
    return this.events.filter((e) => !id || e.event.containerId === id).map((e) => e.topic);
  }
}

/** A busybox tree with relative applet links, made once per fixture. */
export function makeBusyboxRootfs(dir: string): string {
  const rootfs = path.join(dir, 'busybox-rootfs');
  const bin = path.join(rootfs, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(bin, 'busybox'));
  fs.chmodSync(path.join(bin, 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') fs.symlinkSync('busybox', path.join(bin, a));
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.chmodSync(dir, 0o755);
  return rootfs;
}

/** The cgroup directories a container with cgroupsPath /ctl/<id> could have made on this host. */
export function cgroupDirs(id: string): string[] {
  return mountTableSync()
    .filter((m) => (m.fsType === 'cgroup' || m.fsType === 'cgroup2') && /^\/sys\/fs\/cgroup(\/|$)/.test(m.mountPoint))
    .map((m) => path.join(m.mountPoint, 'ctl', id));
}

export function mountsUnder(dir: string): string[] {
  return mountTableSync()
    .map((m) => m.mountPoint)
    .filter((p) => p.startsWith(dir));
}

export class TasksFixture {
  readonly tmp: TempInstance = tempInstance('ctl-tasks-');
  readonly rootfs: string;
  readonly containers = new Map<string, Container>();
  readonly publisher = new RecordingPublisher();
  manager!: TaskManager;
  private n = 0;
  /** every (namespace, id) made, for the leftover checks */
  readonly made: Array<{ ns: string; id: string; pids: number[] }> = [];

  constructor() {
    fs.mkdirSync(this.tmp.state, { recursive: true });
    fs.mkdirSync(this.tmp.root, { recursive: true });
    this.rootfs = makeBusyboxRootfs(this.tmp.base);
  }

  options(publisher: Publisher = this.publisher): TaskManagerOptions {
    return {
      dirs: this.tmp,
      logger: createLogger('tasks-test', 'error'),
      publisher,
      containers: async (ns, id) => {
        const c = this.containers.get(`${ns}/${id}`);
        if (!c) throw notFound(`container "${id}" not found`);
        return c;
      },
    };
  }

  async open(): Promise<TaskManager> {
    this.manager = await TaskManager.open(this.options());
    return this.manager;
  }

  /** A new container (in the in-memory store) running cmd; returns its id. */
  container(cmd: string[], ns = 'default', edit?: (spec: ReturnType<typeof buildSpec>) => void): string {
    const id = `t${process.pid}-${++this.n}`;
    const spec = buildSpec({ Env: ['PATH=/bin'] }, { id, cmd, rootfs: this.rootfs });
    edit?.(spec);
    const now = new Date();
    this.containers.set(`${ns}/${id}`, {
      id,
      labels: {},
      image: '',
      runtime: { name: 'io.containerd.runc.v2' },
      spec: { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) },
      snapshotter: 'native',
      snapshotKey: id,
      createdAt: now,
      updatedAt: now,
      extensions: {},
    });
    this.made.push({ ns, id, pids: [] });
    return id;
  }

  /** The Create options that bind-mount the busybox tree as the task's rootfs (as a snapshot's mounts would). */
  rootfsMounts(): Array<{ type: string; source: string; options: string[] }> {
    return [{ type: 'bind', source: this.rootfs, options: ['rbind'] }];
  }

  rememberPid(id: string, pid: number): void {
    this.made.find((m) => m.id === id)?.pids.push(pid);
  }

  /** Kills and deletes every task left, then checks nothing of them remains. */
  async cleanup(manager: TaskManager | undefined = this.manager): Promise<void> {
    const problems: string[] = [];
    for (const { ns, id, pids } of this.made.splice(0)) {
      if (manager) {
        try {
          const t = await manager.get(ns, id);
          pids.push(t.pid);
          if (t.status === 'PAUSED') await manager.resume(ns, id).catch(() => undefined);
          if (t.status !== 'STOPPED') await manager.kill(ns, id, 9, { all: true }).catch(() => undefined);
          if (t.status !== 'STOPPED') await manager.wait(ns, id);
          await manager.delete(ns, id);
        } catch (err) {
          if (!/not found/.test((err as Error).message)) problems.push(`${id}: ${(err as Error).message}`);
        }
      }
      for (const d of cgroupDirs(id)) {
        if (fs.existsSync(d)) {
          problems.push(`cgroup ${d} left`);
          try {
            fs.rmdirSync(d);
          } catch {
            /* busy */
          }
        }
      }
      for (const pid of pids) if (pid && isAlive(pid)) problems.push(`pid ${pid} of ${id} alive`);
    }
    for (const m of mountsUnder(this.tmp.base)) {
      problems.push(`mount ${m} left`);
      try {
        execFileSync('umount', ['-R', m]);
      } catch {
        /* reported */
      }
    }
    if (problems.length) throw new Error(`leftovers: ${problems.join('; ')}`);
  }

  destroy(): void {
    this.manager?.close();
    if (mountsUnder(this.tmp.base).length === 0) this.tmp.remove();
  }
}

/**
 * Creates and starts the ids' tasks (namespace default) in a child process holding a
 * TaskManager, as a daemon would, then kills it with SIGKILL; returns the inits' pids. `leave`
 * names the tasks to leave only created, or paused, rather than running.
 */
export async function runInChild(
  fx: TasksFixture,
  ids: string[],
  leave: Record<string, 'CREATED' | 'PAUSED'> = {},
): Promise<Record<string, number>> {
  const input = {
    dirs: { root: fx.tmp.root, state: fx.tmp.state },
    rootfs: fx.rootfs,
    containers: Object.fromEntries(ids.map((id) => [id, { spec: fx.containers.get(`default/${id}`)!.spec!.value.toString('base64') }])),
    leave,
  };
  const inputFile = path.join(fx.tmp.base, 'child-input.json');
  fs.writeFileSync(inputFile, JSON.stringify(input));
  const child = spawn(process.execPath, [path.join(__dirname, 'tasks-child.js'), inputFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    return await waitFor(
      'the child to start its tasks',
      () =>
        out.includes('\n')
          ? (JSON.parse(out) as Record<string, number>)
          : child.exitCode !== null
            ? Promise.reject(new Error(`child failed: ${err}`))
            : undefined,
      15_000,
    );
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
  }
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export { waitFor };
