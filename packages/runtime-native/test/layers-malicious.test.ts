/**
 * The malicious corpus: one crafted layer per kind of attack. Each case is either rejected with
 * an InvalidArgument naming the entry and the reason, or contained in the target; in both cases
 * a sentinel directory beside the target (what `..` and absolute paths would reach) must be
 * unchanged. Needs root (ctl-apply chroots).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { applyLayer } from '../src/layers';
import { LayerFixture, getXattr, isRoot, listTree, makeTar } from './layers-fixture';
import type { TarEntry } from './layers-fixture';

interface Case {
  name: string;
  entries?: TarEntry[];
  /** raw bytes of the layer file instead of entries */
  raw?: (fx: LayerFixture) => Buffer;
  devices?: boolean;
  whiteouts?: 'overlay' | 'remove';
  /** the rejection message, or undefined when the layer must apply but stay contained */
  rejects?: RegExp;
  /** checks inside the target when contained */
  contained?: (target: string) => void;
}

function gzipOf(fx: LayerFixture, entries: TarEntry[]): Buffer {
  return fs.readFileSync(makeTar(fx.fresh('g.tar', false), entries, { compression: 'gzip' }));
}

const CASES: Case[] = [
  { name: '../escape', entries: [{ name: '../escape', data: 'x' }], rejects: /\.\.\/escape: path has a '\.\.' component/ },
  {
    name: 'a/../../escape',
    entries: [{ name: 'a/../../escape', data: 'x' }],
    rejects: /a\/\.\.\/\.\.\/escape: path has a '\.\.' component/,
  },
  {
    name: 'absolute /etc/x is taken relative to the root',
    entries: [{ name: '/etc/x', data: 'x' }],
    contained: (t) => assert.equal(fs.readFileSync(path.join(t, 'etc/x'), 'utf8'), 'x'),
  },
  {
    name: 'symlink evil -> / then evil/escape lands inside',
    entries: [
      { name: 'evil', type: 'symlink', linkname: '/' },
      { name: 'evil/escape', data: 'x' },
    ],
    contained: (t) => assert.equal(fs.readFileSync(path.join(t, 'escape'), 'utf8'), 'x'),
  },
  {
    name: 'symlink up -> ../../.. then up/escape lands inside',
    entries: [
      { name: 'up', type: 'symlink', linkname: '../../..' },
      { name: 'up/escape', data: 'x' },
    ],
    contained: (t) => assert.equal(fs.readFileSync(path.join(t, 'escape'), 'utf8'), 'x'),
  },
  {
    name: 'symlink to outside then a hardlink through it',
    entries: [
      { name: 'out', type: 'symlink', linkname: '../sentinel' },
      { name: 'steal', type: 'hardlink', linkname: 'out/secret' },
    ],
    rejects: /steal: hardlink target out\/secret is not in the layer root/,
  },
  {
    name: 'hardlink to ../../outside',
    entries: [{ name: 'h', type: 'hardlink', linkname: '../../outside' }],
    rejects: /h: hardlink target \.\.\/\.\.\/outside: path has a '\.\.' component/,
  },
  {
    name: 'hardlink to an absolute host path',
    entries: [{ name: 'h', type: 'hardlink', linkname: '/etc/passwd' }],
    rejects: /h: hardlink target \/etc\/passwd is not in the layer root/,
  },
  {
    // each entry's ancestors are kept: 20,000 components in a 40 KiB path cost ctl-apply 400 MB
    name: 'a directory path longer than PATH_MAX',
    entries: [{ name: 'd/'.repeat(2100) + 'deep', type: 'dir' }],
    rejects: /path is longer than PATH_MAX/,
  },
  { name: 'whiteout .wh..', entries: [{ name: '.wh..' }], rejects: /\.wh\.\.: invalid whiteout name/ },
  { name: 'whiteout ../.wh.x', entries: [{ name: '../.wh.x' }], rejects: /\.\.\/\.wh\.x: path has a '\.\.' component/ },
  {
    name: 'whiteout through a symlink pointing out (remove mode)',
    entries: [{ name: 'out', type: 'symlink', linkname: '../sentinel' }, { name: 'out/.wh.secret' }],
    contained: (t) => assert.ok(fs.lstatSync(path.join(t, 'out')).isSymbolicLink()),
  },
  {
    name: 'whiteout through a symlink pointing out (overlay mode)',
    whiteouts: 'overlay',
    entries: [{ name: 'out', type: 'symlink', linkname: '/sentinel' }, { name: 'out/.wh.secret' }],
    rejects: /mknod whiteout out\/secret: No such file or directory/,
  },
  {
    name: 'opaque through a symlink pointing out',
    entries: [{ name: 'out', type: 'symlink', linkname: '../sentinel' }, { name: 'out/.wh..wh..opq' }],
    contained: (t) => assert.ok(fs.lstatSync(path.join(t, 'out')).isSymbolicLink()),
  },
  {
    name: 'a device node with devices: false is skipped',
    devices: false,
    entries: [
      { name: 'sda', type: 'block', major: 8, minor: 0 },
      { name: 'mem', type: 'char', major: 1, minor: 1 },
    ],
    contained: (t) => assert.deepEqual(fs.readdirSync(t), []),
  },
  {
    name: 'trusted.overlay.opaque set through an xattr is dropped',
    entries: [{ name: 'd/', type: 'dir', xattrs: { 'trusted.overlay.opaque': 'y', 'user.ok': '1' } }],
    contained: (t) => {
      assert.equal(getXattr(path.join(t, 'd'), 'trusted.overlay.opaque'), undefined);
      assert.equal(getXattr(path.join(t, 'd'), 'user.ok'), '1');
    },
  },
  {
    name: 'a truncated gzip',
    raw: (fx) => {
      const g = gzipOf(fx, [{ name: 'big', randomBytes: 200000 }]);
      return g.subarray(0, g.length >> 1);
    },
    rejects: /truncated|unexpected end|premature|damaged/i,
  },
  {
    name: 'a corrupted gzip',
    raw: (fx) => {
      const g = Buffer.from(
        gzipOf(fx, [
          { name: 'f', data: 'hello '.repeat(5000) },
          { name: 'g', data: 'more' },
        ]),
      );
      for (let i = 20; i < g.length - 8; i += 7) g[i] ^= 0x5a;
      return g;
    },
    rejects: /./,
  },
  {
    name: 'a non-tar blob',
    raw: () => Buffer.from('this is not a tar archive at all\n'.repeat(40)),
    rejects: /not a tar archive|Unrecognized|damaged/i,
  },
];

describe('applyLayer: malicious corpus', function () {
  let fx: LayerFixture;
  before(function () {
    if (!isRoot) this.skip();
    fx = new LayerFixture();
  });
  after(() => fx?.destroy());

  for (const c of CASES) {
    it(c.name, async () => {
      // <case>/sentinel beside <case>/root: what ../ and absolute paths would reach
      const base = fx.fresh('case');
      const target = path.join(base, 'root');
      const sentinel = path.join(base, 'sentinel');
      fs.mkdirSync(target);
      fs.mkdirSync(sentinel);
      fs.writeFileSync(path.join(sentinel, 'secret'), 'secret');
      const input = path.join(base, 'layer');
      if (c.raw) fs.writeFileSync(input, c.raw(fx));
      else fs.copyFileSync(makeTar(fx.fresh('m.tar', false), c.entries ?? []), input);
      // fuzz/make-seeds.sh takes these layers as seeds for the fuzz harnesses
      if (process.env.CTL_FUZZ_SEEDS)
        fs.copyFileSync(input, path.join(process.env.CTL_FUZZ_SEEDS, `malicious-${c.name.replace(/\W+/g, '_')}`));
      const before = listTree(base).filter((l) => !l.startsWith('root'));
      const hostPasswd = fs.statSync('/etc/passwd');
      try {
        await applyLayer({ input, target, whiteouts: c.whiteouts ?? 'remove', devices: c.devices });
        assert.equal(c.rejects, undefined, 'the layer should have been rejected');
        c.contained?.(target);
      } catch (err) {
        if (!c.rejects || !(err instanceof EngineError)) throw err;
        assert.equal(err.kind, ErrorKind.InvalidArgument, err.message);
        assert.match(err.message, /^ctl-apply: /);
        assert.match(err.message, c.rejects);
      }
      assert.deepEqual(
        listTree(base).filter((l) => !l.startsWith('root')),
        before,
        'something outside the target changed',
      );
      assert.equal(fs.statSync('/etc/passwd').mtimeMs, hostPasswd.mtimeMs);
      assert.equal(fs.existsSync(path.join(path.dirname(base), 'escape')), false);
      assert.equal(fs.existsSync('/escape'), false);
    });
  }
});
