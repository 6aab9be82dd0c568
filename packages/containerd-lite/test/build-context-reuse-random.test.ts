/**
 * Extraction over an earlier context (untar.ts's reuse) against extraction into an empty
 * directory, on random pairs of small tars (a fixed seed: the same pairs every run) whose names
 * collide on purpose: files, directories, symbolic and hard links taking each other's places.
 * The second tar over the first must give the same tree as the second alone, or fail the same way.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type FileDigests, extractContext } from '../src/build/context';
import { type Entry, TempDirs, chunks, tarOf } from './build-helpers';

/** mulberry32: small, seeded, good enough to pick test cases. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTar(next: () => number): Entry[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const name = () => Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(['a', 'b', 'c'])).join('/');
  const owner = () => pick([0, 1000]);
  const mtime = new Date(pick([1_000_000_000_000, 1_600_000_000_000]));
  const files: string[] = [];
  return Array.from({ length: 2 + Math.floor(next() * 8) }, (): Entry => {
    const kind = pick(['file', 'file', 'file', 'file', 'file', 'dir', 'dir', 'symlink', 'link'] as const);
    const common = { uid: owner(), gid: owner(), mtime };
    // A hard link mostly to an earlier file (else to anything: refused, unless it happens to be one).
    if (kind === 'link')
      return { name: name(), type: 'link', linkname: files.length && next() < 0.8 ? pick(files) : name(), mode: 0o644, ...common };
    if (kind === 'dir') return { name: `${name()}/`, mode: pick([0o755, 0o700, 0o2775]), ...common };
    if (kind === 'symlink') return { name: name(), type: 'symlink', linkname: pick(['a', 'b/c', '../..', '/etc']), ...common };
    const file = name();
    files.push(file);
    return { name: file, data: pick(['x', 'y', 'xy', '']), mode: pick([0o644, 0o600, 0o4755]), ...common };
  });
}

/** The tree as extraction decides it (directory mtimes left out: an implied one's is the time it was made). */
function snapshot(root: string): string[] {
  const classes = new Map<number, string>();
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, name));
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.push(`${path}/ ${meta}`);
        walk(join(dir, name), path);
      } else if (st.isSymbolicLink()) out.push(`${path} -> ${readlinkSync(join(dir, name))} ${st.uid}:${st.gid} ${st.mtimeMs}`);
      else {
        if (!classes.has(st.ino)) classes.set(st.ino, path);
        out.push(`${path} ${meta} ${st.mtimeMs} ${readFileSync(join(dir, name), 'utf8')} inode-of:${classes.get(st.ino)}`);
      }
    }
  };
  walk(root, '');
  return out;
}

describe('build context reuse against an empty directory, on random tars', () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  it('gives the same tree, digests and refusals for 300 pairs of tars', async () => {
    const next = random(20240613);
    let compared = 0;
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const base = temp.make();
      const digests: FileDigests = new Map();
      const extract = async (entries: Entry[], dir: string, known: FileDigests, reuse: boolean): Promise<string> => {
        try {
          await extractContext(chunks(await tarOf(entries), 200), dir, {}, { digests: known, reuse });
          return '';
        } catch (err) {
          // A system call's message names the host path: the same in both but for the directory.
          return (err as Error).message.replaceAll(dir, '<root>');
        }
      };
      // Only a context extracted whole is kept for the next build: the first tar is one that extracts.
      let first = randomTar(next);
      for (let tries = 0; await extract(first, join(base, 'reused', String(tries)), digests, false); tries++) {
        digests.clear();
        first = randomTar(next);
      }
      const reused = join(
        base,
        'reused',
        readdirSync(join(base, 'reused'))
          .sort((a, b) => Number(a) - Number(b))
          .pop()!,
      );
      const second = randomTar(next);
      const freshDigests: FileDigests = new Map();
      const [overError, freshError] = [
        await extract(second, reused, digests, true),
        await extract(second, join(base, 'fresh'), freshDigests, false),
      ];
      const label = `pair ${i}: ${JSON.stringify(first.map((e) => [e.name, e.type ?? (e.data !== undefined ? 'file' : 'dir'), e.linkname]))} then ${JSON.stringify(second.map((e) => [e.name, e.type ?? (e.data !== undefined ? 'file' : 'dir'), e.linkname]))}`;
      assert.equal(overError, freshError, label);
      if (freshError) {
        refused++;
        continue;
      }
      assert.deepEqual(snapshot(reused), snapshot(join(base, 'fresh')), label);
      // Each file's digest is that of its bytes (a file a later entry removed may leave one for an inode no file has).
      const files = (root: string, known: FileDigests) => {
        const walk = (dir: string) => {
          for (const name of readdirSync(dir)) {
            const st = lstatSync(join(dir, name));
            if (st.isDirectory()) walk(join(dir, name));
            else if (st.isFile()) {
              assert.equal(
                known.get(st.ino)?.digest,
                createHash('sha256')
                  .update(readFileSync(join(dir, name)))
                  .digest('hex'),
                label,
              );
            }
          }
        };
        walk(root);
      };
      files(reused, digests);
      files(join(base, 'fresh'), freshDigests);
      compared++;
    }
    assert.ok(compared > 100 && refused > 60, `${compared} compared, ${refused} refused alike`);
  });
});
