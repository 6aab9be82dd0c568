/**
 * Extended attributes of a path, its last component not followed (l*xattr), through the
 * ctl_xattr.node addon (src/native/xattr_addon.c): Node has no such calls. Synchronous, for the
 * build's synchronous tree walks. The addon is loaded at the first call, not at import, so a
 * command that imports this module but reads no attribute (or the CLI's start-up) never maps it.
 *
 * Failures are XattrErrors: EngineErrors whose kind says what went wrong (NotFound: no such
 * file; PermissionDenied; FailedPrecondition: the filesystem does not support the attribute's
 * namespace, ENOTSUP; ResourceExhausted: no room; InvalidArgument: a bad name or a value too
 * large), with the errno's name in `code`, as Node's fs errors have it.
 */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { requireAddon } from './addon';

interface Addon {
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  lsetxattr(path: string, name: string, value: Uint8Array, flags?: number): void;
  lremovexattr(path: string, name: string): void;
}

let addon: Addon | undefined;

/** Loaded at the first call (addon.ts finds it, from the plain build or a bundle alike). */
function load(): Addon {
  if (addon) return addon;
  try {
    addon = requireAddon<Addon>('ctl_xattr');
  } catch (err) {
    throw new EngineError(
      ErrorKind.FailedPrecondition,
      `extended attributes: cannot load ctl_xattr.node (build @ctl/runtime-native): ${(err as Error).message}`,
      { cause: err },
    );
  }
  return addon;
}

const KIND_OF_CODE: Record<string, ErrorKind> = {
  ENOENT: ErrorKind.NotFound,
  ENOTDIR: ErrorKind.NotFound,
  ENODATA: ErrorKind.NotFound,
  EPERM: ErrorKind.PermissionDenied,
  EACCES: ErrorKind.PermissionDenied,
  EROFS: ErrorKind.PermissionDenied,
  ENOTSUP: ErrorKind.FailedPrecondition,
  ENOSPC: ErrorKind.ResourceExhausted,
  EDQUOT: ErrorKind.ResourceExhausted,
  ENOMEM: ErrorKind.ResourceExhausted,
  E2BIG: ErrorKind.InvalidArgument,
  ERANGE: ErrorKind.InvalidArgument,
  EINVAL: ErrorKind.InvalidArgument,
  ENAMETOOLONG: ErrorKind.InvalidArgument,
};

export class XattrError extends EngineError {
  constructor(
    /** the errno's name ("ENOTSUP", …) */
    readonly code: string,
    readonly syscall: string,
    readonly path: string,
    readonly attribute: string | undefined,
    message: string,
    cause: unknown,
  ) {
    super(KIND_OF_CODE[code] ?? ErrorKind.Internal, message, { cause });
    this.name = 'XattrError';
  }
}

function call<T>(syscall: string, path: string, attribute: string | undefined, fn: (a: Addon) => T): T {
  const a = load();
  try {
    return fn(a);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (!e.syscall) throw new EngineError(ErrorKind.InvalidArgument, `${syscall}: ${e.message}`, { cause: err });
    const what = attribute !== undefined ? ` ${attribute} of` : '';
    throw new XattrError(e.code ?? 'EUNKNOWN', syscall, path, attribute, `${syscall}${what} ${path}: ${e.message}`, err);
  }
}

/** The names of path's extended attributes (those the caller may see); none on a filesystem without them. */
export function listXattrs(path: string): string[] {
  try {
    return call('llistxattr', path, undefined, (a) => a.llistxattr(path));
  } catch (err) {
    if (isXattrUnsupported(err)) return [];
    throw err;
  }
}

/** An attribute's value; undefined when path has no such attribute. */
export function getXattr(path: string, name: string): Buffer | undefined {
  return call('lgetxattr', path, name, (a) => a.lgetxattr(path, name)) ?? undefined;
}

export function setXattr(path: string, name: string, value: Uint8Array): void {
  call('lsetxattr', path, name, (a) => a.lsetxattr(path, name, value, 0));
}

export function removeXattr(path: string, name: string): void {
  call('lremovexattr', path, name, (a) => a.lremovexattr(path, name));
}

/** Every attribute of path with its value, names sorted (one that goes between the list and the read is left out). */
export function readXattrs(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of listXattrs(path).sort()) {
    const value = getXattr(path, name);
    if (value) out.set(name, value);
  }
  return out;
}

/** The filesystem does not take attributes (of that namespace): ENOTSUP. */
export function isXattrUnsupported(err: unknown): boolean {
  return err instanceof XattrError && err.code === 'ENOTSUP';
}
