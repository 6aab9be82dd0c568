/**
 * The synchronous tar reader (src/build/tar-reader.ts) against tar-stream, whose formats it
 * takes over: the same headers and bytes for archives GNU tar writes in each of its formats and
 * for tar-stream's own, whatever the chunks; the same refusals.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { type TarHeader, TarReader } from '../src/build/tar-reader';
import { TempDirs, tarOf } from './build-helpers';

interface Read {
  name: string;
  type: string | null;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string | null;
  sha256: string;
}

const describeEntry = (h: TarHeader | tar.Header, data: Buffer): Read => ({
  name: h.name,
  type: h.type ?? null,
  mode: h.mode ?? 0,
  uid: h.uid ?? 0,
  gid: h.gid ?? 0,
  size: h.size ?? 0,
  mtime: h.mtime?.getTime() ?? 0,
  linkname: h.linkname ?? null,
  sha256: createHash('sha256').update(data).digest('hex'),
});

/** What the reader makes of the archive pushed in pieces of the given size. */
function readAll(archive: Buffer, piece: number): Read[] {
  const reader = new TarReader();
  const out: Read[] = [];
  let header: TarHeader | undefined;
  let data: Buffer[] = [];
  for (let at = 0; at < archive.length; at += piece) {
    for (const e of reader.push(archive.subarray(at, at + piece))) {
      if ('header' in e) {
        header = e.header;
        data = [];
      } else if ('data' in e) data.push(Buffer.from(e.data));
      else {
        assert.equal(e.end, header);
        out.push(describeEntry(header!, Buffer.concat(data)));
      }
    }
  }
  reader.finish();
  return out;
}

async function readWithTarStream(archive: Buffer): Promise<Read[]> {
  const extract = tar.extract();
  const out: Read[] = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      out.push(describeEntry(entry.header, Buffer.concat(chunks)));
    }
  })();
  extract.end(archive);
  await reading;
  return out;
}

describe('tar reader', () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  /** A tree with what the formats differ on: long names and link targets, modes, a hard link, an empty file. */
  function tree(): string {
    const dir = join(temp.make(), 'tree');
    const long = join(dir, 'd'.repeat(90), 'e'.repeat(90));
    mkdirSync(long, { recursive: true });
    writeFileSync(join(long, `${'f'.repeat(120)}.txt`), 'deep and long\n'.repeat(100));
    writeFileSync(join(dir, 'small'), 'x');
    writeFileSync(join(dir, 'empty'), '');
    writeFileSync(join(dir, 'été'), 'unicode name');
    symlinkSync(`../${'t'.repeat(150)}`, join(dir, 'long-link'));
    execFileSync('ln', [join(dir, 'small'), join(dir, 'hard')]);
    execFileSync('chmod', ['4755', join(dir, 'small')]);
    writeFileSync(join(dir, 'big'), Buffer.alloc(70_000, 7));
    return dir;
  }

  for (const format of ['gnu', 'oldgnu', 'ustar', 'posix']) {
    it(`reads GNU tar's ${format} format as tar-stream does, in any chunks`, async () => {
      const dir = tree();
      const archive = join(dir, '..', 'a.tar');
      const names = format === 'ustar' ? ['small', 'empty', 'hard', 'big', 'été'] : ['.'];
      execFileSync('tar', [`--format=${format}`, '-cf', archive, '-C', dir, ...names]);
      const bytes = readFileSync(archive);
      const expected = await readWithTarStream(bytes);
      assert.ok(expected.length >= 5);
      for (const piece of [1, 100, 511, 512, 513, 4096, bytes.length])
        assert.deepEqual(readAll(bytes, piece), expected, `pieces of ${piece}`);
    });
  }

  it("reads tar-stream's own archives, pax headers and zero-length entries included", async () => {
    const archive = await tarOf([
      { name: 'dir/' },
      { name: 'dir/f', data: 'data', mode: 0o640, uid: 1000, gid: 1000 },
      { name: `${'n'.repeat(200)}/file`, data: 'long' },
      { name: 'l', type: 'symlink', linkname: 'dir/f' },
      { name: 'h', type: 'link', linkname: 'dir/f' },
      { name: 'fifo', type: 'fifo' },
      { name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 },
    ]);
    assert.deepEqual(readAll(archive, 777), await readWithTarStream(archive));
  });

  it('takes a size from base-256 and from pax, and pax global records under later pax ones', () => {
    const block = (name: string, flag: string, size: number | Buffer, magic = 'ustar\0'): Buffer => {
      const b = Buffer.alloc(512);
      b.write(name, 0);
      b.write('0000644\0', 100);
      b.write('0000000\0', 108);
      b.write('0000000\0', 116);
      if (typeof size === 'number') b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
      else size.copy(b, 124);
      b.write('14000000000\0', 136);
      b.write(flag, 156);
      b.write(magic, 257);
      b.write('00', 263);
      b.fill(0x20, 148, 156);
      let sum = 0;
      for (const x of b) sum += x;
      b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
      return b;
    };
    const padded = (data: Buffer) => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
    const record = (k: string, v: string) => {
      const body = ` ${k}=${v}\n`;
      let n = body.length + 2;
      while (String(n).length + body.length !== n) n = String(n).length + body.length;
      return `${n}${body}`;
    };
    const base256 = Buffer.alloc(12);
    base256[0] = 0x80;
    base256[11] = 3;
    const global = Buffer.from(record('comment', 'from git') + record('path', 'ignored-alone'));
    const local = Buffer.from(record('path', 'from-pax'));
    const archive = Buffer.concat([
      block('b256', '0', base256),
      padded(Buffer.from('abc')),
      block('pax_global_header', 'g', global.length),
      padded(global),
      block('plain', '0', 1),
      padded(Buffer.from('p')),
      block('PaxHeaders/x', 'x', local.length),
      padded(local),
      block('short', '0', 2),
      padded(Buffer.from('xy')),
      Buffer.alloc(1024),
    ]);
    assert.deepEqual(
      readAll(archive, 300).map((r) => [r.name, r.size]),
      [
        ['b256', 3],
        ['plain', 1],
        ['from-pax', 2],
      ],
    );
  });

  it('refuses what is not a tar, v7 headers, and a stream cut short', async () => {
    const refuses = (bytes: Buffer, message: RegExp) => assert.throws(() => readAll(bytes, 512), message);
    refuses(Buffer.from('not a tar at all '.repeat(40)), /Invalid tar header. Maybe the tar is corrupted/);
    const archive = await tarOf([{ name: 'f', data: 'x'.repeat(1000) }]);
    refuses(archive.subarray(0, 700), /Unexpected end of data/);
    refuses(archive.subarray(0, 300), /Unexpected end of data/);
    const v7 = Buffer.from(archive.subarray(0, 512));
    v7.fill(0, 257, 265);
    v7.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of v7) sum += x;
    v7.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    refuses(Buffer.concat([v7, archive.subarray(512)]), /unknown format/);
    assert.deepEqual(readAll(Buffer.alloc(0), 512), []);
    assert.deepEqual(readAll(Buffer.alloc(10240), 512), [], 'only end blocks');
  });
});
