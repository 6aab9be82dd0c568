/**
 * A container's network namespace on a file (ctl-netns through addNetns/deleteNetns) and commands
 * run in one by ctl-launch (launch's `netns`, netd's ip batches). Root: namespaces and mounts. Every
 * namespace made here is removed, also when a test fails.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { LaunchError, launch } from '../src/launch';
import { NETNS_BINARY, addNetns, deleteNetns } from '../src/netns';

const mounted = (file: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${file} `);

/** The netns of this process's ctl-launch, which does ctl-netns's operations in its own process. */
function launcherNetns(): string {
  const ours = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .find((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        return stat.includes('(ctl-launch)') && stat.split(') ')[1]!.split(' ')[1] === String(process.pid);
      } catch {
        return false;
      }
    });
  assert.ok(ours, 'a ctl-launch of this process runs');
  return readlinkSync(`/proc/${ours}/ns/net`);
}

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
    // ctl-launch made and removed them itself (launch.c), and is back in its own netns
    assert.equal(launcherNetns(), readlinkSync('/proc/self/ns/net'));
  });

  it('makes a veth pair into a namespace, configured on both ends, in one exec (ctl-netns veth), and deletes it (link-del)', async () => {
    // netns a plays the host (the helper runs in it through the launcher), b the container's
    const [a, b] = [join(dir, 'a'), join(dir, 'b')];
    await addNetns(a);
    await addNetns(b);
    const inA = (...args: string[]) => launch('ip', args, { netns: a });
    for (const args of [
      ['link', 'add', 'br0', 'type', 'bridge'],
      ['addr', 'add', '10.9.0.1/24', 'dev', 'br0'],
      ['link', 'set', 'br0', 'up'],
    ])
      assert.equal((await inA(...args)).code, 0);
    const veth = (host: string, ifname: string, ...rest: string[]) =>
      launch(NETNS_BINARY, ['veth', host, 'br0', 'ctl-netd:test', b, ifname, '02:42:0a:09:00:02', ...rest], { netns: a });
    assert.deepEqual(await veth('vethT', 'eth0', '10.9.0.2/24', 'fd99::2/64', 'via', '10.9.0.1'), { code: 0, stdout: '', stderr: '' });

    const [host] = JSON.parse((await inA('-j', '-d', 'link', 'show', 'vethT')).stdout) as {
      flags: string[];
      master: string;
      ifalias: string;
      linkinfo: { info_slave_data: { hairpin: boolean } };
    }[];
    assert.deepEqual(
      [host!.master, host!.ifalias, host!.flags.includes('UP'), host!.linkinfo.info_slave_data.hairpin],
      ['br0', 'ctl-netd:test', true, true],
    );
    const inB = async (...args: string[]) => JSON.parse((await launch('ip', ['-j', ...args], { netns: b })).stdout) as object[];
    const links = (await inB('link', 'show')) as { ifname: string; flags: string[]; address: string }[];
    assert.deepEqual(
      links.map((l) => [l.ifname, l.flags.includes('UP')]),
      [
        ['lo', true],
        ['eth0', true],
      ],
    );
    assert.equal(links[1]!.address, '02:42:0a:09:00:02');
    const addrs = (await inB('addr', 'show', 'eth0')) as { addr_info: { local: string; prefixlen: number; scope: string }[] }[];
    assert.deepEqual(
      addrs[0]!.addr_info.filter((i) => i.scope === 'global').map((i) => `${i.local}/${i.prefixlen}`),
      ['10.9.0.2/24', 'fd99::2/64'],
    );
    const routes = (await inB('route', 'show', 'default')) as { gateway: string; dev: string }[];
    assert.deepEqual(
      routes.map((r) => [r.gateway, r.dev]),
      [['10.9.0.1', 'eth0']],
    );

    // the kernel's refusals, as the native tools' kinds: the name taken (AlreadyExists), no such bridge (NotFound)
    const again = await veth('vethT', 'eth1');
    assert.deepEqual([again.code, /File exists/.test(again.stderr)], [7, true]);
    const noBridge = await launch(NETNS_BINARY, ['veth', 'vethU', 'nobr', 'x', b, 'eth2', '02:42:0a:09:00:03'], { netns: a });
    assert.deepEqual([noBridge.code, /nobr/.test(noBridge.stderr)], [5, true]);

    // link-del: the host end goes, and its peer with it; a link already gone is no error
    const linkDel = () => launch(NETNS_BINARY, ['link-del', 'vethT'], { netns: a });
    assert.deepEqual(await linkDel(), { code: 0, stdout: '', stderr: '' });
    assert.notEqual((await inA('link', 'show', 'vethT')).code, 0, 'vethT is gone');
    assert.deepEqual(
      ((await inB('link', 'show')) as { ifname: string }[]).map((l) => l.ifname),
      ['lo'],
      'and eth0 with it',
    );
    assert.deepEqual(await linkDel(), { code: 0, stdout: '', stderr: '' });
    assert.equal(launcherNetns(), readlinkSync('/proc/self/ns/net'), 'the launcher went back to its own netns');
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
