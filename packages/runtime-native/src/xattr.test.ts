import { ErrorKind, isKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XattrError, getXattr, isXattrUnsupported, listXattrs, readXattrs, removeXattr, setXattr } from './xattr';

describe('xattr (ctl_xattr.node)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'xattr-test-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sets, lists, reads and removes user.* attributes, binary values whole', () => {
    const file = join(dir, 'f');
    writeFileSync(file, 'x');
    const binary = Buffer.from([0, 1, 2, 0xff, 0, 0x0a]);
    setXattr(file, 'user.b', binary);
    setXattr(file, 'user.a', Buffer.from('text'));
    setXattr(file, 'user.empty', new Uint8Array(0));
    assert.deepEqual(listXattrs(file).sort(), ['user.a', 'user.b', 'user.empty']);
    assert.deepEqual(getXattr(file, 'user.b'), binary);
    assert.equal(getXattr(file, 'user.missing'), undefined);
    assert.deepEqual(
      [...readXattrs(file)],
      [
        ['user.a', Buffer.from('text')],
        ['user.b', binary],
        ['user.empty', Buffer.alloc(0)],
      ],
    );
    removeXattr(file, 'user.a');
    assert.deepEqual(listXattrs(file).sort(), ['user.b', 'user.empty']);
  });

  it('does not follow a symbolic link', () => {
    const file = join(dir, 'f');
    writeFileSync(file, 'x');
    setXattr(file, 'user.on-target', Buffer.from('1'));
    symlinkSync('f', join(dir, 'link'));
    assert.deepEqual(listXattrs(join(dir, 'link')), []);
    assert.equal(getXattr(join(dir, 'link'), 'user.on-target'), undefined);
  });

  it('fails with a kind: NotFound, FailedPrecondition for ENOTSUP, InvalidArgument for bad arguments', () => {
    assert.throws(
      () => getXattr(join(dir, 'nope'), 'user.a'),
      (e: unknown) =>
        e instanceof XattrError && e.code === 'ENOENT' && isKind(e, ErrorKind.NotFound) && /lgetxattr user.a of .*nope/.test(e.message),
    );
    assert.throws(
      () => setXattr('/proc/self/status', 'user.a', Buffer.from('x')),
      (e: unknown) => isXattrUnsupported(e) && isKind(e, ErrorKind.FailedPrecondition),
    );
    assert.deepEqual(listXattrs('/proc/self/status'), [], 'a filesystem without attributes lists none');
    writeFileSync(join(dir, 'f'), 'x');
    assert.throws(
      () => setXattr(join(dir, 'f'), 'nonamespace', Buffer.from('x')),
      (e: unknown) => isKind(e, ErrorKind.InvalidArgument) || isKind(e, ErrorKind.FailedPrecondition),
    );
    assert.throws(
      () => setXattr(join(dir, 'f'), 'user.a\0b', Buffer.from('x')),
      (e: unknown) => isKind(e, ErrorKind.InvalidArgument),
    );
    assert.throws(
      () => setXattr(join(dir, 'f'), 'user.a', 'text' as unknown as Buffer),
      (e: unknown) => isKind(e, ErrorKind.InvalidArgument),
    );
  });
});
