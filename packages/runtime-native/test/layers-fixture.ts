/**
 * Fixtures for the layer tests: tars crafted entry by entry (python3's tarfile, which writes
 * whatever name or link it is given, so hostile entries are easy to make), compressed with the
 * gzip/zstd CLIs; temp dirs and mounts that are removed again also when a test fails; and a
 * listing of a tree for comparing two of them.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const isRoot = process.getuid?.() === 0;

export interface TarEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'char' | 'block';
  data?: string;
  /** bytes of deterministic pseudo-random data instead of data */
  randomBytes?: number;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  xattrs?: Record<string, string>;
  major?: number;
  minor?: number;
}

const TAR_SCRIPT = `
import json, sys, tarfile, io, random
spec = json.load(sys.stdin)
types = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE,
         'fifo': tarfile.FIFOTYPE, 'char': tarfile.CHRTYPE, 'block': tarfile.BLKTYPE}
with open(spec['out'], 'wb') as f:
    tf = tarfile.open(fileobj=f, mode='w', format=tarfile.PAX_FORMAT)
    for e in spec['entries']:
        ti = tarfile.TarInfo(e['name'])
        ti.type = types[e.get('type', 'file')]
        ti.mode = e.get('mode', 0o755 if ti.type == tarfile.DIRTYPE else 0o644)
        ti.uid = e.get('uid', 0); ti.gid = e.get('gid', 0)
        ti.uname = ''; ti.gname = ''
        ti.mtime = e.get('mtime', 1700000000)
        ti.linkname = e.get('linkname', '')
        ti.devmajor = e.get('major', 0); ti.devminor = e.get('minor', 0)
        ti.pax_headers = {'SCHILY.xattr.' + k: v for k, v in e.get('xattrs', {}).items()}
        data = None
        if 'randomBytes' in e:
            data = random.Random(e['name']).randbytes(e['randomBytes'])
        elif ti.type == tarfile.REGTYPE:
            data = e.get('data', '').encode()
        if data is not None:
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        else:
            tf.addfile(ti)
    tf.close()
    f.write(b'\\0' * spec.get('trailingZeros', 0))
`;

export type Compression = 'none' | 'gzip' | 'zstd';

/** Write entries as a PAX tar at file (+ .gz/.zst when compressed); returns the layer's path. */
export function makeTar(file: string, entries: TarEntry[], opts: { compression?: Compression; trailingZeros?: number } = {}): string {
  execFileSync('python3', ['-c', TAR_SCRIPT], { input: JSON.stringify({ out: file, entries, trailingZeros: opts.trailingZeros ?? 0 }) });
  switch (opts.compression ?? 'none') {
    case 'gzip':
      execFileSync('gzip', ['-kf', file]);
      return `${file}.gz`;
    case 'zstd':
      execFileSync('zstd', ['-qf', file, '-o', `${file}.zst`]);
      return `${file}.zst`;
    default:
      return file;
  }
}

export function sha256Of(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha256File(file: string): string {
  return sha256Of(fs.readFileSync(file));
}

export function getXattr(file: string, name: string): string | undefined {
  const out = execFileSync(
    'python3',
    [
      '-c',
      `import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())\nexcept OSError: sys.stdout.write('\\0')`,
      file,
      name,
    ],
    { encoding: 'utf8' },
  );
  return out === '\0' ? undefined : out;
}

export function setXattr(file: string, name: string, value: string): void {
  execFileSync('python3', [
    '-c',
    'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)',
    file,
    name,
    value,
  ]);
}

/** A temp dir for one suite, with the mounts made in it; destroy() undoes both. */
export class LayerFixture {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-layers-'));
  private mounts: string[] = [];
  private n = 0;

  /** A new empty directory (or the path for a file, with mkdir false). */
  fresh(name: string, mkdir = true): string {
    const p = path.join(this.dir, `${++this.n}-${name}`);
    if (mkdir) fs.mkdirSync(p, { recursive: true });
    return p;
  }

  mount(args: string[], target: string): void {
    execFileSync('mount', [...args, target]);
    this.mounts.push(target);
  }

  umount(target: string): void {
    execFileSync('umount', [target]);
    this.mounts = this.mounts.filter((m) => m !== target);
  }

  overlay(lower: string, upper: string): string {
    const work = this.fresh('work');
    const merged = this.fresh('merged');
    this.mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`], merged);
    return merged;
  }

  destroy(): void {
    for (const m of this.mounts.reverse()) {
      try {
        execFileSync('umount', [m]);
      } catch {
        execFileSync('umount', ['-l', m]);
      }
    }
    this.mounts = [];
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * One line per path under root: type, mode, owner, size, link target, content hash, device and
 * mtime (directories' mtimes left out: applying a file into a directory that the layer does not
 * list changes that directory's mtime, as with every applier).
 */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      const type = st.isDirectory()
        ? 'd'
        : st.isSymbolicLink()
          ? 'l'
          : st.isFile()
            ? 'f'
            : st.isFIFO()
              ? 'p'
              : st.isCharacterDevice()
                ? 'c'
                : st.isBlockDevice()
                  ? 'b'
                  : '?';
      const parts = [r, type, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`];
      if (type === 'f') parts.push(String(st.size), sha256File(p));
      if (type === 'l') parts.push(fs.readlinkSync(p));
      if (type === 'c' || type === 'b') parts.push(String(st.rdev));
      if (type !== 'd') parts.push(String(Math.floor(st.mtimeMs)));
      out.push(parts.join(' '));
      if (type === 'd') walk(r);
    }
  };
  walk('');
  return out;
}
