/**
 * The content digests the context's extraction takes on the way (src/build/untar.ts), and
 * COPY's cache key (copy.ts's hashSources) made from them instead of reading the files again:
 * the same key as from reading, and a file that no longer matches what was extracted is read.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FileDigests, extractContext } from '../src/build/context';
import { hashSources } from '../src/build/copy';
import { TempDirs, chunks, tarOf } from './build-helpers';

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');

describe('build context digests', () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  async function extracted(): Promise<{ ctx: string; digests: FileDigests }> {
    const ctx = join(temp.make(), 'ctx');
    const digests: FileDigests = new Map();
    const archive = await tarOf([
      { name: 'app/' },
      { name: 'app/main.sh', data: '#!/bin/sh\necho main\n', mode: 0o755 },
      { name: 'app/lib/util.sh', data: 'util() { :; }\n' },
      { name: 'app/empty', data: '' },
      { name: 'app/link', type: 'symlink', linkname: 'main.sh' },
      { name: 'app/again', type: 'link', linkname: 'app/main.sh' },
      // A name given twice: the second file is the one that stays, with its digest.
      { name: 'twice', data: 'first' },
      { name: 'twice', data: 'second, longer' },
    ]);
    await extractContext(chunks(archive, 300), ctx, {}, digests);
    return { ctx, digests };
  }

  it('records each regular file by inode with the digest of what was written', async () => {
    const { ctx, digests } = await extracted();
    const digestOf = (path: string) => digests.get(lstatSync(join(ctx, path)).ino)?.digest;
    assert.equal(digestOf('app/main.sh'), sha256('#!/bin/sh\necho main\n'));
    assert.equal(digestOf('app/again'), sha256('#!/bin/sh\necho main\n'), 'a hard link shares its inode, and its digest');
    assert.equal(digestOf('app/lib/util.sh'), sha256('util() { :; }\n'));
    assert.equal(digestOf('app/empty'), sha256(''));
    assert.equal(digestOf('twice'), sha256('second, longer'));
    const st = lstatSync(join(ctx, 'app/main.sh'));
    assert.deepEqual(digests.get(st.ino), { digest: sha256('#!/bin/sh\necho main\n'), size: st.size, mtimeMs: st.mtimeMs });
  });

  it('gives COPY the same cache key as reading the files would', async () => {
    const { ctx, digests } = await extracted();
    for (const sources of [['app'], ['app/*.sh', 'twice'], ['.']]) {
      const request = { sourceRoot: ctx, sourceKind: 'context' as const, sources, add: false };
      assert.equal(await hashSources({ ...request, knownDigests: digests }), await hashSources(request), sources.join(' '));
    }
  });

  it('reads a file that no longer matches what was extracted', async () => {
    const { ctx, digests } = await extracted();
    const request = { sourceRoot: ctx, sourceKind: 'context' as const, sources: ['app'], add: false };
    const before = await hashSources({ ...request, knownDigests: digests });
    writeFileSync(join(ctx, 'app/lib/util.sh'), 'util() { echo changed; }\n');
    const after = await hashSources({ ...request, knownDigests: digests });
    assert.notEqual(after, before);
    assert.equal(after, await hashSources(request));
  });
});
