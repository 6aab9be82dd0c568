import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from './fsutil';

describe('fsutil atomic writes', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fsutil-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces a file whole and leaves no temporary behind', () => {
    const file = join(dir, 'state.json');
    writeFileSync(file, 'old');
    writeJsonAtomic(file, { a: 1 });
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { a: 1 });
    writeFileAtomic(file, Buffer.from('bytes'));
    assert.equal(readFileSync(file, 'utf8'), 'bytes');
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  it('creates with the mode asked for (0600 by default)', () => {
    writeFileAtomic(join(dir, 'private'), 'x');
    writeJsonAtomic(join(dir, 'shared'), [], { mode: 0o644, indent: 2 });
    assert.equal(statSync(join(dir, 'private')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'shared')).mode & 0o777, 0o644);
  });

  it('removes the temporary and leaves what was there when the rename fails', () => {
    // A non-empty directory in the way makes the rename fail after the temporary was written.
    const target = join(dir, 'target');
    mkdirSync(join(target, 'child'), { recursive: true });
    assert.throws(() => writeFileAtomic(target, 'new'), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(readdirSync(dir), ['target']);
    assert.deepEqual(readdirSync(target), ['child']);
  });
});
