/** Fixtures for the build tests: tars with full headers, compressors, temp directories removed after each test. */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

export interface Entry {
  name: string;
  type?: tar.Header['type'];
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

export const MTIME = new Date('2021-03-04T05:06:07Z');

export async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const out = buffer(pack);
  for (const e of entries) {
    const type = e.type ?? (e.data !== undefined ? 'file' : 'directory');
    const header: tar.Header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? MTIME,
      size: 0,
      linkname: e.linkname ?? '',
      uname: '',
      gname: '',
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, e.data ?? '', cb);
      else pack.entry(header, cb).end(null);
    });
  }
  pack.finalize();
  return out;
}

export const gzip = (b: Buffer): Buffer => gzipSync(b);
export const bzip2 = (b: Buffer): Buffer => execFileSync('bzip2', ['-c'], { input: b });
export const xz = (b: Buffer): Buffer => execFileSync('xz', ['-c'], { input: b });
export const zstd = (b: Buffer): Buffer => execFileSync('zstd', ['-c', '-q'], { input: b });

/** Chunks of a buffer as a client streams them, a few bytes at a time. */
export async function* chunks(b: Buffer, size = 777): AsyncIterable<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** Temp directories, all removed by cleanup(). */
export class TempDirs {
  private readonly made: string[] = [];

  make(prefix = 'ctl-build-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.made.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.made.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** The names under dir, recursively, sorted, links not followed: "a/", "a/b", "l -> t". */
export function listing(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) out.push(`${prefix}${name}/`, ...listing(path, `${prefix}${name}/`));
    else if (st.isSymbolicLink()) out.push(`${prefix}${name} -> ${readlinkSync(path)}`);
    else out.push(`${prefix}${name}`);
  }
  return out;
}
