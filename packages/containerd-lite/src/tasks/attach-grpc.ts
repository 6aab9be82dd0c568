/**
 * ctl.attach.v1.Attach: a task's (or an exec's) stdio as one bidirectional gRPC stream, bridged
 * from the shim's attach socket (Docker's multiplexed framing) in the daemon, for clients that
 * are not on this host. The first request names the process; output chunks follow as the shim
 * sends them, and the exit status last.
 */
import {
  type Contracts,
  type ServiceRegistration,
  failedPrecondition,
  finishStream,
  invalidArgument,
  namespaceFromMetadata,
} from '@ctl/proto';
import type { AttachRequest__Output } from '@ctl/proto/generated/ctl/attach/v1/AttachRequest';
import type { AttachResponse } from '@ctl/proto/generated/ctl/attach/v1/AttachResponse';
import { hasExited } from '@ctl/proto/task-status';
import { Attachment } from '@ctl/runtime-native';
import type * as grpc from '@grpc/grpc-js';
import { exitToWire } from './convert';
import type { TaskManager } from './manager';

type Call = grpc.ServerDuplexStream<AttachRequest__Output, AttachResponse>;

/** How long the last output may take to arrive after the exit (the shim closes the socket once sent). */
const DRAIN_MS = 500;

export function attachRegistration(contracts: Contracts, manager: TaskManager): ServiceRegistration {
  return {
    definition: contracts.ctl.attach.v1.Attach.service,
    implementation: {
      Attach: (call: Call) => finishStream(call, serve(manager, call)),
    },
  };
}

async function serve(manager: TaskManager, call: Call): Promise<void> {
  // Requests are queued from the first one on: stdin may follow start before we are attached.
  const queued: AttachRequest__Output[] = [];
  let deliver: ((r: AttachRequest__Output) => void) | undefined;
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  let first: (r: AttachRequest__Output | undefined) => void = () => undefined;
  const firstRequest = new Promise<AttachRequest__Output | undefined>((resolve) => (first = resolve));
  let gotFirst = false;
  call.on('data', (r: AttachRequest__Output) => {
    if (!gotFirst) {
      gotFirst = true;
      first(r);
    } else if (deliver) deliver(r);
    else queued.push(r);
  });
  call.on('end', () => first(undefined));
  const gone = new Promise<void>((resolve) => {
    call.on('cancelled', resolve);
    call.on('close', resolve);
  });

  const head = await Promise.race([firstRequest, gone]);
  const start = head?.request === 'start' ? head.start : undefined;
  if (call.cancelled) return;
  if (!start) throw invalidArgument('attach: the first request must be start');
  const { containerId, execId, stdin, stdout, stderr } = start;
  if (!containerId) throw invalidArgument('attach: start.container_id is required');
  const ns = namespaceFromMetadata(call.metadata);
  const tasks = manager.namespace(ns);
  const state = await tasks.get(containerId, execId);
  const name = execId ? `exec "${execId}" in task "${containerId}"` : `task "${containerId}"`;
  if (stdin && !state.stdin) throw failedPrecondition(`attach: ${name} has no stdin (create it with one)`);
  if (execId && state.status === 'CREATED')
    throw failedPrecondition(`attach: ${name} is not started yet (its shim keeps the first output for the first client)`);
  const exited = tasks.wait(containerId, execId);
  // A process that has exited (and whose shim has left) only has its exit to give.
  const attachment = hasExited(state.status)
    ? undefined
    : await Attachment.connect(manager.attachPath(ns, containerId, execId)).catch(() => undefined);
  const closed = attachment ? new Promise<void>((resolve) => attachment.once('close', resolve)) : Promise.resolve();
  try {
    if (stdout) attachment?.on('stdout', (chunk: Buffer) => call.write({ stdout: chunk }));
    if (stderr) attachment?.on('stderr', (chunk: Buffer) => call.write({ stderr: chunk }));
    // By the oneof's name: decoded with defaults, the fields not sent are there too (empty).
    deliver = (r) => {
      switch (r.request) {
        case 'start':
          fail(invalidArgument('attach: start may only be the first request'));
          break;
        case 'stdin':
          if (!stdin) fail(failedPrecondition('attach: stdin was not asked for in start'));
          else if (r.stdin?.length) attachment?.write(r.stdin);
          break;
        case 'resize':
          // A resize that cannot be done (no terminal, already gone) is not worth ending the stream for.
          if (r.resize) void tasks.resizePty(containerId, execId, r.resize.width, r.resize.height).catch(() => undefined);
          break;
        case 'closeStdin':
          // after what was written before it: the shim takes it before closing
          if (stdin && r.closeStdin)
            void (attachment?.flushed() ?? Promise.resolve()).then(() => tasks.closeIO(containerId, execId)).catch(() => undefined);
          break;
        default:
          break;
      }
    };
    for (const r of queued.splice(0)) deliver(r);
    const exit = await Promise.race([exited, gone.then(() => undefined), failed]);
    if (!exit) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, DRAIN_MS)))]);
    clearTimeout(timer);
    if (!call.cancelled) call.write({ exit: { exitStatus: exit.exitStatus, exitedAt: exitToWire(exit).exitedAt } });
  } finally {
    attachment?.close();
  }
}
