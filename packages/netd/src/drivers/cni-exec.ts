/**
 * Running one CNI plugin (the runtime side of the CNI 1.0 exec protocol): the binary found in the
 * plugin dirs, the CNI_* variables, the config on stdin, the result or error JSON read from its
 * output. Plugins run through ctl-launch as netd's other commands do (netd never forks itself);
 * ctl-launch takes no environment and no deadline, so `env` sets the variables and coreutils'
 * `timeout` bounds the run (and kills the plugin's process group: a delegated IPAM too).
 */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { launch } from '@ctl/runtime-native/launch';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** Debian installs the plugins in /usr/lib/cni; upstream's convention (and containerd's default) is /opt/cni/bin. */
export const DEFAULT_PLUGIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
export const DEFAULT_TIMEOUT_MS = 60_000;
/** How long a plugin that ignores SIGTERM at its deadline gets before SIGKILL. */
const KILL_AFTER_S = 2;

export interface PluginRunner {
  dirs: string[];
  timeoutMs: number;
}

export interface Invocation {
  command: CniCommand;
  containerId?: string;
  /** Empty on DEL when the netns is gone, as the spec allows. */
  netns?: string;
  ifName?: string;
  args?: string;
}

/** The dirs from CNI_PATH when set, else Debian's and upstream's. */
export function pluginDirs(configured?: string[]): string[] {
  if (configured?.length) return configured;
  const fromEnv = process.env.CNI_PATH?.split(':').filter(Boolean);
  return fromEnv?.length ? fromEnv : DEFAULT_PLUGIN_DIRS;
}

/** The first executable `type` in the dirs, in order, or undefined. */
export async function findPlugin(dirs: string[], type: string): Promise<string | undefined> {
  for (const dir of dirs) {
    const file = join(dir, type);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}

/** A plugin's failure: its error JSON's code (CNI's reserved codes, or the plugin's own) and words. */
export class PluginError extends EngineError {
  constructor(
    kind: ErrorKind,
    message: string,
    readonly plugin: string,
    readonly code?: number,
  ) {
    super(kind, message);
  }
}

/** The plugin's binary is not in the plugin dirs: it ran nothing, so there is nothing of it to undo. */
export class PluginNotFound extends PluginError {
  constructor(type: string, dirs: string[]) {
    super(ErrorKind.FailedPrecondition, `cni plugin "${type}" not found in ${dirs.join(', ')}`, type);
  }
}

/** CNI's reserved error codes onto the engine's kinds; everything else (plugins' 100+, 999) is Unknown. */
function kindOfCode(code: number | undefined): ErrorKind {
  switch (code) {
    case 1:
      return ErrorKind.FailedPrecondition; // incompatible CNI version
    case 2: // unsupported field
    case 4: // invalid or missing environment variables
    case 6: // decoding failure
    case 7: // invalid network config
      return ErrorKind.InvalidArgument;
    case 3:
      return ErrorKind.NotFound; // container unknown
    case 5:
      return ErrorKind.Internal; // I/O failure
    case 11:
      return ErrorKind.Unavailable; // try again later
    default:
      return ErrorKind.Unknown;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The error a failed plugin printed: the error JSON on stdout (real plugins) or stderr (the spec's words), else its text. */
function failure(type: string, command: CniCommand, code: number, stdout: string, stderr: string): PluginError {
  const what = `cni plugin "${type}" ${command}`;
  const json = [stdout, stderr].map((s) => parseJson(s.trim())).find((j) => typeof j === 'object' && j !== null && 'msg' in j) as
    { code?: unknown; msg?: unknown; details?: unknown } | undefined;
  if (json) {
    const errCode = typeof json.code === 'number' ? json.code : undefined;
    const details = typeof json.details === 'string' && json.details ? `: ${json.details}` : '';
    return new PluginError(kindOfCode(errCode), `${what} failed: ${String(json.msg)}${details} (code ${errCode})`, type, errCode);
  }
  const text = (stderr.trim() || stdout.trim() || `exit code ${code}`).split('\n').slice(-3).join('; ');
  return new PluginError(ErrorKind.Unknown, `${what} failed: ${text}`, type);
}

/**
 * Runs one plugin with `stdin` and resolves with its parsed stdout (undefined when it printed
 * nothing, as DEL may); rejects with a PluginError naming the plugin and what it said.
 */
export async function execPlugin(runner: PluginRunner, type: string, inv: Invocation, stdin: string): Promise<unknown> {
  const file = await findPlugin(runner.dirs, type);
  if (!file) throw new PluginNotFound(type, runner.dirs);
  const env = [
    `CNI_COMMAND=${inv.command}`,
    `CNI_CONTAINERID=${inv.containerId ?? ''}`,
    `CNI_NETNS=${inv.netns ?? ''}`,
    `CNI_IFNAME=${inv.ifName ?? ''}`,
    `CNI_ARGS=${inv.args ?? ''}`,
    `CNI_PATH=${runner.dirs.join(':')}`,
  ];
  const seconds = String(runner.timeoutMs / 1000);
  let r;
  try {
    r = await launch('timeout', [`--kill-after=${KILL_AFTER_S}`, seconds, 'env', ...env, file], { input: stdin });
  } catch (err) {
    throw new PluginError(ErrorKind.Internal, `cni plugin "${type}" ${inv.command}: cannot run ${file}: ${(err as Error).message}`, type);
  }
  // timeout(1): 124 when the deadline passed, 128+9 when the plugin also ignored SIGTERM.
  if (r.code === 124 || r.code === 137) {
    throw new PluginError(ErrorKind.DeadlineExceeded, `cni plugin "${type}" ${inv.command} timed out after ${seconds} s`, type);
  }
  if (r.code !== 0) throw failure(type, inv.command, r.code, r.stdout, r.stderr);
  if (!r.stdout.trim()) return undefined;
  const result = parseJson(r.stdout);
  if (typeof result !== 'object' || result === null) {
    throw new PluginError(
      ErrorKind.Internal,
      `cni plugin "${type}" ${inv.command} printed no JSON result: ${r.stdout.slice(0, 200)}`,
      type,
    );
  }
  return result;
}
