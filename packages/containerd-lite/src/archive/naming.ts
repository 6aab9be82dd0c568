/** Naming the images of an archive's top-level index (see import.ts, "Naming"), and recording them. */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import type { Images } from '../images/images';
import { Annotation, type Descriptor } from '../oci';
import { isReference, normalizeReference } from '@ctl/proto/reference';
import { type Progress } from './common';

/**
 * The name an archive's top-level entry is recorded under, normalised (rt/x:1 → docker.io/rt/x:1)
 * as every command normalises the names it is given, so that each finds the image again; an entry
 * whose name is not a reference is skipped with a note.
 */
export function imageName(entry: Descriptor, baseName: string | undefined, progress: Progress): string | undefined {
  const skip = (why: string): undefined => {
    progress({ event: 'image', name: entry.digest, current: 0, total: 0, message: `skipped ${entry.digest}: ${why}` });
    return undefined;
  };
  const normalized = (name: string): string | undefined =>
    isReference(name) ? normalizeReference(name) : skip(`"${name}" is not an image reference`);
  const annotations = entry.annotations ?? {};
  const full = annotations[Annotation.imageName];
  if (full) return normalized(full);
  const ref = annotations[Annotation.refName];
  if (ref) {
    if (/[/:@]/.test(ref) && isReference(ref)) return normalizeReference(ref);
    if (baseName) return normalized(`${baseName}:${ref}`);
    return skip(`ref name "${ref}" is only a tag and no base name was given`);
  }
  if (baseName) return normalized(`${baseName}@${entry.digest}`);
  return skip('the archive gives it no name (use a base name to name it by digest)');
}

/** Points the image record name at target, making it when there is none (a race with another maker is fine). */
export async function recordImage(images: Images, name: string, target: Descriptor): Promise<void> {
  try {
    await images.update({ name, target }, ['target']);
  } catch (err) {
    if (!isKind(err, ErrorKind.NotFound)) throw err;
    try {
      await images.create({ name, target });
    } catch (err2) {
      if (!isKind(err2, ErrorKind.AlreadyExists)) throw err2;
      await images.update({ name, target }, ['target']);
    }
  }
}
