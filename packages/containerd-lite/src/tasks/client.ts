/**
 * The tasks API over the light wire client, for the command line; a caller cannot tell it from
 * the local manager. Output and stdin do not go through gRPC: the CLI reads the log file and
 * connects to the shim's attach socket directly (their paths: ctl.run.v1 Inspect, TaskManager.locate).
 */
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import { type WireExit, type WireMetric, type WireProcess, exitFromWire, jsonToAny, metricFromWire, processFromWire } from './convert';
import {
  type CreateTaskOptions,
  type ExecOptions,
  type ExitResult,
  type KillOptions,
  type Metric,
  PROCESS_TYPE_URL,
  type ProcessState,
  RESOURCES_TYPE_URL,
  type Tasks,
} from './tasks';

const FILE = 'containerd/services/tasks/v1/tasks';
const SERVICE = 'containerd.services.tasks.v1.Tasks';
const method = <Req, Res>(name: string) => wireMethod<Req, Res>(FILE, SERVICE, name);

export class TasksClient extends NamespacedClient implements Tasks {
  private call<Res>(name: string, request: object): Promise<Res> {
    return this.wire.unary(method<object, Res>(name), request, this.options);
  }

  async create(containerId: string, o: CreateTaskOptions = {}): Promise<ProcessState> {
    const res = await this.call<{ containerId: string; pid: number }>('Create', {
      containerId,
      rootfs: (o.rootfs ?? []).map((m) => ({ type: m.type, source: m.source, target: m.target ?? '', options: m.options })),
      stdin: o.stdin ?? '',
      stdout: o.stdout ?? '',
      stderr: o.stderr ?? '',
      terminal: !!o.terminal,
    });
    return {
      containerId,
      id: '',
      pid: res.pid,
      status: 'CREATED',
      stdin: o.stdin ?? '',
      stdout: o.stdout ?? '',
      stderr: o.stderr ?? '',
      terminal: !!o.terminal,
      exitStatus: 0,
    };
  }

  /** Loads the codecs of Start and Wait now, for a caller with time to spare before them (ctl run, while Runner.Create runs). */
  prepare(): void {
    method('Start');
    method('Wait');
  }

  async start(containerId: string, execId = ''): Promise<{ pid: number }> {
    const res = await this.call<{ pid: number }>('Start', { containerId, execId });
    return { pid: res.pid };
  }

  async delete(containerId: string): Promise<ExitResult> {
    return exitFromWire(await this.call<WireExit>('Delete', { containerId }), containerId);
  }

  async deleteProcess(containerId: string, execId: string): Promise<ExitResult> {
    return exitFromWire(await this.call<WireExit>('DeleteProcess', { containerId, execId }), execId);
  }

  async get(containerId: string, execId = ''): Promise<ProcessState> {
    return processFromWire((await this.call<{ process: WireProcess }>('Get', { containerId, execId })).process);
  }

  async list(): Promise<ProcessState[]> {
    return (await this.call<{ tasks: WireProcess[] }>('List', {})).tasks.map(processFromWire);
  }

  async kill(containerId: string, signal: number, o: KillOptions = {}): Promise<void> {
    await this.call('Kill', { containerId, execId: o.execId ?? '', signal, all: !!o.all });
  }

  async exec(containerId: string, o: ExecOptions): Promise<void> {
    await this.call('Exec', {
      containerId,
      execId: o.execId,
      spec: jsonToAny(PROCESS_TYPE_URL, o.spec),
      stdin: o.stdin ?? '',
      stdout: o.stdout ?? '',
      stderr: o.stderr ?? '',
      terminal: !!o.terminal,
    });
  }

  async resizePty(containerId: string, execId: string, width: number, height: number): Promise<void> {
    await this.call('ResizePty', { containerId, execId, width, height });
  }

  async closeIO(containerId: string, execId = ''): Promise<void> {
    await this.call('CloseIO', { containerId, execId, stdin: true });
  }

  async pause(containerId: string): Promise<void> {
    await this.call('Pause', { containerId });
  }

  async resume(containerId: string): Promise<void> {
    await this.call('Resume', { containerId });
  }

  async pids(containerId: string): Promise<number[]> {
    return (await this.call<{ processes: Array<{ pid: number }> }>('ListPids', { containerId })).processes.map((p) => p.pid);
  }

  async update(containerId: string, resources: Record<string, unknown>): Promise<void> {
    await this.call('Update', { containerId, resources: jsonToAny(RESOURCES_TYPE_URL, resources) });
  }

  async metrics(containerIds: string[] = []): Promise<Metric[]> {
    return (await this.call<{ metrics: WireMetric[] }>('Metrics', { filters: containerIds.map((id) => `id==${id}`) })).metrics.map(
      metricFromWire,
    );
  }

  async wait(containerId: string, execId = '', signal?: AbortSignal): Promise<ExitResult> {
    const res = await this.wire.unary(method<object, WireExit>('Wait'), { containerId, execId }, { ...this.options, signal });
    return exitFromWire(res, execId || containerId);
  }
}
