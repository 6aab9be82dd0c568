/**
 * `ctl system check`'s networking part: the netns files under `<state>/netns/<ns>/<id>` and netd's
 * endpoints (ListEndpoints) against the container records and their tasks. A stopped container
 * without its netns is no problem (its next start makes it again, run/network.ts restore); a
 * running one is.
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from './check';

export interface NetworkInventory {
  /** The netns files, by namespace and container id. */
  netnsFiles: { namespace: string; id: string; path: string }[];
  /** The containers on networks (their record says so). */
  containers: { namespace: string; id: string; networks: number; running: boolean; netnsLive: boolean }[];
  /** netd's endpoints of every namespace asked; undefined when netd did not answer (netdError says why). */
  endpoints?: { namespace: string; containerId: string; network: string }[];
  netdError?: string;
  /** netd's socket did not answer (an instance without netd, unless its containers need one). */
  netdUnavailable?: boolean;
}

export interface NetworkCheckDeps {
  netnsDir: string;
  namespaces(): Promise<string[]>;
  /** The ids of a namespace's containers, and for those on networks how many networks and whether their task runs. */
  containers(ns: string): Promise<{ id: string; networks: number; running: boolean }[]>;
  endpoints(ns: string): Promise<{ containerId: string; network: string }[]>;
  isLiveNetns(file: string): boolean;
}

const listDir = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

export async function networkInventory(deps: NetworkCheckDeps): Promise<NetworkInventory> {
  const netnsFiles = listDir(deps.netnsDir).flatMap((namespace) =>
    listDir(join(deps.netnsDir, namespace)).map((id) => ({ namespace, id, path: join(deps.netnsDir, namespace, id) })),
  );
  const namespaces = [...new Set([...(await deps.namespaces()), ...netnsFiles.map((f) => f.namespace)])];
  const inv: NetworkInventory = { netnsFiles, containers: [] };
  for (const namespace of namespaces) {
    const containers = await deps.containers(namespace).catch(() => []);
    for (const c of containers) {
      const path = join(deps.netnsDir, namespace, c.id);
      inv.containers.push({ namespace, ...c, netnsLive: c.networks > 0 && deps.isLiveNetns(path) });
    }
  }
  try {
    const endpoints: NonNullable<NetworkInventory['endpoints']> = [];
    for (const namespace of namespaces) {
      for (const e of await deps.endpoints(namespace)) endpoints.push({ namespace, containerId: e.containerId, network: e.network });
    }
    inv.endpoints = endpoints;
  } catch (err) {
    inv.netdUnavailable = isKind(err, ErrorKind.Unavailable);
    inv.netdError = inv.netdUnavailable ? 'netd did not answer' : (err as Error).message;
  }
  return inv;
}

export function findNetworkProblems(inv: NetworkInventory): Problem[] {
  const problems: Problem[] = [];
  const key = (namespace: string, id: string) => `${namespace}\0${id}`;
  const containers = new Map(inv.containers.map((c) => [key(c.namespace, c.id), c]));
  for (const f of inv.netnsFiles) {
    if (!containers.get(key(f.namespace, f.id))?.networks)
      problems.push({ kind: 'netns', namespace: f.namespace, subject: f.path, detail: 'network namespace file that no container holds' });
  }
  const endpointCount = new Map<string, number>();
  for (const e of inv.endpoints ?? []) {
    const k = key(e.namespace, e.containerId);
    endpointCount.set(k, (endpointCount.get(k) ?? 0) + 1);
    if (!containers.has(k))
      problems.push({
        kind: 'endpoint',
        namespace: e.namespace,
        subject: e.containerId,
        detail: `netd endpoint on ${e.network} of no container`,
      });
  }
  for (const c of inv.containers) {
    if (!c.networks || !c.running) continue;
    if (!c.netnsLive)
      problems.push({ kind: 'netns', namespace: c.namespace, subject: c.id, detail: 'its network namespace is gone while its task runs' });
    else if (inv.endpoints && (endpointCount.get(key(c.namespace, c.id)) ?? 0) < c.networks)
      problems.push({ kind: 'endpoint', namespace: c.namespace, subject: c.id, detail: 'netd lost an endpoint of it while its task runs' });
  }
  const needed = !inv.netdUnavailable || inv.netnsFiles.length > 0 || inv.containers.some((c) => c.networks > 0);
  if (inv.netdError && needed)
    problems.push({ kind: 'netd', namespace: '', subject: 'ListEndpoints', detail: `${inv.netdError}; endpoints were not checked` });
  return problems;
}
