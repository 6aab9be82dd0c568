/** The gRPC adapter of ctl.system.v1.System: Check answers the problems system/check.ts finds. */
import { type Contracts, type ServiceRegistration, unaryHandler } from '@ctl/proto';
import type { CheckResponse } from '@ctl/proto/generated/ctl/system/v1/CheckResponse';
import type { Problem } from './check';

export function systemRegistration(contracts: Contracts, check: () => Promise<Problem[]>): ServiceRegistration {
  return {
    definition: contracts.ctl.system.v1.System.service,
    implementation: {
      Check: unaryHandler(async (): Promise<CheckResponse> => ({ problems: await check() })),
    },
  };
}
