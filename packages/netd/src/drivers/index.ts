/**
 * Network drivers by name, as the snapshotter's are: "bridge" here; others (the CNI driver) add
 * a line to FACTORIES. A driver is made once per service, with what the service shares with it.
 */
import type { Logger } from '@ctl/proto';
import type { NetworkDriver } from '../driver';
import type { Ipam } from '../ipam';
import { BridgeDriver } from './bridge';

export interface DriverContext {
  /** The instance's name for what it makes on the host: its nftables table, its links' mark ("ctl", "ctl-<12 hex>"). */
  instance: string;
  /** Addresses in netd's database, for drivers that do their own IPAM. */
  ipam: Ipam;
  /** netd's directory under the instance root, for drivers that keep files (a CNI result cache). */
  root: string;
  logger: Logger;
}

export type DriverFactory = (context: DriverContext) => NetworkDriver;

const FACTORIES: Record<string, DriverFactory> = {
  bridge: (context) => new BridgeDriver(context),
};

export const driverNames = (): string[] => Object.keys(FACTORIES);

export function createDrivers(context: DriverContext): Map<string, NetworkDriver> {
  return new Map(Object.entries(FACTORIES).map(([name, factory]) => [name, factory(context)]));
}
