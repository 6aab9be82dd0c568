/**
 * A stand-in containerd-lite for the restart tests: opens a TaskManager on the given dirs,
 * creates and starts the given containers' tasks (leaving those `leave` names created, or
 * paused), prints their pids as one JSON line, then idles until it is killed (the test sends
 * SIGKILL).
 * argv[2]: JSON file {dirs, rootfs, containers: {id: Container JSON with spec.value base64}, leave: {id: 'CREATED' | 'PAUSED'}}.
 */
import { notFound } from '@ctl/proto/errors';
import * as fs from 'node:fs';
import type { Container } from '../src/containers/containers';
import { TaskManager } from '../src/tasks/manager';

interface Input {
  dirs: { root: string; state: string };
  rootfs: string;
  containers: Record<string, { spec: string }>;
  leave?: Record<string, 'CREATED' | 'PAUSED'>;
}

async function main(): Promise<void> {
  const input = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as Input;
  const manager = await TaskManager.open({
    dirs: input.dirs,
    publisher: { publish: () => undefined },
    containers: async (_ns, id) => {
      const c = input.containers[id];
      if (!c) throw notFound(`container "${id}" not found`);
      return {
        id,
        spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from(c.spec, 'base64') },
      } as Container;
    },
  });
  const pids: Record<string, number> = {};
  for (const id of Object.keys(input.containers)) {
    pids[id] = (await manager.create('default', id, { rootfs: [{ type: 'bind', source: input.rootfs, options: ['rbind'] }] })).pid;
    if (input.leave?.[id] === 'CREATED') continue;
    await manager.start('default', id);
    if (input.leave?.[id] === 'PAUSED') await manager.pause('default', id);
  }
  process.stdout.write(`${JSON.stringify(pids)}\n`);
  setInterval(() => undefined, 1 << 30);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
