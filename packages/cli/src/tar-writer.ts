/**
 * Tar headers as bytes (POSIX ustar, with a pax extended header for what ustar cannot hold: long
 * or non-ASCII names, ids past 7 octal digits, sizes past 8 GiB, extended attributes as
 * `SCHILY.xattr.<name>` records, as GNU tar, docker and BuildKit write them), for the build context. The
 * context is made of many small files, and a tar stream library's per-entry machinery (a
 * writable per entry, callbacks, a readable in between) cost far more than the bytes; here an
 * entry is a 512-byte block written into the caller's buffer and nothing else.
 */

export interface TarEntryHeader {
  /** a directory's ends in "/" */
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  /** permission bits (set-id and sticky included); the file type bits are ignored */
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  /** bytes that follow (files only) */
  size: number;
  /** a symlink's target, a hard link's earlier entry */
  linkname?: string;
  /** extended attributes, each a pax record (its value's bytes as they are) */
  xattrs?: ReadonlyMap<string, Buffer>;
}

const BLOCK = 512;
const TYPEFLAG: Record<TarEntryHeader['type'], string> = { file: '0', link: '1', symlink: '2', directory: '5' };
/** The largest values ustar's octal fields hold (7 digits for ids and mode, 11 for size and mtime). */
const MAX_ID = 0o7777777;
const MAX_SIZE = 0o77777777777;

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** Zero bytes that fill a member's data up to the next block. */
export const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

const isAscii = (s: string): boolean => /^[\x20-\x7e]*$/.test(s);

/** name and prefix fields for a path, when ustar can hold it (ASCII, name ≤ 100, prefix ≤ 155, split at a "/"). */
function splitName(path: string): { name: string; prefix: string } | undefined {
  if (!isAscii(path)) return undefined;
  if (path.length <= 100) return { name: path, prefix: '' };
  // The name part may end in "/" (a directory): the split is at a "/" before it.
  for (let i = path.lastIndexOf('/', path.length - 2); i > 0; i = path.lastIndexOf('/', i - 1)) {
    if (path.length - i - 1 > 100) return undefined;
    if (i <= 155) return { name: path.slice(i + 1), prefix: path.slice(0, i) };
  }
  return undefined;
}

/** One pax record: "<length> <key>=<value>\n", the length counting itself (in bytes: a value may be binary). */
function paxRecord(key: string, value: string | Buffer): Buffer {
  const head = Buffer.from(` ${key}=`);
  const body = typeof value === 'string' ? Buffer.from(value) : value;
  const bytes = head.length + body.length + 1;
  let length = bytes + 1;
  while (String(length).length + bytes !== length) length = String(length).length + bytes;
  return Buffer.concat([Buffer.from(String(length)), head, body, NEWLINE]);
}

const NEWLINE = Buffer.from('\n');

/** A header block's constant part: zeros, the checksum field as spaces (as it is summed), ustar's magic and version. */
const TEMPLATE = Buffer.alloc(BLOCK);
TEMPLATE.fill(0x20, 148, 156);
TEMPLATE.write('ustar\0' + '00', 257, 'latin1');
const TEMPLATE_SUM = TEMPLATE.reduce((sum, b) => sum + b, 0);

/**
 * Writes value (ASCII here: names that are not go in pax records) at offset, up to length
 * bytes; its bytes' sum, for the checksum. Byte by byte: a command runs this a thousand times
 * before the JIT has compiled anything, and Buffer.write's checks cost more than the copy.
 */
function put(block: Buffer, offset: number, length: number, value: string): number {
  let sum = 0;
  const n = Math.min(length, value.length);
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    block[offset + i] = c;
    sum += c;
  }
  return sum;
}

/** length - 1 octal digits and the template's NUL, as GNU tar and Go's archive/tar write them; the digits' sum. */
function putOctal(block: Buffer, offset: number, length: number, value: number): number {
  const digits = Math.max(0, Math.floor(value)).toString(8);
  const pad = length - 1 - digits.length;
  for (let i = 0; i < pad; i++) block[offset + i] = 0x30;
  return 0x30 * Math.max(0, pad) + put(block, offset + Math.max(0, pad), length - 1, digits);
}

/** A ustar header block at offset in out (which has room for it). */
interface BlockFields {
  name: string;
  prefix: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
}

function writeBlock(out: Buffer, offset: number, fields: BlockFields): void {
  TEMPLATE.copy(out, offset);
  const sum =
    TEMPLATE_SUM +
    put(out, offset, 100, fields.name) +
    putOctal(out, offset + 100, 8, fields.mode & 0o7777) +
    putOctal(out, offset + 108, 8, fields.uid) +
    putOctal(out, offset + 116, 8, fields.gid) +
    putOctal(out, offset + 124, 12, fields.size) +
    putOctal(out, offset + 136, 12, fields.mtime) +
    put(out, offset + 156, 1, fields.typeflag) +
    put(out, offset + 157, 100, fields.linkname) +
    put(out, offset + 345, 155, fields.prefix);
  put(out, offset + 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
}

/** The bytes of an entry's header: a ustar block, after a pax header when one is needed. */
export function tarHeader(entry: TarEntryHeader): Buffer {
  const pax: Buffer[] = [];
  const split = splitName(entry.name);
  if (!split) pax.push(paxRecord('path', entry.name));
  const linkname = entry.linkname ?? '';
  const linkFits = isAscii(linkname) && linkname.length <= 100;
  if (!linkFits) pax.push(paxRecord('linkpath', linkname));
  const id = (key: 'uid' | 'gid', value: number): number => {
    if (value <= MAX_ID) return value;
    pax.push(paxRecord(key, String(value)));
    return 0;
  };
  const uid = id('uid', entry.uid);
  const gid = id('gid', entry.gid);
  let size = entry.size;
  if (size > MAX_SIZE) {
    pax.push(paxRecord('size', String(size)));
    size = 0;
  }
  const mtime = Math.min(MAX_SIZE, Math.floor(entry.mtime.getTime() / 1000));
  if (entry.xattrs) for (const [name, value] of entry.xattrs) pax.push(paxRecord(`SCHILY.xattr.${name}`, value));
  const fields = {
    name: split?.name ?? entry.name.replace(/[^\x20-\x7e]/g, '_').slice(0, 100),
    prefix: split?.prefix ?? '',
    typeflag: TYPEFLAG[entry.type],
    mode: entry.mode,
    uid,
    gid,
    size,
    mtime,
    linkname: linkFits ? linkname : linkname.replace(/[^\x20-\x7e]/g, '_').slice(0, 100),
  };
  if (!pax.length) {
    const out = Buffer.allocUnsafe(BLOCK);
    writeBlock(out, 0, fields);
    return out;
  }
  const records = Buffer.concat(pax);
  const recordsEnd = BLOCK + records.length;
  const out = Buffer.alloc(recordsEnd + padding(records.length) + BLOCK);
  const base = entry.name.replace(/\/+$/, '').split('/').pop() ?? '';
  writeBlock(out, 0, {
    name: `PaxHeaders/${base.replace(/[^\x20-\x7e]/g, '_')}`.slice(0, 100),
    prefix: '',
    typeflag: 'x',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime,
    linkname: '',
  });
  records.copy(out, BLOCK);
  writeBlock(out, out.length - BLOCK, fields);
  return out;
}
