/**
 * COPY's modes (src/build/copy.ts): a copied file keeps its source's mode past the umask and
 * past the chown that clears set-id bits, with and without --chown; --chmod wins.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyInto } from '../src/build/copy';
import { TempDirs } from './build-helpers';

describe('COPY modes', () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  it('keeps every mode bit of the source, set-id bits after --chown too, and --chmod over all', async () => {
    const base = temp.make();
    const ctx = join(base, 'ctx');
    mkdirSync(join(ctx, 'src'), { recursive: true });
    const modes = [0o777, 0o666, 0o4755, 0o2750, 0o1777, 0o600, 0o000];
    for (const m of modes) {
      const file = join(ctx, 'src', m.toString(8));
      writeFileSync(file, 'x');
      chmodSync(file, m);
    }
    const previous = process.umask(0o077);
    try {
      for (const [dest, extra] of [
        ['plain', {}],
        ['chowned', { chown: { uid: 1000, gid: 1000 } }],
        ['chmodded', { chmod: 0o640 }],
      ] as const) {
        const rootfs = join(base, dest);
        mkdirSync(rootfs);
        await copyInto({ sourceRoot: ctx, sourceKind: 'context', sources: ['src/'], rootfs, dest: '/out/', add: false, ...extra });
        for (const m of modes) {
          const st = lstatSync(join(rootfs, 'out', m.toString(8)));
          assert.equal((st.mode & 0o7777).toString(8), ('chmod' in extra ? 0o640 : m).toString(8), `${dest} ${m.toString(8)}`);
        }
      }
    } finally {
      process.umask(previous);
    }
  });
});
