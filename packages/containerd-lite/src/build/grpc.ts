/**
 * The gRPC adapter of ctl.build.v1.Builder. Build: the first request carries the options, the
 * context's tar stream follows in chunks (to its eof) and is extracted into a private directory
 * under the daemon's tmp root (context.ts: kept for the next build when the client names its
 * context, else removed when the call ends); events go out as the executor sends
 * them, the result last. A client that goes away (Ctrl-C) aborts the build: the running step's
 * task is killed and nothing is tagged. A Dockerfile error is InvalidArgument naming its line.
 */
import {
  type Contracts,
  EngineError,
  ErrorKind,
  type ServiceRegistration,
  finishStream,
  invalidArgument,
  namespaceFromMetadata,
  sendMessage,
  unaryHandler,
} from '@ctl/proto';
import type { BuildEvent } from '@ctl/proto/generated/ctl/build/v1/BuildEvent';
import type { BuildOptions__Output } from '@ctl/proto/generated/ctl/build/v1/BuildOptions';
import type { BuildRequest__Output } from '@ctl/proto/generated/ctl/build/v1/BuildRequest';
import type { PruneRequest__Output } from '@ctl/proto/generated/ctl/build/v1/PruneRequest';
import type * as grpc from '@grpc/grpc-js';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildCache } from './cache';
import { CONTEXT_PREFIX, ContextDirs, extractContext } from './context';
import { DockerfileError } from './dockerfile/model';
import { parseDockerfile } from './dockerfile/parse';
import type { BuildProgress, Executor } from './executor';

/** Contexts a daemon that died mid-build left (nothing is mounted in them). */
export async function removeLeftoverContexts(tmpRoot: string): Promise<void> {
  const names = await readdir(tmpRoot).catch(() => []);
  for (const name of names) if (name.startsWith(CONTEXT_PREFIX)) await rm(join(tmpRoot, name), { recursive: true, force: true });
}

type Call = grpc.ServerDuplexStream<BuildRequest__Output, BuildEvent>;

/** A DockerfileError is the client's mistake: InvalidArgument, its message naming the line. */
const asEngineError = (err: unknown): unknown =>
  err instanceof DockerfileError ? new EngineError(ErrorKind.InvalidArgument, err.message, { cause: err }) : err;

/** The context chunks after the options, to the one with eof. */
async function* contextChunks(requests: AsyncIterator<BuildRequest__Output>): AsyncGenerator<Buffer> {
  for (;;) {
    const next = await requests.next();
    if (next.done) throw invalidArgument('build: the context ended without eof');
    const chunk = next.value.context;
    if (!chunk) throw invalidArgument('build: only context chunks may follow the options');
    if (chunk.data?.length) yield chunk.data;
    if (chunk.eof) return;
  }
}

async function serve(executor: Executor, contexts: ContextDirs, call: Call): Promise<void> {
  const abort = new AbortController();
  call.on('cancelled', () => abort.abort());
  const requests = (call as AsyncIterable<BuildRequest__Output>)[Symbol.asyncIterator]();
  const first = await requests.next();
  const options: BuildOptions__Output | null | undefined = first.done ? undefined : first.value.options;
  if (!options) throw invalidArgument('build: the first request must carry the options');
  const ns = namespaceFromMetadata(call.metadata);
  let sending = Promise.resolve();
  const send = (event: BuildEvent): void => {
    sending = sending.then(() => (call.cancelled || call.destroyed ? undefined : sendMessage(call, event)));
  };
  const emit = (event: BuildProgress): void => {
    if (!options.quiet) send(event);
  };
  const dockerfile = parseDockerfile(options.dockerfile);
  // Namespaces do not share context directories (nor would it matter: what is kept is only reused as the tar says).
  const context = await contexts.open(options.contextKey && !options.noContext ? `${ns}/${options.contextKey}` : '');
  let whole = false;
  try {
    const started = process.hrtime.bigint();
    emit({ started: { id: 'context', name: 'load build context', stage: '', line: 0 } });
    const chunks = contextChunks(requests);
    if (options.noContext) for await (const _ of chunks);
    else context.bytes = (await extractContext(chunks, context.dir, {}, { digests: context.digests, reuse: context.reused })).bytes;
    whole = true;
    emit({ done: { id: 'context', cached: false, durationNs: Number(process.hrtime.bigint() - started), error: '' } });
    const result = await executor.build(
      ns,
      {
        dockerfile,
        dockerfileName: options.dockerfileName || 'Dockerfile',
        contextDir: context.dir,
        contextDigests: context.digests,
        tags: options.tags,
        buildArgs: options.buildArgs,
        target: options.target,
        noCache: options.noCache,
        pull: options.pull,
        platform: options.platform,
        labels: options.labels,
        network: options.network,
        limits: { resources: options.resources, rlimits: options.ulimits, shmSizeBytes: options.shmSizeBytes },
        snapshotter: options.snapshotter,
        output: options.output,
      },
      emit,
      abort.signal,
    );
    send({ result: { imageId: result.imageId, manifestDigest: result.manifestDigest, names: result.names } });
    await sending;
  } finally {
    await contexts.close(context, whole);
  }
}

export function builderRegistration(contracts: Contracts, executor: Executor, cache: BuildCache, tmpRoot: string): ServiceRegistration {
  const contexts = new ContextDirs(tmpRoot);
  return {
    definition: contracts.ctl.build.v1.Builder.service,
    implementation: {
      Build: (call: Call) =>
        finishStream(
          call,
          serve(executor, contexts, call).catch((err: unknown) => Promise.reject(asEngineError(err))),
        ),
      Prune: unaryHandler(async (req: PruneRequest__Output, call) => {
        const keepDurationMs = req.all ? 0 : Math.max(0, req.keepDurationSeconds) * 1000;
        const pruned = await cache.prune(namespaceFromMetadata(call.metadata), { all: req.all, keepDurationMs });
        // The contexts kept for the next build go too (they are rebuilt from the next tar).
        await contexts.prune(keepDurationMs);
        return { removed: pruned.removed, reclaimableBytes: pruned.reclaimableBytes };
      }),
      ListCache: unaryHandler(async (_req: unknown, call) => ({
        records: (await cache.list(namespaceFromMetadata(call.metadata))).map((r) => ({
          key: r.key,
          description: r.description,
          manifestDigest: r.manifest.digest,
          size: r.size,
          createdAtNs: r.createdAt.getTime() * 1e6,
          lastUsedAtNs: r.lastUsedAt.getTime() * 1e6,
        })),
      })),
    },
  };
}
