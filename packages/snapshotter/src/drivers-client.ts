/** ctl.snapshotter.v1.Drivers over the light wire client: which driver a snapshotter name reaches. */
import { type WireClient, wireMethod } from '@ctl/proto/wire';

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
