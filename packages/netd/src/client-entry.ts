/** What a client of netd needs, without the service: the API types and the client. */
export type { AttachRequest, Networks, NewNetwork } from './networks';
export type { Bandwidth, Endpoint, Network, PortMapping, Subnet } from './records';
export { NetworksClient } from './client';
export * from './dns/resolv-conf';
export * from './dns/etc-hosts';
