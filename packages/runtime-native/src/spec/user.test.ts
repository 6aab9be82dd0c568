import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SpecError } from '../errors';
import { buildSpec } from './builder';
import { resolveUser } from './user';

describe('resolveUser', () => {
  let rootfs: string;
  before(() => {
    rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-user-'));
    fs.mkdirSync(path.join(rootfs, 'etc'));
    fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    fs.writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:app\n');
  });
  after(() => fs.rmSync(rootfs, { recursive: true, force: true }));

  it('looks names up in the image and adds supplementary groups', () => {
    assert.deepEqual(resolveUser('app', rootfs), { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/app' });
    assert.deepEqual(resolveUser('app:wheel', rootfs), { uid: 1000, gid: 10, additionalGids: [29], home: '/home/app' });
  });

  it('takes numeric ids as they are, with the passwd entry when there is one', () => {
    assert.deepEqual(resolveUser('4242', rootfs), { uid: 4242, gid: 4242, additionalGids: [], home: '/' });
    assert.deepEqual(resolveUser('1000:5', rootfs), { uid: 1000, gid: 5, additionalGids: [10, 29], home: '/home/app' });
    assert.deepEqual(resolveUser(undefined, rootfs), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  });

  it('names the field when a name is unknown', () => {
    assert.throws(
      () => resolveUser('ghost', rootfs),
      (e: SpecError) => e.field === 'process.user' && /ghost/.test(e.message),
    );
    assert.throws(
      () => resolveUser('app:ghosts', rootfs),
      (e: SpecError) => e.field === 'process.user' && /ghosts/.test(e.message),
    );
  });

  it('reads the files as the container sees them: symlinks resolve inside the rootfs, never to the host', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-user-links-'));
    const host = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-user-host-'));
    try {
      // On the host, a passwd that knows "intruder"; in the rootfs, links that would reach it.
      fs.mkdirSync(path.join(host, 'etc'));
      fs.writeFileSync(path.join(host, 'etc', 'passwd'), 'intruder:x:4444:4444::/:/bin/sh\n');
      fs.mkdirSync(path.join(root, 'etc'));
      fs.mkdirSync(path.join(root, 'real'));
      fs.writeFileSync(path.join(root, 'real', 'passwd'), 'inside:x:7:8::/in:/bin/sh\n');
      fs.symlinkSync(path.join(host, 'etc', 'passwd'), path.join(root, 'etc', 'passwd'));
      // An absolute link means the rootfs's own path: <root><host>/etc/passwd does not exist.
      assert.throws(() => resolveUser('intruder', root), /unable to find user intruder: no matching entries in passwd file/);
      fs.rmSync(path.join(root, 'etc', 'passwd'));
      fs.symlinkSync('../../../../../../..' + path.join(host, 'etc', 'passwd'), path.join(root, 'etc', 'passwd'));
      assert.throws(() => resolveUser('intruder', root), /unable to find user intruder/, '".." stops at the rootfs');
      fs.rmSync(path.join(root, 'etc', 'passwd'));
      fs.symlinkSync('/real/passwd', path.join(root, 'etc', 'passwd'));
      assert.deepEqual(
        resolveUser('inside', root),
        { uid: 7, gid: 8, additionalGids: [], home: '/in' },
        'a link inside the rootfs is followed there',
      );
      fs.rmSync(path.join(root, 'etc', 'passwd'));
      fs.symlinkSync('passwd', path.join(root, 'etc', 'passwd'));
      assert.throws(() => resolveUser('inside', root), /too many levels of symbolic links/);
      fs.rmSync(path.join(root, 'etc', 'passwd'));
      execFileSync('mkfifo', [path.join(root, 'etc', 'passwd')]);
      assert.throws(() => resolveUser('inside', root), /unable to find user inside/, 'a FIFO is not read (nor waited on)');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(host, { recursive: true, force: true });
    }
  });

  it('is used by buildSpec, with HOME from the passwd entry', () => {
    const s = buildSpec({ Cmd: ['id'], User: 'app' }, { id: 'u', rootfs });
    assert.deepEqual(s.process?.user, { uid: 1000, gid: 1000, additionalGids: [10, 29] });
    assert.ok(s.process?.env?.includes('HOME=/home/app'));
  });
});
