import { strict as assert } from 'node:assert';
import { UsageError } from './args';
import { parseBuildArgs } from './buildflags';
import { buildOptionsOf } from './commands/build';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseBuildArgs(argv, env);
const usage = (argv: string[], message: RegExp, env: NodeJS.ProcessEnv = {}): void =>
  assert.throws(
    () => parse(argv, env),
    (e: Error) => e instanceof UsageError && message.test(e.message),
    argv.join(' '),
  );

describe('build flags', () => {
  it("takes docker's flags, before and after PATH, into BuildOptions", () => {
    const flags = parse(
      [
        ...['-t', 'app', '--tag=reg.example:5000/team/app:1.2', '-t', 'app:latest', '-f', 'ci/Dockerfile', '.'],
        ...['--build-arg', 'A=1', '--build-arg', 'B=', '--build-arg', 'HOME', '--target', 'test', '--no-cache', '--pull'],
        ...['--platform', 'linux/arm64', '--label', 'k=v', '--label', 'flag', '--network', 'none', '--iidfile', 'id.txt'],
        ...['-o', 'type=oci,dest=out.tar', '--snapshotter', 'native', '-m', '64m', '--memory-swap=-1', '-c', '512'],
        ...['--cpu-period', '50000', '--cpu-quota', '25000', '--cpuset-cpus', '0', '--cpuset-mems', '0', '--shm-size', '1k'],
        ...['--ulimit', 'nofile=100:200', '--ulimit', 'nproc=50'],
      ],
      { HOME: '/root' },
    );
    assert.deepEqual(flags, {
      path: '.',
      file: 'ci/Dockerfile',
      tags: ['docker.io/library/app:latest', 'reg.example:5000/team/app:1.2'],
      buildArgs: { A: '1', B: '', HOME: '/root' },
      target: 'test',
      noCache: true,
      pull: true,
      platform: 'linux/arm64',
      labels: { k: 'v', flag: '' },
      network: 'none',
      progress: 'auto',
      quiet: false,
      iidfile: 'id.txt',
      output: { type: 'oci', dest: 'out.tar', compression: '', forceCompression: false },
      snapshotter: 'native',
      limits: {
        resources: {
          memoryBytes: 64 * 1024 * 1024,
          memorySwapBytes: -1,
          cpuShares: 512,
          cpuPeriod: 50_000,
          cpuQuota: 25_000,
          cpusetCpus: '0',
          cpusetMems: '0',
        },
        ulimits: [
          { type: 'RLIMIT_NOFILE', soft: 100, hard: 200 },
          { type: 'RLIMIT_NPROC', soft: 50, hard: 50 },
        ],
        shmSizeBytes: 1024,
      },
    });
    assert.deepEqual(buildOptionsOf(flags, 'FROM busybox\n', 'ci/Dockerfile', false, '/tmp/x/image.tar'), {
      dockerfile: 'FROM busybox\n',
      dockerfileName: 'ci/Dockerfile',
      tags: flags.tags,
      buildArgs: flags.buildArgs,
      target: 'test',
      noCache: true,
      pull: true,
      platform: 'linux/arm64',
      labels: flags.labels,
      network: 'none',
      snapshotter: 'native',
      output: { type: 'oci', dest: '/tmp/x/image.tar', compression: '', forceCompression: false },
      quiet: false,
      noContext: false,
      ...flags.limits,
    });
  });

  it("defaults: no tags, the daemon's platform and network, auto progress, CTL_SNAPSHOTTER", () => {
    const flags = parse(['-'], { CTL_SNAPSHOTTER: 'overlayfs' });
    assert.deepEqual(
      [flags.path, flags.file, flags.tags, flags.platform, flags.network, flags.progress, flags.snapshotter, flags.output],
      ['-', undefined, [], '', '', 'auto', 'overlayfs', undefined],
    );
    assert.deepEqual([parse(['-q', '.']).progress, parse(['--progress', 'quiet', '.']).quiet], ['quiet', true]);
    assert.equal(parse(['--progress=plain', '.']).progress, 'plain');
    assert.equal(parse(['.'], { CTL_DEFAULT_NETWORK: 'none' }).network, 'none', 'an engine without a default bridge builds without one');
    assert.equal(parse(['--network', 'host', '.'], { CTL_DEFAULT_NETWORK: 'none' }).network, 'host');
    assert.deepEqual(parse(['.']).limits, { ulimits: [] }, 'no limits unless given');
  });

  it("-o: buildx's type=image and compression=, force-compression= with every type", () => {
    const output = (value: string) => parse(['-o', value, '.']).output;
    assert.deepEqual(output('type=image,compression=zstd'), { type: 'image', dest: '', compression: 'zstd', forceCompression: false });
    assert.deepEqual(output('type=oci,dest=x.tar,compression=zstd,force-compression=true'), {
      type: 'oci',
      dest: 'x.tar',
      compression: 'zstd',
      forceCompression: true,
    });
    assert.deepEqual(output('type=docker,dest=-,compression=uncompressed'), {
      type: 'docker',
      dest: '-',
      compression: 'uncompressed',
      forceCompression: false,
    });
    const image = parse(['-o', 'type=image,compression=zstd', '.']);
    assert.deepEqual(buildOptionsOf(image, '', 'Dockerfile', true, '').output, {
      type: 'image',
      dest: '',
      compression: 'zstd',
      forceCompression: false,
    });
  });

  it('refuses what docker refuses, and what ctl has not, as usage errors', () => {
    usage([], /requires exactly 1 argument/);
    usage(['a', 'b'], /requires exactly 1 argument \(PATH or -\), got 2/);
    usage(['--bogus', '.'], /unknown flag: --bogus/);
    usage(['-x', '.'], /unknown shorthand flag: 'x' in -x/);
    usage(['.', '-t'], /flag needs an argument: 't' in -t/);
    usage(['-t', 'Upper', '.'], /invalid argument "Upper" for "-t, --tag" flag: .*lower-case/);
    usage(['-t', 'app@sha256:' + 'a'.repeat(64), '.'], /cannot hold a digest/);
    usage(['--build-arg', 'NOPE', '.'], /--build-arg NOPE: NOPE is not set in this environment/);
    usage(['--build-arg', '=v', '.'], /the name is empty/);
    usage(['--label', '=v', '.'], /the key is empty/);
    usage(['--progress', 'fancy', '.'], /invalid --progress "fancy"/);
    usage(['--network', 'bridge', '.'], /invalid --network "bridge": none, host or default/);
    usage(['--platform', 'linux/a/b/c', '.'], /invalid platform/);
    usage(['-o', 'out', '.'], /invalid output "out": give type=oci\|docker,dest=FILE/);
    usage(['-o', 'type=local,dest=x', '.'], /type must be image, oci or docker, not "local"/);
    usage(['-o', 'type=oci', '.'], /dest=FILE is required/);
    usage(['-o', 'type=image,dest=x', '.'], /type=image takes no dest/);
    usage(['-o', 'type=oci,dest=x,compression=lz4', '.'], /compression must be gzip, zstd or uncompressed, not "lz4"/);
    usage(['-o', 'type=image,force-compression=yes', '.'], /force-compression must be true or false/);
    usage(['-o', 'type=oci,dest=x,oci-mediatypes=true', '.'], /unknown key "oci-mediatypes"/);
    usage(['--no-cache=yes', '.'], /takes no value/);
  });

  it("refuses bad limits with ctl run's words", () => {
    usage(['--memory', '12qq', '.'], /^--memory: invalid size "12qq" \(e\.g\. 512m, 1g\)$/);
    usage(['-m', '12qq', '.'], /^--memory: invalid size "12qq"/);
    usage(['--shm-size', 'big', '.'], /^--shm-size: invalid size "big"/);
    usage(['--cpu-quota', '1.5', '.'], /^--cpu-quota: "1.5" is not a whole number$/);
    usage(['--cpu-shares', 'lots', '.'], /^--cpu-shares: "lots" is not a whole number$/);
    usage(['--ulimit', 'nofile', '.'], /^--ulimit nofile: expected NAME=SOFT\[:HARD\]/);
    // pflag would take the value apart; here a value starting with "-" needs "=", and the error says so
    usage(['--memory-swap', '-1', '.'], /flag needs an argument: --memory-swap \(a value starting with "-": --memory-swap=VALUE\)/);
  });
});
