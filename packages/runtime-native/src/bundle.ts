/** A bundle on disk: config.json (written atomically) next to, or pointing at, a rootfs. */
import { writeJsonAtomic } from '@ctl/proto/fsutil';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Spec } from './spec/types';
import { validateSpec } from './spec/validate';

export function writeBundle(dir: string, spec: Spec): string {
  validateSpec(spec);
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  const file = path.join(dir, 'config.json');
  writeJsonAtomic(file, spec, { indent: 2 });
  return file;
}
