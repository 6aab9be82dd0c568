/**
 * COPY and ADD (src/build/copy.ts) and --chown's resolver on the real filesystem: Docker's
 * source and destination rules, wildcards, metadata, links, archives, the cache key of the
 * sources, and the paths that must never leave the build context or the rootfs (a host
 * directory beside them must stay untouched).
 */
import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { getXattr, listXattrs, setXattr } from '@ctl/runtime-native/xattr';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { resolveChown } from '../src/build/chown';
import { type CopyRequest, copyInto, hashSources } from '../src/build/copy';
import { TempDirs, bzip2, gzip, listing, tarOf, xz, zstd } from './build-helpers';

const OLD = new Date('2020-01-02T03:04:05Z');
/** cap_net_raw+ep as setcap writes it (VFS_CAP_REVISION_2, effective, permitted bit 13). */
const NET_RAW_CAP = Buffer.from([0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

describe('COPY and ADD', () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  let ctx: string;
  let rootfs: string;
  let host: string;

  /** A context, a rootfs with users and links that point out, and a host directory no copy may touch. */
  beforeEach(() => {
    const base = temp.make();
    ctx = join(base, 'ctx');
    rootfs = join(base, 'rootfs');
    host = join(base, 'host');
    for (const d of [ctx, rootfs, host, join(rootfs, 'etc'), join(rootfs, 'srv')]) mkdirSync(d);
    writeFileSync(join(host, 'keep'), 'untouched');
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\napp:x:1001:\nstaff:x:50:app\n');
    chmodSync(join(rootfs, 'srv'), 0o711);
    utimesSync(join(rootfs, 'srv'), OLD, OLD);
    // Links in the image that name host paths: inside the rootfs they mean <rootfs><path>.
    symlinkSync(host, join(rootfs, 'to-host'));
    symlinkSync('../../../../../..' + host, join(rootfs, 'climbing'));

    file('a.txt', 'A', 0o640);
    file('b.txt', 'B');
    file('c.md', 'C');
    mkdirSync(join(ctx, 'dir/sub'), { recursive: true });
    file('dir/one', '1', 0o755);
    file('dir/sub/two', '22', 0o600);
    chmodSync(join(ctx, 'dir/sub'), 0o750);
    symlinkSync('one', join(ctx, 'dir/rel-link'));
    symlinkSync('/etc/shadow', join(ctx, 'dir/abs-link'));
    for (const p of ['dir/sub', 'dir']) utimesSync(join(ctx, p), OLD, OLD);
    symlinkSync('a.txt', join(ctx, 'alias'));
    symlinkSync(join(host, 'keep'), join(ctx, 'out-abs'));
    symlinkSync('../host/keep', join(ctx, 'out-rel'));
  });

  /** A context file owned by a user, with an old mtime: COPY must make it root's and keep the time. */
  function file(name: string, data: string, mode = 0o644) {
    writeFileSync(join(ctx, name), data);
    chmodSync(join(ctx, name), mode);
    chownSync(join(ctx, name), 1234, 5678);
    utimesSync(join(ctx, name), OLD, OLD);
  }

  const copy = (sources: string[], dest: string, extra: Partial<CopyRequest> = {}) =>
    copyInto({ sourceRoot: ctx, sourceKind: 'context', sources, rootfs, dest, workdir: '/', add: false, ...extra });

  const at = (p: string) => join(rootfs, p);
  const text = (p: string) => readFileSync(at(p), 'utf8');
  const mode = (p: string) => lstatSync(at(p)).mode & 0o7777;
  const owner = (p: string) => [lstatSync(at(p)).uid, lstatSync(at(p)).gid];
  const hostUntouched = () => {
    assert.deepEqual(readdirSync(host), ['keep']);
    assert.equal(readFileSync(join(host, 'keep'), 'utf8'), 'untouched');
  };
  const fails = async (promise: Promise<unknown>, kind: ErrorKind, message: RegExp) =>
    assert.rejects(promise, (err: Error) => {
      assert.equal(errorKind(err), kind, err.message);
      assert.match(err.message, message);
      return true;
    });

  describe('destinations', () => {
    it('copies a file to a new path, making its parents root-owned 0755, keeping mode and mtime, owner root', async () => {
      const result = await copy(['a.txt'], '/opt/new/x.txt');
      assert.deepEqual(result, { files: 1, directories: 0, bytes: 1, archives: 0, skipped: [] });
      assert.equal(text('opt/new/x.txt'), 'A');
      assert.equal(mode('opt/new/x.txt'), 0o640);
      assert.deepEqual(owner('opt/new/x.txt'), [0, 0]);
      assert.equal(lstatSync(at('opt/new/x.txt')).mtimeMs, OLD.getTime());
      for (const d of ['opt', 'opt/new']) {
        assert.equal(mode(d), 0o755);
        assert.deepEqual(owner(d), [0, 0]);
      }
    });

    it('puts a file inside a "/"-ended destination, and inside an existing directory without the "/"', async () => {
      await copy(['a.txt'], '/made/');
      assert.equal(text('made/a.txt'), 'A');
      await copy(['b.txt'], '/srv');
      assert.equal(text('srv/b.txt'), 'B');
      assert.equal(mode('srv'), 0o711, 'an existing destination directory keeps its metadata');
    });

    it('resolves a relative destination against the WORKDIR, "." included', async () => {
      await copy(['a.txt'], 'rel.txt', { workdir: '/work/dir' });
      await copy(['b.txt'], '.', { workdir: '/work/dir' });
      await copy(['c.md'], '../up/', { workdir: '/work/dir' });
      assert.deepEqual(listing(at('work')), ['dir/', 'dir/b.txt', 'dir/rel.txt', 'up/', 'up/c.md']);
    });

    it('copies a directory’s contents, not the directory, with modes, mtimes and links kept', async () => {
      const result = await copy(['dir'], '/app');
      assert.deepEqual(listing(at('app')), ['abs-link -> /etc/shadow', 'one', 'rel-link -> one', 'sub/', 'sub/two']);
      assert.deepEqual(result, { files: 4, directories: 2, bytes: 3, archives: 0, skipped: [] });
      assert.equal(mode('app'), 0o755, 'the destination is made 0755, not the source’s mode');
      assert.equal(mode('app/sub'), 0o750);
      assert.equal(lstatSync(at('app/sub')).mtimeMs, OLD.getTime());
      assert.equal(mode('app/one'), 0o755);
      assert.deepEqual(owner('app/abs-link'), [0, 0]);
      // Into an existing directory: merged, its own metadata kept.
      await copy(['dir/sub'], '/srv');
      assert.deepEqual(listing(at('srv')), ['two']);
      assert.equal(mode('srv'), 0o711);
      assert.equal(lstatSync(at('srv')).mtimeMs > OLD.getTime(), true);
    });

    it('copies the whole context with "."', async () => {
      await copy(['.'], '/all/');
      assert.ok(lstatSync(at('all/dir/sub/two')).isFile());
      assert.equal(readlinkSync(at('all/out-abs')), join(host, 'keep'), 'links inside a copied directory are copied as they are');
    });

    it('needs a "/"-ended destination for more than one source', async () => {
      await fails(
        copy(['a.txt', 'b.txt'], '/multi'),
        ErrorKind.InvalidArgument,
        /more than one source file, the destination must be a directory and end with a \//,
      );
      await fails(copy(['*.txt'], '/multi'), ErrorKind.InvalidArgument, /must be a directory and end with a \//);
      await copy(['a.txt', 'b.txt'], '/multi/');
      assert.deepEqual(readdirSync(at('multi')), ['a.txt', 'b.txt']);
    });

    it('refuses a directory onto a non-directory and a file onto a directory', async () => {
      writeFileSync(at('srv/plain'), 'x');
      await fails(copy(['dir'], '/srv/plain'), ErrorKind.InvalidArgument, /cannot copy to non-directory: \/srv\/plain/);
      mkdirSync(at('srv/d/sub/two'), { recursive: true });
      await fails(copy(['dir'], '/srv/d'), ErrorKind.InvalidArgument, /cannot replace the directory \/srv\/d\/sub\/two with a file/);
    });

    it('overwrites an existing file', async () => {
      writeFileSync(at('srv/a.txt'), 'old');
      await copy(['a.txt'], '/srv/');
      assert.equal(text('srv/a.txt'), 'A');
    });
  });

  describe('links in the rootfs', () => {
    it('resolves a destination through a link to a host path inside the rootfs', async () => {
      await copy(['a.txt'], '/to-host/');
      await copy(['b.txt'], '/to-host/sub/b.txt');
      await copy(['c.md'], '/climbing/');
      hostUntouched();
      assert.equal(readFileSync(join(rootfs, host, 'a.txt'), 'utf8'), 'A');
      assert.equal(readFileSync(join(rootfs, host, 'sub/b.txt'), 'utf8'), 'B');
      assert.equal(readFileSync(join(rootfs, host, 'c.md'), 'utf8'), 'C');
    });

    it('replaces a link at a file’s destination instead of writing through it', async () => {
      mkdirSync(at('srv/app'));
      symlinkSync(join(host, 'keep'), at('srv/app/a.txt'));
      await copy(['a.txt'], '/srv/app/');
      hostUntouched();
      assert.equal(lstatSync(at('srv/app/a.txt')).isFile(), true);
    });

    it('refuses to copy a directory onto a link (as BuildKit), and never writes through it', async () => {
      mkdirSync(at('srv/app'));
      symlinkSync(host, at('srv/app/sub'));
      await fails(copy(['dir'], '/srv/app'), ErrorKind.InvalidArgument, /cannot copy to non-directory: \/srv\/app\/sub/);
      hostUntouched();
    });

    it('a file destination that is a link to a host file writes the rootfs’s file of that name', async () => {
      symlinkSync(join(host, 'keep'), at('srv/config'));
      await copy(['a.txt'], '/srv/config');
      hostUntouched();
      assert.equal(readFileSync(join(rootfs, host, 'keep'), 'utf8'), 'A');
    });
  });

  describe('sources', () => {
    it('expands wildcards per component, sorted, ** no more than *', async () => {
      await copy(['*.txt'], '/w1/');
      assert.deepEqual(readdirSync(at('w1')), ['a.txt', 'b.txt']);
      await copy(['[ab].*', 'c?md'], '/w2/');
      assert.deepEqual(readdirSync(at('w2')), ['a.txt', 'b.txt', 'c.md']);
      await copy(['d*/s*/t?o'], '/w3/');
      assert.deepEqual(readdirSync(at('w3')), ['two']);
      await fails(copy(['**/two'], '/w4/'), ErrorKind.NotFound, /no source files were found for "\*\*\/two"/);
      await copy(['*/sub'], '/w5/');
      assert.deepEqual(readdirSync(at('w5')), ['two'], 'a matched directory copies its contents');
    });

    it('names a pattern that matches nothing, and a path that does not exist', async () => {
      await fails(
        copy(['*.none'], '/x/'),
        ErrorKind.NotFound,
        /COPY failed: no source files were found for "\*\.none" in the build context/,
      );
      await fails(copy(['missing'], '/x/'), ErrorKind.NotFound, /COPY failed: "missing" not found in the build context/);
      await fails(copy(['[a'], '/x/'), ErrorKind.InvalidArgument, /invalid wildcard pattern "\[a"/);
    });

    it('follows a source that is itself a link, under the link’s name', async () => {
      await copy(['alias'], '/l/');
      assert.equal(lstatSync(at('l/alias')).isFile(), true);
      assert.equal(text('l/alias'), 'A');
    });

    it('treats an absolute source as relative to the context', async () => {
      await copy(['/a.txt'], '/abs/');
      assert.equal(text('abs/a.txt'), 'A');
    });

    it('refuses paths that leave the build context, naming them', async () => {
      for (const source of ['../host/keep', 'dir/../../host/keep', 'out-abs', 'out-rel', '../*', 'dir/abs-link']) {
        await fails(
          copy([source], '/x/'),
          ErrorKind.InvalidArgument,
          new RegExp(`COPY failed: forbidden path outside the build context: ${source.replace(/[.*]/g, '\\$&')}$`),
        );
      }
      assert.equal(readdirSync(rootfs).includes('x'), false, 'nothing is made before the sources are checked');
    });

    it('resolves --from paths inside the source rootfs, absolute links included', async () => {
      const stage = temp.make();
      mkdirSync(join(stage, 'data'));
      writeFileSync(join(stage, 'data/file'), 'stage data');
      symlinkSync('/data', join(stage, 'link'));
      symlinkSync('../../../../../../..', join(stage, 'up'));
      const from = { sourceRoot: stage, sourceKind: 'rootfs' as const };
      await copy(['/link/file', 'up/data/file', '../../data'], '/from/', from);
      assert.deepEqual(readdirSync(at('from')), ['file']);
      assert.equal(text('from/file'), 'stage data');
    });

    it('keeps hard links within one copy', async () => {
      linkSync(join(ctx, 'dir/one'), join(ctx, 'dir/one-again'));
      await copy(['dir'], '/h');
      assert.equal(lstatSync(at('h/one')).ino, lstatSync(at('h/one-again')).ino);
      assert.equal(lstatSync(at('h/one')).nlink, 2);
    });

    it('makes device nodes and FIFOs of a rootfs source, and skips sockets', async () => {
      const stage = temp.make();
      execFileSync('mknod', ['-m', '0620', join(stage, 'null'), 'c', '1', '3']);
      execFileSync('mknod', ['-m', '0640', join(stage, 'fifo'), 'p']);
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(join(stage, 'sock'), resolve));
      try {
        const result = await copy(['.'], '/dev-copy', { sourceRoot: stage, sourceKind: 'rootfs' });
        assert.deepEqual(result.skipped, ['/dev-copy/sock']);
        const dev = lstatSync(at('dev-copy/null'));
        assert.equal(dev.isCharacterDevice(), true);
        assert.equal(dev.rdev, lstatSync(join(stage, 'null')).rdev);
        assert.equal(dev.mode & 0o7777, 0o620);
        assert.equal(lstatSync(at('dev-copy/fifo')).isFIFO(), true);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  describe('--chown and --chmod', () => {
    it('owns copied files, links and directories, and the directories made on the way', async () => {
      await copy(['dir'], '/own/app', { chown: { uid: 1000, gid: 1001 } });
      for (const p of ['own', 'own/app', 'own/app/one', 'own/app/sub', 'own/app/sub/two', 'own/app/rel-link'])
        assert.deepEqual(owner(p), [1000, 1001], p);
      assert.deepEqual(owner('.'), [lstatSync(rootfs).uid, lstatSync(rootfs).gid], 'existing directories keep their owner');
    });

    it('sets --chmod on copied files and directories, not on the ones made on the way', async () => {
      writeFileSync(join(ctx, 'dir/suid'), 'x');
      chmodSync(join(ctx, 'dir/suid'), 0o4755);
      await copy(['dir'], '/mode/app', { chmod: 0o640 });
      assert.equal(mode('mode/app/one'), 0o640);
      assert.equal(mode('mode/app/sub'), 0o640);
      assert.equal(mode('mode/app'), 0o755);
      await copy(['dir/suid'], '/mode/', { chown: { uid: 7, gid: 7 } });
      assert.equal(mode('mode/suid'), 0o4755, 'set-id bits survive the chown');
    });

    it('resolves user and group names in the rootfs, as BuildKit', () => {
      assert.deepEqual(resolveChown(rootfs, '1000'), { uid: 1000, gid: 1000 });
      assert.deepEqual(resolveChown(rootfs, '4242'), { uid: 4242, gid: 4242 });
      assert.deepEqual(resolveChown(rootfs, 'app'), { uid: 1000, gid: 1001 });
      assert.deepEqual(resolveChown(rootfs, 'app:staff'), { uid: 1000, gid: 50 });
      assert.deepEqual(resolveChown(rootfs, '1000:staff'), { uid: 1000, gid: 50 });
      assert.deepEqual(resolveChown(rootfs, 'root:7'), { uid: 0, gid: 7 });
      for (const [spec, message] of [
        ['nobody', /--chown=nobody: unable to find user nobody/],
        ['app:wheel', /--chown=app:wheel: unable to find group wheel/],
        ['a:b:c', /--chown=a:b:c: expected <user>\[:<group>\]/],
        [':', /expected <user>/],
        ['99999999999', /not a valid id/],
      ] as const)
        assert.throws(
          () => resolveChown(rootfs, spec),
          (err: Error) => errorKind(err) === ErrorKind.InvalidArgument && message.test(err.message),
        );
    });

    it('reads /etc/passwd through links inside the rootfs, never the host’s', () => {
      writeFileSync(join(host, 'passwd'), 'intruder:x:4444:4444::/:/bin/sh\n');
      unlinkSync(at('etc/passwd'));
      symlinkSync(join(host, 'passwd'), at('etc/passwd'));
      assert.throws(() => resolveChown(rootfs, 'intruder'), /unable to find user intruder/);
    });
  });

  describe('ADD', () => {
    const archive = () =>
      tarOf([
        { name: 'pkg/' },
        { name: 'pkg/bin/tool', data: 'tool', mode: 0o755, uid: 33, gid: 44 },
        { name: '/abs/from-root', data: 'absolute names are relative to the destination' },
        { name: 'pkg/lib', type: 'symlink', linkname: 'bin' },
      ]);
    const add = (sources: string[], dest: string, extra: Partial<CopyRequest> = {}) => copy(sources, dest, { add: true, ...extra });

    for (const [name, compress] of [
      ['tar', (b: Buffer) => b],
      ['tar.gz', gzip],
      ['tar.bz2', bzip2],
      ['tar.xz', xz],
      ['tar.zst', zstd],
    ] as const) {
      it(`extracts a local ${name} archive into the destination, told by its bytes`, async () => {
        writeFileSync(join(ctx, 'archive.bin'), compress(await archive()));
        const result = await add(['archive.bin'], '/opt');
        assert.equal(result.archives, 1);
        assert.deepEqual(listing(at('opt')), ['abs/', 'abs/from-root', 'pkg/', 'pkg/bin/', 'pkg/bin/tool', 'pkg/lib -> bin']);
        assert.deepEqual(owner('opt/pkg/bin/tool'), [33, 44], 'the archive’s owners stay without --chown');
        assert.equal(mode('opt/pkg/bin/tool'), 0o755);
      });
    }

    it('applies --chown to what it extracts', async () => {
      writeFileSync(join(ctx, 'a.tgz'), gzip(await archive()));
      await add(['a.tgz'], '/opt/', { chown: { uid: 1000, gid: 1001 } });
      assert.deepEqual(owner('opt/pkg/bin/tool'), [1000, 1001]);
      assert.deepEqual(owner('opt/pkg/lib'), [1000, 1001]);
    });

    it('copies a compressed file that is not a tar, and a tar-named file that is not one, as they are', async () => {
      writeFileSync(join(ctx, 'notes.gz'), gzip(Buffer.from('just text')));
      writeFileSync(join(ctx, 'fake.tar.gz'), 'not compressed');
      const result = await add(['notes.gz', 'fake.tar.gz'], '/files/');
      assert.equal(result.archives, 0);
      assert.deepEqual(readFileSync(at('files/notes.gz')), gzip(Buffer.from('just text')));
      assert.equal(text('files/fake.tar.gz'), 'not compressed');
    });

    it('merges into the image’s links as a chroot would, never outside the destination', async () => {
      mkdirSync(at('usr/lib'), { recursive: true });
      symlinkSync('usr/lib', at('lib'));
      writeFileSync(
        join(ctx, 'rootfs.tar'),
        await tarOf([
          { name: 'lib/' },
          { name: 'lib/libx.so', data: 'lib' },
          { name: 'escape', type: 'symlink', linkname: host },
          { name: 'escape/evil', data: 'inside the destination' },
          { name: 'up', type: 'symlink', linkname: '../../../../..' },
          { name: 'up/etc/evil', data: 'inside too' },
          { name: 'to-host/keep', data: 'the rootfs link resolves inside it' },
        ]),
      );
      await add(['rootfs.tar'], '/');
      hostUntouched();
      assert.equal(text('usr/lib/libx.so'), 'lib');
      assert.equal(lstatSync(at('lib')).isSymbolicLink(), true);
      assert.equal(readFileSync(join(rootfs, host, 'evil'), 'utf8'), 'inside the destination');
      assert.equal(text('etc/evil'), 'inside too');
      assert.equal(readFileSync(join(rootfs, host, 'keep'), 'utf8'), 'the rootfs link resolves inside it');
    });

    it('refuses names and hard links that climb out of the destination, and device nodes', async () => {
      const cases: [string, RegExp][] = [
        ['../evil', /ADD climb.tar: entry "..\/evil" climbs out of it with ".."/],
        ['a/../../evil', /climbs out of it/],
      ];
      for (const [name, message] of cases) {
        writeFileSync(join(ctx, 'climb.tar'), await tarOf([{ name, data: 'x' }]));
        await fails(add(['climb.tar'], '/srv/'), ErrorKind.InvalidArgument, message);
      }
      writeFileSync(join(ctx, 'hard.tar'), await tarOf([{ name: 'h', type: 'link', linkname: '../etc/passwd' }]));
      await fails(add(['hard.tar'], '/srv/'), ErrorKind.InvalidArgument, /hard link "h" to "..\/etc\/passwd" climbs out/);
      writeFileSync(join(ctx, 'dev.tar'), await tarOf([{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }]));
      await fails(add(['dev.tar'], '/srv/'), ErrorKind.InvalidArgument, /entry "null" is a character device/);
      assert.deepEqual(readdirSync(at('srv')), []);
      assert.equal(text('etc/passwd').startsWith('root:'), true);
    });

    it('refuses URLs', async () => {
      for (const url of [
        'https://example.com/x.tar.gz',
        'http://example.com/f',
        'git@github.com:moby/moby.git',
        'git://example.com/r.git',
      ]) {
        await fails(
          add([url], '/x/'),
          ErrorKind.NotImplemented,
          new RegExp(`ADD from a URL is not supported: ${url.replace(/[.?]/g, '\\$&')}`),
        );
      }
      await fails(copy(['https://example.com/x'], '/x/'), ErrorKind.InvalidArgument, /COPY cannot copy from a URL/);
    });
  });

  describe('the cache key of the sources', () => {
    const key = (sources: string[], extra: { sourceRoot?: string } = {}) =>
      hashSources({ sourceRoot: ctx, sourceKind: 'context', sources, add: false, ...extra });

    it('holds across touches and owner changes, and changes with contents, modes, names and links', async () => {
      const first = await key(['dir', '*.txt']);
      assert.match(first, /^sha256:[0-9a-f]{64}$/);
      assert.equal(await key(['dir', '*.txt']), first, 'deterministic');
      utimesSync(join(ctx, 'dir/sub/two'), new Date(), new Date());
      utimesSync(join(ctx, 'dir'), new Date(), new Date());
      chownSync(join(ctx, 'a.txt'), 0, 0);
      assert.equal(await key(['dir', '*.txt']), first, 'a touch or a chown changes nothing COPY writes');

      const changed = new Set([first]);
      const expectChange = async (what: string, edit: () => void) => {
        edit();
        const next = await key(['dir', '*.txt']);
        assert.equal(changed.has(next), false, what);
        changed.add(next);
      };
      await expectChange('a content change', () => writeFileSync(join(ctx, 'dir/sub/two'), '23'));
      await expectChange('a mode change', () => chmodSync(join(ctx, 'dir/one'), 0o700));
      await expectChange('a new file matched by the wildcard', () => writeFileSync(join(ctx, 'new.txt'), ''));
      await expectChange('a link target', () => {
        execFileSync('rm', [join(ctx, 'dir/rel-link')]);
        symlinkSync('sub', join(ctx, 'dir/rel-link'));
      });
      await expectChange('a rename', () => execFileSync('mv', [join(ctx, 'dir/one'), join(ctx, 'dir/uno')]));
      await expectChange('a new file in a source directory', () => writeFileSync(join(ctx, 'dir/sub/three'), ''));
      await expectChange('an extended attribute', () => setXattr(join(ctx, 'dir/sub/three'), 'user.k', Buffer.from('1')));
      await expectChange("an extended attribute's value", () => setXattr(join(ctx, 'dir/sub/three'), 'user.k', Buffer.from('2')));
      const unrelated = await key(['dir', '*.txt']);
      writeFileSync(join(ctx, 'unrelated.md'), 'not a source');
      assert.equal(await key(['dir', '*.txt']), unrelated, 'files outside the sources do not count');
    });

    it('follows a linked source to its contents, and refuses what COPY refuses', async () => {
      const viaLink = await key(['alias']);
      writeFileSync(join(ctx, 'a.txt'), 'changed');
      assert.notEqual(await key(['alias']), viaLink);
      await fails(key(['out-abs']), ErrorKind.InvalidArgument, /forbidden path outside the build context: out-abs/);
      await fails(key(['*.none']), ErrorKind.NotFound, /no source files were found/);
    });
  });

  describe('extended attributes', () => {
    const xattrs = (p: string) => Object.fromEntries(listXattrs(at(p)).map((n) => [n, getXattr(at(p), n)!.toString('hex')]));
    const hex = (s: string) => Buffer.from(s).toString('hex');

    it('COPY keeps user.* and security.capability on files and directories, --chown included (set after the chown)', async () => {
      setXattr(join(ctx, 'a.txt'), 'user.test', Buffer.from('hello'));
      setXattr(join(ctx, 'a.txt'), 'security.capability', NET_RAW_CAP);
      setXattr(join(ctx, 'dir/sub'), 'user.dir', Buffer.from('d'));
      await copy(['a.txt'], '/x.txt', { chown: { uid: 1000, gid: 1001 } });
      assert.deepEqual(xattrs('x.txt'), { 'security.capability': NET_RAW_CAP.toString('hex'), 'user.test': hex('hello') });
      await copy(['dir'], '/d/');
      assert.deepEqual(xattrs('d/sub'), { 'user.dir': hex('d') });
      assert.deepEqual(xattrs('d/one'), {});
    });

    it('ADD applies the pax SCHILY.xattr records of an archive GNU tar wrote', async () => {
      const src = temp.make();
      writeFileSync(join(src, 'tool'), 'tool');
      setXattr(join(src, 'tool'), 'user.test', Buffer.from([0, 0xff, 0x0a]));
      setXattr(join(src, 'tool'), 'security.capability', NET_RAW_CAP);
      execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-cf', join(ctx, 'x.tar'), '-C', src, 'tool']);
      await copy(['x.tar'], '/opt/', { add: true, chown: { uid: 1000, gid: 1001 } });
      assert.deepEqual(xattrs('opt/tool'), { 'security.capability': NET_RAW_CAP.toString('hex'), 'user.test': '00ff0a' });
    });
  });
});
