/**
 * The build context: the tar the CLI streams (gzip, bzip2, xz or zstd-compressed too, as
 * `docker build` may send it), extracted into a private directory of the daemon, where COPY
 * and ADD read it (copy.ts). What may not be in it, and why, is untar.ts's "context" flavour:
 * nothing that names a path outside the directory, no device nodes or FIFOs (refused with
 * InvalidArgument naming the entry, not skipped: a context that silently loses files builds
 * something else than what the user sent).
 *
 * A client that names its context (a key: the CLI's is a hash of the directory's path and its ignore file) gets the
 * directory of its last build back: the tar is extracted over it (untar.ts's reuse), so a
 * rebuild writes only what changed, which for a context of many files is most of the time a
 * build takes when its steps come from the cache. BuildKit keeps its local sources between
 * builds for the same reason. The key only picks the directory; what ends up in it is the tar's,
 * whatever was there before.
 */
import { ensureDir } from '@ctl/proto/fsutil';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type FileDigests, type UntarLimits, type UntarResult, decompressed, untar } from './untar';

export type ContextLimits = UntarLimits;
export type ExtractedContext = UntarResult;
export type { FileDigests };

/** Where the context goes, beyond its directory. */
export interface ContextTarget {
  /** filled with the files' content digests (with reuse: coming with those of the earlier context) */
  digests: FileDigests;
  /** dir holds the earlier context of the same client, extracted over */
  reuse?: boolean;
}

/**
 * Extracts the context tar into dir (made 0700 when missing; the caller's directory under the
 * daemon's tmp root, empty unless target.reuse, which it removes after the build). Limits
 * exceeded: ResourceExhausted; a bad context: InvalidArgument. target.digests is filled with the
 * files' content digests, for COPY's cache keys (copy.ts's hashSources), so that a build whose
 * steps all come from the cache reads no file of the context a second time.
 */
export async function extractContext(
  source: AsyncIterable<Uint8Array>,
  dir: string,
  limits: ContextLimits = {},
  target?: ContextTarget,
): Promise<ExtractedContext> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  return untar(await decompressed(source, 'build context'), dir, {
    kind: 'context',
    what: 'build context',
    limits,
    ...(target ? { digests: target.digests, reuse: Boolean(target.reuse) } : {}),
  });
}

/** The prefix of context directories under the daemon's tmp root (removed at start: nothing is kept across restarts). */
export const CONTEXT_PREFIX = 'build-context-';

/** A build's context directory. */
export interface ContextDir {
  dir: string;
  digests: FileDigests;
  /** it holds the context of an earlier build with the same key */
  reused: boolean;
  key: string;
  /** when it was last given back (ms since the epoch) */
  lastUsed: number;
  /** bytes of file contents extracted (set by the caller), 0 before */
  bytes: number;
}

/** How many contexts are kept for the next build of the same client context. */
const KEPT_CONTEXTS = 4;
/** Larger contexts are not kept: the disk they hold would outweigh what a rebuild saves. */
const KEPT_MAX_BYTES = 1 << 30;

/**
 * The daemon's context directories: a new one per build, or with a key, the one kept from the
 * last build with that key (each is lent to one build at a time). The last few are kept, the
 * least recently used removed first; `ctl builder prune` removes them.
 */
export class ContextDirs {
  private readonly kept = new Map<string, ContextDir>();

  constructor(
    private readonly tmpRoot: string,
    private readonly keep = KEPT_CONTEXTS,
  ) {}

  /** A directory for a build's context: the one kept under key (not lent to another build), or a new one. */
  async open(key: string): Promise<ContextDir> {
    const kept = key ? this.kept.get(key) : undefined;
    if (kept) {
      this.kept.delete(key);
      return { ...kept, reused: true };
    }
    ensureDir(this.tmpRoot);
    const dir = await mkdtemp(join(this.tmpRoot, CONTEXT_PREFIX));
    return { dir, digests: new Map(), reused: false, key, lastUsed: Date.now(), bytes: 0 };
  }

  /**
   * Gives a directory back after its build: kept under its key when whole (the extraction
   * completed; what the build did afterwards does not matter, nothing writes into it) and not
   * too large, else removed.
   */
  async close(context: ContextDir, whole: boolean): Promise<void> {
    if (!context.key || !whole || context.bytes > KEPT_MAX_BYTES) {
      await rm(context.dir, { recursive: true, force: true });
      return;
    }
    const gone: ContextDir[] = [];
    // Another build with the same key that ended meanwhile: the later one stays.
    const previous = this.kept.get(context.key);
    if (previous) gone.push(previous);
    this.kept.delete(context.key);
    this.kept.set(context.key, { ...context, reused: false, lastUsed: Date.now() });
    for (const [key, old] of this.kept) {
      if (this.kept.size <= this.keep) break;
      this.kept.delete(key);
      gone.push(old);
    }
    for (const old of gone) await rm(old.dir, { recursive: true, force: true });
  }

  /** Removes the kept directories (those unused for keepDurationMs, or all); how many went. */
  async prune(keepDurationMs = 0): Promise<number> {
    const cutoff = Date.now() - keepDurationMs;
    const gone = [...this.kept].filter(([, c]) => keepDurationMs === 0 || c.lastUsed < cutoff);
    for (const [key] of gone) this.kept.delete(key);
    for (const [, c] of gone) await rm(c.dir, { recursive: true, force: true });
    return gone.length;
  }
}
