/**
 * ctl run and ctl create: the daemon makes the container (ctl.run.v1: image, snapshot, spec and
 * record in one call), pulling the image first by --pull's policy; run then starts its task in
 * the foreground (or detached).
 */
import { ErrorReason } from '@ctl/proto/errors';
import { NotServingError } from '@ctl/proto/wire';
import { UsageError } from '../args';
import type { Command, CommandContext } from '../command';
import { type Clients, lite, withClients } from '../clients';
import { ENGINE_FAILED, checkTty, startFailure } from '../container/common';
import { foreground, prepareAttach } from '../container/io';
import { parseLabelArgs } from '../labels';
import { pull, registryFlags } from '../pull';
import { type Parsed, containerConfig, parseRunArgs, pullPolicy, runtimeFlag } from '../runflags';

/** Labels the user may not set by hand: the supervisor's bookkeeping. */
const RESERVED_LABELS = (): string[] => Object.values(lite().RestartLabel);

function labelsFrom(values: Record<string, unknown>): Record<string, string> {
  const labels = parseLabelArgs((values.label as string[] | undefined) ?? []);
  for (const key of RESERVED_LABELS()) if (key in labels) throw new UsageError(`--label ${key}: reserved (use --restart or -d --rm)`);
  return labels;
}

/** A failure to get the image (pull or --pull never): docker's 125, whatever the message says. */
class ImageError extends Error {}

/** The runner's answer when the image has no record here. */
const imageMissing = (err: unknown): boolean => (err as { reason?: string }).reason === ErrorReason.ImageNotFound;

/** Pulls the image (--pull always, or missing when it is not here); a failure is an ImageError. */
async function pullImage(context: CommandContext, clients: Clients, parsed: Parsed): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { normalizeReference } = require('@ctl/proto/reference') as typeof import('@ctl/proto/reference');
  try {
    // -u is the container's user here, so no credentials: anonymous pulls only.
    const registry = registryFlags({ 'plain-http': parsed.values['plain-http'] }, context.env);
    await pull(context, clients, normalizeReference(parsed.image), {
      snapshotter: parsed.values.snapshotter as string | undefined,
      registry,
    });
  } catch (err) {
    if (err instanceof NotServingError) throw err;
    throw new ImageError((err as Error).message);
  }
}

/**
 * The container, from the image by --pull's policy: pulled first (always); made from the local
 * image, and when there is none pulled (missing, as docker says "Unable to find image …
 * locally") or refused (never). The common case, a local image, costs no extra call.
 */
async function createContainer(
  context: CommandContext,
  a: Clients,
  { parsed, config }: Checked,
  start = false,
  /** Work for the wait while the daemon makes the container (loading what comes next). */
  whileCreating?: () => void,
): Promise<{
  id: string;
  parsed: ReturnType<typeof parseRunArgs>;
  rootfs: import('@ctl/snapshotter/client').Mount[];
  attachSocket: string;
}> {
  const v = parsed.values;
  const policy = pullPolicy(v);
  if (policy === 'always') await pullImage(context, a, parsed);
  const request = {
    id: (v.name as string | undefined) ?? '',
    image: parsed.image,
    config,
    snapshotter: (v.snapshotter as string | undefined) ?? context.env.CTL_SNAPSHOTTER ?? '',
    labels: labelsFrom(v),
    runtime: runtimeFlag(parsed),
    // The task in the same call (and started, for -d): one round trip, not three.
    task: { create: true, stdin: Boolean(v.interactive), terminal: Boolean(v.tty), start, removeIfStartFails: start && Boolean(v.rm) },
  };
  let created;
  try {
    const creating = a.runner.create(request);
    // setImmediate: once the socket's connect has sent the request on its way.
    if (whileCreating) setImmediate(whileCreating);
    created = await creating;
  } catch (err) {
    if (!imageMissing(err) || policy === 'always') throw err;
    const { familiarName, normalizeReference } =
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@ctl/proto/reference') as typeof import('@ctl/proto/reference');
    let name: string;
    try {
      name = familiarName(normalizeReference(parsed.image));
    } catch (bad) {
      throw new ImageError((bad as Error).message);
    }
    if (policy === 'never') throw new ImageError(`No such image: ${name}`);
    context.err(`Unable to find image '${name}' locally\n`);
    await pullImage(context, a, parsed);
    created = await a.runner.create(request);
  }
  for (const w of created.warnings) context.err(`WARNING: ${w}\n`);
  return { id: created.id, parsed, rootfs: created.rootfs, attachSocket: created.attachSocket };
}

/** The options of run/create, parsed and checked once. */
interface Checked {
  parsed: Parsed;
  config: ReturnType<typeof containerConfig>;
}

/** Checks run/create options before anything is made (a UsageError: docker's 125 and its "See" line). */
function checkOptions(argv: string[], context: CommandContext): Checked {
  const parsed = parseRunArgs(argv);
  const config = containerConfig(parsed, context.env);
  pullPolicy(parsed.values);
  labelsFrom(parsed.values);
  return { parsed, config };
}

const RUN_USAGE = `Usage: ctl run [OPTIONS] IMAGE [COMMAND] [ARG...]

Runs a command in a new container (docker run's options):
  -d, --detach             run in the background and print the container id
  -i, --interactive        keep stdin open          -t, --tty  allocate a terminal
  --rm                     remove the container (and its anonymous volumes) when it exits
  --init                   run an init (tini, as /sbin/docker-init) as PID 1: it forwards
                           signals and reaps zombies; the command is its child
  --name NAME              container name (default: a random id)
  -e, --env K=V|K          environment (repeatable)  --env-file FILE
  -w, --workdir DIR        -u, --user USER[:GROUP]   --entrypoint CMD   --hostname NAME
  -v, --volume /host:/ctr[:ro] | NAME:/ctr[:ro] | /ctr (anonymous volume)
  --mount type=bind,source=/host,target=/ctr[,readonly]
  --mount type=volume[,source=NAME],target=/ctr[,readonly][,volume-nocopy]
  --mount type=tmpfs,target=/ctr[,tmpfs-size=64m][,tmpfs-mode=1777]
  --tmpfs /path[:opts]   --read-only
  -m, --memory SIZE  --memory-swap SIZE  --cpus N  -c, --cpu-shares N  --cpuset-cpus LIST
  --cpu-period US  --cpu-quota US  --cpuset-mems LIST
  --pids-limit N  --blkio-weight N  --ulimit NAME=SOFT[:HARD]  --shm-size SIZE
  --storage-opt size=SIZE  the container's writable layer holds at most SIZE (e.g. 20m)
  --device-read-bps PATH:RATE  --device-write-bps PATH:RATE (RATE e.g. 1mb)
  --device-read-iops PATH:N  --device-write-iops PATH:N   (PATH a block device)
  --cap-add CAP  --cap-drop CAP  --privileged  --security-opt seccomp=unconfined|FILE|no-new-privileges
  -l, --label K=V  --stop-signal SIG  --stop-timeout SECONDS
  --network NET            bridge (default), a network of ctl network create (repeatable: eth0, eth1, …),
                           none (loopback only), host, container:NAME
  -p, --publish [IP:][HOST_PORT:]PORT[/tcp|udp]   ranges too (8000-8001:80-81); no HOST_PORT: a free one
  -P, --publish-all  --expose PORT[/PROTO]   every exposed port (the image's and --expose) on a free port
  --ip IP  --ip6 IP  --mac-address MAC  --network-alias NAME   on the first network
  --dns IP  --dns-search DOMAIN  --dns-option OPT  --add-host HOST:IP|host-gateway
  --network-egress-rate RATE  --network-ingress-rate RATE   bandwidth limits (tc units: 1mbit, 500kbit)
  --restart no|on-failure[:N]|always|unless-stopped   restart the container when it exits
                           (the daemon does, with a back-off; not after ctl stop/kill)
  --snapshotter NAME  --runtime runtime-native|runc|crun (default runtime-native)
  --pull missing|always|never   pull the image first: when it is not here (default), always, or never
  --plain-http             pull over HTTP (always so for localhost and 127.0.0.1 registries)

Exit code: the command's; 125 when the engine fails, 126 when the command cannot be run,
127 when it is not found.
`;

const run: Command = {
  summary: 'Run a command in a new container',
  usage: RUN_USAGE,
  helpBeforeImageOnly: true,
  async run(argv, context) {
    const checked = checkOptions(argv, context);
    const { values } = checked.parsed;
    if (!values.detach) checkTty(Boolean(values.interactive), Boolean(values.tty));
    return withClients(context, async (a) => {
      let made;
      try {
        // In the foreground, the codecs of the calls that follow and the attach client load while
        // the daemon makes the container: off the critical path. Detached, nothing follows.
        const foregroundNext = (): void => {
          a.tasks.prepare();
          if (values.rm) a.runner.prepareRemove();
          prepareAttach();
        };
        made = await createContainer(context, a, checked, Boolean(values.detach), values.detach ? undefined : foregroundNext);
      } catch (err) {
        // No daemon answered (nothing was made): withDaemon starts one and runs this again.
        if (err instanceof UsageError || err instanceof NotServingError) throw err;
        context.err(`ctl run: ${(err as Error).message}\n`);
        return err instanceof ImageError ? ENGINE_FAILED : startFailure(err);
      }
      const { id, parsed } = made;
      const v = parsed.values;
      if (v.detach) {
        // started by Create
        context.out(`${id}\n`);
        return 0;
      }
      // Remove deletes the stopped task too (one call), and with it anonymous volumes, as docker's --rm.
      let removing: Promise<void> | undefined;
      const remove = (): Promise<void> =>
        (removing ??= a.runner.remove(id, true, true).catch((err: unknown) => context.err(`ctl run: --rm: ${(err as Error).message}\n`)));
      try {
        return await foreground(context, a.tasks, id, {
          interactive: Boolean(v.interactive),
          tty: Boolean(v.tty),
          socket: made.attachSocket,
          onExit: v.rm ? remove : undefined,
        });
      } finally {
        // Also when the foreground failed (e.g. no attach): --rm leaves nothing behind.
        if (v.rm) await remove();
      }
    });
  },
};

const create: Command = {
  summary: 'Create a container without starting it',
  usage: RUN_USAGE.replace('ctl run', 'ctl create').replace(
    'Runs a command in a new container',
    'Creates a container (start it with ctl start)',
  ),
  helpBeforeImageOnly: true,
  async run(argv, context) {
    const checked = checkOptions(argv, context);
    return withClients(context, async (a) => {
      let id;
      try {
        ({ id } = await createContainer(context, a, checked));
      } catch (err) {
        if (!(err instanceof ImageError)) throw err;
        context.err(`ctl create: ${err.message}\n`);
        return ENGINE_FAILED;
      }
      context.out(`${id}\n`);
      return 0;
    });
  },
};

export const commands: Record<string, Command> = { run, create };
