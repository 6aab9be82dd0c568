/** A bundle on disk: config.json (written atomically) next to, or pointing at, a rootfs. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Spec } from './spec/types';
import { validateSpec } from './spec/validate';

export function writeBundle(dir: string, spec: Spec): string {
  validateSpec(spec);
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  const file = path.join(dir, 'config.json');
  const tmp = `${file}.tmp${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(spec, null, 2));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return file;
}
