/**
 * What the host holds of this instance's tasks that no task accounts for, for `ctl system
 * check` (system/check.ts): shims whose bundle is not a task's, mounts under the instance's
 * directories that are not a task's rootfs, and tasks whose init is gone without an exit status.
 */
import { mountTableSync } from '@ctl/runtime-native/mount';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Problem } from '../system/check';

export interface KnownTask {
  namespace: string;
  id: string;
  bundle: string;
  /** The init has neither an exit status nor a live process. */
  lost: boolean;
}

/** The bundle directory (tasksDir/<ns>/<id>) a path under tasksDir lies in. */
function bundleOf(tasksDir: string, p: string): string | undefined {
  const rel = path.relative(tasksDir, p);
  const [ns, id] = rel.split(path.sep);
  return rel.startsWith('..') || !ns || !id ? undefined : path.join(tasksDir, ns, id);
}

/** Processes running ctl-shim, with the bundles their arguments name. */
function shims(tasksDir: string): { pid: number; bundle: string }[] {
  const out: { pid: number; bundle: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (path.basename(argv[0] ?? '') !== 'ctl-shim') continue;
    const bundle = argv.map((a) => (path.isAbsolute(a) ? bundleOf(tasksDir, a) : undefined)).find(Boolean);
    if (bundle) out.push({ pid: Number(entry), bundle });
  }
  return out;
}

export function taskLeftovers(tasks: KnownTask[], tasksDir: string, instanceDirs: string[]): Problem[] {
  const problems: Problem[] = [];
  const bundles = new Set(tasks.map((t) => t.bundle));
  for (const t of tasks) {
    if (t.lost) problems.push({ kind: 'task', namespace: t.namespace, subject: t.id, detail: 'its init is gone without an exit status' });
  }
  for (const s of shims(tasksDir)) {
    if (!bundles.has(s.bundle))
      problems.push({ kind: 'shim', namespace: '', subject: String(s.pid), detail: `a shim of ${s.bundle}, which is no task` });
  }
  const rootfs = new Set([...bundles].map((b) => path.join(b, 'rootfs')));
  const under = (p: string) => instanceDirs.some((d) => p === d || p.startsWith(d + path.sep));
  for (const m of mountTableSync()) {
    if (under(m.mountPoint) && !rootfs.has(m.mountPoint)) {
      problems.push({ kind: 'mount', namespace: '', subject: m.mountPoint, detail: `${m.fsType} mount that no task holds` });
    }
  }
  return problems;
}
