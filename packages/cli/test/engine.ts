/**
 * One engine instance for a suite of container tests: a temp root/state with the busybox image
 * (tools/busybox-image.sh) imported, a namespace of the suite's own, containers removed after
 * each test, and after all: daemons stopped, mounts and the instance's cgroups removed (its
 * parent is its own, `/ctl-<hash of the root>`), the temp dir gone.
 */
import { cgroupParent } from '@ctl/proto/paths';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { CTL, type Run, ctl, stopDaemons } from './helpers';

export const TOOLS = join(__dirname, '..', '..', '..', '..', 'tools');

export interface Engine {
  readonly instance: TempInstance;
  readonly ns: string;
  readonly env: Record<string, string>;
  run(...args: string[]): Run;
  /** Runs ctl and asserts it succeeded; its stdout. */
  ok(...args: string[]): string;
  /** Runs ctl without waiting (many at once). */
  start(...args: string[]): Promise<Run>;
  /** Every container of the namespace. */
  containers(): string[];
  /** The namespace's snapshots other than image layers (containers' own). */
  ourSnapshots(): string[];
  /** Mounts under the instance's temp dir. */
  ourMounts(): string[];
  /** Where a container's cgroup is (or would be) in each hierarchy of this host (v1, hybrid or v2). */
  cgroupDirs(id: string): string[];
  /** Builds the busybox image (with extra environment for the script, e.g. VOLUMES) and imports it. */
  importBusybox(name?: string, env?: NodeJS.ProcessEnv): void;
}

export function useEngine(
  suite: string,
  hooks: {
    afterEach?: (e: Engine) => void;
    beforeCleanup?: (e: Engine) => void;
    namespace?: string;
    /** ctl run's default network (CTL_DEFAULT_NETWORK); none unless a suite asks. */
    defaultNetwork?: string;
    /** Every ctl (and so the daemon) in this network namespace (a file; made by the suite before this engine's hooks run). */
    netns?: () => string;
  } = {},
): Engine {
  let instance: TempInstance | undefined;
  const ns = hooks.namespace ?? `ctl-${suite}-test-${process.pid}`;
  // Containers of the suites that do not test networking stay off netd's bridge, so no test
  // touches the host's interfaces or firewall (the network suite runs in a netns of its own).
  const env = { CTL_SNAPSHOTTER_DRIVERS: 'overlayfs', CTL_NAMESPACE: ns, CTL_DEFAULT_NETWORK: hooks.defaultNetwork ?? 'none' };
  const engine: Engine = {
    get instance() {
      if (!instance) throw new Error('the engine is not set up yet');
      return instance;
    },
    ns,
    env,
    run: (...args) => ctl(engine.instance, args, env, hooks.netns?.()),
    ok(...args) {
      const r = engine.run(...args);
      assert.equal(r.code, 0, `ctl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    },
    start: (...args) =>
      new Promise((resolve) => {
        const argv = [CTL, '--root', engine.instance.root, '--state', engine.instance.state, ...args];
        const netns = hooks.netns?.();
        const child = spawn(netns ? 'nsenter' : process.execPath, netns ? [`--net=${netns}`, process.execPath, ...argv] : argv, {
          env: { ...process.env, CTL_NO_AUTOSTART: '', ...env },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      }),
    containers: () => engine.ok('ps', '-a', '-q').split('\n').filter(Boolean),
    ourSnapshots: () =>
      (JSON.parse(engine.ok('snapshot', 'ls', '--format', 'json')) as { name: string }[])
        .map((s) => s.name)
        .filter((n) => n.startsWith(`${ns}/`) && !n.startsWith(`${ns}/sha256:`)),
    ourMounts: () =>
      readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m.startsWith(engine.instance.base)),
    cgroupDirs: (id) => cgroupDirs(join(cgroupParent(engine.instance), ns, id)),
    importBusybox(name, extraEnv = {}) {
      const archive = join(engine.instance.base, `${name?.replace(/\W/g, '_') ?? 'busybox'}.tar`);
      execFileSync('bash', [join(TOOLS, 'busybox-image.sh'), archive, ...(name ? [name] : [])], { env: { ...process.env, ...extraEnv } });
      engine.ok('image', 'import', archive);
    },
  };

  before(() => {
    instance = tempInstance();
    engine.importBusybox();
  });
  afterEach(() => {
    for (const id of engine.containers()) engine.run('rm', '-f', id);
    hooks.afterEach?.(engine);
  });
  after(async () => {
    if (!instance) return;
    hooks.beforeCleanup?.(engine);
    await stopDaemons(instance);
    const mounts = engine.ourMounts();
    for (const m of [...mounts].reverse()) execFileSync('umount', ['-l', m]);
    instance.remove();
    // Emptied by the runtime as the last container leaves; a test that failed half way may leave them.
    for (const dir of [...cgroupDirs(join(cgroupParent(instance), ns)), ...cgroupDirs(cgroupParent(instance))])
      if (existsSync(dir)) rmdirSync(dir);
    assert.deepEqual(mounts, [], 'mounts were left behind');
  });
  return engine;
}

/** A cgroup path's directory in each hierarchy of this host (v1, hybrid or v2). */
export function cgroupDirs(path: string): string[] {
  const root = '/sys/fs/cgroup';
  if (existsSync(join(root, 'cgroup.controllers'))) return [join(root, path)];
  return readdirSync(root).map((h) => join(root, h, path));
}
