/** Naming the images of an archive's top-level index (see import.ts, "Naming"), and recording them. */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import type { Images } from '../images/images';
import { Annotation, type Descriptor } from '../oci';
import { isReference, normalizeReference } from '@ctl/proto/reference';
import { type Progress } from './common';

export function imageName(entry: Descriptor, baseName: string | undefined, progress: Progress): string | undefined {
  const annotations = entry.annotations ?? {};
  const full = annotations[Annotation.imageName];
  if (full) return full;
  const ref = annotations[Annotation.refName];
  if (ref) {
    if (/[/:@]/.test(ref) && isReference(ref)) return normalizeReference(ref);
    if (baseName) {
      const combined = `${baseName}:${ref}`;
      return isReference(combined) ? normalizeReference(combined) : combined;
    }
    progress({
      event: 'image',
      name: entry.digest,
      current: 0,
      total: 0,
      message: `skipped ${entry.digest}: ref name "${ref}" is only a tag and no base name was given`,
    });
    return undefined;
  }
  if (baseName) {
    const byDigest = `${baseName}@${entry.digest}`;
    return isReference(byDigest) ? normalizeReference(byDigest) : byDigest;
  }
  progress({
    event: 'image',
    name: entry.digest,
    current: 0,
    total: 0,
    message: `skipped ${entry.digest}: the archive gives it no name (use a base name to name it by digest)`,
  });
  return undefined;
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
