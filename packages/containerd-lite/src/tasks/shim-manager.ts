/**
 * Starting shims (containerd's runtime v2 shim manager): the OCI runtime that runs a namespace's
 * containers (ctl-runtime, or runc/crun when the container names them), the launch of an init's
 * shim and of an exec's.
 */
import { failedPrecondition } from '@ctl/proto/errors';
import { validateNamespace } from '@ctl/proto/namespace';
import { Runtime, type Spec, runtimeChoice } from '@ctl/runtime-native';
import * as fs from 'node:fs';
import { type TaskDirs, readExecJson } from './bundle';
import type { ShimProcess, Stdio } from './process';

export interface ShimBinaries {
  /** ctl-runtime / ctl-shim binaries (default: runtime-native's); runc and crun are found in PATH */
  runtimeBinary?: string;
  shimBinary?: string;
}

export class ShimManager {
  private readonly runtimes = new Map<string, Runtime>();

  constructor(
    private readonly dirs: TaskDirs,
    private readonly binaries: ShimBinaries,
  ) {}

  /**
   * The runtime of a namespace's containers that name `name` (a runc options' binary_name; ""
   * for ctl-runtime); FailedPrecondition when it is unknown or not installed.
   */
  runtime(ns: string, name: string): Runtime {
    const key = `${validateNamespace(ns)}\0${name}`;
    let r = this.runtimes.get(key);
    if (!r) {
      let choice;
      try {
        choice = runtimeChoice(name);
      } catch (err) {
        throw failedPrecondition(`runtime of the container: ${(err as Error).message}`);
      }
      const native = choice.flavor === 'native';
      const root = this.dirs.runtimeRoot(ns, choice.name, native);
      fs.mkdirSync(root, { recursive: true, mode: 0o700 });
      r = new Runtime({
        root,
        runtimeBinary: native ? (this.binaries.runtimeBinary ?? choice.binary) : choice.binary,
        shimBinary: this.binaries.shimBinary,
        flavor: choice.flavor,
      });
      this.runtimes.set(key, r);
    }
    return r;
  }

  /** Starts the init's shim (the runtime's create: the init then waits for start); returns the init's pid. */
  async startInit(runtime: Runtime, id: string, bundle: string, stdio: Stdio, log: string): Promise<number> {
    const { pid } = await runtime.createWithShim(id, bundle, { tty: stdio.terminal, stdin: stdio.stdin !== '', attach: true, log });
    return pid;
  }

  /** Runs an exec (its exec.json) in a shim of its own; returns its pid. */
  async startExec(runtime: Runtime, id: string, p: ShimProcess): Promise<number> {
    const { spec } = readExecJson(p.dir);
    const tty = p.stdio.terminal;
    const { pid } = await runtime.execWithShim(id, { ...spec, terminal: tty } as unknown as Spec['process'] & object, p.dir, {
      stdin: p.stdio.stdin !== '',
      attach: true,
      tty,
    });
    return pid;
  }
}
