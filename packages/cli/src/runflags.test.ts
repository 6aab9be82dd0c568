import { strict as assert } from 'node:assert';
import { UsageError } from './args';
import { containerConfig, parseRunArgs } from './runflags';

const config = (...argv: string[]) => containerConfig(parseRunArgs([...argv, 'busybox', 'sh']), { HOME: '/root' });

describe('run flags to a ContainerConfig', () => {
  it('sends parsed values: bytes, whole numbers, the lifecycle, the seccomp mode', () => {
    const c = config(
      ...['-m', '64m', '--memory-swap', '-1', '--cpus', '1.5', '--pids-limit', '50', '--shm-size', '1k', '-e', 'HOME'],
      ...['--entrypoint', '', '--stop-signal', 'HUP', '--stop-timeout', '3', '--restart', 'on-failure:2'],
      ...['--security-opt', 'seccomp=unconfined', '--security-opt', 'no-new-privileges', '--network', 'host'],
    );
    assert.deepEqual(
      [c.resources?.memoryBytes, c.resources?.memorySwapBytes, c.resources?.cpus, c.resources?.pidsLimit, c.shmSizeBytes],
      [64 * 1024 * 1024, -1, 1.5, 50, 1024],
    );
    assert.deepEqual(c.process?.entrypoint, { values: [] });
    assert.deepEqual(c.process?.cmd, ['sh']);
    assert.deepEqual(c.process?.env, ['HOME=/root']);
    assert.deepEqual(c.lifecycle, { stopSignal: 'HUP', stopTimeout: 3, restartPolicy: { name: 'on-failure', maximumRetryCount: 2 } });
    assert.deepEqual(c.security?.seccomp, { mode: 'UNCONFINED' });
    assert.equal(c.security?.noNewPrivileges, true);
    assert.equal(c.namespaces?.network, 'HOST');
    assert.equal(config().process?.entrypoint, undefined, "no --entrypoint: the image's");
    const cpu = config('--cpu-period', '50000', '--cpu-quota', '-1', '--cpuset-mems', '0').resources;
    assert.deepEqual([cpu?.cpuPeriod, cpu?.cpuQuota, cpu?.cpusetMems], [50_000, -1, '0']);
  });

  it("splits options from IMAGE and its command as docker's parser does", () => {
    const parsed = parseRunArgs(['-dit', '--memory-swap', '-1', '-e', '', '-eK=V', '--name=x', 'busybox', 'ls', '-l', '--all']);
    assert.deepEqual(parsed.values.detach && parsed.values.interactive && parsed.values.tty, true);
    assert.deepEqual([parsed.values['memory-swap'], parsed.values.env, parsed.values.name], ['-1', ['', 'K=V'], 'x']);
    assert.deepEqual([parsed.image, parsed.command], ['busybox', ['ls', '-l', '--all']]);
    assert.deepEqual(parseRunArgs(['--rm', '--', 'busybox', '-x']).command, ['-x']);
    assert.throws(() => parseRunArgs(['--memory']), /flag needs an argument: --memory/);
    assert.throws(() => parseRunArgs(['--rm=yes', 'busybox']), /flag --rm takes no value, got "yes"/);
    assert.throws(() => parseRunArgs(['-dq', 'busybox']), /unknown shorthand flag: 'q' in -q/);
    assert.throws(() => parseRunArgs(['--rm']), /requires at least 1 argument/);
  });

  it('refuses what docker refuses before anything is sent', () => {
    for (const [argv, message] of [
      [['--stop-timeout', '1.5'], /--stop-timeout: "1.5" is not a whole number/],
      [['--pids-limit', 'lots'], /--pids-limit: "lots" is not a whole number/],
      [['--stop-signal', 'NOPE'], /unknown signal "NOPE"/],
      [['--rm', '--restart', 'always'], /conflicting options: --restart and --rm/],
      [['--network', 'none', '--network', 'bridge'], /--network none cannot be combined with other networks/],
      [['--storage-opt', 'dm.basesize=20G'], /--storage-opt dm.basesize=20G: supported: size=SIZE/],
      [['--storage-opt', 'size'], /--storage-opt size: supported: size=SIZE/],
      [['--storage-opt', 'size=lots'], /--storage-opt size=lots: invalid size "lots"/],
      [['--storage-opt', 'size=0'], /--storage-opt size=0: the size must be more than 0/],
    ] as const) {
      assert.throws(
        () => config(...argv),
        (err: unknown) => err instanceof UsageError && message.test(err.message),
        argv.join(' '),
      );
    }
  });

  it("takes --storage-opt size= as the writable layer's size in bytes, the last one winning", () => {
    assert.equal(config('--storage-opt', 'size=20m').resources?.diskBytes, 20 * 1024 * 1024);
    assert.equal(config('--storage-opt', 'size=1g', '--storage-opt', 'SIZE=512k').resources?.diskBytes, 512 * 1024);
    assert.equal(config().resources?.diskBytes, undefined, 'no limit unless asked');
  });
});
