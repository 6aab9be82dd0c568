/**
 * A tar stream read as it comes, synchronously: each chunk pushed gives the events its bytes
 * complete (an entry's header, pieces of its data as views of the chunk, its end). The formats
 * and quirks are tar-stream's, which this replaces for extraction: ustar and GNU headers (v7
 * ones refused as unknown), pax extended headers ('x', over the global 'g' ones) for path,
 * linkpath and size, extended attributes from `SCHILY.xattr.<name>` records (GNU tar's, docker's,
 * BuildKit's and libarchive's; values as raw bytes), GNU long names ('L', 'K'), base-256 numbers,
 * zero blocks skipped. A stream
 * library's machinery per entry (a readable, listeners, promises) cost more than extracting a
 * small file; here an entry is a few object allocations.
 */
export type TarType =
  | 'file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'contiguous-file'
  | 'pax-header'
  | 'pax-global-header'
  | 'gnu-long-path'
  | 'gnu-long-link-path'
  | 'gnu-dumpdir'
  | 'gnu-multivol'
  | 'gnu-sparse'
  | 'gnu-volume-header'
  | null;

export interface TarHeader {
  name: string;
  type: TarType;
  /** with the file type bits, as written */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkname: string | null;
  /** extended attributes (pax SCHILY.xattr records), when the entry has any */
  xattrs?: Map<string, Buffer>;
}

export type TarEvent = { header: TarHeader } | { data: Buffer } | { end: TarHeader };

const BLOCK = 512;
/** The largest pax or GNU long-name payload taken (tar-stream's bound too). */
const MAX_LONG_HEADER = 1 << 20;

const TYPES: Record<string, TarType> = {
  '0': 'file',
  '\0': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  '7': 'contiguous-file',
  x: 'pax-header',
  g: 'pax-global-header',
  L: 'gnu-long-path',
  K: 'gnu-long-link-path',
  D: 'gnu-dumpdir',
  M: 'gnu-multivol',
  S: 'gnu-sparse',
  V: 'gnu-volume-header',
};

/** A numeric field: octal text (leading spaces, ending at the first non-digit) or base-256 when its first bit is set. */
function number(block: Buffer, offset: number, length: number): number {
  if (block[offset]! & 0x80) {
    const negative = block[offset] === 0xff;
    let value = 0;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + (negative ? 0xff - block[i]! : block[i]!);
    return negative ? -value : value;
  }
  let i = offset;
  const end = offset + length;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  for (; i < end; i++) {
    const c = block[i]!;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
  }
  return value;
}

function text(block: Buffer, offset: number, length: number): string {
  const nul = block.indexOf(0, offset);
  return block.toString('utf8', offset, nul < 0 || nul > offset + length ? offset + length : nul);
}

/** The checksum holds (unsigned, or signed as some old tars sum); false for an all-zero block too. */
function checksumHolds(block: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += (b << 24) >> 24;
  }
  const stored = number(block, 148, 8);
  return stored === unsigned || stored === signed;
}

const isZero = (block: Buffer): boolean => {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
};

const XATTR_KEY = Buffer.from('SCHILY.xattr.');

/** pax records: "<length> <key>=<value>\n"; extended attributes apart, their values' bytes as they are. */
function paxRecords(data: Buffer): { records: Record<string, string>; xattrs?: Map<string, Buffer> } {
  const out: Record<string, string> = {};
  let xattrs: Map<string, Buffer> | undefined;
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = parseInt(data.toString('latin1', at, space), 10);
    if (!(length > 0) || at + length > data.length) break;
    if (data.subarray(space + 1, space + 1 + XATTR_KEY.length).equals(XATTR_KEY)) {
      const eq = data.indexOf(0x3d, space + 1);
      if (eq < 0 || eq >= at + length - 1) break;
      xattrs ??= new Map();
      xattrs.set(data.toString('utf8', space + 1 + XATTR_KEY.length, eq), Buffer.from(data.subarray(eq + 1, at + length - 1)));
      at += length;
      continue;
    }
    const record = data.toString('utf8', space + 1, at + length - 1);
    const eq = record.indexOf('=');
    if (eq < 0) break;
    out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return xattrs ? { records: out, xattrs } : { records: out };
}

export class TarReader {
  /** what the bytes are for now */
  private state: 'header' | 'data' | 'long' | 'skip' = 'header';
  /** bytes still owed to the state (data, long payload, padding to skip) */
  private remaining = 0;
  /** a header or long payload split across chunks */
  private partial: Buffer[] = [];
  private partialLength = 0;
  private header: TarHeader | undefined;
  private longType: TarType = null;
  private longPath: string | undefined;
  private longLinkPath: string | undefined;
  private pax: Record<string, string> | undefined;
  private paxXattrs: Map<string, Buffer> | undefined;
  private paxGlobal: Record<string, string> | undefined;

  /** The events the chunk's bytes complete. Throws Error for what is not a tar. */
  *push(chunk: Buffer): Generator<TarEvent> {
    let at = 0;
    while (at < chunk.length) {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, chunk.length - at);
        yield { data: chunk.subarray(at, at + take) };
        at += take;
        this.remaining -= take;
        if (this.remaining === 0) yield* this.endEntry();
        continue;
      }
      if (this.state === 'skip') {
        const take = Math.min(this.remaining, chunk.length - at);
        at += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'header';
        continue;
      }
      const need = this.state === 'header' ? BLOCK : this.remaining;
      let whole: Buffer | undefined;
      if (this.partialLength === 0 && chunk.length - at >= need) {
        whole = chunk.subarray(at, at + need);
        at += need;
      } else {
        const take = Math.min(need - this.partialLength, chunk.length - at);
        this.partial.push(chunk.subarray(at, at + take));
        this.partialLength += take;
        at += take;
        if (this.partialLength < need) continue;
        whole = Buffer.concat(this.partial, need);
        this.partial = [];
        this.partialLength = 0;
      }
      if (this.state === 'header') yield* this.onHeader(whole);
      else this.onLong(whole);
    }
  }

  /** The stream ended: throws when it did so inside an entry or header. */
  finish(): void {
    if (this.state !== 'header' || this.partialLength > 0) throw new Error('Unexpected end of data');
  }

  private *onHeader(block: Buffer): Generator<TarEvent> {
    if (isZero(block)) return;
    if (!checksumHolds(block)) throw new Error('Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?');
    const magic = block.toString('latin1', 257, 263);
    const ustar = magic === 'ustar\0';
    if (!ustar && !(magic === 'ustar ' && block[263] === 0x20 && block[264] === 0)) throw new Error('Invalid tar header: unknown format.');
    const flag = String.fromCharCode(block[156]!);
    let type: TarType = TYPES[flag] ?? null;
    let name = text(block, 0, 100);
    if (ustar && block[345]) name = `${text(block, 345, 155)}/${name}`;
    if (type === 'file' && name.endsWith('/')) type = 'directory';
    const size = number(block, 124, 12);
    if (type === 'pax-header' || type === 'pax-global-header' || type === 'gnu-long-path' || type === 'gnu-long-link-path') {
      if (size > MAX_LONG_HEADER) throw new Error('Header exceeds max size');
      this.longType = type;
      this.state = 'long';
      this.remaining = size;
      if (size === 0) this.onLong(Buffer.alloc(0));
      return;
    }
    const header: TarHeader = {
      name,
      type,
      mode: number(block, 100, 8),
      uid: number(block, 108, 8),
      gid: number(block, 116, 8),
      size,
      mtime: new Date(number(block, 136, 12) * 1000),
      linkname: block[157] === 0 ? null : text(block, 157, 100),
    };
    if (this.longPath !== undefined) header.name = this.longPath;
    if (this.longLinkPath !== undefined) header.linkname = this.longLinkPath;
    if (this.pax) {
      if (this.pax.path) header.name = this.pax.path;
      if (this.pax.linkpath) header.linkname = this.pax.linkpath;
      if (this.pax.size) header.size = parseInt(this.pax.size, 10);
    }
    if (this.paxXattrs) header.xattrs = this.paxXattrs;
    this.longPath = this.longLinkPath = this.pax = this.paxXattrs = undefined;
    if (!(header.size >= 0)) throw new Error('Invalid header');
    this.header = header;
    yield { header };
    // A directory's bytes, if any, are not its contents: skipped as tar-stream does.
    if (header.size === 0 || header.type === 'directory') {
      yield* this.endEntry();
      return;
    }
    this.state = 'data';
    this.remaining = header.size;
  }

  private *endEntry(): Generator<TarEvent> {
    const header = this.header!;
    this.header = undefined;
    const padded =
      header.type === 'directory' ? header.size + ((BLOCK - (header.size % BLOCK)) % BLOCK) : (BLOCK - (header.size % BLOCK)) % BLOCK;
    this.state = padded ? 'skip' : 'header';
    this.remaining = padded;
    yield { end: header };
  }

  private onLong(data: Buffer): void {
    switch (this.longType) {
      case 'gnu-long-path':
        this.longPath = text(data, 0, data.length);
        break;
      case 'gnu-long-link-path':
        this.longLinkPath = text(data, 0, data.length);
        break;
      case 'pax-global-header':
        this.paxGlobal = paxRecords(data).records;
        break;
      default: {
        const { records, xattrs } = paxRecords(data);
        this.pax = { ...this.paxGlobal, ...records };
        this.paxXattrs = xattrs;
      }
    }
    const padded = (BLOCK - (data.length % BLOCK)) % BLOCK;
    this.state = padded ? 'skip' : 'header';
    this.remaining = padded;
  }
}
