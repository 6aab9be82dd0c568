/**
 * What the metadata instructions do to an image config, as docker build does it, and the
 * history lines BuildKit writes (`created_by`). Pure functions on values already expanded by
 * the executor; no I/O.
 */
import { posix } from 'node:path';
import { type Command, DockerfileError, type Healthcheck, type Instruction } from './dockerfile/model';
import type { ImageConfig } from '../oci';

/** Docker's Healthcheck in an image config (durations in nanoseconds). */
export interface HealthConfig {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The image config's `config`, with Docker's fields that OCI leaves out. */
export type RunConfig = NonNullable<ImageConfig['config']> & {
  Shell?: string[];
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
};

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
  author?: string;
}

export interface BuildConfig extends Omit<ImageConfig, 'config' | 'history'> {
  config?: RunConfig | null;
  history?: HistoryEntry[];
  author?: string;
}

/** BuildKit's comment on the history entries a Dockerfile makes. */
export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';
export const DEFAULT_SHELL = ['/bin/sh', '-c'];
/** The PATH docker gives a stage whose base has none (scratch). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A deep copy, so a state's config is never changed under another state that shares it. */
export const cloneConfig = (config: BuildConfig): BuildConfig => JSON.parse(JSON.stringify(config)) as BuildConfig;

/** The env's NAME → value, in order. */
export function envMap(env: readonly string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    out.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? '' : e.slice(eq + 1));
  }
  return out;
}

/** Sets NAME=value, in place of an earlier value of NAME (docker keeps its position). */
export function setEnv(env: readonly string[] | undefined, name: string, value: string): string[] {
  const list = [...(env ?? [])];
  const at = list.findIndex((e) => e === name || e.startsWith(`${name}=`));
  if (at >= 0) list[at] = `${name}=${value}`;
  else list.push(`${name}=${value}`);
  return list;
}

/** The argument list of a shell-form or exec-form command. */
export const commandArgs = (command: Command, shell: readonly string[]): string[] =>
  command.form === 'exec' ? command.args : [...shell, command.text];

const UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration ("30s", "1m30s", "500ms") in nanoseconds, as docker stores HEALTHCHECK's. */
export function durationNanos(text: string, what: string, line: number): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (text === '0') return 0;
  if (!parts.length || parts.map((p) => p[0]).join('') !== text)
    throw new DockerfileError(`HEALTHCHECK ${what} "${text}": not a duration (e.g. 30s, 1m30s)`, line);
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0));
}

export function healthConfig(h: Healthcheck, line: number): HealthConfig {
  const out: HealthConfig = { Test: h.test };
  if (h.test[0] === 'NONE') return out;
  const positive = (value: string | undefined, what: string, min: number): number | undefined => {
    if (value === undefined) return undefined;
    const ns = durationNanos(value, what, line);
    if (ns !== 0 && ns < min) throw new DockerfileError(`HEALTHCHECK ${what} "${value}" is shorter than ${min / 1e6}ms`, line);
    return ns;
  };
  const interval = positive(h.interval, '--interval', 1e6);
  const timeout = positive(h.timeout, '--timeout', 1e6);
  const startPeriod = positive(h.startPeriod, '--start-period', 0);
  const startInterval = positive(h.startInterval, '--start-interval', 1e6);
  if (interval !== undefined) out.Interval = interval;
  if (timeout !== undefined) out.Timeout = timeout;
  if (startPeriod !== undefined) out.StartPeriod = startPeriod;
  if (startInterval !== undefined) out.StartInterval = startInterval;
  if (h.retries !== undefined) {
    if (!/^\d+$/.test(h.retries)) throw new DockerfileError(`HEALTHCHECK --retries "${h.retries}" is not a number`, line);
    out.Retries = Number(h.retries);
  }
  return out;
}

/** EXPOSE's words as ExposedPorts keys: "80" → "80/tcp", ranges "8000-8002/udp" each port. */
export function exposedPorts(words: readonly string[], line: number): string[] {
  const out: string[] = [];
  for (const word of words) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
    if (!m) throw new DockerfileError(`EXPOSE "${word}": not PORT[-PORT][/tcp|udp|sctp]`, line);
    const first = Number(m[1]);
    const last = m[2] ? Number(m[2]) : first;
    if (first < 1 || last > 65535 || last < first) throw new DockerfileError(`EXPOSE "${word}": invalid port range`, line);
    const proto = (m[3] ?? 'tcp').toLowerCase();
    for (let p = first; p <= last; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/** WORKDIR's path made absolute against the current one. */
export const workdirPath = (current: string | undefined, path: string): string => posix.resolve(current || '/', path);

/** Appends a history entry (BuildKit's form: a step with a layer ends in "# buildkit"). */
export function withHistory(config: BuildConfig, createdBy: string, created: string, withLayer: boolean): BuildConfig {
  const entry: HistoryEntry = { created, created_by: withLayer ? `${createdBy} # buildkit` : createdBy, comment: HISTORY_COMMENT };
  if (!withLayer) entry.empty_layer = true;
  return { ...config, created, history: [...(config.history ?? []), entry] };
}

/** The config of a stage FROM scratch for a platform. */
export function scratchConfig(platform: { os: string; architecture: string; variant?: string }): BuildConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: [`PATH=${DEFAULT_PATH}`] },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

/** JSON for history lines of list-valued instructions (CMD ["a","b"]). */
export const jsonList = (list: readonly string[]): string => JSON.stringify(list);

/**
 * RUN's argument list. A heredoc that is the whole command (`RUN <<EOF`) is the script, as
 * BuildKit runs it: with a `#!` line, as a file of its own (mounted at /dev/pipes/NAME); else
 * by the shell. Other heredocs stay in the shell command for the shell to feed.
 */
export function runCommand(
  ins: Extract<Instruction, { kind: 'RUN' }>,
  shell: string[],
): { args: string[]; scripts: { name: string; path: string; content: string }[] } {
  const { command, heredocs } = ins;
  if (command.form === 'exec' || !heredocs.length) return { args: commandArgs(command, shell), scripts: [] };
  const only = heredocs.length === 1 ? heredocs[0]! : undefined;
  const marker = /^<<-?\s*["']?([A-Za-z0-9_]+)["']?\s*$/.exec(command.text.split('\n')[0]!.trim());
  if (only && marker && marker[1] === only.name) {
    if (only.content.startsWith('#!')) {
      const path = `/dev/pipes/${only.name}`;
      return { args: [path], scripts: [{ name: only.name, path, content: only.content }] };
    }
    return { args: [...shell, only.content], scripts: [] };
  }
  let text = command.text;
  for (const h of heredocs) if (!text.includes(h.content)) text += `\n${h.content}${h.content.endsWith('\n') ? '' : '\n'}${h.name}`;
  return { args: [...shell, text], scripts: [] };
}
