import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceNumbers, hostDevices } from './devices';

describe('host devices (--privileged)', () => {
  it("decodes Linux's dev_t, large numbers too", () => {
    assert.deepEqual(deviceNumbers(0x0103n), { major: 1, minor: 3 });
    assert.deepEqual(deviceNumbers((0x12000n << 32n) | (0xabc00n << 12n) | (0x345n << 8n) | 0x67n), { major: 0x12345, minor: 0xabc67 });
  });

  it('lists character and block nodes recursively with mode and owner, not links, files, console or pts', function () {
    if (process.getuid?.() !== 0) this.skip();
    const dev = mkdtempSync(join(tmpdir(), 'ctl-devices-'));
    try {
      mkdirSync(join(dev, 'net'));
      mkdirSync(join(dev, 'pts'));
      execFileSync('mknod', ['-m', '0620', join(dev, 'net', 'tun'), 'c', '10', '200']);
      execFileSync('mknod', [join(dev, 'loop9'), 'b', '7', '9']);
      execFileSync('mknod', [join(dev, 'console'), 'c', '5', '1']);
      execFileSync('mknod', [join(dev, 'pts', '0'), 'c', '136', '0']);
      execFileSync('chown', ['0:5', join(dev, 'net', 'tun')]);
      symlinkSync('net/tun', join(dev, 'tunlink'));
      writeFileSync(join(dev, 'plain'), '');
      assert.deepEqual(
        hostDevices(dev).map((d) => ({ ...d, fileMode: d.path === '/dev/net/tun' ? d.fileMode : undefined })),
        [
          { type: 'b', path: '/dev/loop9', major: 7, minor: 9, fileMode: undefined, uid: 0, gid: 0 },
          { type: 'c', path: '/dev/net/tun', major: 10, minor: 200, fileMode: 0o620, uid: 0, gid: 5 },
        ],
      );
    } finally {
      rmSync(dev, { recursive: true, force: true });
    }
  });
});
