/**
 * A container's network namespace on a file (ctl-netns through addNetns/deleteNetns) and commands
 * run in one by ctl-launch (launch's `netns`, netd's ip batches). Root: namespaces and mounts. Every
 * namespace made here is removed, also when a test fails.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { LaunchError, launch } from '../src/launch';
import { NETNS_BINARY, addNetns, deleteNetns } from '../src/netns';

const mounted = (file: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${file} `);

describe('network namespaces on files (ctl-netns) and commands in them (ctl-launch)', function () {
  this.timeout(30_000);
  let dir: string;

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    assert.ok(existsSync(NETNS_BINARY), `${NETNS_BINARY} is built`);
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctl-netns-'));
  });
  afterEach(async () => {
    for (const f of ['a', 'b']) await deleteNetns(join(dir, f)).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds a namespace of its own with lo up, runs commands in it, and deletes it (twice is fine)', async () => {
    const [a, b] = [join(dir, 'a'), join(dir, 'b')];
    await addNetns(a);
    await addNetns(b);
    assert.ok(mounted(a) && mounted(b));
    const ino = statSync(a).ino;
    assert.notEqual(ino, statSync(b).ino, 'two namespaces');
    assert.notEqual(readlinkSync('/proc/self/ns/net'), `net:[${ino}]`, 'not ours');

    const inA = await launch('readlink', ['/proc/self/ns/net'], { netns: a });
    assert.deepEqual(inA, { code: 0, stdout: `net:[${ino}]\n`, stderr: '' }, 'the command ran in the namespace');
    const links = await launch('ip', ['-j', 'link', 'show'], { netns: a });
    const shown = JSON.parse(links.stdout) as { ifname: string; flags: string[] }[];
    assert.deepEqual(
      shown.map((l) => [l.ifname, l.flags.includes('UP')]),
      [['lo', true]],
      'only lo, up',
    );
    // stdin and the exit code go through as for any command
    assert.deepEqual(await launch('sh', ['-c', 'cat; exit 4'], { netns: a, input: 'x' }), { code: 4, stdout: 'x', stderr: '' });

    await deleteNetns(a);
    assert.ok(!existsSync(a) && !mounted(a));
    await deleteNetns(a);
  });

  it('names the namespace when it cannot enter it, and says NotFound when it cannot make one there', async () => {
    const missing = join(dir, 'missing');
    await assert.rejects(
      launch('true', [], { netns: missing }),
      (err: unknown) => err instanceof LaunchError && err.code === 'ENOENT' && err.message.includes(`network namespace ${missing}`),
    );
    await assert.rejects(addNetns(join(dir, 'no', 'such', 'dir')), (err: unknown) => isKind(err, ErrorKind.NotFound));
    // still serving after a failed request
    assert.equal((await launch('true', [])).code, 0);
  });
});
