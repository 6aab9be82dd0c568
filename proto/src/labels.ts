/**
 * Labels as containerd treats them on every object (namespaces, snapshots, images, …): string
 * pairs with a size bound, changed through field masks.
 */
import { invalidArgument } from './errors';

/** containerd's bound on one label, key and value together. */
export const MAX_LABEL_BYTES = 4096;

export function validateLabels(labels: Record<string, string>, maxTotalBytes = Infinity): Record<string, string> {
  let total = 0;
  for (const [key, value] of Object.entries(labels)) {
    if (!key) throw invalidArgument('label key must not be empty');
    const size = Buffer.byteLength(key) + Buffer.byteLength(value);
    if (size > MAX_LABEL_BYTES) throw invalidArgument(`label "${key.slice(0, 64)}" is longer than ${MAX_LABEL_BYTES} bytes with its value`);
    total += size;
  }
  if (total > maxTotalBytes) throw invalidArgument(`labels total ${total} bytes, more than ${maxTotalBytes}`);
  return { ...labels };
}

/**
 * The labels after an update: with no paths all labels are replaced; "labels" replaces all,
 * "labels.<key>" sets one (an empty value removes it). Any other path is InvalidArgument, since
 * only labels change after creation. `what` names the object for messages.
 */
export function applyLabelUpdate(
  current: Record<string, string>,
  given: Record<string, string> | undefined,
  paths: readonly string[],
  what: string,
): Record<string, string> {
  if (paths.length === 0) return { ...(given ?? {}) };
  let labels = { ...current };
  for (const path of paths) {
    if (path === 'labels') {
      labels = { ...(given ?? {}) };
    } else if (path.startsWith('labels.')) {
      const key = path.slice('labels.'.length);
      const value = given?.[key];
      if (value) labels[key] = value;
      else delete labels[key];
    } else {
      throw invalidArgument(`cannot update field "${path}" of ${what}: only labels can change`);
    }
  }
  return labels;
}
