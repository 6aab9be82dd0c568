/** The gRPC adapter of the task manager (containerd.services.tasks.v1.Tasks). */
import { type Contracts, type ServiceRegistration, invalidArgument, namespaceFromMetadata, notImplemented, unaryHandler } from '@ctl/proto';
import type { CloseIORequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/CloseIORequest';
import type { CreateTaskRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/CreateTaskRequest';
import type { DeleteProcessRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/DeleteProcessRequest';
import type { DeleteTaskRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/DeleteTaskRequest';
import type { ExecProcessRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/ExecProcessRequest';
import type { GetRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/GetRequest';
import type { KillRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/KillRequest';
import type { ListPidsRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/ListPidsRequest';
import type { ListTasksRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/ListTasksRequest';
import type { MetricsRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/MetricsRequest';
import type { PauseTaskRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/PauseTaskRequest';
import type { ResizePtyRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/ResizePtyRequest';
import type { ResumeTaskRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/ResumeTaskRequest';
import type { StartRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/StartRequest';
import type { UpdateTaskRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/UpdateTaskRequest';
import type { WaitRequest__Output } from '@ctl/proto/generated/containerd/services/tasks/v1/WaitRequest';
import { mountFromWire } from '@ctl/runtime-native/mount';
import type * as grpc from '@grpc/grpc-js';
import { exitToWire, jsonFromAny, metricToWire, processToWire } from './convert';
import type { TaskManager } from './manager';
import type { Tasks } from './tasks';

/** Metrics filters: "id==<container id>" (or a bare id) select tasks; none selects all. */
function idsFromFilters(filters: string[]): string[] {
  return filters
    .flatMap((f) => f.split(','))
    .map((f) =>
      f
        .trim()
        .replace(/^id==/, '')
        .replace(/^"(.*)"$/, '$1'),
    )
    .filter(Boolean);
}

export function tasksRegistration(contracts: Contracts, manager: TaskManager): ServiceRegistration {
  const tasksOf = (call: { metadata: grpc.Metadata }): Tasks => manager.namespace(namespaceFromMetadata(call.metadata));
  const need = (id: string): string => {
    if (!id) throw invalidArgument('container_id is required');
    return id;
  };
  return {
    definition: contracts.containerd.services.tasks.v1.Tasks.service,
    implementation: {
      Create: unaryHandler(async (req: CreateTaskRequest__Output, call) => {
        if (req.checkpoint?.digest) throw notImplemented('create from a checkpoint is not supported');
        const p = await tasksOf(call).create(need(req.containerId), {
          rootfs: req.rootfs.map(mountFromWire),
          stdin: req.stdin,
          stdout: req.stdout,
          stderr: req.stderr,
          terminal: req.terminal,
        });
        return { containerId: p.containerId, pid: p.pid };
      }),
      Start: unaryHandler(async (req: StartRequest__Output, call) => tasksOf(call).start(need(req.containerId), req.execId)),
      Delete: unaryHandler(async (req: DeleteTaskRequest__Output, call) => exitToWire(await tasksOf(call).delete(need(req.containerId)))),
      DeleteProcess: unaryHandler(async (req: DeleteProcessRequest__Output, call) => {
        if (!req.execId) throw invalidArgument('exec_id is required');
        return exitToWire(await tasksOf(call).deleteProcess(need(req.containerId), req.execId));
      }),
      Get: unaryHandler(async (req: GetRequest__Output, call) => ({
        process: processToWire(await tasksOf(call).get(need(req.containerId), req.execId)),
      })),
      List: unaryHandler(async (_req: ListTasksRequest__Output, call) => ({ tasks: (await tasksOf(call).list()).map(processToWire) })),
      Kill: unaryHandler(async (req: KillRequest__Output, call) => {
        await tasksOf(call).kill(need(req.containerId), req.signal || 15, { execId: req.execId, all: req.all });
        return {};
      }),
      Exec: unaryHandler(async (req: ExecProcessRequest__Output, call) => {
        if (!req.execId) throw invalidArgument('exec_id is required');
        const spec = jsonFromAny(req.spec, `exec "${req.execId}" spec`);
        await tasksOf(call).exec(need(req.containerId), {
          execId: req.execId,
          spec,
          stdin: req.stdin,
          stdout: req.stdout,
          stderr: req.stderr,
          terminal: req.terminal,
        });
        return {};
      }),
      ResizePty: unaryHandler(async (req: ResizePtyRequest__Output, call) => {
        await tasksOf(call).resizePty(need(req.containerId), req.execId, req.width, req.height);
        return {};
      }),
      CloseIO: unaryHandler(async (req: CloseIORequest__Output, call) => {
        if (req.stdin) await tasksOf(call).closeIO(need(req.containerId), req.execId);
        return {};
      }),
      Pause: unaryHandler(async (req: PauseTaskRequest__Output, call) => {
        await tasksOf(call).pause(need(req.containerId));
        return {};
      }),
      Resume: unaryHandler(async (req: ResumeTaskRequest__Output, call) => {
        await tasksOf(call).resume(need(req.containerId));
        return {};
      }),
      ListPids: unaryHandler(async (req: ListPidsRequest__Output, call) => ({
        processes: (await tasksOf(call).pids(need(req.containerId))).map((pid) => ({ pid })),
      })),
      Checkpoint: unaryHandler(async () => {
        throw notImplemented('checkpoint is not supported');
      }),
      Update: unaryHandler(async (req: UpdateTaskRequest__Output, call) => {
        await tasksOf(call).update(need(req.containerId), jsonFromAny(req.resources, 'update resources'));
        return {};
      }),
      Metrics: unaryHandler(async (req: MetricsRequest__Output, call) => ({
        metrics: (await tasksOf(call).metrics(idsFromFilters(req.filters))).map(metricToWire),
      })),
      Wait: unaryHandler(async (req: WaitRequest__Output, call) => {
        const e = await tasksOf(call).wait(need(req.containerId), req.execId);
        return { exitStatus: e.exitStatus, exitedAt: exitToWire(e).exitedAt };
      }),
    },
  };
}
