/**
 * The command line every service binary shares: --socket, --root, --state, --log-level (and
 * CTL_SOCKET, CTL_ROOT, CTL_STATE, CTL_LOG_LEVEL), JSON logs on stderr, graceful stop on
 * SIGTERM/SIGINT. Exit codes: 0 stopped cleanly, 1 failed, 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { LOG_LEVELS, type LogLevel, childLogger, createLogger } from './logger';
import { type ServiceName, instanceDirs, serviceSocket } from './paths';
import { type ServiceFactory, buildInfo, startServices, stopOnSignals } from './server';

/**
 * A binary's own option, repeatable. Like the shared ones it has an environment variable: the
 * flag's values, comma-joined, are put there (the flag wins) for the service's factory to read.
 */
export interface ServiceFlag {
  name: string;
  /** What the value looks like, for the help: NAME=DRIVER. */
  value: string;
  env: string;
  help: string;
}

export interface ServiceBinary {
  /** The binary's name, e.g. ctl-snapshotter. */
  command: string;
  service: ServiceName;
  summary: string;
  flags?: ServiceFlag[];
  /** More help, after the options. */
  details?: string;
  factory: ServiceFactory;
}

function usage(binary: ServiceBinary): string {
  const own = (binary.flags ?? []).map((f) => {
    const head = `  --${f.name} ${f.value}`;
    return `${head.length < 22 ? head.padEnd(22) : `${head}\n${' '.repeat(22)}`}${f.help} (env ${f.env}, comma-separated)\n`;
  });
  return `Usage: ${binary.command} [options]

${binary.summary}

Options:
  --socket PATH       unix socket to serve on (env CTL_SOCKET; default STATE/${binary.service}.sock)
  --root DIR          instance root for persistent data (env CTL_ROOT; default /var/lib/ctl)
  --state DIR         instance state for runtime files (env CTL_STATE; default /run/ctl)
  --log-level LEVEL   ${LOG_LEVELS.join('|')} (env CTL_LOG_LEVEL; default info)
${own.join('')}  -v, --version       print the version and exit
  -h, --help          print this help and exit
${binary.details ? `\n${binary.details}\n` : ''}`;
}

export function parseLogLevel(value: string | undefined): LogLevel {
  const level = (value ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new Error(`unknown log level "${value}" (want ${LOG_LEVELS.join('|')})`);
  return level;
}

export async function runServiceBinary(binary: ServiceBinary, argv = process.argv.slice(2), env = process.env): Promise<void> {
  let values;
  let level: LogLevel;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        socket: { type: 'string' },
        root: { type: 'string' },
        state: { type: 'string' },
        'log-level': { type: 'string' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries((binary.flags ?? []).map((f) => [f.name, { type: 'string', multiple: true } as const])),
      },
      strict: true,
      allowPositionals: false,
    }));
    level = parseLogLevel(values['log-level'] ?? env.CTL_LOG_LEVEL);
  } catch (err) {
    process.stderr.write(`${binary.command}: ${(err as Error).message}\n\n${usage(binary)}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(usage(binary));
    return;
  }
  if (values.version) {
    const info = buildInfo();
    process.stdout.write(`${binary.command} ${info.version}${info.revision ? ` ${info.revision}` : ''}\n`);
    return;
  }
  for (const flag of binary.flags ?? []) {
    const given = (values as Record<string, unknown>)[flag.name] as string[] | undefined;
    if (given?.length) env[flag.env] = given.join(',');
  }
  const dirs = instanceDirs(env, { root: values.root, state: values.state });
  const socket = values.socket ?? env.CTL_SOCKET ?? serviceSocket(dirs, binary.service);
  const logger = createLogger(binary.service, level);
  try {
    const handles = await startServices([{ name: binary.service, socket, factory: binary.factory }], dirs, logger, (name) =>
      childLogger(logger, name),
    );
    stopOnSignals(handles, logger);
  } catch (err) {
    process.stderr.write(`${binary.command}: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
