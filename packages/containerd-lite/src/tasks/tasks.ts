/**
 * Tasks (containerd.services.tasks.v1) of one namespace: a task is what runs for a container —
 * its init process, held by a per-container shim, plus the processes exec'd into it. The
 * container (metadata, OCI spec, snapshot) must exist first; a task is keyed by its container id.
 *
 * Lifecycle of the init process (exec processes follow the same states):
 *
 *   create  → CREATED   namespaces made, rootfs mounted, the init waits before exec
 *   start   → RUNNING   the user's process runs (pause ⇄ resume: PAUSED)
 *   exit    → STOPPED   the shim recorded the exit status; wait resolves
 *   delete  → gone      only when STOPPED or CREATED (FailedPrecondition while running)
 *
 * wait may be called at any point after create (also before start) and resolves on exit.
 * Output of every task goes to a log file (JSON lines {time, stream, log}) that outlives the
 * task; a client can attach to the shim's socket for live output and stdin.
 */
import type { Mount } from '@ctl/runtime-native/mount';
import type { TaskStatus } from '@ctl/proto/task-status';

/** containerd's task status enum, and which verbs each status allows: see '@ctl/proto/task-status'. */
export type { TaskStatus };

/** A task's init (id "") or one of its exec processes. */
export interface ProcessState {
  containerId: string;
  /** exec id; "" for the init process */
  id: string;
  pid: number;
  status: TaskStatus;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  /** valid when STOPPED: the exit code, or 128 + signal for a process killed by a signal */
  exitStatus: number;
  exitedAt?: Date;
}

export interface ExitResult {
  /** the container id for the init, else the exec id */
  id: string;
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

export interface CreateTaskOptions {
  /** Mounts that make the root filesystem (a snapshot's mounts), mounted on <bundle>/rootfs. */
  rootfs?: Mount[];
  /**
   * containerd's stdio FIFOs (absolute paths, made by the client): the daemon copies the shim's
   * output into stdout/stderr and stdin into the process. Any non-empty stdin gives the process
   * a stdin on its attach socket; a non-absolute value (e.g. "attach") asks for only that.
   */
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
}

export interface ExecOptions {
  execId: string;
  /** The OCI process (config.json's "process") to run; with terminal, its stdio is a pty (ResizePty with the exec id). */
  spec: Record<string, unknown>;
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
}

export interface KillOptions {
  execId?: string;
  /** signal every process of the container, not only the init */
  all?: boolean;
}

export interface Metric {
  id: string;
  timestamp: Date;
  /** the runtime's stats (`ctl-runtime events --stats`: cgroup counters as JSON) */
  data: Record<string, unknown>;
}

/**
 * Where a task's (or an exec's) files are on the daemon's host, and how it ended: what a local
 * client needs beyond the Tasks API (ctl.run.v1 Inspect).
 */
export interface TaskLocation {
  /** the shim's attach socket: docker's multiplexed output, and stdin when the process has one */
  attachSocket: string;
  /** the init's log (kept until the container's removal), or the exec's own */
  logPath: string;
  /** the task's root filesystem; "" without a task */
  rootfs: string;
  /** the OOM killer ended the process */
  oomKilled: boolean;
}

/** The Tasks API of one namespace; the local manager and the wire client both implement it. */
export interface Tasks {
  /** NotFound when the container does not exist; AlreadyExists when it has a task. */
  create(containerId: string, options?: CreateTaskOptions): Promise<ProcessState>;
  /** Starts the init, or the exec created by exec(); returns its pid. */
  start(containerId: string, execId?: string): Promise<{ pid: number }>;
  /** FailedPrecondition while running or paused. Unmounts the rootfs, removes the bundle. */
  delete(containerId: string): Promise<ExitResult>;
  deleteProcess(containerId: string, execId: string): Promise<ExitResult>;
  get(containerId: string, execId?: string): Promise<ProcessState>;
  list(): Promise<ProcessState[]>;
  /** NotFound when the process has already exited. */
  kill(containerId: string, signal: number, options?: KillOptions): Promise<void>;
  /** Adds an exec process (CREATED); start(containerId, execId) runs it. */
  exec(containerId: string, options: ExecOptions): Promise<void>;
  /** Sets the terminal size of a task (or exec) created with terminal; FailedPrecondition without one. */
  resizePty(containerId: string, execId: string, width: number, height: number): Promise<void>;
  /** Closes the process's stdin (EOF for the process). */
  closeIO(containerId: string, execId?: string): Promise<void>;
  pause(containerId: string): Promise<void>;
  resume(containerId: string): Promise<void>;
  pids(containerId: string): Promise<number[]>;
  /** resources: OCI LinuxResources */
  update(containerId: string, resources: Record<string, unknown>): Promise<void>;
  /** Metrics of the given containers' tasks (all when none are given). */
  metrics(containerIds?: string[]): Promise<Metric[]>;
  /** Resolves when the process exits (at once when it has); a client's wait ends Canceled when signal aborts. */
  wait(containerId: string, execId?: string, signal?: AbortSignal): Promise<ExitResult>;
}

/** The type URL of Metric.data: the JSON of the runtime's stats. */
export const STATS_TYPE_URL = 'types.ctl.dev/runtime-native/stats+json';
/** containerd's type URL for an OCI process spec (Exec) and resources (Update) carried as JSON. */
export const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
export const RESOURCES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
