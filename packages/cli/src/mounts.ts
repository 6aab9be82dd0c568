/**
 * `-v`/`--volume` and `--mount` of `ctl run`/`ctl create`, Docker's syntax, parsed into what
 * the daemon takes: ctl.run.v1 Mounts (a bind of a host path, a volume, a tmpfs).
 *
 *   -v /host:/ctr[:ro|rw]        a bind mount of a host path
 *   -v NAME:/ctr[:ro|rw|nocopy]  a named volume (made if missing)
 *   -v /ctr                      an anonymous volume
 *   --mount type=bind,source=/a,target=/b[,readonly][,bind-propagation=P][,bind-nonrecursive]
 *   --mount type=volume,[source=NAME,]target=/b[,readonly][,volume-nocopy]
 *   --mount type=tmpfs,target=/t[,tmpfs-size=64m][,tmpfs-mode=1777]
 */
import type { Mount } from '@ctl/proto/generated/ctl/run/v1/Mount';
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { UsageError } from './args';
import { parseBytes } from './sizes';

export type { Mount };

/** Docker's volume names. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const PROPAGATION = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

function destination(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`${what}: a target (destination) is needed`);
  if (!value.startsWith('/')) throw new UsageError(`${what}: the target "${value}" must be an absolute path`);
  const normal = posix.normalize(value).replace(/(.)\/+$/, '$1');
  if (normal === '/') throw new UsageError(`${what}: cannot mount over /`);
  return normal;
}

function bool(value: string | undefined, key: string, what: string): boolean {
  if (value === undefined || value === '' || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new UsageError(`${what}: invalid value for ${key}: "${value}" (true or false)`);
}

/** One --mount value: comma-separated key=value fields (Docker's keys and aliases). */
export function parseMountFlag(spec: string): Mount {
  const what = `--mount ${spec}`;
  const fields = new Map<string, string | undefined>();
  for (const field of spec.split(',')) {
    if (!field) throw new UsageError(`${what}: empty field`);
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const canonical = { src: 'source', dst: 'target', destination: 'target', ro: 'readonly' }[key] ?? key;
    if (fields.has(canonical)) throw new UsageError(`${what}: ${canonical} given twice`);
    fields.set(canonical, value);
  }
  const type = fields.get('type') ?? 'volume';
  if (fields.has('type') && !type) throw new UsageError(`${what}: type needs a value`);
  const allowed: Record<string, string[]> = {
    bind: ['type', 'source', 'target', 'readonly', 'bind-propagation', 'bind-nonrecursive', 'consistency'],
    volume: ['type', 'source', 'target', 'readonly', 'volume-nocopy', 'volume-driver', 'consistency'],
    tmpfs: ['type', 'target', 'readonly', 'tmpfs-size', 'tmpfs-mode', 'consistency'],
  };
  if (!allowed[type]) throw new UsageError(`${what}: unsupported mount type "${type}" (bind, volume or tmpfs)`);
  for (const key of fields.keys()) {
    if (!allowed[type].includes(key)) throw new UsageError(`${what}: unexpected key "${key}" for a ${type} mount`);
  }
  for (const key of ['source', 'target', 'bind-propagation', 'volume-driver', 'tmpfs-size', 'tmpfs-mode']) {
    if (fields.has(key) && !fields.get(key)) throw new UsageError(`${what}: ${key} needs a value`);
  }
  const target = destination(fields.get('target'), what);
  const readonly = fields.has('readonly') && bool(fields.get('readonly'), 'readonly', what);
  const source = fields.get('source');
  switch (type) {
    case 'bind': {
      if (!source) throw new UsageError(`${what}: a bind mount needs a source`);
      if (!source.startsWith('/')) throw new UsageError(`${what}: the bind source "${source}" must be an absolute path`);
      // Unlike -v, --mount does not make a missing source (docker's rule).
      if (!existsSync(source)) throw new UsageError(`${what}: bind source path does not exist: ${source}`);
      const propagation = fields.get('bind-propagation');
      if (propagation && !PROPAGATION.has(propagation))
        throw new UsageError(`${what}: bind-propagation "${propagation}": one of ${[...PROPAGATION].join(', ')}`);
      const nonrecursive = fields.has('bind-nonrecursive') && bool(fields.get('bind-nonrecursive'), 'bind-nonrecursive', what);
      return { destination: target, bind: { source, nonrecursive, propagation: propagation ?? '' }, readonly };
    }
    case 'volume': {
      if (source && !VOLUME_NAME.test(source))
        throw new UsageError(`${what}: invalid volume name "${source}": [a-zA-Z0-9][a-zA-Z0-9_.-]+ (for a host directory use type=bind)`);
      const driver = fields.get('volume-driver');
      if (driver && driver !== 'local') throw new UsageError(`${what}: volume driver "${driver}" is not supported: only local`);
      const nocopy = fields.has('volume-nocopy') && bool(fields.get('volume-nocopy'), 'volume-nocopy', what);
      return { destination: target, volume: { name: source ?? '', nocopy }, ...(readonly ? { readonly } : {}) };
    }
    default: {
      const size = fields.get('tmpfs-size');
      const mode = fields.get('tmpfs-mode');
      if (mode && !/^[0-7]{1,4}$/.test(mode)) throw new UsageError(`${what}: tmpfs-mode "${mode}" is not an octal mode`);
      const tmpfs = {
        ...(size ? { sizeBytes: parseBytes(size, `${what}: tmpfs-size`) } : {}),
        ...(mode ? { mode: parseInt(mode, 8) } : {}),
      };
      return { destination: target, tmpfs, ...(readonly ? { readonly } : {}) };
    }
  }
}

/** One -v value. */
export function parseVolumeFlag(spec: string): Mount {
  const what = `-v ${spec}`;
  const parts = spec.split(':');
  if (parts.length === 1) {
    if (!spec.startsWith('/'))
      throw new UsageError(`${what}: expected /container/path, NAME:/container/path[:ro] or /host/path:/container/path[:ro]`);
    return { destination: destination(spec, what), volume: { name: '' } };
  }
  const [source, target, mode] = parts as [string, string, string | undefined];
  if (parts.length > 3 || !source || !target)
    throw new UsageError(`${what}: expected NAME:/container/path[:ro] or /host/path:/container/path[:ro]`);
  const dest = destination(target, what);
  const opts = mode === undefined ? [] : mode.split(',');
  for (const o of opts) {
    if (!['ro', 'rw', 'nocopy'].includes(o)) throw new UsageError(`${what}: invalid mode "${o}" (ro, rw, nocopy)`);
  }
  if (opts.includes('ro') && opts.includes('rw')) throw new UsageError(`${what}: ro and rw both given`);
  if (source.startsWith('/')) {
    if (opts.includes('nocopy')) throw new UsageError(`${what}: nocopy is for volumes, not bind mounts`);
    // No mode given: neither ro nor rw goes into the mount's options (docker's -v).
    const readonly = opts.includes('ro') ? true : opts.includes('rw') ? false : undefined;
    return { destination: dest, bind: { source }, ...(readonly === undefined ? {} : { readonly }) };
  }
  if (!VOLUME_NAME.test(source)) {
    throw new UsageError(
      `${what}: "${source}" is not a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+); to mount a host directory, give an absolute path`,
    );
  }
  return {
    destination: dest,
    volume: { name: source, ...(opts.includes('nocopy') ? { nocopy: true } : {}) },
    ...(opts.includes('ro') ? { readonly: true } : {}),
  };
}

/** Where each parsed mount lands; a destination given twice is refused, as docker does. */
export function checkDuplicates(mounts: { destination: string; what: string }[]): void {
  const seen = new Map<string, string>();
  for (const m of mounts) {
    const previous = seen.get(m.destination);
    if (previous) throw new UsageError(`duplicate mount point: ${m.destination} (${previous} and ${m.what})`);
    seen.set(m.destination, m.what);
  }
}
