/**
 * `--storage-opt size=`: a container's writable layer holds at most that much (the snapshot's
 * size-limit label, a loop-mounted ext4 of that size under the overlayfs driver), so a container
 * cannot fill the host's disk; without it nothing changes. Run under the CLI tests' lock.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { useEngine } from './engine';

const MIB = 1024 * 1024;

describe('ctl run --storage-opt size=', function () {
  this.timeout(120_000);
  const engine = useEngine('storage');

  /** Bytes of the host's disk under the snapshotter's root (-x: not what is mounted there). */
  const hostBytes = (): number =>
    Number(execFileSync('du', ['-s', '-x', '-B1', join(engine.instance.root, 'snapshotter')], { encoding: 'utf8' }).split('\t')[0]);

  it('stops writes past the limit with ENOSPC in the container, and the host disk holds no more', () => {
    const before = hostBytes();
    const r = engine.run(
      'run',
      '--name',
      'limited',
      '--storage-opt',
      'size=20m',
      'busybox',
      'dd',
      'if=/dev/zero',
      'of=/big',
      'bs=1M',
      'count=50',
    );
    assert.notEqual(r.code, 0, 'dd fails');
    assert.match(r.stderr + r.stdout, /No space left on device/);
    const grown = hostBytes() - before;
    assert.ok(grown <= 21 * MIB, `the host disk grew by ${grown} bytes, more than the 20 MiB limit`);
  });

  it('leaves a container without it unlimited', () => {
    const r = engine.run('run', '--rm', 'busybox', 'dd', 'if=/dev/zero', 'of=/big', 'bs=1M', 'count=50');
    assert.equal(r.code, 0, r.stderr);
  });

  it('refuses other keys with a usage error', () => {
    const r = engine.run('run', '--rm', '--storage-opt', 'dm.basesize=20G', 'busybox', 'true');
    assert.equal(r.code, 125);
    assert.match(r.stderr, /--storage-opt dm.basesize=20G: supported: size=SIZE/);
  });
});
