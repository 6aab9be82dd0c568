/** ctl pause and ctl unpause: the Tasks API's Pause and Resume (the cgroup freezer). */
import type { Command } from '../command';
import { parseOptions } from '../options';
import { eachContainer, taskOf } from '../container/common';
import { canPause, canResume, isPaused } from '../container/status';

const pause: Command = {
  summary: 'Pause all processes of containers',
  usage: 'Usage: ctl pause CONTAINER...\n',
  async run(argv, context) {
    const { positionals } = parseOptions(argv, {});
    return eachContainer(context, 'pause', positionals, async (a, id) => {
      const task = await taskOf(a.tasks, id);
      if (!canPause(task)) throw new Error(isPaused(task) ? 'is already paused' : 'is not running');
      await a.tasks.pause(id);
      context.out(`${id}\n`);
    });
  },
};

const unpause: Command = {
  summary: 'Unpause all processes of containers',
  usage: 'Usage: ctl unpause CONTAINER...\n',
  async run(argv, context) {
    const { positionals } = parseOptions(argv, {});
    return eachContainer(context, 'unpause', positionals, async (a, id) => {
      const task = await taskOf(a.tasks, id);
      if (!canResume(task)) throw new Error('is not paused');
      await a.tasks.resume(id);
      context.out(`${id}\n`);
    });
  },
};

export const commands: Record<string, Command> = { pause, unpause };
