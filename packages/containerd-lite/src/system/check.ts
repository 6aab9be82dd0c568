/**
 * `ctl system check`: what the records promise against what is there. A pure walk over an
 * inventory taken under the collector's shared lock (so no collection moves things meanwhile):
 * every image's blobs and unpacked snapshots, every content record's blob on disk, every
 * snapshot's parent, every container's snapshot. The task manager adds what it knows of the
 * host (shims, mounts) as problems of its own (tasks/leftovers.ts).
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { Label } from '../oci';
import type { GcRoot } from '../gc/gc';
import type { ContentEntry, ImageEntry, SnapshotEntry } from '../gc/mark';
import { snapshotName } from '../gc/mark';

export interface Problem {
  /** What kind of thing is wrong: blob, content, snapshot, parent, container, shim, mount, task. */
  kind: string;
  namespace: string;
  /** What it is about: an image name, a digest, a snapshot name, a container id, a path. */
  subject: string;
  detail: string;
}

export interface Inventory {
  content: ContentEntry[];
  blobPresent: (digest: string) => boolean;
  images: ImageEntry[];
  /** Snapshots of every snapshotter that answered. */
  snapshots: SnapshotEntry[];
  /** Snapshotters that did not answer: their snapshots are not judged. */
  unreachable: string[];
  /** What containers hold (their snapshots). */
  containerRoots: GcRoot[];
}

/**
 * The snapshotter's own leftovers (ctl.snapshotter.v1 System.Check: mounts and loop devices
 * under its drivers' roots that no snapshot holds) as problems; one of kind snapshotter when
 * the check fails. None when the snapshotter has no such check (not ours) or does not answer
 * (the inventory says so already).
 */
export async function snapshotterProblems(
  check: () => Promise<{ kind: string; driver: string; subject: string; detail: string }[]>,
): Promise<Problem[]> {
  try {
    return (await check()).map((l): Problem => ({ kind: l.kind, namespace: '', subject: l.subject, detail: `${l.driver}: ${l.detail}` }));
  } catch (err) {
    if (isKind(err, ErrorKind.NotImplemented) || isKind(err, ErrorKind.Unavailable)) return [];
    return [{ kind: 'snapshotter', namespace: '', subject: 'System.Check', detail: (err as Error).message }];
  }
}

export function findDataProblems(inv: Inventory): Problem[] {
  const problems: Problem[] = [];
  const records = new Map(inv.content.map((c) => [`${c.namespace}\0${c.digest}`, c]));
  const snapshots = new Set(inv.snapshots.map((s) => `${s.snapshotter}\0${s.name}`));
  const judged = (snapshotter: string) => !inv.unreachable.includes(snapshotter);
  const hasSnapshot = (snapshotter: string, name: string) => !judged(snapshotter) || snapshots.has(`${snapshotter}\0${name}`);

  for (const c of inv.content) {
    if (!inv.blobPresent(c.digest))
      problems.push({ kind: 'blob', namespace: c.namespace, subject: c.digest, detail: 'content record without its blob' });
  }

  for (const image of inv.images) {
    const seen = new Set<string>();
    const visit = (digest: string, from: string): void => {
      if (seen.has(digest)) return;
      seen.add(digest);
      const record = records.get(`${image.namespace}\0${digest}`);
      if (!record) {
        problems.push({
          kind: 'content',
          namespace: image.namespace,
          subject: image.name,
          detail: `${from} needs ${digest}, which is not in content`,
        });
        return;
      }
      for (const [label, value] of Object.entries(record.labels)) {
        if (label.startsWith(Label.gcRefContent)) visit(value, digest);
        else if (label.startsWith(Label.gcRefSnapshot)) {
          const snapshotter = label.slice(Label.gcRefSnapshot.length);
          if (!hasSnapshot(snapshotter, snapshotName(image.namespace, value))) {
            problems.push({
              kind: 'snapshot',
              namespace: image.namespace,
              subject: image.name,
              detail: `${digest} is unpacked as ${snapshotter} snapshot ${value}, which does not exist`,
            });
          }
        }
      }
    };
    visit(image.target, 'the image record');
  }

  for (const s of inv.snapshots) {
    if (s.parent && !snapshots.has(`${s.snapshotter}\0${s.parent}`)) {
      problems.push({
        kind: 'parent',
        namespace: s.namespace ?? '',
        subject: s.name,
        detail: `${s.snapshotter} parent ${s.parent} does not exist`,
      });
    }
  }

  for (const root of inv.containerRoots) {
    if (root.type !== 'snapshot' || hasSnapshot(root.snapshotter, snapshotName(root.namespace, root.key))) continue;
    problems.push({
      kind: 'container',
      namespace: root.namespace,
      subject: root.key,
      detail: `its ${root.snapshotter} snapshot does not exist`,
    });
  }
  for (const name of inv.unreachable) {
    problems.push({ kind: 'snapshotter', namespace: '', subject: name, detail: 'did not answer; its snapshots were not checked' });
  }
  return problems;
}
