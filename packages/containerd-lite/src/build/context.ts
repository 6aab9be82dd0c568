/**
 * The build context: the tar the CLI streams (gzip, bzip2, xz or zstd-compressed too, as
 * `docker build` may send it), extracted into a private directory of the daemon, where COPY
 * and ADD read it (copy.ts). What may not be in it, and why, is untar.ts's "context" flavour:
 * nothing that names a path outside the directory, no device nodes or FIFOs (refused with
 * InvalidArgument naming the entry, not skipped: a context that silently loses files builds
 * something else than what the user sent).
 */
import { chmod, mkdir } from 'node:fs/promises';
import { type FileDigests, type UntarLimits, type UntarResult, decompressed, untar } from './untar';

export type ContextLimits = UntarLimits;
export type ExtractedContext = UntarResult;
export type { FileDigests };

/**
 * Extracts the context tar into dir (made 0700 when missing; the caller's directory under the
 * daemon's tmp root, empty, which it removes after the build). Limits exceeded:
 * ResourceExhausted; a bad context: InvalidArgument. digests, when given, is filled with the
 * files' content digests, for COPY's cache keys (copy.ts's hashSources), so that a build whose
 * steps all come from the cache reads no file of the context a second time.
 */
export async function extractContext(
  source: AsyncIterable<Uint8Array>,
  dir: string,
  limits: ContextLimits = {},
  digests?: FileDigests,
): Promise<ExtractedContext> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  return untar(await decompressed(source, 'build context'), dir, {
    kind: 'context',
    what: 'build context',
    limits,
    ...(digests ? { digests } : {}),
  });
}
