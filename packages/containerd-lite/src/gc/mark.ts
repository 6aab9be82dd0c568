/**
 * The mark phase of garbage collection, on plain data: what is reachable from the roots.
 * No I/O, so it is tested on hand-made graphs (cycles, missing referents, expired leases).
 *
 * Nodes are content records (namespace + digest), ingests (namespace + ref) and snapshots
 * (snapshotter + backend name, "<namespace>/<key>" for those containerd-lite made).
 *
 * Roots:
 * - every image's target (content in the image's namespace);
 * - every resource of a lease that has not expired (`containerd.io/gc.expire`, RFC 3339, in
 *   the past: expired). A lease labelled `containerd.io/gc.flat` holds its resources only,
 *   not what they reference;
 * - content and snapshots labelled `containerd.io/gc.root`;
 * - snapshots that are not containerd-lite's (so their parents stay), and extra roots given by
 *   the caller (containers, later).
 *
 * References (always within the namespace of the referrer):
 * - content label `containerd.io/gc.ref.content[.<anything>]` = digest;
 * - content label `containerd.io/gc.ref.snapshot.<snapshotter>` = snapshot key (no namespace);
 * - snapshot label `containerd.io/gc.ref.content[.<anything>]` = digest;
 * - a snapshot's parent.
 * A reference to something that does not exist is marked and otherwise ignored.
 */
import { Label } from '../oci';

export const contentNode = (namespace: string, digest: string): string => `content\0${namespace}\0${digest}`;
export const ingestNode = (namespace: string, ref: string): string => `ingest\0${namespace}\0${ref}`;
export const snapshotNode = (snapshotter: string, name: string): string => `snapshot\0${snapshotter}\0${name}`;

/** The backend name containerd-lite gives the snapshot `key` of a namespace. */
export const snapshotName = (namespace: string, key: string): string => `${namespace}/${key}`;

/** The namespace of a backend snapshot name if containerd-lite made it ("<ns>/<key>", key without '/'). */
export function snapshotNamespace(name: string, namespaces: ReadonlySet<string>): string | undefined {
  const slash = name.indexOf('/');
  if (slash <= 0 || slash === name.length - 1 || name.indexOf('/', slash + 1) !== -1) return undefined;
  const ns = name.slice(0, slash);
  return namespaces.has(ns) ? ns : undefined;
}

export const GC_FLAT_LABEL = 'containerd.io/gc.flat';
const GC_REF_CONTENT = Label.gcRefContent.slice(0, -1);

export interface ContentEntry {
  namespace: string;
  digest: string;
  labels: Record<string, string>;
}

export interface ImageEntry {
  namespace: string;
  name: string;
  /** The target's digest. */
  target: string;
}

export interface LeaseResource {
  type: string;
  id: string;
}

export interface LeaseEntry {
  namespace: string;
  id: string;
  labels: Record<string, string>;
  resources: LeaseResource[];
}

export interface SnapshotEntry {
  snapshotter: string;
  /** Backend name. */
  name: string;
  /** Backend name of the parent, "" for none. */
  parent: string;
  labels: Record<string, string>;
  /** The namespace when containerd-lite made it; undefined: not ours (never collected). */
  namespace?: string;
}

export interface GcState {
  now: Date;
  content: ContentEntry[];
  images: ImageEntry[];
  leases: LeaseEntry[];
  snapshots: SnapshotEntry[];
  /** Further root nodes (contentNode/ingestNode/snapshotNode), e.g. containers' snapshots. */
  roots?: Iterable<string>;
}

export interface MarkResult {
  /** Every node reachable from a root (including referents that do not exist). */
  marked: Set<string>;
  /** Leases whose `containerd.io/gc.expire` has passed: they hold nothing and go. */
  expired: LeaseEntry[];
}

/** Whether a lease's expiry label says it has expired at `now` (an unreadable date never expires). */
export function leaseExpired(labels: Record<string, string>, now: Date): boolean {
  const value = labels[Label.gcExpire];
  if (!value) return false;
  const at = Date.parse(value);
  return !Number.isNaN(at) && at <= now.getTime();
}

/** The node a lease resource stands for; undefined for a type GC does not know. */
export function resourceNode(namespace: string, resource: LeaseResource): string | undefined {
  if (resource.type === 'content') return contentNode(namespace, resource.id);
  if (resource.type === 'ingests') return ingestNode(namespace, resource.id);
  if (resource.type.startsWith('snapshots/'))
    return snapshotNode(resource.type.slice('snapshots/'.length), snapshotName(namespace, resource.id));
  return undefined;
}

function contentRefs(namespace: string, labels: Record<string, string>, out: string[], withSnapshots: boolean): void {
  for (const [key, value] of Object.entries(labels)) {
    if (!value) continue;
    if (key === GC_REF_CONTENT || key.startsWith(Label.gcRefContent)) out.push(contentNode(namespace, value));
    else if (withSnapshots && key.startsWith(Label.gcRefSnapshot) && key.length > Label.gcRefSnapshot.length) {
      out.push(snapshotNode(key.slice(Label.gcRefSnapshot.length), snapshotName(namespace, value)));
    }
  }
}

export function mark(state: GcState): MarkResult {
  const content = new Map(state.content.map((c) => [contentNode(c.namespace, c.digest), c]));
  const snapshots = new Map(state.snapshots.map((s) => [snapshotNode(s.snapshotter, s.name), s]));

  const refs = (node: string): string[] => {
    const out: string[] = [];
    const c = content.get(node);
    if (c) contentRefs(c.namespace, c.labels, out, true);
    const s = snapshots.get(node);
    if (s) {
      if (s.parent) out.push(snapshotNode(s.snapshotter, s.parent));
      if (s.namespace !== undefined) contentRefs(s.namespace, s.labels, out, false);
    }
    return out;
  };

  const roots: string[] = [...(state.roots ?? [])];
  const flat: string[] = [];
  const expired: LeaseEntry[] = [];
  for (const image of state.images) roots.push(contentNode(image.namespace, image.target));
  for (const lease of state.leases) {
    if (leaseExpired(lease.labels, state.now)) {
      expired.push(lease);
      continue;
    }
    const target = lease.labels[GC_FLAT_LABEL] ? flat : roots;
    for (const resource of lease.resources) {
      const node = resourceNode(lease.namespace, resource);
      if (node) target.push(node);
    }
  }
  for (const c of state.content) if (c.labels[Label.gcRoot]) roots.push(contentNode(c.namespace, c.digest));
  for (const s of state.snapshots) if (s.namespace === undefined || s.labels[Label.gcRoot]) roots.push(snapshotNode(s.snapshotter, s.name));

  const marked = new Set<string>();
  const stack = roots;
  while (stack.length) {
    const node = stack.pop()!;
    if (marked.has(node)) continue;
    marked.add(node);
    for (const next of refs(node)) if (!marked.has(next)) stack.push(next);
  }
  for (const node of flat) marked.add(node);
  return { marked, expired };
}

/**
 * The order to remove snapshots in: children before their parents, so that no Remove meets a
 * snapshot that still has children among those removed.
 */
export function removalOrder(remove: SnapshotEntry[]): SnapshotEntry[] {
  const names = new Set(remove.map((s) => s.name));
  const children = new Map<string, number>();
  for (const s of remove) if (s.parent && names.has(s.parent)) children.set(s.parent, (children.get(s.parent) ?? 0) + 1);
  const byName = new Map(remove.map((s) => [s.name, s]));
  const ready = remove.filter((s) => !children.get(s.name));
  const out: SnapshotEntry[] = [];
  while (ready.length) {
    const s = ready.pop()!;
    out.push(s);
    if (s.parent && byName.has(s.parent)) {
      const left = children.get(s.parent)! - 1;
      children.set(s.parent, left);
      if (left === 0) ready.push(byName.get(s.parent)!);
    }
  }
  return out;
}
