/**
 * `ctl build`'s flags, docker's spelling, into what the command needs: the fields of ctl.build.v1
 * BuildOptions plus what stays on this side (PATH, -f, --progress, -q, --iidfile, -o's file).
 * Every mistake is a UsageError (exit 125), found before anything is read or sent.
 */
import type { Resources } from '@ctl/proto/generated/ctl/run/v1/Resources';
import type { Rlimit } from '@ctl/proto/generated/ctl/run/v1/Rlimit';
import { UsageError } from './args';
import { parseOptions } from './options';
import type { ProgressMode } from './build-progress';
import { resourceFlags, shmSizeFlag, ulimitFlags } from './runflags';

export const BUILD_OPTIONS = {
  tag: { type: 'string', short: 't', multiple: true },
  file: { type: 'string', short: 'f' },
  'build-arg': { type: 'string', multiple: true },
  target: { type: 'string' },
  'no-cache': { type: 'boolean' },
  pull: { type: 'boolean' },
  platform: { type: 'string' },
  label: { type: 'string', multiple: true },
  network: { type: 'string' },
  progress: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  iidfile: { type: 'string' },
  output: { type: 'string', short: 'o' },
  snapshotter: { type: 'string' },
  // RUN steps' limits, docker build's (parsed as ctl run parses them)
  memory: { type: 'string', short: 'm' },
  'memory-swap': { type: 'string' },
  'cpu-shares': { type: 'string', short: 'c' },
  'cpu-period': { type: 'string' },
  'cpu-quota': { type: 'string' },
  'cpuset-cpus': { type: 'string' },
  'cpuset-mems': { type: 'string' },
  'shm-size': { type: 'string' },
  ulimit: { type: 'string', multiple: true },
} as const;

export interface BuildOutputFlag {
  /** image: the image store alone (where every build goes); oci, docker: an archive too */
  type: 'image' | 'oci' | 'docker';
  /** the file to write, or "-" for stdout; "" for type=image */
  dest: string;
  /** the layers the build makes; "" for the default (gzip) */
  compression: '' | 'gzip' | 'zstd' | 'uncompressed';
  forceCompression: boolean;
}

export interface BuildFlags {
  /** the context: a directory, or "-" for stdin */
  path: string;
  /** -f as given, or undefined for PATH/Dockerfile */
  file: string | undefined;
  /** normalised names (docker.io/library/x:latest) */
  tags: string[];
  buildArgs: Record<string, string>;
  target: string;
  noCache: boolean;
  pull: boolean;
  /** normalised os/arch[/variant], or "" for the daemon's */
  platform: string;
  labels: Record<string, string>;
  network: '' | 'none' | 'host' | 'default';
  /** --progress as given ("auto" when absent), or "quiet" with -q */
  progress: 'auto' | ProgressMode;
  quiet: boolean;
  iidfile: string | undefined;
  output: BuildOutputFlag | undefined;
  snapshotter: string;
  /** What every RUN step's container may use. */
  limits: RunLimitFlags;
}

/** --memory, --cpu-*, --cpuset-*, --ulimit, --shm-size: ctl.build.v1 BuildOptions' resources, ulimits and shm_size_bytes. */
export interface RunLimitFlags {
  /** Only the limits given; absent when none is. */
  resources?: Resources;
  ulimits: Rlimit[];
  shmSizeBytes?: number;
}

/** The RUN steps' limits, parsed by ctl run's parsers (the same value, the same error). */
export function runLimits(values: Record<string, string | boolean | string[] | undefined>): RunLimitFlags {
  const given = Object.entries(resourceFlags(values)).filter(([, v]) => v !== undefined && v !== '');
  const shmSizeBytes = shmSizeFlag(values);
  return {
    ...(given.length ? { resources: Object.fromEntries(given) as Resources } : {}),
    ulimits: ulimitFlags((values.ulimit as string[] | undefined) ?? []),
    ...(shmSizeBytes !== undefined ? { shmSizeBytes } : {}),
  };
}

const PROGRESS = ['auto', 'plain', 'tty', 'quiet'];
const NETWORKS = ['none', 'host', 'default'];

function reference(): typeof import('@ctl/proto/reference') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@ctl/proto/reference') as typeof import('@ctl/proto/reference');
}

function platforms(): typeof import('@ctl/proto/platforms') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@ctl/proto/platforms') as typeof import('@ctl/proto/platforms');
}

/** A -t value as a normalised name; docker's message for one that is not a name. */
export function tagName(value: string): string {
  let ref;
  try {
    ref = reference().parseNormalizedReference(value);
  } catch (err) {
    throw new UsageError(`invalid argument "${value}" for "-t, --tag" flag: ${(err as Error).message}`);
  }
  if (ref.digest !== undefined) throw new UsageError(`invalid argument "${value}" for "-t, --tag" flag: a tag cannot hold a digest`);
  return reference().formatReference(ref);
}

/**
 * --build-arg K=V, or K alone for the value of K in this environment (docker's passthrough);
 * K alone and unset is an error naming it, rather than a build that silently lacks it.
 */
export function buildArgs(items: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const args: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!key) throw new UsageError(`--build-arg "${item}": the name is empty (KEY=VALUE)`);
    if (eq >= 0) args[key] = item.slice(eq + 1);
    else if (env[key] !== undefined) args[key] = env[key]!;
    else throw new UsageError(`--build-arg ${key}: ${key} is not set in this environment (give ${key}=VALUE, or export ${key})`);
  }
  return args;
}

/** --label K=V (K alone: an empty value, as docker takes it). */
export function labelArgs(items: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!key) throw new UsageError(`--label "${item}": the key is empty (KEY=VALUE)`);
    labels[key] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return labels;
}

const OUTPUT_KEYS = ['type', 'dest', 'compression', 'force-compression'];
const COMPRESSIONS = ['gzip', 'zstd', 'uncompressed'];

/**
 * -o type=image|oci|docker[,dest=FILE][,compression=gzip|zstd|uncompressed][,force-compression=BOOL]
 * (dest "-": stdout; oci and docker need one, image takes none). BuildKit's other exporters
 * (local, tar, registry) are not here.
 */
export function outputArg(value: string): BuildOutputFlag {
  const fields: Record<string, string> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) {
      throw new UsageError(
        `invalid output "${value}": give type=oci|docker,dest=FILE or type=image (a bare path is BuildKit's local exporter, which ctl does not have)`,
      );
    }
    const key = part.slice(0, eq).trim();
    if (!OUTPUT_KEYS.includes(key)) throw new UsageError(`invalid output "${value}": unknown key "${key}" (${OUTPUT_KEYS.join(', ')})`);
    fields[key] = part.slice(eq + 1).trim();
  }
  const type = fields.type;
  if (type !== 'image' && type !== 'oci' && type !== 'docker')
    throw new UsageError(`invalid output "${value}": type must be image, oci or docker${type ? `, not "${type}"` : ''}`);
  if (type === 'image' && fields.dest !== undefined) throw new UsageError(`invalid output "${value}": type=image takes no dest`);
  if (type !== 'image' && !fields.dest) throw new UsageError(`invalid output "${value}": dest=FILE is required`);
  const compression = fields.compression ?? '';
  if (fields.compression !== undefined && !COMPRESSIONS.includes(compression))
    throw new UsageError(`invalid output "${value}": compression must be gzip, zstd or uncompressed, not "${compression}"`);
  const force = fields['force-compression'];
  if (force !== undefined && force !== 'true' && force !== 'false')
    throw new UsageError(`invalid output "${value}": force-compression must be true or false, not "${force}"`);
  return {
    type,
    dest: fields.dest ?? '',
    compression: compression as BuildOutputFlag['compression'],
    forceCompression: force === 'true',
  };
}

export function parseBuildArgs(argv: string[], env: NodeJS.ProcessEnv): BuildFlags {
  const { values, positionals } = parseOptions(argv, BUILD_OPTIONS);
  if (positionals.length !== 1) {
    throw new UsageError(`build requires exactly 1 argument (PATH or -)${positionals.length ? `, got ${positionals.length}` : ''}`);
  }
  const progress = values.progress ?? 'auto';
  if (!PROGRESS.includes(progress)) throw new UsageError(`invalid --progress "${progress}": auto, plain, tty or quiet`);
  // CTL_DEFAULT_NETWORK=none is docker's daemon without a bridge (`--bridge none`): its builds have none either.
  const network = values.network ?? (env.CTL_DEFAULT_NETWORK === 'none' ? 'none' : '');
  if (network && !NETWORKS.includes(network)) throw new UsageError(`invalid --network "${network}": none, host or default`);
  let platform = '';
  if (values.platform !== undefined) {
    try {
      platform = platforms().format(platforms().parse(values.platform));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  if (values.target === '') throw new UsageError('--target needs a stage name');
  if (values.iidfile === '') throw new UsageError('--iidfile needs a file name');
  const quiet = Boolean(values.quiet) || progress === 'quiet';
  return {
    path: positionals[0]!,
    file: values.file,
    tags: [...new Set((values.tag ?? []).map(tagName))],
    buildArgs: buildArgs(values['build-arg'] ?? [], env),
    target: values.target ?? '',
    noCache: Boolean(values['no-cache']),
    pull: Boolean(values.pull),
    platform,
    labels: labelArgs(values.label ?? []),
    network: network as BuildFlags['network'],
    progress: quiet ? 'quiet' : (progress as BuildFlags['progress']),
    quiet,
    iidfile: values.iidfile,
    output: values.output !== undefined ? outputArg(values.output) : undefined,
    snapshotter: values.snapshotter ?? env.CTL_SNAPSHOTTER ?? '',
    limits: runLimits(values),
  };
}
