/**
 * `ctl` entry point. Only node built-ins and small modules load here; a command's own module
 * (and with it gRPC, codecs, service code) loads when that command runs, so `ctl --help` and
 * `ctl --version` cost little more than Node's own start.
 */
import { USAGE_FAILED, UsageError, parseGlobal } from './args';
import type { Command, CommandContext } from './command';
import { descriptorWriter } from './output';
import { suggestions } from './suggest';
import { traceNow, traceSpan, traced, tracedSync, tracing } from '@ctl/proto/trace';

interface CommandEntry {
  summary: string;
  load(): Command;
}

/**
 * A command's module: its one-file bundle when the build made one (one file to read and parse,
 * only that command's code), else the plain module (development, tests of the plain build).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function commandModule(name: string): any {
  const bundled = `./commands/${name}.bundle.js`;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(bundled);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' || !String((err as Error).message).includes(`${name}.bundle.js`))
      throw err;
    const plain = `./commands/${name}`;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(plain);
  }
}

const COMMANDS: Record<string, CommandEntry> = {
  version: { summary: 'Show the client and daemon versions', load: () => commandModule('version').command },
  daemon: { summary: 'Run all services (containerd-lite, snapshotter, netd) in one process', load: () => commandModule('daemon').command },
  namespace: { summary: 'Manage namespaces', load: () => commandModule('namespace').command },
  snapshot: { summary: 'Manage snapshots (--snapshotter overlayfs|native|btrfs)', load: () => commandModule('snapshot').command },
  image: { summary: 'Pull, push, import, export, list, inspect, tag and remove images', load: () => commandModule('image').command },
  pull: { summary: 'Pull an image from a registry', load: () => commandModule('image').commands.pull },
  push: { summary: 'Push an image to a registry', load: () => commandModule('image').commands.push },
  build: { summary: 'Build an image from a Dockerfile', load: () => commandModule('build').commands.build },
  builder: { summary: 'Manage the build cache (prune, du)', load: () => commandModule('builder').command },
  content: { summary: 'Manage blobs in the content store', load: () => commandModule('content').command },
  volume: { summary: 'Manage volumes: create, ls, inspect, rm, prune', load: () => commandModule('volume').command },
  network: {
    summary: 'Manage networks: create, ls, inspect, rm, connect, disconnect, prune',
    load: () => commandModule('network').commands.network,
  },
  gc: { summary: 'Collect garbage now: blobs and snapshots nothing holds', load: () => commandModule('gc').command },
  system: { summary: 'Check the engine: records against what is on disk and on the host', load: () => commandModule('system').command },
  run: { summary: 'Run a command in a new container', load: () => commandModule('run').commands.run },
  create: { summary: 'Create a container', load: () => commandModule('run').commands.create },
  start: { summary: 'Start containers', load: () => commandModule('lifecycle').commands.start },
  ps: { summary: 'List containers', load: () => commandModule('ps').commands.ps },
  logs: { summary: "Show a container's output", load: () => commandModule('logs').commands.logs },
  stop: { summary: 'Stop containers', load: () => commandModule('lifecycle').commands.stop },
  kill: { summary: 'Signal containers', load: () => commandModule('lifecycle').commands.kill },
  rm: { summary: 'Remove containers', load: () => commandModule('lifecycle').commands.rm },
  wait: { summary: 'Wait for containers to stop', load: () => commandModule('lifecycle').commands.wait },
  inspect: { summary: 'Show containers as JSON', load: () => commandModule('ps').commands.inspect },
  exec: { summary: 'Run a command in a running container', load: () => commandModule('exec').commands.exec },
  attach: { summary: "Attach to a running container's input and output", load: () => commandModule('exec').commands.attach },
  pause: { summary: 'Pause containers', load: () => commandModule('pause').commands.pause },
  unpause: { summary: 'Unpause containers', load: () => commandModule('pause').commands.unpause },
  top: { summary: 'Show the processes of a container', load: () => commandModule('ps').commands.top },
  stats: { summary: 'Show resource usage of containers', load: () => commandModule('ps').commands.stats },
  port: { summary: "List a container's published ports", load: () => commandModule('network').commands.port },
  restart: { summary: 'Restart containers', load: () => commandModule('lifecycle').commands.restart },
  events: { summary: 'Print events as they happen', load: () => commandModule('events').commands.events },
  commit: { summary: "Make an image of a container's changes", load: () => commandModule('commit').commands.commit },
  container: {
    summary: 'Manage containers (prune; ls, rm, … as the shortcuts)',
    load: () => commandModule('container').command,
  },
};
const ALIASES: Record<string, string> = {
  namespaces: 'namespace',
  ns: 'namespace',
  snapshots: 'snapshot',
  images: 'image',
  volumes: 'volume',
  networks: 'network',
};

export const USAGE = `Usage: ctl [global options] COMMAND [options]

A container engine in the model of containerd: build, ship, run.

Global options:
  --root DIR          instance root for persistent data (env CTL_ROOT; default /var/lib/ctl)
  --state DIR         instance state for sockets and runtime files (env CTL_STATE; default /run/ctl)
  -n, --namespace NS  namespace to work in (env CTL_NAMESPACE; default "default")
  --no-autostart      do not start the daemon when none answers (env CTL_NO_AUTOSTART=1)
  -h, --help          print help (ctl COMMAND --help for a command's)
  -v, --version       print the client version

Commands:
${Object.entries(COMMANDS)
  .map(([name, entry]) => `  ${name.padEnd(18)}  ${entry.summary}`)
  .join('\n')}
`;

function clientVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const info = require('@ctl/proto/build-info.json') as { version: string; revision: string };
  return `ctl version ${info.version}${info.revision ? `, revision ${info.revision}` : ''}`;
}

/** A usage error as docker reports it: the message and where help is (no usage text, no Node parser text). */
const usageError = (err: (text: string) => void, prefix: string, message: string, help: string): number => {
  err(`${prefix}: ${message}\nSee '${help} --help'.\n`);
  return USAGE_FAILED;
};

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const err = descriptorWriter(2);
  const out = descriptorWriter(1);
  let global;
  try {
    global = parseGlobal(argv, env);
  } catch (e) {
    return usageError(err, 'ctl', (e as Error).message, 'ctl');
  }
  if (global.version) {
    out(`${clientVersion()}\n`);
    return 0;
  }
  if (!global.command) {
    (global.help ? out : err)(USAGE);
    return global.help ? 0 : USAGE_FAILED;
  }
  const name = ALIASES[global.command] ?? global.command;
  if (name === 'help') {
    out(USAGE);
    return 0;
  }
  const entry = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    const near = suggestions(global.command, [...Object.keys(COMMANDS), ...Object.keys(ALIASES)]);
    const hint = near.length ? `\n\nDid you mean this?\n${near.map((n) => `\t${n}\n`).join('')}` : '';
    return usageError(err, 'ctl', `unknown command "${global.command}"${hint}`, 'ctl');
  }
  const command = tracedSync('cli.command-load', () => entry.load());
  const firstPositional = global.args.findIndex((a) => !a.startsWith('-'));
  const optionArgs = command.helpBeforeImageOnly && firstPositional >= 0 ? global.args.slice(0, firstPositional) : global.args;
  if (global.help || optionArgs.includes('--help') || optionArgs.includes('-h')) {
    out(command.usage);
    return 0;
  }
  const context: CommandContext = {
    dirs: global.dirs,
    namespace: global.namespace,
    autostart: global.autostart,
    entry: require.resolve('../../bin/ctl.js'),
    env,
    command: (other) => (Object.prototype.hasOwnProperty.call(COMMANDS, other) ? COMMANDS[other]!.load() : undefined),
    out,
    err,
  };
  try {
    return await traced('cli.command', () => command.run(global.args, context));
  } catch (e) {
    // A command's bundle has its own copy of UsageError: recognise it by name too.
    if (e instanceof UsageError || (e instanceof Error && e.name === 'UsageError'))
      return usageError(err, `ctl ${name}`, e.message, `ctl ${name}`);
    err(`ctl ${name}: ${(e as Error).message}\n`);
    return 1;
  }
}

/**
 * Runs the CLI as a process: the exit code becomes the process's. loadStart: performance.now()
 * when bin/ctl.js began (with CTL_TRACE), so that Node's own start and the loading of our code
 * are spans of their own.
 */
export function runCli(loadStart = 0): void {
  if (tracing) traceStartup(loadStart);
  main(process.argv.slice(2)).then(
    (code) => {
      if (tracing) {
        const done = traceNow();
        process.once('exit', () => traceSpan('cli.exit', done));
      }
      // Now, not when the event loop runs dry: a command resolves once its work is done (its
      // output written: stdout and stderr are synchronous on Linux, files awaited), and Node's
      // natural end also tears the heap down, ~2 ms of a short command (callgrind).
      process.exit(code);
    },
    (e: unknown) => {
      process.stderr.write(`ctl: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

/** Node's start up to our first line (from the process's time origin), and the loading of the entry. */
function traceStartup(loadStart: number): void {
  const origin = performance.timeOrigin;
  traceSpan('cli.node-start', origin, origin + loadStart);
  traceSpan('cli.load', origin + loadStart);
}
