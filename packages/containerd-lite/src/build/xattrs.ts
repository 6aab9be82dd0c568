/**
 * Extended attributes in a build: set from a tar's pax records (untar.ts: the context, ADD's
 * archives) and copied by COPY/ADD (copy.ts), through @ctl/runtime-native/xattr. Kept as they
 * are: security.capability (file capabilities, set last, after the chown that clears them),
 * user.*, trusted.*, ACLs as system.posix_acl_*. Left out: overlayfs's own trusted.overlay.*,
 * which an overlay mount refuses and which mean nothing in an image (ctl-diff never writes them
 * into a layer either).
 *
 * A user.* attribute that the target cannot take is dropped without a word, as tar does: a
 * filesystem without user attributes (ENOTSUP), or a symbolic link or device node, on which
 * Linux allows none (EPERM). Any other failure is an error with its kind.
 */
import { wrap } from '@ctl/proto/errors';
import { XattrError, isXattrUnsupported, listXattrs, readXattrs, removeXattr, setXattr } from '@ctl/runtime-native/xattr';
import { lstatSync } from 'node:fs';

const NOT_KEPT = /^trusted\.overlay\./;

export type Xattrs = ReadonlyMap<string, Buffer>;

function droppable(err: unknown, name: string, path: string): boolean {
  if (!name.startsWith('user.')) return false;
  if (isXattrUnsupported(err)) return true;
  if (!(err instanceof XattrError) || err.code !== 'EPERM') return false;
  const st = lstatSync(path, { throwIfNoEntry: false });
  return Boolean(st && !st.isFile() && !st.isDirectory());
}

function set(path: string, name: string, value: Buffer, what: string): void {
  try {
    setXattr(path, name, value);
  } catch (err) {
    if (!droppable(err, name, path)) throw wrap(err, `${what}: set the extended attribute ${name}`);
  }
}

/** Sets the attributes on path (after its owner and mode: a chown clears security.capability). */
export function applyXattrs(path: string, xattrs: Xattrs, what: string): void {
  for (const [name, value] of xattrs) if (!NOT_KEPT.test(name)) set(path, name, value, what);
}

/** path's attributes become exactly xattrs (none when undefined): an entry kept from an earlier extraction. */
export function syncXattrs(path: string, xattrs: Xattrs | undefined, what: string): void {
  for (const name of listXattrs(path)) {
    if (NOT_KEPT.test(name) || xattrs?.has(name)) continue;
    try {
      removeXattr(path, name);
    } catch (err) {
      throw wrap(err, `${what}: remove the extended attribute ${name}`);
    }
  }
  if (xattrs) applyXattrs(path, xattrs, what);
}

/** Copies src's attributes onto target (both host paths; links not followed). */
export function copyXattrs(src: string, target: string, what: string): void {
  applyXattrs(target, readXattrs(src), what);
}

/** The attributes that a copy keeps, sorted by name: for a cache key. */
export function keptXattrs(path: string): [string, Buffer][] {
  return [...readXattrs(path)].filter(([name]) => !NOT_KEPT.test(name));
}
