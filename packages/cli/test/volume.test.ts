/**
 * Named and anonymous volumes end to end, as root on the real kernel, from the busybox image
 * that tools/busybox-image.sh makes: `ctl volume`, `ctl run -v NAME:/path` and `--mount`,
 * docker's copy-up, in-use refusals, `ctl rm -v`, prune, bad specs. Everything is in this
 * test's own instance root and namespace, and goes with them.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useEngine } from './engine';

interface InspectedVolume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Anonymous: boolean;
  UsedBy: string[];
}

describe('ctl volume and volumes in containers', function () {
  this.timeout(120_000);
  const engine = useEngine('volume', {
    afterEach: (e) => {
      for (const name of e.ok('volume', 'ls', '-q').split('\n').filter(Boolean)) e.run('volume', 'rm', name);
    },
    beforeCleanup: () => {
      left = existsSync(volumesDir()) ? readdirSync(volumesDir()) : [];
    },
  });
  const { ns, run, ok, containers } = engine;
  let left: string[] = [];
  const volumes = (): string[] => ok('volume', 'ls', '-q').split('\n').filter(Boolean);
  const inspect = (name: string): InspectedVolume => (JSON.parse(ok('volume', 'inspect', name)) as InspectedVolume[])[0]!;
  const volumesDir = (): string => join(engine.instance.root, 'containerd-lite', 'volumes', ns);

  before(() => {
    // The same with Volumes /data and /cache in its config, each holding a file "seed".
    engine.importBusybox('docker.io/library/withvol:latest', { VOLUMES: '/data /cache' });
  });
  after(() => {
    assert.deepEqual(
      left.filter((n) => !n.startsWith('.')),
      [],
      'volume directories were left behind',
    );
  });

  it('creates, lists and inspects volumes; keeps data across containers; honours :ro', () => {
    assert.equal(ok('volume', 'create', '--label', 'team=a', 'data1'), 'data1\n');
    assert.equal(ok('volume', 'create', 'data1'), 'data1\n', 'creating an existing volume answers it (docker)');
    const generated = ok('volume', 'create').trim();
    assert.match(generated, /^[0-9a-f]{64}$/);
    assert.deepEqual(volumes(), [generated, 'data1'].sort());
    assert.match(ok('volume', 'ls'), /^DRIVER\s+VOLUME NAME\nlocal\s+/);
    assert.equal(ok('volume', 'ls', '-f', 'name=data1', '--format', '{{.Name}} {{.Driver}} {{.Labels}}'), 'data1 local team=a\n');
    assert.equal(
      ok('volume', 'ls', '-f', 'name=data1', '--format', 'table {{.Name}}\\t{{.Scope}}'),
      'VOLUME NAME   SCOPE\ndata1         local\n',
    );
    assert.equal(ok('volume', 'inspect', '--format', '{{.Mountpoint}}', 'data1'), `${join(volumesDir(), 'data1', '_data')}\n`);
    const bad = run('volume', 'ls', '--format', '{{.Size}}');
    assert.deepEqual([bad.code, bad.stdout], [125, '']);
    assert.match(bad.stderr, /^ctl volume: template: can't evaluate field Size/);
    const v = inspect('data1');
    assert.equal(v.Mountpoint, join(volumesDir(), 'data1', '_data'));
    assert.deepEqual([v.Name, v.Driver, v.Labels, v.Anonymous], ['data1', 'local', { team: 'a' }, false]);
    assert.ok(Math.abs(Date.parse(v.CreatedAt) - Date.now()) < 60_000);

    ok('run', '--rm', '-v', 'data1:/data', 'busybox', 'sh', '-c', 'echo kept > /data/file');
    assert.equal(readFileSync(join(v.Mountpoint, 'file'), 'utf8'), 'kept\n');
    assert.equal(
      ok('run', '--rm', '--mount', 'type=volume,source=data1,target=/other,readonly', 'busybox', 'cat', '/other/file'),
      'kept\n',
    );
    const ro = run('run', '--rm', '-v', 'data1:/data:ro', 'busybox', 'touch', '/data/x');
    assert.equal(ro.code, 1);
    assert.match(ro.stderr, /Read-only file system/);
    assert.deepEqual(volumes(), [generated, 'data1'].sort(), '--rm keeps named volumes');

    // Mounts go parents first, whatever the order of the flags.
    const host = join(engine.instance.base, 'nested');
    mkdirSync(host);
    writeFileSync(join(host, 'from-host'), 'h');
    assert.equal(ok('run', '--rm', '-v', `${host}:/a/b`, '-v', 'data1:/a', 'busybox', 'ls', '/a/b'), 'from-host\n');

    // A missing named volume is made; docker's copy-up fills an empty one from the image.
    assert.match(ok('run', '--rm', '-v', 'etc1:/etc', 'busybox', 'cat', '/etc/passwd'), /^root:/);
    assert.ok(existsSync(join(inspect('etc1').Mountpoint, 'passwd')));
    // nothing copied: only the name files, bound over the volume as docker binds them
    assert.equal(ok('run', '--rm', '-v', 'etc2:/etc:nocopy', 'busybox', 'ls', '/etc'), 'hostname\nhosts\nresolv.conf\n');
  });

  it('refuses to remove a volume in use, even with -f, and removes it once the container is gone', () => {
    ok('run', '-d', '--name', 'user1', '-v', 'busy1:/d', 'busybox', 'sleep', '300');
    ok('create', '--name', 'user2', '--mount', 'source=busy1,target=/d', 'busybox', 'true');
    assert.deepEqual(inspect('busy1').UsedBy.sort(), ['user1', 'user2']);
    for (const args of [
      ['volume', 'rm', 'busy1'],
      ['volume', 'rm', '-f', 'busy1'],
    ]) {
      const refused = run(...args);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /volume busy1 is in use by containers user1, user2: remove them first/);
    }
    assert.equal(run('volume', 'prune', '-a').stdout, '', 'prune keeps volumes in use');
    ok('volume', 'create', '--label', 'x=1', 'idle1');
    assert.equal(ok('volume', 'ls', '-q', '-f', 'dangling=true'), 'idle1\n');
    assert.equal(ok('volume', 'ls', '-q', '--filter', 'dangling=false'), 'busy1\n');
    assert.equal(ok('volume', 'ls', '-q', '-f', 'label=x=1', '-f', 'name=idle'), 'idle1\n');
    assert.equal(run('volume', 'ls', '-f', 'size=1').code, 125);
    ok('rm', '-f', 'user1', 'user2');
    const dir = join(volumesDir(), 'busy1');
    assert.ok(existsSync(dir));
    assert.equal(ok('volume', 'rm', 'busy1'), 'busy1\n');
    assert.ok(!existsSync(dir));
    const missing = run('volume', 'rm', 'busy1');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such volume: busy1/);
    ok('volume', 'rm', '-f', 'busy1');
  });

  it('makes anonymous volumes for --mount without source and -v /path, removed by rm -v, run --rm and prune', () => {
    ok('run', '-d', '--name', 'anon1', '--mount', 'type=volume,target=/data', 'busybox', 'sh', '-c', 'echo x > /data/f; sleep 300');
    const [anon] = volumes();
    assert.match(anon!, /^[0-9a-f]{64}$/);
    assert.deepEqual([inspect(anon!).Anonymous, inspect(anon!).UsedBy], [true, ['anon1']]);
    ok('rm', '-f', '-v', 'anon1');
    assert.deepEqual(volumes(), []);

    ok('run', '--rm', '-v', '/scratch', 'busybox', 'touch', '/scratch/f');
    assert.deepEqual(volumes(), [], 'run --rm removes its anonymous volumes');

    // rm without -v keeps them; prune removes unused anonymous ones, prune -a the named too.
    ok('create', '--name', 'anon2', '-v', '/scratch', '-v', 'named1:/named', 'busybox', 'true');
    ok('rm', 'anon2');
    const kept = volumes();
    assert.equal(kept.length, 2);
    const pruned = ok('volume', 'prune');
    assert.match(pruned, /^Deleted Volumes:\n[0-9a-f]{64}\n$/);
    assert.deepEqual(volumes(), ['named1']);
    assert.equal(ok('volume', 'prune', '-a'), 'Deleted Volumes:\nnamed1\n');
    assert.deepEqual(volumes(), []);
  });

  it("gives the image's Volumes anonymous volumes holding the image's content, unless mounted otherwise", () => {
    assert.equal(
      ok('run', '--name', 'iv1', 'withvol', 'sh', '-c', 'cat /data/seed /cache/seed; echo new > /data/new'),
      'from the image\nfrom the image\n',
    );
    const made = volumes();
    assert.equal(made.length, 2);
    for (const name of made) assert.deepEqual([inspect(name).Anonymous, inspect(name).UsedBy], [true, ['iv1']]);
    assert.ok(made.some((name) => existsSync(join(inspect(name).Mountpoint, 'new'))));
    ok('rm', '-v', 'iv1');
    assert.deepEqual(volumes(), []);

    // A volume or tmpfs at an image volume's path takes its place.
    assert.equal(
      ok('run', '--rm', '-v', 'mine:/data', '--tmpfs', '/cache', 'withvol', 'sh', '-c', 'ls /cache; cat /data/seed'),
      'from the image\n',
    );
    assert.deepEqual(volumes(), ['mine']);
  });

  it('refuses bad specs with 125 and clear messages, leaving nothing behind', () => {
    const cases: [string[], RegExp][] = [
      [['-v', ':/x'], /-v :\/x: expected NAME:\/container\/path/],
      [['-v', 'data:relative'], /the target "relative" must be an absolute path/],
      [['--mount', 'type=bogus,target=/x'], /--mount type=bogus,target=\/x: unsupported mount type "bogus"/],
      [['--mount', 'type=volume,source=v1'], /a target \(destination\) is needed/],
      [['--mount', 'type=bind,source=/no/such/path,target=/x'], /bind source path does not exist: \/no\/such\/path/],
      [['-v', 'v1:/x', '--mount', 'type=tmpfs,target=/x'], /duplicate mount point: \/x/],
    ];
    for (const [flags, message] of cases) {
      const r = run('run', '--rm', ...flags, 'busybox', 'true');
      assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const badName = run('volume', 'create', 'bad/name');
    assert.equal(badName.code, 1);
    assert.match(badName.stderr, /invalid volume name "bad\/name"/);
    assert.deepEqual(containers(), []);
    assert.deepEqual(volumes(), []);
  });
});
