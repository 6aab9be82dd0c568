/**
 * Integration test fixtures: a busybox rootfs, bundles built by the spec builder, a private
 * runtime root, and bookkeeping so every container, cgroup and temp dir made is removed again
 * (after each test, also when it failed). Needs root and a real kernel.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Runtime, buildSpec, writeBundle } from '../src';
import type { RunOptions, Spec } from '../src';

export const BUSYBOX = '/bin/busybox';
export const isRoot = process.getuid?.() === 0;

/** Skip the whole suite (with the reason) where it cannot run: not root, or no busybox. */
export function requireRootAndBusybox(ctx: Mocha.Context): void {
  if (!isRoot) ctx.skip();
  if (!fs.existsSync(BUSYBOX)) ctx.skip();
}

/**
 * The hooks every root suite of this package needs: skipped without root or busybox, one
 * Fixture for the suite, its containers cleaned after each test and everything after the last,
 * also when a test fails. `set` receives the fixture once it exists.
 */
export function useFixture(set: (fx: Fixture) => void): void {
  let fx: Fixture | undefined;
  before(function () {
    requireRootAndBusybox(this);
    fx = new Fixture();
    set(fx);
  });
  afterEach(async () => fx && (await fx.cleanupContainers()));
  after(() => fx?.destroy());
}

export class Fixture {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-rt-it-'));
  readonly rootfs = path.join(this.dir, 'rootfs');
  readonly runtime = new Runtime({ root: path.join(this.dir, 'state') });
  private ids: string[] = [];
  private n = 0;

  constructor() {
    fs.chmodSync(this.dir, 0o755); // user-namespaced containers must reach the rootfs
    const bin = path.join(this.rootfs, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.copyFileSync(BUSYBOX, path.join(bin, 'busybox'));
    fs.chmodSync(path.join(bin, 'busybox'), 0o755);
    execFileSync(path.join(bin, 'busybox'), ['--install', '-s', bin]);
    // --install -s links to the absolute path of busybox as seen now; make them relative
    for (const f of fs.readdirSync(bin)) {
      if (f === 'busybox') continue;
      fs.rmSync(path.join(bin, f));
      fs.symlinkSync('busybox', path.join(bin, f));
    }
    for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc', 'mnt', 'data']) fs.mkdirSync(path.join(this.rootfs, d), { recursive: true });
    fs.writeFileSync(path.join(this.rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  }

  /** A new container id, remembered for cleanup. */
  id(): string {
    const id = `it-${process.pid}-${++this.n}`;
    this.ids.push(id);
    return id;
  }

  /** A bundle for id from Docker-like options (rootfs = the shared busybox tree, absolute). */
  bundle(id: string, cmd: string[], opts: Partial<RunOptions> = {}, edit?: (s: Spec) => void): string {
    const spec = buildSpec({ Env: ['PATH=/bin'] }, { id, cmd, rootfs: this.rootfs, ...opts });
    edit?.(spec);
    const dir = path.join(this.dir, 'bundles', id);
    writeBundle(dir, spec);
    return dir;
  }

  /** A bundle dir with a config.json written as given (for bad input). */
  rawBundle(id: string, configText: string): string {
    const dir = path.join(this.dir, 'bundles', id);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), configText);
    return dir;
  }

  /** An executable shell script in the fixture's directory (e.g. a fake runtime). */
  script(name: string, body: string): string {
    const file = path.join(this.dir, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  }

  stateDir(id: string): string {
    return path.join(this.runtime.root, id);
  }

  /** Remove every container this fixture made; returns the ids that had to be cleaned. */
  async cleanupContainers(): Promise<void> {
    for (const id of this.ids.splice(0)) {
      if (fs.existsSync(this.stateDir(id))) await this.runtime.delete(id, true).catch(() => undefined);
      assertNoLeftovers(id, this);
    }
  }

  destroy(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The cgroup directories a container could have made, in every hierarchy of this host. */
export function cgroupDirs(id: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const m = / (\/sys\/fs\/cgroup\/?[^ ]*) .* - (cgroup2?) /.exec(line);
    if (m) out.push(path.join(m[1], 'ctl', id));
  }
  return out;
}

export function cgroupFile(controller: string, id: string, file: string): string {
  return fs.readFileSync(path.join('/sys/fs/cgroup', controller, 'ctl', id, file), 'utf8').trim();
}

export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

export function assertNoLeftovers(id: string, fx: Fixture): void {
  assert.equal(fs.existsSync(fx.stateDir(id)), false, `state dir of ${id} left behind`);
  for (const d of cgroupDirs(id)) assert.equal(fs.existsSync(d), false, `cgroup ${d} left behind`);
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  assert.ok(!mounts.includes(fx.rootfs), `a mount under ${fx.rootfs} is visible on the host`);
}

/** Poll until cond() is true (the test's own timeout is the only limit). */
export async function until(cond: () => boolean, everyMs = 20): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, everyMs));
}
