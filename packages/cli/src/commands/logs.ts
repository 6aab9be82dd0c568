/** ctl logs: the container's log file (the shim's JSON lines), followed with -f while its task runs. */
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../args';
import { parseOptions, timeOption } from '../options';
import type { Command } from '../command';
import { withClients } from '../clients';
import { taskOf } from '../container/common';
import { printLog } from '../container/log-records';
import { hasExited } from '../container/status';

const logs: Command = {
  summary: "Show a container's output",
  usage:
    'Usage: ctl logs [-f] [--tail N] [--since TIME] [-t] CONTAINER\n\n  -f, --follow       keep printing until the container stops\n  --tail N           only the last N lines\n  --since TIME       only lines since TIME (10m, 2h, RFC 3339)\n  -t, --timestamps   prefix each line with its time\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      follow: { type: 'boolean', short: 'f' },
      tail: { type: 'string' },
      since: { type: 'string' },
      timestamps: { type: 'boolean', short: 't' },
    });
    if (positionals.length !== 1) throw new UsageError('logs needs one CONTAINER');
    const id = positionals[0]!;
    const since = values.since ? timeOption(values.since, '--since', -1, '10m, 2h') : 0;
    const tail = values.tail !== undefined && values.tail !== 'all' ? Number(values.tail) : undefined;
    if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) throw new UsageError(`--tail ${values.tail}: expected a number`);
    return withClients(context, async (a) => {
      const file = (await a.runner.inspect(id)).logPath;
      const print = (line: string): void => printLog(line, { since, timestamps: values.timestamps });
      let offset = 0;
      let pending = '';
      const readNew = async (first: boolean): Promise<void> => {
        if (!existsSync(file)) return;
        const size = statSync(file).size;
        if (size <= offset) return;
        // fs/promises (and the readline modules it loads) only for logs -f, not for every command
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { open } = require('node:fs/promises') as typeof import('node:fs/promises');
        const fh = await open(file, 'r');
        try {
          const buf = Buffer.alloc(size - offset);
          await fh.read(buf, 0, buf.length, offset);
          offset = size;
          const lines = (pending + buf.toString('utf8')).split('\n');
          pending = lines.pop() ?? '';
          for (const line of first && tail !== undefined ? (tail === 0 ? [] : lines.slice(-tail)) : lines) print(line);
        } finally {
          await fh.close();
        }
      };
      await readNew(true);
      if (!values.follow) return 0;
      for (;;) {
        const task = await taskOf(a.tasks, id);
        const running = task && !hasExited(task);
        await readNew(false);
        if (!running) return 0;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
  },
};

export const commands: Record<string, Command> = { logs };
