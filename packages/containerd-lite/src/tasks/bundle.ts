/**
 * Where tasks live on disk (containerd's runtime v2 bundle): all under the instance's state dir
 * (runtime state, gone at reboot), except the logs, which outlive the task:
 *
 *   <state>/containerd-lite/tasks/<ns>/<id>/          the bundle of one task
 *       config.json   the container's OCI spec, root.path = "rootfs" (when rootfs mounts are given)
 *       rootfs/       the Create request's mounts, mounted here
 *       task.json     what Create was asked (stdio paths, terminal, whether rootfs is ours to unmount, the runtime)
 *       init.pid, exit.json, runtime.log, attach.sock, console.sock    written by the shim/runtime
 *       exit.announced   marker: /tasks/exit was published for this exit (never twice, also across restarts)
 *       exec/<exec id>/  exec.json (the process and stdio), then the exec shim's exec.pid, exit.json,
 *                        exec.log (its output), attach.sock
 *   <state>/containerd-lite/runtime/<ns>/             ctl-runtime's root, one per namespace (as runc's in containerd)
 *   <state>/containerd-lite/{runc,crun}/<ns>/         runc's and crun's roots, for containers that name them
 *                                                     (containers/runtime.ts: runc options' binary_name)
 *   <root>/containerd-lite/logs/<ns>/<id>.log         the init's output, JSON lines; kept after the task's
 *                                                     delete until removeLogs (the container's removal)
 */
import { EngineError, ErrorKind, failedPrecondition, invalidArgument } from '@ctl/proto/errors';
import { writeJsonAtomic } from '@ctl/proto/fsutil';
import { validateNamespace } from '@ctl/proto/namespace';
import { type Spec, writeBundle } from '@ctl/runtime-native';
import { type Mount, mountAll, mountTableSync, unmountAll } from '@ctl/runtime-native/mount';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Container, SPEC_TYPE_URL } from '../containers/containers';
import { validateIdentifier } from '../identifiers';
import type { Stdio } from './process';

/** task.json: what Create was asked, written before the shim starts (its absence marks a create cut short). */
export interface TaskJson extends Stdio {
  ownRootfs: boolean;
  createdAt: string;
  /** the container's runtime binary name: runc, crun; absent for ctl-runtime */
  runtime?: string;
}

/** The directories of one instance's tasks (see the layout above). */
export class TaskDirs {
  readonly tasksDir: string;
  readonly runtimeDir: string;
  readonly logsDir: string;

  constructor(dirs: { root: string; state: string }) {
    this.tasksDir = path.join(dirs.state, 'containerd-lite', 'tasks');
    this.runtimeDir = path.join(dirs.state, 'containerd-lite', 'runtime');
    this.logsDir = path.join(dirs.root, 'containerd-lite', 'logs');
  }

  bundleDir(ns: string, id: string): string {
    return path.join(this.tasksDir, validateNamespace(ns), validateIdentifier(id, 'container id'));
  }

  logPath(ns: string, id: string): string {
    return path.join(this.logsDir, validateNamespace(ns), `${validateIdentifier(id, 'container id')}.log`);
  }

  /** The root of a runtime's state for one namespace: ctl-runtime's under runtime/, runc's and crun's beside it. */
  runtimeRoot(ns: string, runtimeName: string, native: boolean): string {
    return native ? path.join(this.runtimeDir, ns) : path.join(path.dirname(this.runtimeDir), runtimeName, ns);
  }
}

/** The container's spec made the task's config.json: its terminal, and root.path "rootfs" when Create mounts one. */
export function bundleSpec(c: Container, terminal: boolean, ownRootfs: boolean): Spec {
  const spec = specOf(c);
  spec.process = { ...(spec.process ?? { args: [], cwd: '/' }), terminal } as Spec['process'];
  if (ownRootfs) spec.root = { ...(spec.root ?? {}), path: 'rootfs' } as Spec['root'];
  else if (!spec.root?.path || !path.isAbsolute(spec.root.path))
    throw invalidArgument(`task "${c.id}": no rootfs mounts and the spec's root.path is not absolute`);
  return spec;
}

function specOf(c: Container): Spec {
  if (!c.spec || !c.spec.value?.length) throw failedPrecondition(`container "${c.id}" has no spec`);
  if (c.spec.typeUrl !== SPEC_TYPE_URL && !c.spec.typeUrl.endsWith('/Spec'))
    throw invalidArgument(`container "${c.id}": spec of type ${c.spec.typeUrl} is not an OCI runtime spec`);
  try {
    return JSON.parse(c.spec.value.toString('utf8')) as Spec;
  } catch (err) {
    throw invalidArgument(`container "${c.id}": spec is not JSON: ${(err as Error).message}`);
  }
}

/** Where the execs' dirs are: exec/<exec id>/ in the bundle. */
export function execsDir(bundle: string): string {
  return path.join(bundle, 'exec');
}

export function makeBundleDir(bundle: string): void {
  fs.mkdirSync(path.dirname(bundle), { recursive: true, mode: 0o711 });
  fs.mkdirSync(bundle, { mode: 0o711 });
}

export async function mountRootfs(bundle: string, mounts: Mount[]): Promise<void> {
  fs.mkdirSync(path.join(bundle, 'rootfs'), { mode: 0o755 });
  await mountAll(mounts, path.join(bundle, 'rootfs'));
}

export async function unmountRootfs(bundle: string): Promise<void> {
  await unmountAll(path.join(bundle, 'rootfs'));
}

/**
 * Unmounts the rootfs when it is mounted. Tried first and the mount table read only when umount
 * fails (a rootfs already unmounted, say): a read of /proc/self/mountinfo is synchronous, grows
 * with the host's mounts and waits on the kernel's mount lock, which every container starting or
 * stopping at the same time takes too.
 */
export async function unmountRootfsIfMounted(bundle: string): Promise<void> {
  try {
    await unmountRootfs(bundle);
  } catch (err) {
    if (rootfsMounted(bundle)) throw err;
  }
}

export function rootfsMounted(bundle: string): boolean {
  return isMountPoint(path.join(bundle, 'rootfs'));
}

/** config.json; a spec the runtime would refuse is the caller's InvalidArgument. */
export function writeSpec(bundle: string, id: string, spec: Spec): void {
  try {
    writeBundle(bundle, spec);
  } catch (err) {
    throw invalidArgument(`task "${id}": spec: ${(err as Error).message}`);
  }
}

export function writeTaskJson(bundle: string, meta: TaskJson): void {
  writeJsonAtomic(path.join(bundle, 'task.json'), meta);
}

/** task.json; throws when there is none (the create was cut short before the runtime ran). */
export function readTaskJson(bundle: string): TaskJson {
  return JSON.parse(fs.readFileSync(path.join(bundle, 'task.json'), 'utf8')) as TaskJson;
}

/** exec.json: the process Exec asked for and its stdio (Start runs it; recovery reads the stdio). */
export interface ExecJson extends Stdio {
  spec: Record<string, unknown>;
}

export function writeExecJson(dir: string, exec: ExecJson): void {
  writeJsonAtomic(path.join(dir, 'exec.json'), exec);
}

export function readExecJson(dir: string): ExecJson {
  return JSON.parse(fs.readFileSync(path.join(dir, 'exec.json'), 'utf8')) as ExecJson;
}

export function removeBundle(bundle: string): void {
  const rootfs = path.join(bundle, 'rootfs');
  // Never recurse into a mounted rootfs: that would delete the snapshot's files. rmdir cannot:
  // it fails on a mount point (EBUSY) and on a directory with files (ENOTEMPTY); only then is the
  // mount table read (see unmountRootfsIfMounted for why not always).
  try {
    fs.rmdirSync(rootfs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EBUSY' || (code === 'ENOTEMPTY' && isMountPoint(rootfs)))
      throw new EngineError(ErrorKind.Internal, `bundle ${bundle}: rootfs is still mounted`);
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw err;
  }
  fs.rmSync(bundle, { recursive: true, force: true });
}

function isMountPoint(dir: string): boolean {
  const real = fs.existsSync(dir) ? fs.realpathSync(dir) : dir;
  return mountTableSync().some((m) => m.mountPoint === real);
}
