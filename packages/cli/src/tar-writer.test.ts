import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { TAR_END, type TarEntryHeader, padding, tarHeader } from './tar-writer';

/** An archive of the entries (each file's data that many "x"), as the context packer lays it out. */
function archiveOf(entries: TarEntryHeader[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    if (e.type === 'file') parts.push(Buffer.alloc(e.size, 'x'), Buffer.alloc(padding(e.size)));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

async function readBack(archive: Buffer): Promise<tar.Header[]> {
  const extract = tar.extract();
  const headers: tar.Header[] = [];
  const reading = (async () => {
    for await (const entry of extract) {
      headers.push(entry.header);
      entry.resume();
    }
  })();
  extract.end(archive);
  await reading;
  return headers;
}

const MTIME = new Date('2020-09-13T12:26:40Z');
const base = { mode: 0o644, uid: 0, gid: 0, mtime: MTIME, size: 0 };

describe('tar writer', () => {
  it('writes ustar headers that tar-stream reads back field for field', async () => {
    const entries: TarEntryHeader[] = [
      { ...base, name: 'dir/', type: 'directory', mode: 0o2755, uid: 1000, gid: 1001 },
      { ...base, name: 'dir/file', type: 'file', mode: 0o4751, size: 700 },
      { ...base, name: 'link', type: 'symlink', linkname: '../somewhere/else', mode: 0o777 },
      { ...base, name: 'hard', type: 'link', linkname: 'dir/file', mode: 0 },
      { ...base, name: 'empty', type: 'file', mode: 0 },
    ];
    const headers = await readBack(archiveOf(entries));
    assert.deepEqual(
      headers.map((h) => [h.name, h.type, h.mode, h.uid, h.gid, h.size, h.mtime?.getTime(), h.linkname ?? null]),
      [
        ['dir/', 'directory', 0o2755, 1000, 1001, 0, MTIME.getTime(), null],
        ['dir/file', 'file', 0o4751, 0, 0, 700, MTIME.getTime(), null],
        ['link', 'symlink', 0o777, 0, 0, 0, MTIME.getTime(), '../somewhere/else'],
        ['hard', 'link', 0, 0, 0, 0, MTIME.getTime(), 'dir/file'],
        ['empty', 'file', 0, 0, 0, 0, MTIME.getTime(), null],
      ],
    );
  });

  it('splits a long name into prefix and name when it can, and uses pax when it cannot', async () => {
    const split = `${'p'.repeat(150)}/${'n'.repeat(99)}`;
    const tooLongLast = `short/${'n'.repeat(101)}`;
    const deep = `${'a'.repeat(120)}/${'b'.repeat(120)}/${'c'.repeat(90)}/`;
    const unicode = 'données/été.txt';
    const longLink = `/${'t'.repeat(200)}`;
    assert.equal(tarHeader({ ...base, name: split, type: 'file' }).length, 512, 'prefix and name: one block');
    assert.ok(tarHeader({ ...base, name: tooLongLast, type: 'file' }).length > 512, 'a pax header first');
    const headers = await readBack(
      archiveOf([
        { ...base, name: split, type: 'file', size: 3 },
        { ...base, name: tooLongLast, type: 'file', size: 1 },
        { ...base, name: deep, type: 'directory' },
        { ...base, name: unicode, type: 'file', size: 2 },
        { ...base, name: 'l', type: 'symlink', linkname: longLink },
        { ...base, name: 'é', type: 'symlink', linkname: 'ü' },
      ]),
    );
    assert.deepEqual(
      headers.map((h) => [h.name, h.size, h.linkname ?? null]),
      [
        [split, 3, null],
        [tooLongLast, 1, null],
        [deep, 0, null],
        [unicode, 2, null],
        ['l', 0, longLink],
        ['é', 0, 'ü'],
      ],
    );
  });

  it('puts ids past 7 octal digits in pax records', () => {
    const header = tarHeader({ ...base, name: 'f', type: 'file', uid: 3_000_000, gid: 70_000 });
    const records = header.subarray(512, 1024).toString('latin1');
    assert.match(records, /^\d+ uid=3000000\n/);
    assert.doesNotMatch(records, /gid=/, 'a gid that fits stays in the header');
    // The ustar block after it keeps 0 for the uid.
    assert.equal(header.subarray(header.length - 512 + 108, header.length - 512 + 115).toString('latin1'), '0000000');
  });

  it('makes archives GNU tar lists and extracts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctl-tar-writer-'));
    try {
      const archive = join(dir, 'a.tar');
      const long = `${'d'.repeat(120)}/${'e'.repeat(120)}/f`;
      writeFileSync(
        archive,
        archiveOf([
          { ...base, name: 'a/', type: 'directory', mode: 0o755 },
          { ...base, name: 'a/x', type: 'file', size: 5 },
          { ...base, name: long, type: 'file', size: 1 },
          { ...base, name: 'a/l', type: 'symlink', linkname: 'x', mode: 0o777 },
        ]),
      );
      const listing = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).trim().split('\n');
      assert.deepEqual(listing, ['a/', 'a/x', long, 'a/l']);
      execFileSync('tar', ['-xf', archive, '-C', dir]);
      assert.equal(execFileSync('cat', [join(dir, 'a/l')], { encoding: 'utf8' }), 'xxxxx');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
