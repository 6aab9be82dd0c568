import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CTL, ctl, stopDaemons } from './helpers';

const TOOLS = join(__dirname, '..', '..', '..', '..', 'tools');
const BUSYBOX = 'docker.io/library/busybox:latest';

/**
 * A copy of the busybox archive whose config lists a diff_id its layer does not have: every blob
 * is present and well-formed, so only the unpack finds the lie.
 */
function withWrongDiffId(archive: string, out: string, dir: string): void {
  mkdirSync(dir);
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  const blobPath = (digest: string) => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const put = (json: unknown): { digest: string; size: number } => {
    const data = Buffer.from(JSON.stringify(json));
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    writeFileSync(blobPath(digest), data);
    return { digest, size: data.length };
  };
  type Desc = { digest: string; size: number };
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Desc[] };
  const manifest = JSON.parse(readFileSync(blobPath(index.manifests[0]!.digest), 'utf8')) as { config: Desc };
  const config = JSON.parse(readFileSync(blobPath(manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
  config.rootfs.diff_ids = [`sha256:${'0'.repeat(64)}`];
  Object.assign(manifest.config, put(config));
  Object.assign(index.manifests[0]!, put(manifest));
  writeFileSync(join(dir, 'index.json.new'), JSON.stringify(index));
  renameSync(join(dir, 'index.json.new'), join(dir, 'index.json'));
  execFileSync('tar', ['-cf', out, '-C', dir, 'oci-layout', 'index.json', 'blobs']);
}

describe('ctl image, content and gc', function () {
  this.timeout(120_000);
  let instance: TempInstance;
  let archive: string;
  const mounted: string[] = [];
  const env = { CTL_SNAPSHOTTER_DRIVERS: 'overlayfs' };
  const run = (...args: string[]) => ctl(instance, args, env);
  const ok = (...args: string[]): string => {
    const r = run(...args);
    assert.equal(r.code, 0, `ctl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const ours = (): string[] =>
    (JSON.parse(ok('snapshot', 'ls', '--format', 'json')) as { name: string }[]).map((s) => s.name).filter((n) => n.startsWith('default/'));

  before(() => {
    instance = tempInstance();
    archive = join(instance.base, 'busybox.tar');
    execFileSync('bash', [join(TOOLS, 'busybox-image.sh'), archive]);
  });
  after(async () => {
    for (const m of mounted.reverse()) execFileSync('umount', [m]);
    await stopDaemons(instance);
    instance.remove();
  });

  it('imports the busybox archive and unpacks it onto a snapshot named by its chain id', () => {
    assert.equal(ok('image', 'import', archive).trim(), BUSYBOX);
    const list = ok('image', 'ls');
    assert.match(list, /^REF\s+TYPE\s+DIGEST\s+SIZE\s+PLATFORMS$/m);
    assert.match(list, new RegExp(`^${BUSYBOX.replace(/\./g, '\\.')}\\s+\\S+\\s+sha256:[0-9a-f]{64}\\s+[0-9.]+ \\S+\\s+linux/`, 'm'));
    const [detail] = JSON.parse(ok('image', 'inspect', 'busybox')) as {
      config: { config: { Cmd: string[] }; rootfs: { diff_ids: string[] } };
    }[];
    assert.deepEqual(detail!.config.config.Cmd, ['sh']);
    const chainId = detail!.config.rootfs.diff_ids[0]!;
    assert.deepEqual(ours(), [`default/${chainId}`]);

    // The layer really is on the snapshot: a view of it shows busybox and its applet links.
    const mountLine = ok('snapshot', 'view', 'test-view', `default/${chainId}`).trim();
    const target = join(instance.base, 'view');
    mkdirSync(target);
    execFileSync('sh', ['-c', mountLine.replace('/tmp/mnt', target)]);
    mounted.push(target);
    assert.ok(existsSync(join(target, 'bin', 'busybox')));
    assert.equal(readlinkSync(join(target, 'bin', 'sh')), 'busybox');
    execFileSync('umount', [mounted.pop()!]);
    ok('snapshot', 'rm', 'test-view');

    // The layer blob carries its diff id, as containerd's unpacker leaves it.
    assert.match(ok('content', 'ls'), new RegExp(`containerd.io/uncompressed=${chainId}`));
  });

  it('imports from stdin (-) through a private temporary directory that it removes', () => {
    const tmpdir = join(instance.base, 'stdin-tmp');
    mkdirSync(tmpdir);
    const r = spawnSync(process.execPath, [CTL, '--root', instance.root, '--state', instance.state, 'image', 'import', '-'], {
      env: { ...process.env, ...env, CTL_NO_AUTOSTART: '', TMPDIR: tmpdir },
      input: readFileSync(archive),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), BUSYBOX);
    assert.deepEqual(readdirSync(tmpdir), [], 'the copy of stdin is gone');
  });

  it('imports again without unpacking anything twice, and tags', () => {
    assert.equal(ok('image', 'import', archive).trim(), BUSYBOX);
    assert.equal(ours().length, 1);
    ok('image', 'tag', 'busybox', 'mybox:1');
    assert.deepEqual(ok('image', 'ls', '-q').trim().split('\n'), [BUSYBOX, 'docker.io/library/mybox:1']);
    assert.equal(ok('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'), 'busybox:latest\nmybox:1\n');
    const [header, first] = ok('image', 'ls', '--format', 'table {{.Repository}}\\t{{.ID}}\\t{{.Size}}').split('\n');
    assert.equal(header, 'REPOSITORY   IMAGE ID       SIZE');
    assert.match(first!, /^busybox {6}[0-9a-f]{12} {3}[0-9.]+ \S+$/);
    assert.match(
      ok('image', 'inspect', '--format', '{{.name}} {{json .config.rootfs.type}}', 'busybox'),
      /^docker\.io\/library\/busybox:latest "layers"\n$/,
    );
    const bad = run('image', 'ls', '--format', '{{.Names}}');
    assert.deepEqual([bad.code, bad.stdout], [125, '']);
    assert.match(bad.stderr, /template: can't evaluate field Names/);
  });

  it('exports archives that skopeo reads and that import to the same digests', () => {
    const target = (JSON.parse(ok('image', 'ls', '--format', 'json')) as { name: string; target: { digest: string } }[]).find(
      (i) => i.name === BUSYBOX,
    )!.target.digest;
    const oci = join(instance.base, 'out-oci.tar');
    const docker = join(instance.base, 'out-docker.tar');
    ok('image', 'export', '-o', oci, 'busybox');
    ok('image', 'export', '--format', 'docker-archive', '-o', docker, 'busybox');
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${oci}`], { encoding: 'utf8' })) as { Layers: string[] };
    assert.equal(inspected.Layers.length, 1);
    assert.equal(
      (JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${docker}`], { encoding: 'utf8' })) as { Layers: string[] }).Layers
        .length,
      1,
    );
    const other = ctl(instance, ['-n', 'other', 'image', 'import', '--no-unpack', oci], env);
    assert.equal(other.code, 0, other.stderr);
    const again = JSON.parse(ctl(instance, ['-n', 'other', 'image', 'ls', '--format', 'json'], env).stdout) as {
      target: { digest: string };
    }[];
    assert.equal(again[0]!.target.digest, target);
    assert.equal(ctl(instance, ['-n', 'other', 'image', 'rm', '--sync', BUSYBOX], env).code, 0);
  });

  it('copies blobs out with content get', () => {
    const blobs = ok('content', 'ls', '-q').trim().split('\n');
    const digest = blobs[0]!;
    const file = join(instance.base, 'blob');
    writeFileSync(
      file,
      execFileSync(process.execPath, [
        join(__dirname, '..', '..', 'bin', 'ctl.js'),
        '--root',
        instance.root,
        '--state',
        instance.state,
        'content',
        'get',
        digest,
      ]),
    );
    assert.equal(`sha256:${execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]}`, digest);
  });

  it('removes images and collects their blobs and snapshots', () => {
    ok('image', 'rm', 'mybox:1');
    assert.ok(ours().length === 1, 'busybox still holds its layer');
    ok('image', 'rm', '--sync', 'busybox');
    assert.deepEqual(ours(), []);
    assert.equal(ok('content', 'ls', '-q'), '');
    assert.match(ok('gc'), /removed 0 blobs/);
  });

  it('fails clearly on bad input, leaving nothing', () => {
    const junk = join(instance.base, 'junk.tar');
    writeFileSync(junk, 'not an archive at all');
    const bad = run('image', 'import', junk);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^ctl image: .*junk.tar is not a valid tar archive/);
    assert.equal(ok('image', 'ls', '-q'), '');
    const missing = run('image', 'rm', 'nosuch');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/);
    assert.equal(run('image', 'import').code, 125);
    assert.equal(run('image', 'export', 'busybox').code, 125);
  });

  it('names nothing when an import fails, and leaves what it stored to the collector', () => {
    const lying = join(instance.base, 'wrong-diff-id.tar');
    withWrongDiffId(archive, lying, join(instance.base, 'wrong-diff-id'));
    const bad = run('image', 'import', lying);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /^ctl image: .*diff/);
    assert.equal(bad.stdout, '', 'no name on stdout');
    assert.equal(ok('image', 'ls', '-q'), '', 'no image record');
    ok('gc');
    assert.equal(ok('content', 'ls', '-q'), '', 'the blobs are collected');
    assert.deepEqual(ours(), [], 'the snapshots are collected');
  });
});
