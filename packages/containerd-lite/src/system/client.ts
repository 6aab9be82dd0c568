/** ctl.system.v1 over the light wire client. */
import { type WireClient, wireMethod } from '@ctl/proto/wire';
import type { CheckResponse__Output } from '@ctl/proto/generated/ctl/system/v1/CheckResponse';
import type { Problem } from './check';

const check = () => wireMethod<object, CheckResponse__Output>('ctl/system/v1/system', 'ctl.system.v1.System', 'Check');

export class SystemClient {
  constructor(private readonly wire: WireClient) {}

  /** What is inconsistent in the engine; empty when nothing is. */
  async check(): Promise<Problem[]> {
    return (await this.wire.unary(check(), {})).problems ?? [];
  }
}
