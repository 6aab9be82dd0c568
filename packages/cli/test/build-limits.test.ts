/**
 * `ctl build`'s limits of RUN steps (docker build's --memory, --cpu-period/--cpu-quota,
 * --cpuset-cpus, --shm-size, --ulimit) on the real kernel: a RUN reads what its own cgroup,
 * rlimits and /dev/shm say into a file of the image, which a container of the image prints; a
 * RUN that allocates beyond --memory is killed and fails the build naming the step, tags
 * nothing and leaves nothing; a bad value is a usage error before anything is sent.
 */
import { strict as assert } from 'node:assert';
import { useEngine } from './engine';
import { builder } from './build-helpers';

/** The limits a RUN step sees, on a host of cgroup v1 or v2, as key=value lines in /limits. */
const PROBE = [
  'FROM busybox',
  'RUN m=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max); \\',
  "    q=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max); \\",
  "    p=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cut -d' ' -f2 /sys/fs/cgroup/cpu.max); \\",
  '    c=$(cat /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null || cat /sys/fs/cgroup/cpuset.cpus.effective); \\',
  "    s=$(df -k /dev/shm | awk 'NR == 2 { print $2 }'); \\",
  '    printf "memory=%s\\nquota=%s\\nperiod=%s\\ncpus=%s\\nnofile=%s:%s\\nshm=%sk\\n" \\',
  '      "$m" "$q" "$p" "$c" "$(ulimit -Sn)" "$(ulimit -Hn)" "$s" > /limits',
  '',
].join('\n');

describe('ctl build: limits of RUN steps', function () {
  this.timeout(120_000);
  // Before the engine's own afterEach, which removes every container.
  afterEach(() => ctl.nothingLeft());
  const engine = useEngine('build-limits');
  const ctl = builder(engine);
  const limitsOf = (image: string): Record<string, string> =>
    Object.fromEntries(
      engine
        .ok('run', '--rm', image, 'cat', '/limits')
        .trim()
        .split('\n')
        .map((l) => l.split('=') as [string, string]),
    );

  it('every RUN container has them: memory, CPU quota and period, cpuset, rlimits, /dev/shm; other limits are another cache key', () => {
    const dir = ctl.context('probe', { Dockerfile: PROBE });
    const limits = ['-m', '48m', '--cpu-period', '50000', '--cpu-quota', '25000', '--cpuset-cpus', '0'];
    const run = ctl.build(['-t', 'probed', '--progress', 'plain', ...limits, '--ulimit', 'nofile=321:654', '--shm-size', '3m', dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(limitsOf('probed'), {
      memory: String(48 << 20),
      quota: '25000',
      period: '50000',
      cpus: '0',
      nofile: '321:654',
      shm: `${3 * 1024}k`,
    });

    // The same limits: the step is cached; another memory limit runs it again and the image says so.
    const again = ctl.build(['-t', 'probed', '--progress', 'plain', ...limits, '--ulimit', 'nofile=321:654', '--shm-size', '3m', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.id, run.id, 'an unchanged rebuild gives the same image');
    assert.match(again.stderr, /^#\d+ CACHED$/m);
    const other = ctl.build(['-t', 'probed-64', '--memory', '64m', dir]);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(limitsOf('probed-64').memory, String(64 << 20));
    assert.notEqual(limitsOf('probed-64').nofile, '321:654', 'limits are the build’s, not kept from another');
  });

  describe('failures', () => {
    let names: string[];
    before(() => {
      names = ctl.imageNames();
    });
    afterEach(() => assert.deepEqual(ctl.imageNames(), names, 'nothing was tagged'));

    it('a RUN beyond --memory is killed: exit 1, the step and its line named, out of memory said, the steps after it not run', () => {
      const dir = ctl.context('hog', {
        Dockerfile: ['FROM busybox', 'RUN echo fits', 'RUN x=a; while true; do x=$x$x; done', 'RUN echo never-runs', ''].join('\n'),
      });
      const run = ctl.build(['-t', 'hog', '--progress', 'plain', '--memory', '32m', '--memory-swap', '32m', dir]);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.id, undefined, 'no image id');
      assert.match(
        run.stderr,
        /\n *ctl build: \[3\/4\] RUN x=a; while true; do x=\$x\$x; done \(Dockerfile:3\): .*exit code: 137 \(out of memory: the kernel killed it at the memory limit\)\n/,
      );
      assert.match(run.stderr, / fits\n/);
      assert.doesNotMatch(run.stderr, /never-runs\n/);
    });

    it('a bad value is a usage error (125) naming the flag, before anything is sent', () => {
      const dir = ctl.context('bad', { Dockerfile: 'FROM busybox\nRUN echo never-runs\n' });
      for (const [flags, message] of [
        [['--memory', '12qq'], 'ctl build: --memory: invalid size "12qq" (e.g. 512m, 1g)\n'],
        [['--cpu-quota', 'half'], 'ctl build: --cpu-quota: "half" is not a whole number\n'],
        [['--ulimit', 'nofile'], 'ctl build: --ulimit nofile: expected NAME=SOFT[:HARD], e.g. nofile=1024:2048\n'],
      ] as const) {
        const run = ctl.build(['-t', 'bad', ...flags, dir]);
        assert.equal(run.code, 125, run.stderr);
        assert.ok(run.stderr.startsWith(message), run.stderr);
        assert.match(run.stderr, /\nSee 'ctl build --help'\.\n$/);
        assert.doesNotMatch(run.stderr, /never-runs/);
      }
    });

    it('a value the kernel refuses fails the build at the first RUN, naming the field', () => {
      const dir = ctl.context('refused', { Dockerfile: 'FROM busybox\nRUN echo never-runs\n' });
      const run = ctl.build(['-t', 'refused', '--progress', 'plain', '--cpuset-cpus', '4095', dir]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /ctl build: \[2\/2\] RUN echo never-runs \(Dockerfile:2\): .*cpuset/);
    });
  });
});
