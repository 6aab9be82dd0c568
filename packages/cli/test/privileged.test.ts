/**
 * `--privileged` gives the container the host's devices, as docker and podman do (before: the
 * 6 default nodes only). Run under the CLI tests' lock.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { useEngine } from './engine';

/** Character and block devices under /dev, less what a container has of its own (pts, shm, mqueue, console, ptmx: a link to pts/ptmx). */
const FIND = ['/dev', '(', '-path', '/dev/pts', '-o', '-path', '/dev/shm', '-o', '-path', '/dev/mqueue', ')', '-prune'];
const FIND_DEVICES = [
  ...FIND,
  '-o',
  '(',
  '-type',
  'c',
  '-o',
  '-type',
  'b',
  ')',
  '!',
  '-path',
  '/dev/console',
  '!',
  '-path',
  '/dev/ptmx',
  '-print',
];
const lines = (text: string): string[] => text.split('\n').filter(Boolean).sort();

describe('ctl run --privileged', function () {
  this.timeout(120_000);
  const engine = useEngine('privileged');

  it("gets the host's device nodes", () => {
    const host = () => lines(execFileSync('find', FIND_DEVICES, { encoding: 'utf8' }));
    // Other work on this host may add or remove nodes (loop devices) meanwhile: compare with both.
    const before = host();
    const inside = lines(engine.ok('run', '--rm', '--privileged', 'busybox', 'find', ...FIND_DEVICES));
    const after = host();
    const missing = before.filter((d) => after.includes(d) && !inside.includes(d));
    const extra = inside.filter((d) => !before.includes(d) && !after.includes(d));
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
    assert.ok(inside.length >= Math.min(before.length, after.length) - 4, `${inside.length} devices, the host has ${before.length}`);
    assert.ok(inside.includes('/dev/null') && inside.some((d) => /^\/dev\/(loop|tty)\d/.test(d)));
  });

  it('keeps the default devices only without it', () => {
    const inside = lines(engine.ok('run', '--rm', 'busybox', 'find', ...FIND_DEVICES));
    assert.deepEqual(inside, ['/dev/full', '/dev/null', '/dev/random', '/dev/tty', '/dev/urandom', '/dev/zero']);
  });
});
