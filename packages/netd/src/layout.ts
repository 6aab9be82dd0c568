/**
 * Key layout of the netd's metadata database (LevelDB, JSON values).
 *
 *   meta/schema-version                        number     the schema this store is written in
 *   network/<id>                               Network    a network (records.ts); names are unique, ids never change
 *   endpoint/<namespace>/<container>/<net id>  Endpoint   a container's connection to a network (schema 2)
 *   ipam/<net id>/<address>                    Owner      an address taken on a network (schema 2)
 *
 * Networks are global, as Docker's are; endpoints belong to a containerd namespace. Namespaces,
 * container ids and network ids never contain '/', so every segment is unambiguous. An endpoint
 * names its network by id, not by name: a network removed and made again under the same name is
 * a different network. Allocations are written before the host is touched and belong to their
 * endpoint; one whose endpoint never got written (a crash mid-attach) is released at start.
 *
 * Schema 1: the versioned empty store. Schema 2: networks, endpoints and allocations (nothing
 * to move: schema 1 held none).
 */
import type { SchemaDefinition } from '@ctl/proto';

export const NETWORK_PREFIX = 'network/';
export const networkKey = (id: string): string => `${NETWORK_PREFIX}${id}`;

export const ENDPOINT_PREFIX = 'endpoint/';
export const endpointKey = (namespace: string, containerId: string, networkId: string): string =>
  `${ENDPOINT_PREFIX}${namespace}/${containerId}/${networkId}`;

export const IPAM_PREFIX = 'ipam/';
export const ipamPrefix = (networkId: string): string => `${IPAM_PREFIX}${networkId}/`;
export const ipamKey = (networkId: string, address: string): string => `${ipamPrefix(networkId)}${address}`;

/** The bounds of a LevelDB range holding every key that starts with prefix. */
export const under = (prefix: string): { gt: string; lt: string } => ({ gt: prefix, lt: `${prefix}\xff` });

export const SCHEMA: SchemaDefinition = {
  version: 2,
  migrations: [
    { version: 1, describe: 'versioned empty store', migrate: async () => undefined },
    { version: 2, describe: 'networks, endpoints and IPAM allocations', migrate: async () => undefined },
  ],
};
