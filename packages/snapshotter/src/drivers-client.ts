/**
 * ctl.snapshotter.v1 over the light wire client: Drivers (which driver a snapshotter name
 * reaches) and System (what the drivers' roots hold that no snapshot accounts for).
 */
import { type WireClient, wireMethod } from '@ctl/proto/wire';
import type { Leftover } from './snapshotter';

export class DriversClient {
  constructor(private readonly wire: WireClient) {}

  /**
   * The loaded driver's own name for a request's snapshotter name ("" and "ctl": the default;
   * "ctl-<driver>": the driver). InvalidArgument when it reaches no loaded driver.
   */
  async resolve(name: string): Promise<string> {
    // Looked up per call, not at import: the CLI imports this entry and loads codecs only for what it speaks.
    const method = wireMethod<{ name: string }, { driver: string }>(
      'ctl/snapshotter/v1/snapshotter',
      'ctl.snapshotter.v1.Drivers',
      'Resolve',
    );
    return (await this.wire.unary(method, { name })).driver;
  }
}

export class SnapshotterSystemClient {
  constructor(private readonly wire: WireClient) {}

  /** Mounts and loop devices under the drivers' roots that no snapshot holds, each with its driver's name. */
  async check(): Promise<(Leftover & { driver: string })[]> {
    const method = wireMethod<object, { leftovers: (Leftover & { driver: string })[] }>(
      'ctl/snapshotter/v1/snapshotter',
      'ctl.snapshotter.v1.System',
      'Check',
    );
    return (await this.wire.unary(method, {})).leftovers ?? [];
  }
}
