/**
 * The CNI result cache, as libcni keeps one: per attachment, the list exactly as ADD ran it,
 * the runtime values it was given and the final result, so that DEL and CHECK run the same
 * plugins with the same prevResult after a netd restart, even when the network's conflist has
 * changed since. An entry is written before the first plugin runs (without a result), so an ADD
 * cut short by a crash is still known and can be undone.
 *
 * Layout: `<root>/cni/results/<network id>/<container id>-<ifname>.json`, one JSON file each,
 * written atomically.
 */
import { ensureDir, writeJsonAtomic } from '@ctl/proto/fsutil';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfList } from './cni-config';

export interface CacheEntry {
  networkId: string;
  networkName: string;
  containerId: string;
  ifName: string;
  netns: string;
  config: ConfList;
  runtimeConfig: Record<string, unknown>;
  args: string;
  /** The final ADD result; absent while ADD runs, or when it was cut short. */
  result?: unknown;
}

export class ResultCache {
  private readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'cni', 'results');
  }

  private networkDir(networkId: string): string {
    return join(this.dir, encodeURIComponent(networkId));
  }

  private file(networkId: string, containerId: string, ifName: string): string {
    return join(this.networkDir(networkId), `${containerId}-${ifName}.json`);
  }

  read(networkId: string, containerId: string, ifName: string): CacheEntry | undefined {
    return readEntry(this.file(networkId, containerId, ifName));
  }

  write(entry: CacheEntry): void {
    ensureDir(this.networkDir(entry.networkId), 0o700);
    writeJsonAtomic(this.file(entry.networkId, entry.containerId, entry.ifName), entry);
  }

  remove(networkId: string, containerId: string, ifName: string): void {
    rmSync(this.file(networkId, containerId, ifName), { force: true });
  }

  list(networkId: string): CacheEntry[] {
    const dir = this.networkDir(networkId);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    return names.flatMap((name) => (name.endsWith('.json') ? (readEntry(join(dir, name)) ?? []) : []));
  }

  removeNetwork(networkId: string): void {
    rmSync(this.networkDir(networkId), { recursive: true, force: true });
  }
}

function readEntry(file: string): CacheEntry | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as CacheEntry;
}
