/**
 * What makes a rebuild's context cheap (src/build/context.ts, untar.ts): the content digests
 * the extraction takes on the way, COPY's cache key made from them instead of reading the files
 * again, and a context extracted over the one of the last build (reuse), which must leave
 * exactly what extracting into an empty directory leaves, refuse what that refuses, and write
 * only what changed.
 */
import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContextDirs, type FileDigests, extractContext } from '../src/build/context';
import { hashSources } from '../src/build/copy';
import { untar } from '../src/build/untar';
import { type Entry, TempDirs, chunks, tarOf } from './build-helpers';

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const LATER = new Date('2022-05-06T07:08:09Z');

/** Everything extraction decides about a tree, inode numbers as classes (which names share one). */
function snapshot(root: string, implied: Set<string>): string[] {
  const classes = new Map<number, string>();
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(dir, name);
      const st = lstatSync(full);
      const owner = `${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        const mtime = implied.has(path) ? '' : ` ${st.mtimeMs}`;
        out.push(`${path}/ ${(st.mode & 0o7777).toString(8)} ${owner}${mtime}`);
        walk(full, path);
      } else if (st.isSymbolicLink()) out.push(`${path} -> ${readlinkSync(full)} ${owner} ${st.mtimeMs}`);
      else {
        if (!classes.has(st.ino)) classes.set(st.ino, path);
        const data = readFileSync(full);
        out.push(`${path} ${(st.mode & 0o7777).toString(8)} ${owner} ${st.mtimeMs} ${sha256(data)} inode-of:${classes.get(st.ino)}`);
      }
    }
  };
  walk(root, '');
  return out;
}

describe('build context digests and reuse', () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  async function extract(entries: Entry[], dir: string, digests: FileDigests = new Map(), reuse = false): Promise<FileDigests> {
    await extractContext(chunks(await tarOf(entries), 300), dir, {}, { digests, reuse });
    return digests;
  }

  const first: Entry[] = [
    { name: 'app/' },
    { name: 'app/main.sh', data: '#!/bin/sh\necho main\n', mode: 0o755 },
    { name: 'app/lib/util.sh', data: 'util() { :; }\n' },
    { name: 'app/empty', data: '' },
    { name: 'app/link', type: 'symlink', linkname: 'main.sh' },
    { name: 'app/again', type: 'link', linkname: 'app/main.sh' },
    { name: 'same', data: 'unchanged' },
    { name: 'same-size', data: 'bytes A' },
    { name: 'gone', data: 'removed next time' },
    { name: 'gone-dir/deep/file', data: 'removed with its directories' },
    { name: 'becomes-dir', data: 'a file, then a directory' },
    { name: 'becomes-file/' },
    { name: 'becomes-file/inside', data: 'x' },
    { name: 'escape', type: 'symlink', linkname: '/' },
    { name: 'meta', data: 'same bytes, other metadata', mode: 0o644, uid: 1000, gid: 1000 },
    // A name given twice: the second file is the one that stays, with its digest.
    { name: 'twice', data: 'first' },
    { name: 'twice', data: 'second, longer' },
  ];
  const second: Entry[] = [
    { name: 'app/', mode: 0o750 },
    { name: 'app/main.sh', data: '#!/bin/sh\necho main, changed\n', mode: 0o755 },
    { name: 'app/lib/util.sh', data: 'util() { :; }\n' },
    { name: 'app/empty', data: '' },
    { name: 'app/link', type: 'symlink', linkname: 'lib/util.sh' },
    { name: 'app/again', type: 'link', linkname: 'app/main.sh' },
    { name: 'same', data: 'unchanged' },
    // Same size, same mtime: only the bytes tell.
    { name: 'same-size', data: 'bytes B' },
    { name: 'becomes-dir/' },
    { name: 'becomes-dir/f', data: 'now inside' },
    { name: 'becomes-file', data: 'a directory, then a file' },
    // The earlier context's link is not this one's: the entry below makes a directory, not a way out.
    { name: 'escape/inside', data: 'stays in the context' },
    { name: 'meta', data: 'same bytes, other metadata', mode: 0o4750, uid: 0, gid: 50, mtime: LATER },
    { name: 'new/implied/file', data: 'new' },
    { name: 'twice', data: 'second, longer' },
  ];

  it('records each regular file by inode with the digest of what was written', async () => {
    const ctx = join(temp.make(), 'ctx');
    const digests = await extract(first, ctx);
    const digestOf = (path: string) => digests.get(lstatSync(join(ctx, path)).ino)?.digest;
    assert.equal(digestOf('app/main.sh'), sha256('#!/bin/sh\necho main\n'));
    assert.equal(digestOf('app/again'), sha256('#!/bin/sh\necho main\n'), 'a hard link shares its inode, and its digest');
    assert.equal(digestOf('app/lib/util.sh'), sha256('util() { :; }\n'));
    assert.equal(digestOf('app/empty'), sha256(''));
    assert.equal(digestOf('twice'), sha256('second, longer'));
    const st = lstatSync(join(ctx, 'app/main.sh'));
    assert.deepEqual(digests.get(st.ino), { digest: sha256('#!/bin/sh\necho main\n'), size: st.size, mtimeMs: st.mtimeMs });
  });

  it('gives COPY the same cache key as reading the files would, and reads a file that changed since', async () => {
    const ctx = join(temp.make(), 'ctx');
    const digests = await extract(first, ctx);
    for (const sources of [['app'], ['app/*.sh', 'twice'], ['.']]) {
      const request = { sourceRoot: ctx, sourceKind: 'context' as const, sources, add: false };
      assert.equal(await hashSources({ ...request, knownDigests: digests }), await hashSources(request), sources.join(' '));
    }
    const request = { sourceRoot: ctx, sourceKind: 'context' as const, sources: ['app'], add: false };
    const before = await hashSources({ ...request, knownDigests: digests });
    writeFileSync(join(ctx, 'app/lib/util.sh'), 'util() { echo changed; }\n');
    const after = await hashSources({ ...request, knownDigests: digests });
    assert.notEqual(after, before);
    assert.equal(after, await hashSources(request));
  });

  it('extracted over an earlier context, leaves what extracting into an empty directory leaves', async () => {
    const implied = new Set(['app/lib', 'gone-dir', 'gone-dir/deep', 'escape', 'new', 'new/implied']);
    const base = temp.make();
    const reused = join(base, 'reused');
    const digests = await extract(first, reused);
    const kept = lstatSync(join(reused, 'same')).ino;
    const changed = lstatSync(join(reused, 'app/main.sh')).ino;
    await extract(second, reused, digests, true);
    const fresh = join(base, 'fresh');
    const freshDigests = await extract(second, fresh);
    assert.deepEqual(snapshot(reused, implied), snapshot(fresh, implied));
    assert.equal(lstatSync(join(reused, 'same')).ino, kept, 'an unchanged file is kept, not written again');
    assert.notEqual(lstatSync(join(reused, 'app/main.sh')).ino, changed);
    assert.equal(readFileSync(join(reused, 'escape/inside'), 'utf8'), 'stays in the context');
    // The digests describe the new tree: the same cache key as the fresh one's.
    assert.equal(digests.size, freshDigests.size);
    for (const d of [reused, fresh]) assert.ok(!existsSync(join(d, 'gone')) && !existsSync(join(d, 'gone-dir')));
    const key = (root: string, known: FileDigests) =>
      hashSources({ sourceRoot: root, sourceKind: 'context', sources: ['.'], add: false, knownDigests: known });
    assert.equal(await key(reused, digests), await key(fresh, freshDigests));
    // Again with nothing changed: nothing is written, the tree stays the same.
    const before = snapshot(reused, implied);
    const inodes = readdirSync(reused).map((n) => lstatSync(join(reused, n)).ino);
    await extract(second, reused, digests, true);
    assert.deepEqual(snapshot(reused, implied), before);
    assert.deepEqual(
      readdirSync(reused).map((n) => lstatSync(join(reused, n)).ino),
      inodes,
    );
  });

  it('refuses over an earlier context what it refuses in an empty directory', async () => {
    const base = temp.make();
    const outside = join(base, 'outside');
    mkdirSync(outside);
    const earlier: Entry[] = [
      { name: 'via', type: 'symlink', linkname: outside },
      { name: 'old', data: 'from the earlier context' },
    ];
    const refused = async (entries: Entry[], text: RegExp) => {
      const dir = join(temp.make(), 'ctx');
      const digests = await extract(earlier, dir);
      await assert.rejects(extract(entries, dir, digests, true), (err: Error) => {
        assert.equal(errorKind(err), ErrorKind.InvalidArgument, err.message);
        assert.match(err.message, text);
        return true;
      });
      assert.deepEqual(readdirSync(outside), []);
    };
    // The earlier link is not this tar's: a hard link to it, or to a file beside it, links nothing earlier.
    await refused([{ name: 'h', type: 'link', linkname: 'old' }], /links to "old", which is not an earlier entry/);
    await refused([{ name: 'h', type: 'link', linkname: 'via/x' }], /links to "via\/x", which is not an earlier entry/);
    // This tar's own link is never gone through.
    await refused(
      [
        { name: 'via', type: 'symlink', linkname: outside },
        { name: 'via/evil', data: 'pwned' },
      ],
      /entry "via\/evil" goes through the symbolic link \/via/,
    );
  });

  it('keeps a context per key for the next build, one build at a time, and prunes them', async () => {
    const tmp = temp.make();
    const dirs = new ContextDirs(tmp, 2);
    const a = await dirs.open('a');
    assert.equal(a.reused, false);
    const other = await dirs.open('a');
    assert.notEqual(other.dir, a.dir, 'a directory lent to a build is not lent to another');
    await dirs.close(other, false);
    assert.ok(!existsSync(other.dir), 'a context not extracted whole is removed');
    await dirs.close(a, true);
    const again = await dirs.open('a');
    assert.deepEqual([again.dir, again.reused], [a.dir, true]);
    await dirs.close(again, true);
    const b = await dirs.open('b');
    await dirs.close(b, true);
    const c = await dirs.open('c');
    await dirs.close(c, true);
    assert.ok(!existsSync(a.dir), 'beyond the number kept, the least recently used goes');
    const huge = await dirs.open('huge');
    huge.bytes = 2 ** 31;
    await dirs.close(huge, true);
    assert.ok(!existsSync(huge.dir), 'a context of more than a GiB is not kept');
    const none = await dirs.open('');
    await dirs.close(none, true);
    assert.ok(!existsSync(none.dir), 'a context without a key is never kept');
    assert.equal(await dirs.prune(), 2);
    assert.deepEqual(readdirSync(tmp), []);
  });

  it('sets no directory times through a link that a later entry put in the place of the directory (context, ADD)', async () => {
    const base = temp.make();
    const outside = join(base, 'outside');
    mkdirSync(outside);
    const then = new Date('2001-02-03T04:05:06Z');
    utimesSync(outside, then, then);
    // A replaced directory, and one inside a replaced directory: neither is there at the end.
    const replaced: Entry[] = [
      { name: 'd/', mtime: LATER },
      { name: 'd/f', data: 'x' },
      { name: 'd', type: 'symlink', linkname: outside },
    ];
    const inside: Entry[] = [
      { name: 'p/', mtime: LATER },
      { name: 'p/q/', mtime: LATER },
      ...replaced.slice(0, 2),
      { ...replaced[2]!, name: 'p' },
    ];
    for (const [i, entries] of [replaced, inside].entries()) {
      const ctx = join(base, `ctx-${i}`);
      await extractContext(chunks(await tarOf(entries)), ctx, {}, { digests: new Map() });
      assert.equal(lstatSync(outside).mtimeMs, then.getTime());
      // In an archive, a link's absolute target means the rootfs's path, but the host's kernel would follow it to the host's.
      const rootfs = join(base, `rootfs-${i}`);
      mkdirSync(rootfs);
      await untar(chunks(await tarOf(entries)), rootfs, { kind: 'archive', what: 'ADD a.tar' });
      assert.equal(lstatSync(outside).mtimeMs, then.getTime());
    }
    assert.deepEqual(readdirSync(outside), []);
  });
});
