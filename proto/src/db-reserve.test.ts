import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Database, openDatabase } from './db';
import { isNoSpace } from './db-reserve';
import { ErrorKind, isKind } from './errors';

const SCHEMA = { version: 1, migrations: [{ version: 1, describe: 'empty', migrate: async () => undefined }] };

/** Writes into dir until the file system is full (as root, with no blocks reserved for root). */
function fill(dir: string): void {
  const fd = openSync(join(dir, `fill-${Date.now()}`), 'w');
  try {
    for (;;) writeSync(fd, Buffer.alloc(1 << 20));
  } catch (err) {
    if (!isNoSpace(err)) throw err;
  } finally {
    closeSync(fd);
  }
  // The last free blocks, one small file each.
  for (let i = 0; i < 100_000; i++) {
    try {
      writeFileSync(join(dir, `small-${Date.now()}-${i}`), 'x');
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      return;
    }
  }
}

describe('databases on a full disk', function () {
  this.timeout(60_000);
  let base: string;
  let mnt: string;
  let db: Database | undefined;

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    base = mkdtempSync(join(tmpdir(), 'ctl-db-full-'));
    mnt = join(base, 'mnt');
    mkdirSync(mnt);
    execFileSync('truncate', ['-s', '24M', join(base, 'disk.img')]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', join(base, 'disk.img')]);
    execFileSync('mount', ['-o', 'loop', join(base, 'disk.img'), mnt]);
  });
  after(async () => {
    await db?.close();
    if (!base) return;
    // A loop mount made with -o loop detaches its device on umount (autoclear).
    if (existsSync(mnt)) {
      try {
        execFileSync('umount', [mnt]);
      } catch {
        execFileSync('umount', ['-l', mnt]);
      }
    }
    rmSync(base, { recursive: true, force: true });
  });

  it('keeps a reserve beside the database, gives it up so writes and a reopen go through, and makes it again', async () => {
    const dir = join(mnt, 'meta');
    db = await openDatabase(dir, SCHEMA);
    assert.ok(existsSync(`${dir}.reserve`), 'a reserve is kept');
    const junk = join(mnt, 'junk');
    mkdirSync(junk);
    fill(junk);

    // Writes on the full disk: put, del, an array batch and a chained one.
    await db.put('a', 1);
    await db.batch([{ type: 'put', key: 'b', value: 2 }]);
    await db.batch().put('c', 3).del('a').write();
    for (let i = 0; i < 50; i++) await db.put(`k${i}`, i);
    assert.equal(existsSync(`${dir}.reserve`), false, 'the reserve went to the writes');

    // A daemon restarting on the full disk opens it, and nothing acknowledged is lost.
    await db.close();
    db = await openDatabase(dir, SCHEMA);
    assert.deepEqual(await db.getMany(['a', 'b', 'c', 'k49']), [undefined, 2, 3, 49]);

    // No reserve left and no room: a clear ResourceExhausted.
    fill(junk);
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 100; i++) await db!.put(`big${i}`, 'x'.repeat(1 << 20));
      })(),
      (err: unknown) => isKind(err, ErrorKind.ResourceExhausted) && /no space left on device for the database/.test((err as Error).message),
    );

    // Space returns: normal service, and the next open makes the reserve again.
    rmSync(junk, { recursive: true, force: true });
    await db.put('after', true);
    await db.close();
    db = await openDatabase(dir, SCHEMA);
    assert.equal(await db.get('after'), true);
    assert.ok(existsSync(`${dir}.reserve`), 'the reserve is back');
  });
});
