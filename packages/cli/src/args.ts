/**
 * Global options of `ctl`, read before the command name. Kept free of heavy imports: this runs
 * on every command, including --help and --version.
 */
import { type InstanceDirs, instanceDirs } from '@ctl/proto/paths';

/** docker's exit code for a usage error (its flag errors are a StatusError 125, for every command). */
export const USAGE_FAILED = 125;

/** Bad usage of a command: reported as `ctl CMD: MESSAGE` and `See 'ctl CMD --help'.`, exit USAGE_FAILED. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
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
    if (next === undefined || next === '') throw new UsageError(`flag needs an argument: ${name}`);
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
        throw new UsageError(`unknown flag: ${name}`);
    }
  }
  return { dirs: instanceDirs(env, flags), namespace, autostart, help, version, command: argv[i], args: argv.slice(i + 1) };
}
