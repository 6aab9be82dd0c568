/**
 * The build context's extraction (src/build/context.ts) on the real filesystem: what a context
 * keeps (modes, owners, mtimes, links), its compressions, and every way a tar could name a path
 * outside the directory it is extracted into, each refused with nothing written outside.
 */
import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extractContext } from '../src/build/context';
import { MTIME, TempDirs, bzip2, chunks, gzip, listing, tarOf, xz, zstd } from './build-helpers';

describe('build context extraction', () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  /** A context directory, and an outside directory beside it that no tar may reach. */
  function dirs() {
    const base = temp.make();
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep'), 'untouched');
    return { ctx: join(base, 'ctx'), outside, base };
  }

  const refused = async (promise: Promise<unknown>, kind: ErrorKind, text: RegExp) => {
    await assert.rejects(promise, (err: Error) => {
      assert.equal(errorKind(err), kind, err.message);
      assert.match(err.message, text);
      return true;
    });
  };

  it('keeps files, directories, links, modes, owners and mtimes', async () => {
    const { ctx } = dirs();
    const archive = await tarOf([
      { name: './', type: 'directory', mode: 0o777 },
      { name: 'src/', mode: 0o750, uid: 1000, gid: 1001 },
      { name: 'src/app.sh', data: '#!/bin/sh\necho hi\n', mode: 0o4755, uid: 1000, gid: 1001 },
      { name: 'src/readonly/', mode: 0o555 },
      { name: 'src/readonly/inside', data: 'x', mode: 0o400 },
      { name: 'deep/er/file', data: 'implied parents' },
      { name: 'link', type: 'symlink', linkname: 'src/app.sh' },
      { name: 'abs-link', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'hard', type: 'link', linkname: 'src/app.sh', mode: 0o4755, uid: 1000, gid: 1001 },
    ]);
    const result = await extractContext(chunks(archive), ctx);
    assert.deepEqual(result, { files: 6, directories: 2, bytes: 18 + 1 + 15 });
    assert.deepEqual(listing(ctx), [
      'abs-link -> /etc/passwd',
      'deep/',
      'deep/er/',
      'deep/er/file',
      'hard',
      'link -> src/app.sh',
      'src/',
      'src/app.sh',
      'src/readonly/',
      'src/readonly/inside',
    ]);
    const app = lstatSync(join(ctx, 'src/app.sh'));
    assert.equal(app.mode & 0o7777, 0o4755);
    assert.deepEqual([app.uid, app.gid], [1000, 1001]);
    assert.equal(app.mtimeMs, MTIME.getTime());
    assert.equal(lstatSync(join(ctx, 'hard')).ino, app.ino);
    assert.equal(lstatSync(join(ctx, 'src')).mode & 0o7777, 0o750);
    assert.equal(lstatSync(join(ctx, 'src')).mtimeMs, MTIME.getTime(), 'directory mtimes are set after their entries');
    assert.equal(lstatSync(join(ctx, 'src/readonly')).mode & 0o7777, 0o555);
    assert.equal(lstatSync(join(ctx, 'link')).mtimeMs, MTIME.getTime());
    assert.equal(lstatSync(join(ctx, 'deep')).mode & 0o7777, 0o755, 'implied directories are 0755');
    assert.equal(lstatSync(ctx).mode & 0o7777, 0o700, 'the root stays private whatever "./" says');
  });

  for (const [name, compress] of [
    ['gzip', gzip],
    ['bzip2', bzip2],
    ['xz', xz],
    ['zstd', zstd],
  ] as const) {
    it(`reads a ${name}-compressed context, from a Readable`, async () => {
      const { ctx } = dirs();
      const archive = compress(await tarOf([{ name: 'Dockerfile', data: 'FROM scratch\n' }]));
      await extractContext(Readable.from(chunks(archive, 100)), ctx);
      assert.equal(readFileSync(join(ctx, 'Dockerfile'), 'utf8'), 'FROM scratch\n');
    });
  }

  it('takes an empty stream as an empty context, and refuses what is not a tar', async () => {
    const { ctx } = dirs();
    assert.deepEqual(await extractContext(chunks(Buffer.alloc(0)), ctx), { files: 0, directories: 0, bytes: 0 });
    await refused(
      extractContext(chunks(Buffer.from('this is not a tar archive at all '.repeat(40))), ctx),
      ErrorKind.InvalidArgument,
      /build context is not a valid tar/,
    );
  });

  it('refuses absolute names and ".." that climbs out, naming the entry', async () => {
    const cases: [string, RegExp][] = [
      ['/etc/evil', /entry "\/etc\/evil" is absolute/],
      ['../outside/evil', /entry "..\/outside\/evil" climbs out/],
      ['a/../../outside/evil', /entry "a\/..\/..\/outside\/evil" climbs out/],
    ];
    for (const [name, message] of cases) {
      const { ctx, outside } = dirs();
      await refused(extractContext(chunks(await tarOf([{ name, data: 'pwned' }])), ctx), ErrorKind.InvalidArgument, message);
      assert.deepEqual(readdirSync(outside), ['keep']);
    }
  });

  it('never writes through a symbolic link the tar made, however it points', async () => {
    const { ctx, outside } = dirs();
    for (const linkname of [outside, '../outside', 'sub/../../outside']) {
      const archive = await tarOf([
        { name: 'escape', type: 'symlink', linkname },
        { name: 'escape/evil', data: 'pwned' },
      ]);
      await refused(
        extractContext(chunks(archive), ctx),
        ErrorKind.InvalidArgument,
        /entry "escape\/evil" goes through the symbolic link \/escape/,
      );
      assert.deepEqual(readdirSync(outside), ['keep']);
      assert.equal(readFileSync(join(outside, 'keep'), 'utf8'), 'untouched');
    }
    // A link to a directory inside the context is no different: it is not followed either.
    const { ctx: ctx2 } = dirs();
    const archive = await tarOf([{ name: 'real/' }, { name: 'alias', type: 'symlink', linkname: 'real' }, { name: 'alias/f', data: 'x' }]);
    await refused(extractContext(chunks(archive), ctx2), ErrorKind.InvalidArgument, /goes through the symbolic link \/alias/);
  });

  it('replaces a symbolic link that a later entry names itself, rather than writing through it', async () => {
    const { ctx, outside } = dirs();
    const archive = await tarOf([
      { name: 'keep', type: 'symlink', linkname: join(outside, 'keep') },
      { name: 'keep', data: 'a new file in the context' },
      { name: 'dir', type: 'symlink', linkname: outside },
      { name: 'dir/' },
      { name: 'dir/f', data: 'inside' },
    ]);
    await extractContext(chunks(archive), ctx);
    assert.equal(readFileSync(join(outside, 'keep'), 'utf8'), 'untouched');
    assert.equal(readFileSync(join(ctx, 'keep'), 'utf8'), 'a new file in the context');
    assert.ok(lstatSync(join(ctx, 'dir')).isDirectory());
    assert.deepEqual(readdirSync(outside), ['keep']);
  });

  it('links hard links only to earlier entries inside the context', async () => {
    const { ctx, outside } = dirs();
    const cases: [string, RegExp][] = [
      [join(outside, 'keep'), /hard link "h" to ".*outside\/keep" is absolute/],
      ['../outside/keep', /hard link "h" to "..\/outside\/keep" climbs out/],
      ['later', /links to "later", which is not an earlier entry/],
      ['via/keep', /goes through the symbolic link \/via/],
    ];
    for (const [i, [linkname, message]] of cases.entries()) {
      const archive = await tarOf([
        { name: 'via', type: 'symlink', linkname: outside },
        { name: 'h', type: 'link', linkname },
        { name: 'later', data: 'x' },
      ]);
      await refused(extractContext(chunks(archive), join(ctx, String(i))), ErrorKind.InvalidArgument, message);
    }
    assert.equal(lstatSync(join(outside, 'keep')).nlink, 1);
  });

  it('refuses device nodes and FIFOs, naming the entry', async () => {
    for (const [type, label] of [
      ['character-device', 'character device'],
      ['block-device', 'block device'],
      ['fifo', 'fifo'],
    ] as const) {
      const { ctx } = dirs();
      const archive = await tarOf([
        { name: 'ok', data: 'x' },
        { name: `dev/${type}`, type, devmajor: 1, devminor: 3 },
      ]);
      await refused(
        extractContext(chunks(archive), ctx),
        ErrorKind.InvalidArgument,
        new RegExp(
          `entry "dev/${type}" is a ${label}; device nodes and FIFOs are not supported \\(leave it out of the context with .dockerignore\\)`,
        ),
      );
      assert.equal(existsSync(join(ctx, 'dev', type)), false);
    }
  });

  it('stops at its limits with ResourceExhausted', async () => {
    const { ctx } = dirs();
    const archive = await tarOf([
      { name: 'a', data: 'x'.repeat(600) },
      { name: 'b', data: 'y'.repeat(600) },
    ]);
    await refused(extractContext(chunks(archive), join(ctx, '1'), { maxBytes: 1000 }), ErrorKind.ResourceExhausted, /more than 1000 bytes/);
    await refused(extractContext(chunks(archive), join(ctx, '2'), { maxEntries: 1 }), ErrorKind.ResourceExhausted, /more than 1 entries/);
    assert.deepEqual(await extractContext(chunks(archive), join(ctx, '3'), { maxBytes: 1200, maxEntries: 2 }), {
      files: 2,
      directories: 0,
      bytes: 1200,
    });
  });

  it('passes the stream’s own failure on', async () => {
    const { ctx } = dirs();
    const archive = await tarOf([{ name: 'a', data: 'x'.repeat(5000) }]);
    async function* broken() {
      yield archive.subarray(0, 1024);
      throw new Error('client went away');
    }
    await assert.rejects(extractContext(broken(), ctx), /read build context: client went away/);
  });
});
