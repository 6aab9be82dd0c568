/**
 * OCI layers on disk: `applyLayer` extracts a layer (tar, gzip or zstd) into a directory with
 * ctl-apply, `diffLayer` writes the changes of an overlay upperdir, or between two trees, as a
 * layer with ctl-diff. Both executables stream and hash in C; this module only runs them and
 * turns their exit codes into EngineErrors. Kept free of heavy imports (subpath
 * `@ctl/runtime-native/layers`).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { kindFromNativeExit } from './errors';
import { hasLauncher, launch } from './launch';

const RELEASE_DIR = path.join(__dirname, '..', '..', 'build', 'Release');
export const APPLY_BINARY = path.join(RELEASE_DIR, 'ctl-apply');
export const DIFF_BINARY = path.join(RELEASE_DIR, 'ctl-diff');

export type WhiteoutMode = 'overlay' | 'remove';

export interface ApplyOptions {
  /** a file path, or a stream of the (possibly compressed) layer */
  input: string | NodeJS.ReadableStream;
  /**
   * the input file is still being written (a download): read it until it holds this many bytes,
   * waiting at its end for more. Whoever writes it checks its bytes and kills the apply (signal) if
   * that write fails.
   */
  inputSize?: number;
  /** where the writer moves the input once it is complete: read from there if the input is gone when opened */
  inputMovedTo?: string;
  target: string;
  /** overlay: write overlayfs whiteouts (0:0 char devices, opaque xattr); remove: delete what they name */
  whiteouts: WhiteoutMode;
  /** sha256:<hex> the uncompressed layer must hash to (FailedPrecondition otherwise; the target is then dirty) */
  expectDiffId?: string;
  /** create device nodes (default true); false skips them */
  devices?: boolean;
  signal?: AbortSignal;
}

export interface ApplyResult {
  diffId: string;
  /** uncompressed bytes */
  size: number;
  /** tar entries read, whiteouts included */
  entries: number;
}

export type DiffMode = 'overlay' | 'compare';

export interface DiffOptions {
  upper: string;
  /** the parent's tree, for mode compare */
  lower?: string;
  mode: DiffMode;
  compression: 'gzip' | 'zstd' | 'none';
  output: string;
  signal?: AbortSignal;
}

export interface DiffResult {
  diffId: string;
  digest: string;
  /** bytes of the output (compressed) */
  size: number;
  uncompressedSize: number;
}

export async function applyLayer(options: ApplyOptions): Promise<ApplyResult> {
  const args = ['--target', options.target, '--whiteouts', options.whiteouts];
  const stream = typeof options.input === 'string' ? undefined : options.input;
  if (typeof options.input === 'string') args.push('--input', options.input);
  if (options.inputSize !== undefined && typeof options.input === 'string') {
    args.push('--input-size', String(options.inputSize));
    if (options.inputMovedTo !== undefined) args.push('--input-moved-to', options.inputMovedTo);
  }
  if (options.expectDiffId !== undefined) args.push('--expect-diff-id', options.expectDiffId);
  if (options.devices === false) args.push('--no-devices');
  const out = await runTool(APPLY_BINARY, args, stream, options.signal);
  const r = parseResult(out, 'ctl-apply', ['diffId', 'size', 'entries']);
  return { diffId: r.diffId as string, size: r.size as number, entries: r.entries as number };
}

export async function diffLayer(options: DiffOptions): Promise<DiffResult> {
  const args = ['--upper', options.upper, '--mode', options.mode, '--compression', options.compression, '--output', options.output];
  if (options.lower !== undefined) args.push('--lower', options.lower);
  const out = await runTool(DIFF_BINARY, args, undefined, options.signal);
  const r = parseResult(out, 'ctl-diff', ['diffId', 'digest', 'size', 'uncompressedSize']);
  return { diffId: r.diffId as string, digest: r.digest as string, size: r.size as number, uncompressedSize: r.uncompressedSize as number };
}

function parseResult(stdout: string, tool: string, fields: string[]): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout.trim());
  } catch {
    throw new EngineError(ErrorKind.Internal, `${tool}: unexpected output ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  const r = parsed as Record<string, unknown>;
  for (const f of fields) {
    if (r?.[f] === undefined) throw new EngineError(ErrorKind.Internal, `${tool}: output lacks ${f}: ${stdout.trim()}`);
  }
  return r;
}

/**
 * Runs the tool to its end and resolves with its stdout. Through ctl-launch when nothing is
 * piped in: a pull runs one ctl-apply per layer, and Node's spawn forked the whole daemon for
 * each (its page tables copied on the event loop's thread, then torn down by the exec: 7% of the
 * daemon's CPU in a pull of five layers).
 */
async function runTool(binary: string, args: string[], input: NodeJS.ReadableStream | undefined, signal?: AbortSignal): Promise<string> {
  if (input || !hasLauncher()) return spawnTool(binary, args, input, signal);
  const tool = path.basename(binary);
  if (signal?.aborted) throw new EngineError(ErrorKind.Canceled, `${tool}: canceled`, { cause: signal.reason });
  let r;
  try {
    // What ctl-launch runs dies with it, and it with this process: no --die-with-parent.
    r = await launch(binary, args, { signal });
  } catch (err) {
    throw new EngineError(ErrorKind.Internal, `${tool}: ${(err as Error).message}`, { cause: err });
  }
  if (signal?.aborted) throw new EngineError(ErrorKind.Canceled, `${tool}: canceled`, { cause: signal.reason });
  if (r.code === 0) return r.stdout;
  const msg = r.stderr.trim() || `${tool} exited with ${r.code}`;
  throw new EngineError(r.code >= 128 ? ErrorKind.Internal : kindFromNativeExit(r.code), msg);
}

/** The tool as a child of this process (with a stream to pipe in, or without ctl-launch). */
function spawnTool(binary: string, args: string[], input: NodeJS.ReadableStream | undefined, signal?: AbortSignal): Promise<string> {
  const tool = path.basename(binary);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new EngineError(ErrorKind.Canceled, `${tool}: canceled`, { cause: signal.reason }));
      return;
    }
    // An orphan would go on writing into a snapshot that nobody will commit or collect.
    const child = spawn(binary, [...args, '--die-with-parent', String(process.pid)], {
      stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let inputError: Error | undefined;
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (input && child.stdin) {
      // the tool stops reading when it fails; its exit status tells why, not EPIPE
      child.stdin.on('error', () => undefined);
      input.once('error', (err: Error) => {
        inputError = err;
        child.kill('SIGKILL');
      });
      input.pipe(child.stdin);
    }
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
      reject(new EngineError(ErrorKind.Internal, `${tool}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (input && child.stdin) input.unpipe(child.stdin);
      if (spawnError) reject(new EngineError(ErrorKind.Internal, `${tool}: ${spawnError.message}`, { cause: spawnError }));
      else if (signal?.aborted) reject(new EngineError(ErrorKind.Canceled, `${tool}: canceled`, { cause: signal.reason }));
      else if (inputError)
        reject(new EngineError(ErrorKind.Internal, `${tool}: reading the layer stream: ${inputError.message}`, { cause: inputError }));
      else if (code === 0) resolve(stdout);
      else {
        const msg = stderr.trim() || `${tool} exited with ${code ?? sig}`;
        reject(new EngineError(code === null ? ErrorKind.Internal : kindFromNativeExit(code), msg));
      }
    });
  });
}
