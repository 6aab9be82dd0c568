// CPU time by group of processes, for benchmarks on a busy machine: wall time there says how the
// machine's load fell, CPU time says what each contender costs. A group is a cgroup v1 cpuacct
// directory of the bench's own (cgroup v2: cpu.stat), so what a process starts later (a daemon's
// shims, helpers and runtimes) is counted with it; the containers themselves are not (their
// runtimes move them into cgroups of their own). `cpuGroups()` is undefined where neither exists.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const V1 = '/sys/fs/cgroup/cpuacct';
const V2 = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'].find((dir) => existsSync(join(dir, 'cgroup.controllers')));

export function cpuGroups(prefix) {
  const root = existsSync(join(V1, 'cpuacct.usage')) ? V1 : V2;
  if (!root) return undefined;
  const made = [];
  return {
    /** A group of this name; a process (and what it starts from then on) joins with add(pid). */
    group(name) {
      const dir = join(root, `${prefix}-${process.pid}-${name}`);
      mkdirSync(dir, { recursive: true });
      made.push(dir);
      return {
        add: (pid) => writeFileSync(join(dir, 'cgroup.procs'), String(pid)),
        /** milliseconds of CPU its processes have used so far */
        ms: () =>
          root === V1
            ? Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8')) / 1e6
            : Number(/usage_usec (\d+)/.exec(readFileSync(join(dir, 'cpu.stat'), 'utf8'))?.[1] ?? 0) / 1e3,
      };
    },
    /** Moves pid back to the root group (before remove: a group with processes cannot go). */
    leave: (pid) => writeFileSync(join(root, 'cgroup.procs'), String(pid)),
    /** Removes the groups; a group whose processes are still ending is retried for a while. */
    async remove() {
      for (const dir of made.reverse()) {
        for (let attempt = 0; ; attempt++) {
          try {
            rmdirSync(dir);
            break;
          } catch (err) {
            if (err.code === 'ENOENT') break;
            if (attempt > 50) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
    },
  };
}
