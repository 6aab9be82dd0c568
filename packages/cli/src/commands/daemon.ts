import { childLogger, createLogger, parseLogLevel, serviceSocket, startServices, stopOnSignals } from '@ctl/proto';
import type { LogLevel } from '@ctl/proto';
import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command } from '../command';

const USAGE = `Usage: ctl [--root DIR] [--state DIR] daemon [--log-level LEVEL]

Runs the engine's three services in one process, each on its own socket in the state dir:
containerd-lite.sock, snapshotter.sock and netd.sock. Logs are JSON lines on stderr.
Stops gracefully on SIGTERM or SIGINT.

Options:
  --log-level LEVEL   error|warn|info|debug (env CTL_LOG_LEVEL; default info)
`;

export const command: Command = {
  summary: 'Run all services in one process',
  usage: USAGE,
  async run(args, context) {
    const { values } = parseOptions(args, { 'log-level': { type: 'string' } }, { positionals: false });
    let level: LogLevel;
    try {
      level = parseLogLevel(values['log-level'] ?? context.env.CTL_LOG_LEVEL);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { createSnapshotterService } = require('@ctl/snapshotter') as typeof import('@ctl/snapshotter');
    const { createNetdService } = require('@ctl/netd') as typeof import('@ctl/netd');
    const { createContainerdLiteService } = require('@ctl/containerd-lite') as typeof import('@ctl/containerd-lite');
    /* eslint-enable @typescript-eslint/no-require-imports */
    const logger = createLogger('daemon', level);
    const { dirs } = context;
    // containerd-lite is a client of the other two, so it starts last (and stops first).
    const handles = await startServices(
      [
        { name: 'snapshotter', socket: serviceSocket(dirs, 'snapshotter'), factory: createSnapshotterService },
        { name: 'netd', socket: serviceSocket(dirs, 'netd'), factory: createNetdService },
        { name: 'containerd-lite', socket: serviceSocket(dirs, 'containerd-lite'), factory: createContainerdLiteService },
      ],
      dirs,
      logger,
      (name) => childLogger(logger, name),
    );
    logger.info('daemon ready', { root: dirs.root, state: dirs.state, pid: process.pid });
    // The process lives on in its servers; the signal handlers end it.
    await new Promise<never>(() => stopOnSignals(handles, logger));
    return 0;
  },
};
