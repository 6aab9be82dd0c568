/**
 * `ctl run --runtime runc|crun` (Debian's, through the same shim as ctl-runtime) and docker's
 * block I/O throttles (--device-{read,write}-{bps,iops}), as root on the real kernel. A runtime
 * that is not installed is skipped, saying so. The throttle tests make a loop device from a temp
 * file, with an ext4 on it mounted into the container, and remove both afterwards.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { useEngine } from './engine';

/** Whether an executable is in PATH (as the daemon, started with this environment, looks). */
const inPath = (name: string): boolean => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;

describe('ctl run --runtime and --device-*-bps', function () {
  this.timeout(180_000);
  const engine = useEngine('runtimes');
  const { ns, run, ok, containers, ourSnapshots } = engine;

  const runtimeRoot = (runtime: string): string => join(engine.instance.state, 'containerd-lite', runtime, ns);
  const bundle = (id: string): string => join(engine.instance.state, 'containerd-lite', 'tasks', ns, id);

  it('refuses an unknown runtime with 125, leaving nothing', () => {
    const r = run('run', '--rm', '--runtime', 'youki', 'busybox', 'true');
    assert.equal(r.code, 125);
    assert.match(r.stderr, /--runtime youki: unknown runtime \(supported: runtime-native, runc, crun\)/);
    assert.deepEqual(containers(), []);
    assert.deepEqual(ourSnapshots(), []);
  });

  for (const runtime of ['runc', 'crun']) {
    describe(`--runtime ${runtime}`, () => {
      before(function () {
        if (!inPath(runtime)) {
          console.log(`      (skipped: ${runtime} is not installed; tools/setup.sh installs it)`);
          this.skip();
        }
      });

      it('runs a command: its output, its exit code (3), 127 for a missing command; recorded as containerd does', () => {
        const hello = run('run', '--name', 'hello', '--runtime', runtime, 'busybox', 'echo', 'hello');
        assert.equal(hello.code, 0, hello.stderr);
        assert.equal(hello.stdout, 'hello\n');
        const [info] = JSON.parse(ok('inspect', 'hello')) as { Runtime: string; HostConfig: { Runtime: string } }[];
        assert.deepEqual([info!.Runtime, info!.HostConfig.Runtime], ['io.containerd.runc.v2', runtime]);
        ok('rm', 'hello');
        assert.equal(run('run', '--rm', '--runtime', runtime, 'busybox', 'sh', '-c', 'exit 3').code, 3);
        const missing = run('run', '--rm', '--runtime', runtime, 'busybox', 'no-such-command');
        assert.equal(missing.code, 127, missing.stderr);
        assert.deepEqual(containers(), []);
      });

      it('kills a memory hog (137, OOMKilled)', () => {
        const hog = run(
          'run',
          '--name',
          'hog',
          '--runtime',
          runtime,
          '--memory',
          '32m',
          'busybox',
          'sh',
          '-c',
          'x=a; while true; do x=$x$x; done',
        );
        assert.equal(hog.code, 137, hog.stderr);
        const [state] = JSON.parse(ok('inspect', 'hog')) as { State: { OOMKilled: boolean; ExitCode: number } }[];
        assert.deepEqual([state!.State.OOMKilled, state!.State.ExitCode], [true, 137]);
      });

      it('exec, ps, top, stats, pause/unpause and stop work; rm leaves no cgroup, runtime state, bundle or mount', () => {
        ok('run', '-d', '--name', 'svc', '--runtime', runtime, '--pids-limit', '50', 'busybox', 'sleep', '300');
        assert.equal(ok('exec', 'svc', 'cat', '/proc/1/comm'), 'sleep\n');
        assert.equal(run('exec', 'svc', 'sh', '-c', 'exit 4').code, 4);
        assert.match(ok('ps'), /svc +busybox:latest +"sleep 300" .* Up/);
        const [pid] = readFileSync(join(bundle('svc'), 'init.pid'), 'utf8')
          .trim()
          .split('\n');
        assert.match(ok('top', 'svc'), new RegExp(`\\b${pid}\\b.*sleep 300`));
        const dirs = engine.cgroupDirs('svc').filter(existsSync);
        assert.ok(dirs.length > 0, 'the container has a cgroup');
        const pidsDir = dirs.find((d) => existsSync(join(d, 'pids.max')));
        if (pidsDir) assert.equal(readFileSync(join(pidsDir, 'pids.max'), 'utf8').trim(), '50');
        assert.match(ok('stats', '--no-stream', 'svc'), /svc +\d+\.\d+% +[\d.]+\w*B \/ /);
        ok('pause', 'svc');
        assert.match(ok('ps'), /svc .*Up \(Paused\)/);
        ok('unpause', 'svc');
        assert.match(ok('ps'), /svc .*Up(?! \(Paused\))/);
        ok('stop', '-t', '1', 'svc');
        assert.match(ok('ps', '-a'), /svc .*Exited \(137\)/);
        ok('rm', 'svc');
        assert.deepEqual(containers(), []);
        assert.deepEqual(dirs.filter(existsSync), [], 'cgroups left behind');
        assert.deepEqual(readdirSync(runtimeRoot(runtime)), [], `${runtime}'s state left behind`);
        assert.equal(existsSync(bundle('svc')), false, 'bundle left behind');
        assert.deepEqual(engine.ourMounts(), [], 'mounts left behind');
        assert.deepEqual(ourSnapshots(), []);
      });
    });
  }

  describe('--device-read-bps, --device-write-bps, --device-read-iops, --device-write-iops', () => {
    let image = '';
    let loop = '';
    let mnt = '';

    before(() => {
      image = join(engine.instance.base, 'disk.img');
      mnt = join(engine.instance.base, 'disk');
      mkdirSync(mnt);
      execFileSync('truncate', ['-s', '64M', image]);
      loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
      execFileSync('mkfs.ext4', ['-q', loop]);
      execFileSync('mount', [loop, mnt]);
    });

    after(() => {
      // The engine's own cleanup unmounts what is left under its temp dir, the image file included.
      if (mnt && readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} `)) execFileSync('umount', [mnt]);
      if (loop) execFileSync('losetup', ['-d', loop]);
    });

    const devNumbers = (): string => readFileSync(`/sys/class/block/${loop.replace('/dev/', '')}/dev`, 'utf8').trim();

    for (const runtime of ['runtime-native', 'runc', 'crun']) {
      it(`throttles direct writes to the device (${runtime}): the cgroup holds the rules and accounts the bytes`, function () {
        if (runtime !== 'runtime-native' && !inPath(runtime)) this.skip();
        const dev = devNumbers();
        ok(
          'run',
          '-d',
          '--name',
          'bw',
          '--runtime',
          runtime,
          '-v',
          `${mnt}:/data`,
          '--device-write-bps',
          `${loop}:1mb`,
          '--device-read-bps',
          `${loop}:2mb`,
          '--device-write-iops',
          `${loop}:1000`,
          '--device-read-iops',
          `${loop}:2000`,
          'busybox',
          'sleep',
          '300',
        );
        const blkio = engine.cgroupDirs('bw').find((d) => existsSync(join(d, 'blkio.throttle.write_bps_device')));
        assert.ok(blkio, 'a v1 blkio cgroup (this host)');
        const rule = (file: string): string => readFileSync(join(blkio, file), 'utf8').trim();
        assert.equal(rule('blkio.throttle.write_bps_device'), `${dev} 1048576`);
        assert.equal(rule('blkio.throttle.read_bps_device'), `${dev} 2097152`);
        assert.equal(rule('blkio.throttle.write_iops_device'), `${dev} 1000`);
        assert.equal(rule('blkio.throttle.read_iops_device'), `${dev} 2000`);
        ok('exec', 'bw', 'dd', 'if=/dev/zero', 'of=/data/f', 'bs=64k', 'count=32', 'oflag=direct');
        const written = new RegExp(`^${dev} Write (\\d+)$`, 'm').exec(rule('blkio.throttle.io_service_bytes'));
        assert.ok(
          written && Number(written[1]) >= 2 << 20,
          `the 2 MiB written through the throttled device are accounted: ${written?.[1]}`,
        );
        ok('rm', '-f', 'bw');
      });
    }

    it('refuses a bad PATH or RATE with 125, leaving nothing', () => {
      const cases: [string[], RegExp][] = [
        [['--device-write-bps', '/no/such/dev:1mb'], /--device-write-bps \/no\/such\/dev:1mb: \/no\/such\/dev: no such device/],
        [['--device-read-bps', '/dev/null:1mb'], /\/dev\/null is not a block device/],
        [['--device-write-bps', `${loop}:fast`], /invalid size "fast"/],
        [['--device-write-bps', loop], /expected PATH:RATE/],
        [['--device-write-iops', `${loop}:1.5`], /whole number of I\/O operations per second/],
      ];
      for (const [flags, message] of cases) {
        const r = run('run', '--rm', ...flags, 'busybox', 'true');
        assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      assert.deepEqual(containers(), []);
      assert.deepEqual(ourSnapshots(), []);
    });
  });
});
