/**
 * ctl exec and ctl attach: a new process in a running container, or the container's own, in the
 * foreground through the shim's attach socket (container/io.ts).
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { UsageError } from '../args';
import { parseLeadingOptions, parseOptions } from '../options';
import type { Command } from '../command';
import { withClients } from '../clients';
import { CANNOT_INVOKE, checkTty, specOf, startFailure, taskOf } from '../container/common';
import { foreground } from '../container/io';
import { hasProcesses, isRunning } from '../container/status';

/** exec -u NAME|UID[:GROUP|GID], names looked up in the container's /etc/passwd and /etc/group (as run -u). */
function execUser(spec: string, rootfs: string): { uid: number; gid: number; additionalGids?: number[] } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { resolveUser } = require('@ctl/runtime-native/user') as typeof import('@ctl/runtime-native/user');
  const u = resolveUser(spec, rootfs);
  return { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
}

const exec: Command = {
  summary: 'Run a command in a running container',
  usage:
    'Usage: ctl exec [-i] [-t] [-d] [-e K=V] [-u USER[:GROUP]] [-w DIR] CONTAINER COMMAND [ARG...]\n\n  -u, --user   a name or UID (and group name or GID), looked up in the container\n',
  helpBeforeImageOnly: true,
  async run(argv, context) {
    // Options before CONTAINER; everything after it is the command.
    const { values, rest } = parseLeadingOptions(argv, {
      interactive: { type: 'boolean', short: 'i' },
      tty: { type: 'boolean', short: 't' },
      detach: { type: 'boolean', short: 'd' },
      env: { type: 'string', short: 'e', multiple: true },
      user: { type: 'string', short: 'u' },
      workdir: { type: 'string', short: 'w' },
    });
    const [id, ...cmd] = rest;
    if (!id || cmd.length === 0) throw new UsageError('exec needs a CONTAINER and a COMMAND');
    if (!values.detach) checkTty(Boolean(values.interactive), Boolean(values.tty));
    return withClients(context, async (a) => {
      const task = await taskOf(a.tasks, id);
      if (!isRunning(task)) {
        const exists = await a.containers.get(id).then(
          () => true,
          (err: unknown) => (isKind(err, ErrorKind.NotFound) ? false : Promise.reject(err)),
        );
        // docker's words for each
        context.err(`ctl exec: Error response from daemon: ${exists ? `container ${id} is not running` : `No such container: ${id}`}\n`);
        return 1;
      }
      const execId = `exec-${Math.random().toString(16).slice(2, 10)}`;
      // Where the exec's stdio will be and the container's root (for -u): asked alongside the spec, at no extra wait.
      const [container, where] = await Promise.all([a.containers.get(id), a.runner.inspect(id, execId)]);
      const base = specOf(container).process ?? {};
      const env = new Map((base.env ?? []).map((e) => [e.split('=')[0]!, e]));
      for (const e of values.env ?? []) env.set(e.split('=')[0]!, e.includes('=') ? e : `${e}=${context.env[e] ?? ''}`);
      let user = base.user ?? { uid: 0, gid: 0 };
      if (values.user) {
        try {
          user = execUser(values.user, where.rootfs);
        } catch (err) {
          // docker's words and code for a user the container does not know
          context.err(`ctl exec: ${(err as Error).message.replace(/^process\.user: /, '')}\n`);
          return CANNOT_INVOKE;
        }
      }
      // docker gives a terminal its TERM
      if (values.tty && !env.has('TERM')) env.set('TERM', 'TERM=xterm');
      const spec = {
        ...base,
        args: cmd,
        env: [...env.values()],
        cwd: values.workdir ?? base.cwd ?? '/',
        user,
        terminal: Boolean(values.tty),
      };
      await a.tasks.exec(id, { execId, spec, stdin: values.interactive ? 'attach' : '', terminal: Boolean(values.tty) });
      try {
        if (values.detach) {
          try {
            await a.tasks.start(id, execId);
          } catch (err) {
            context.err(`ctl exec: ${(err as Error).message}\n`);
            return startFailure(err);
          }
          return 0;
        }
        return await foreground(context, a.tasks, id, {
          interactive: Boolean(values.interactive),
          tty: Boolean(values.tty),
          socket: where.attachSocket,
          execId,
          execLog: where.logPath,
        });
      } finally {
        if (!values.detach) await a.tasks.deleteProcess(id, execId).catch(() => undefined);
      }
    });
  },
};

const attachCommand: Command = {
  summary: "Attach to a running container's input and output",
  usage: `Usage: ctl attach [--no-stdin] CONTAINER

Shows the container's output from now on and, when it was made with -i, gives it our input
(end of input closes its stdin); with a terminal (-t), ours is raw and its size follows ours.
Signals go to the container (on a terminal, ^C is the container's). Exits with its exit code.
  --no-stdin   do not attach input
`,
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { 'no-stdin': { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('attach needs one CONTAINER');
    const id = positionals[0]!;
    return withClients(context, async (a) => {
      const { attachSocket } = await a.runner.inspect(id);
      const task = await taskOf(a.tasks, id);
      if (!task || !hasProcesses(task)) {
        context.err(`ctl attach: ${id}: you cannot attach to a stopped container, start it first\n`);
        return 1;
      }
      const interactive = !values['no-stdin'] && task.stdin !== '';
      checkTty(interactive, task.terminal);
      return foreground(context, a.tasks, id, {
        interactive,
        tty: task.terminal,
        socket: attachSocket,
        running: true,
      });
    });
  },
};

export const commands: Record<string, Command> = { exec, attach: attachCommand };
