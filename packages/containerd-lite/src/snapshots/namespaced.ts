/**
 * containerd's Snapshots service on containerd-lite's socket, as containerd serves it on its own:
 * a namespace's view of the snapshotter, where a client's key `k` is the backend snapshot
 * `<ns>/k` (the names the runner, unpack and GC use: gc/mark.ts snapshotName). ctr's
 * `containers rm` removes a container's snapshot there, and `snapshots ls|info|rm` work on it.
 */
import { invalidArgument } from '@ctl/proto/errors';
import { type Cleaner, type Info, type Mount, type Snapshotter, type Usage, infoFilter } from '@ctl/snapshotter/client';
import { snapshotName } from '../gc/mark';

export class NamespacedSnapshotter implements Snapshotter, Cleaner {
  private readonly prefix: string;

  constructor(
    private readonly backend: Snapshotter & Cleaner,
    namespace: string,
  ) {
    this.prefix = snapshotName(namespace, '');
  }

  private name(key: string): string {
    if (!key) throw invalidArgument('snapshot key must not be empty');
    return this.prefix + key;
  }

  private parent(parent: string): string {
    return parent ? this.prefix + parent : '';
  }

  /** The backend's Info as the namespace sees it; undefined for another namespace's snapshot. */
  private local(info: Info): Info | undefined {
    if (!info.name.startsWith(this.prefix)) return undefined;
    const parent = info.parent.startsWith(this.prefix) ? info.parent.slice(this.prefix.length) : info.parent;
    return { ...info, name: info.name.slice(this.prefix.length), parent };
  }

  private localOrThrow(info: Info): Info {
    const local = this.local(info);
    if (!local) throw new Error(`snapshot ${info.name} is outside namespace ${this.prefix.slice(0, -1)}`);
    return local;
  }

  async stat(key: string): Promise<Info> {
    return this.localOrThrow(await this.backend.stat(this.name(key)));
  }

  async update(info: Pick<Info, 'name' | 'labels'>, fieldpaths?: string[]): Promise<Info> {
    return this.localOrThrow(await this.backend.update({ ...info, name: this.name(info.name) }, fieldpaths));
  }

  usage(key: string): Promise<Usage> {
    return this.backend.usage(this.name(key));
  }

  mounts(key: string): Promise<Mount[]> {
    return this.backend.mounts(this.name(key));
  }

  prepare(key: string, parent: string, labels?: Record<string, string>): Promise<Mount[]> {
    return this.backend.prepare(this.name(key), this.parent(parent), labels);
  }

  view(key: string, parent: string, labels?: Record<string, string>): Promise<Mount[]> {
    return this.backend.view(this.name(key), this.parent(parent), labels);
  }

  commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    return this.backend.commit(this.name(name), this.name(key), labels);
  }

  remove(key: string): Promise<void> {
    return this.backend.remove(this.name(key));
  }

  async walk(fn: (info: Info) => void | Promise<void>, filters: string[] = []): Promise<void> {
    // The backend's filters would see the backend's names, so the namespace's are matched here.
    const matches = infoFilter(filters);
    const found: Info[] = [];
    await this.backend.walk((info) => {
      const local = this.local(info);
      if (local && matches(local)) found.push(local);
    });
    for (const info of found) await fn(info);
  }

  cleanup(): Promise<void> {
    return this.backend.cleanup();
  }
}
