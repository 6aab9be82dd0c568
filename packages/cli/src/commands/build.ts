/**
 * `ctl build [OPTIONS] PATH|-`: docker build on the daemon's ctl.build.v1 Builder. This side reads
 * the Dockerfile, walks the context with .dockerignore and streams it as a tar, and draws the
 * progress the daemon sends (stderr); stdout carries only the image id, with -q.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { UsageError } from '../args';
import type { Command, CommandContext } from '../command';
import { withClients } from '../clients';
import { buildInput } from '../build-input';
import { type BuildFlags, parseBuildArgs } from '../buildflags';
import { makeProgress, progressMode } from '../build-progress';

type BuildOptions = import('@ctl/containerd-lite/client').BuildOptions;

/** The exit code of a build stopped by Ctrl-C, as a shell reports a command that SIGINT ended. */
const INTERRUPTED = 130;

const USAGE = `Usage: ctl build [OPTIONS] PATH | -

Build an image from a Dockerfile. PATH is the context, a directory whose files (less what its
.dockerignore leaves out) COPY and ADD can use; "-" reads stdin: a Dockerfile (no context) or a
tar context (plain or gzip). Progress goes to stderr; -q prints only the image id on stdout.

Options:
  -t, --tag NAME[:TAG]          name the image (repeatable)
  -f, --file FILE               the Dockerfile (default PATH/Dockerfile; relative to the current
                                directory; may be outside the context; "-": stdin)
      --build-arg KEY=VALUE     set a build argument (repeatable; KEY alone: its value here)
      --target STAGE            build this stage (default: the last)
      --no-cache                run every step again
      --pull                    pull base images from their registry again, even when present
      --platform OS/ARCH[/V]    the platform to build for (default: the daemon's)
      --label KEY=VALUE         set image labels (repeatable)
      --network none|host|default   RUN steps' network (default: the engine's default network)
      --progress auto|plain|tty|quiet   how progress shows (auto: tty on a terminal, else plain;
                                env BUILDKIT_PROGRESS)
  -q, --quiet                   no progress; print the image id
      --iidfile FILE            write the image id to FILE
  -o, --output type=oci|docker,dest=FILE   also write the image as an archive ("-": stdout)
      --output type=image       the image store alone (the default)
                                with any type: compression=gzip|zstd|uncompressed, the layers
                                the build makes (default gzip; base images' layers are kept as
                                they are, also with force-compression=true); a docker archive
                                holds its layers uncompressed, as docker's format has them
      --snapshotter NAME        where steps run (env CTL_SNAPSHOTTER)

Limits of every RUN step's container (as ctl run takes them; a step beyond --memory is killed
and fails the build):
  -m, --memory SIZE             memory limit (e.g. 256m)
      --memory-swap SIZE        memory plus swap (--memory-swap=-1: unlimited swap)
  -c, --cpu-shares N            CPU weight, relative
      --cpu-period US           CFS period in microseconds    --cpu-quota US   CPU time per period
      --cpuset-cpus LIST        CPUs the steps may use (0-2,4)  --cpuset-mems LIST   memory nodes
      --shm-size SIZE           /dev/shm's size (default 64m)
      --ulimit NAME=SOFT[:HARD] a resource limit (repeatable), e.g. nofile=1024:2048
`;

/** An archive the daemon writes to a private temporary file, moved into place (or to stdout) once the build succeeded. */
interface ArchiveOutput {
  daemonDest: string;
  finish(): Promise<void>;
  discard(): Promise<void>;
}

async function archiveOutput(flags: BuildFlags): Promise<ArchiveOutput | undefined> {
  if (!flags.output || flags.output.type === 'image') return undefined;
  const { dest } = flags.output;
  const toStdout = dest === '-';
  // Beside the destination, so that the move is a rename on one file system.
  const dir = await mkdtemp(join(toStdout ? tmpdir() : dirname(resolve(dest)), '.ctl-build-'));
  const daemonDest = join(dir, 'image.tar');
  const discard = (): Promise<void> => rm(dir, { recursive: true, force: true });
  return {
    daemonDest,
    discard,
    async finish() {
      try {
        if (toStdout) await pipeline(createReadStream(daemonDest), process.stdout, { end: false });
        else await rename(daemonDest, resolve(dest));
      } finally {
        await discard();
      }
    },
  };
}

export function buildOptionsOf(
  flags: BuildFlags,
  dockerfile: string,
  dockerfileName: string,
  noContext: boolean,
  dest: string,
): BuildOptions {
  return {
    dockerfile,
    dockerfileName,
    tags: flags.tags,
    buildArgs: flags.buildArgs,
    target: flags.target,
    noCache: flags.noCache,
    pull: flags.pull,
    platform: flags.platform,
    labels: flags.labels,
    network: flags.network,
    ...flags.limits,
    snapshotter: flags.snapshotter,
    output: flags.output
      ? {
          type: flags.output.type,
          dest: flags.output.type === 'image' ? '' : dest,
          compression: flags.output.compression,
          forceCompression: flags.output.forceCompression,
        }
      : { type: '', dest: '', compression: '', forceCompression: false },
    // Log events come even with -q: a failing step's last lines are shown whatever the mode.
    quiet: false,
    noContext,
  };
}

async function build(args: string[], context: CommandContext): Promise<number> {
  const flags = parseBuildArgs(args, context.env);
  if (flags.quiet && flags.output?.dest === '-') throw new UsageError('-q and -o dest=- would both write to stdout');
  const mode = flags.quiet ? 'quiet' : progressMode(flags.progress === 'auto' ? undefined : flags.progress, process.stderr, context.env);
  // As docker: a stale id must not survive a build that fails.
  if (flags.iidfile) await rm(resolve(flags.iidfile), { force: true });
  const input = await buildInput(flags.path, {
    file: flags.file,
    stdin: process.stdin,
    cwd: process.cwd(),
    onSkip: (path, why) => context.err(`warning: ${path} is ${why}: not sent with the context\n`),
  });
  let output: ArchiveOutput | undefined;
  const controller = new AbortController();
  const onInterrupt = (): void => {
    // A second Ctrl-C does not wait for the daemon to finish cancelling.
    if (controller.signal.aborted) process.exit(INTERRUPTED);
    controller.abort();
  };
  process.on('SIGINT', onInterrupt);
  const progress = makeProgress(mode, process.stderr);
  let result: { imageId: string; names: string[] } | undefined;
  try {
    output = await archiveOutput(flags);
    const options = {
      ...buildOptionsOf(flags, input.dockerfile, input.dockerfileName, !input.context, output?.daemonDest ?? ''),
      contextKey: input.contextKey,
    };
    await withClients(context, async ({ builder }) => {
      for await (const e of builder.build(options, input.context, { signal: controller.signal })) {
        if (e.event === 'result') result = { imageId: e.result!.imageId, names: e.result!.names };
        else progress.event(e);
      }
    });
    if (!result) throw new EngineError(ErrorKind.Internal, 'the daemon ended the build without a result');
  } catch (err) {
    await output?.discard();
    const cancelled = controller.signal.aborted;
    progress.finish({ error: err as Error, cancelled });
    if (cancelled) {
      context.err('ctl build: cancelled\n');
      return INTERRUPTED;
    }
    if (err instanceof EngineError && err.kind === ErrorKind.NotImplemented)
      throw new Error(`the daemon does not build images (no ctl.build.v1 Builder): ${err.message}`);
    throw err;
  } finally {
    process.off('SIGINT', onInterrupt);
    await input.cleanup();
  }
  progress.finish({ imageId: result.imageId, names: result.names });
  await output?.finish();
  if (flags.iidfile) await writeFile(resolve(flags.iidfile), result.imageId);
  if (flags.quiet) context.out(`${result.imageId}\n`);
  return 0;
}

export const commands: Record<'build', Command> = {
  build: { summary: 'Build an image from a Dockerfile', usage: USAGE, run: build },
};
