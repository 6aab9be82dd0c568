/** The pure parts of the mount module: option rewriting, the read-only rule, mountinfo parsing, the wire form. */
import * as assert from 'node:assert/strict';
import { compactOverlayOptions, mountFromWire, mountToWire, parseMountInfo, readonlyMounts } from './mount';

describe('mount', () => {
  it('compactOverlayOptions makes the layer paths relative to their common directory', () => {
    const compact = compactOverlayOptions(['index=off', 'lowerdir=/s/snapshots/2/fs:/s/snapshots/1/fs', 'upperdir=/s/snapshots/3/fs']);
    assert.deepEqual(compact, { cwd: '/s/snapshots', options: ['index=off', 'lowerdir=2/fs:1/fs', 'upperdir=3/fs'] });
    assert.equal(compactOverlayOptions(['ro']), undefined);
  });

  it('readonlyMounts turns an overlay upper into its top lowerdir and drops the work dir', () => {
    const [ro] = readonlyMounts([
      { type: 'overlay', source: 'overlay', options: ['index=off', 'workdir=/s/3/work', 'upperdir=/s/3/fs', 'lowerdir=/s/2/fs:/s/1/fs'] },
    ]);
    assert.deepEqual(ro!.options, ['index=off', 'lowerdir=/s/3/fs:/s/2/fs:/s/1/fs']);
  });

  it('readonlyMounts leaves an overlay without upper as it is and gives binds "ro" once', () => {
    const overlay = { type: 'overlay', source: 'overlay', options: ['lowerdir=/s/2/fs:/s/1/fs'] };
    const bind = { type: 'bind', source: '/s/1/fs', options: ['rbind', 'rw'] };
    const boundRo = { type: 'bind', source: '/s/1/fs', options: ['ro', 'rbind'] };
    assert.deepEqual(readonlyMounts([overlay, bind, boundRo]), [
      overlay,
      { ...bind, options: ['rbind', 'ro'] },
      { ...boundRo, options: ['rbind', 'ro'] },
    ]);
    assert.deepEqual(bind.options, ['rbind', 'rw'], 'the caller’s list is not changed');
  });

  it('parseMountInfo reads mount point, type and source past the optional fields, unescaping octal', () => {
    const text = [
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '97 22 0:44 / /tmp/with\\040space\\011tab rw,relatime shared:50 master:3 - overlay over\\134lay rw,lowerdir=/a',
      '98 22 0:45 / /run/x rw - tmpfs tmpfs rw',
      'garbage line',
      '',
    ].join('\n');
    assert.deepEqual(parseMountInfo(text), [
      { mountPoint: '/', fsType: 'ext4', source: '/dev/sda1' },
      { mountPoint: '/tmp/with space\ttab', fsType: 'overlay', source: 'over\\lay' },
      { mountPoint: '/run/x', fsType: 'tmpfs', source: 'tmpfs' },
    ]);
  });

  it('the wire form always has a target, the domain form only when there is one', () => {
    const mount = { type: 'bind', source: '/a', options: ['rbind'] };
    assert.deepEqual(mountToWire(mount), { ...mount, target: '' });
    assert.deepEqual(mountFromWire(mountToWire(mount)), mount);
    assert.deepEqual(mountFromWire({ ...mount, target: '/b' }), { ...mount, target: '/b' });
  });
});
