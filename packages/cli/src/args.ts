/**
 * Global options of `ctl`, read before the command name. Kept free of heavy imports: this runs
 * on every command, including --help and --version.
 */
import { type InstanceDirs, instanceDirs } from '@ctl/proto/paths';
import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** What a command accepts: node:util parseArgs's option table. */
export type OptionTable = NonNullable<ParseArgsConfig['options']>;
type Strict<T extends OptionTable> = { args: string[]; options: T; allowPositionals: true; strict: true };
export type ParsedOptions<T extends OptionTable> = ReturnType<typeof parseArgs<Strict<T>>>;

/**
 * A command's own options and operands (strict: an unknown option is an error). Every command
 * parses through here, so a bad option is reported the same way everywhere: a UsageError with
 * parseArgs's message. positionals: false refuses operands too (for commands that take none).
 */
export function parseOptions<T extends OptionTable>(argv: string[], options: T, { positionals = true } = {}): ParsedOptions<T> {
  try {
    return parseArgs<Strict<T>>({
      args: argv,
      options,
      allowPositionals: positionals as true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * A time option's value: a duration (10s, 5m, 2h) before now (sign -1: --since) or after it (sign
 * 1: --until), Unix seconds, or an RFC 3339 time. examples: what the error message suggests.
 */
export function timeOption(value: string, option: string, sign: 1 | -1, examples: string): number {
  const rel = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(value);
  if (rel) return Date.now() + sign * Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 's' | 'm' | 'h'];
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`${option} ${value}: expected e.g. ${examples}, or an RFC 3339 time`);
  return t;
}

export interface GlobalOptions {
  dirs: InstanceDirs;
  namespace: string;
  autostart: boolean;
  help: boolean;
  version: boolean;
  command: string | undefined;
  args: string[];
}

const TRUE_VALUES = new Set(['1', 'true', 'yes']);

export function parseGlobal(argv: string[], env: NodeJS.ProcessEnv): GlobalOptions {
  const flags: { root?: string; state?: string } = {};
  let namespace = env.CTL_NAMESPACE ?? env.CONTAINERD_NAMESPACE ?? 'default';
  let autostart = !TRUE_VALUES.has((env.CTL_NO_AUTOSTART ?? '').toLowerCase());
  let help = false;
  let version = false;
  let i = 0;
  const value = (name: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const next = argv[++i];
    if (next === undefined || next === '') throw new UsageError(`option ${name} needs a value`);
    return next;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') break;
    if (arg === '--') {
      i++;
      break;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    const inline = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : undefined;
    switch (name) {
      case '--root':
        flags.root = value(name, inline);
        break;
      case '--state':
        flags.state = value(name, inline);
        break;
      case '-n':
      case '--namespace':
        namespace = value(name, inline);
        break;
      case '--no-autostart':
        autostart = false;
        break;
      case '-h':
      case '--help':
        help = true;
        break;
      case '-v':
      case '--version':
        version = true;
        break;
      default:
        throw new UsageError(`unknown option ${name}`);
    }
  }
  return { dirs: instanceDirs(env, flags), namespace, autostart, help, version, command: argv[i], args: argv.slice(i + 1) };
}
