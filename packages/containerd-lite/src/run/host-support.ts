/**
 * What this host's cgroups can enforce, for the limits docker discards with a warning instead of
 * failing the create (the runtime refuses anything it cannot apply, so these must be dropped
 * before the spec is written). `cgroupRoot` is /sys/fs/cgroup but for tests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** v2's controllers at the root of the unified hierarchy (pure v2 hosts), or none. */
function v2Controllers(cgroupRoot: string): string[] {
  try {
    return readFileSync(join(cgroupRoot, 'cgroup.controllers'), 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** cgroup v1's blkio.weight (CFQ) or blkio.bfq.weight (BFQ), or v2's io controller. */
export function blkioWeightSupported(cgroupRoot = '/sys/fs/cgroup'): boolean {
  const v1 = join(cgroupRoot, 'blkio');
  if (existsSync(v1)) return ['blkio.weight', 'blkio.bfq.weight'].some((f) => existsSync(join(v1, f)));
  return v2Controllers(cgroupRoot).includes('io');
}

/**
 * cgroup v1's memory.memsw.* (swap accounting, swapaccount=1), or v2's memory.swap.max (in any
 * child of the root: the root itself has none).
 */
export function swapLimitSupported(cgroupRoot = '/sys/fs/cgroup'): boolean {
  const v1 = join(cgroupRoot, 'memory');
  if (existsSync(v1)) return existsSync(join(v1, 'memory.memsw.limit_in_bytes'));
  if (!v2Controllers(cgroupRoot).includes('memory')) return false;
  return ['init.scope', 'system.slice', 'user.slice'].some((child) => existsSync(join(cgroupRoot, child, 'memory.swap.max')));
}

export const BLKIO_WEIGHT_WARNING = 'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.';
export const SWAP_LIMIT_WARNING =
  'Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.';
