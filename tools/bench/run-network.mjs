#!/usr/bin/env node
// What a network costs `ctl run`: `ctl run --rm busybox true` on the default bridge against the
// same with `--network none` (target: the network adds at most 15 ms), and against
// `podman run --rm` of the same image on its default CNI bridge (target: faster) when podman is
// installed, with `node -e 0` beside; side by side in interleaved rounds (medians), without and with
// NODE_EXTRA_CA_CERTS. All inside a network namespace of the bench's own (lib/netns.mjs), all
// state on one tmpfs; each daemon already running, the image already there (no pulls).
import { startCtl, tmpfsBase } from './lib/ctl.mjs';
import { certEnvs, inOwnNetns } from './lib/netns.mjs';
import { podman as startPodman } from './lib/podman.mjs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (inOwnNetns(fileURLToPath(import.meta.url))) {
  const tmp = tmpfsBase('ctl-bench-runnet-');
  const [[, plain]] = certEnvs();
  let instance;
  let pod;
  try {
    instance = await startCtl(join(tmp.base, 'ctl'), plain);
    // the default network is made on first use: not part of what is measured
    instance.ctl(['run', '--rm', 'busybox', 'true']);
    pod = startPodman(join(tmp.base, 'podman'), { cni: true });
    pod?.run(['load', '-i', join(tmp.base, 'ctl', 'busybox.tar')]);
    const commands = {
      'node -e 0': [process.execPath, '-e', '0'],
      'ctl run --rm --network none': [...instance.argv, 'run', '--rm', '--network', 'none', 'busybox', 'true'],
      'ctl run --rm (default bridge)': [...instance.argv, 'run', '--rm', 'busybox', 'true'],
      ...(pod
        ? {
            'podman run --rm (CNI bridge)': [
              'env',
              `CONTAINERS_CONF=${pod.env.CONTAINERS_CONF}`,
              'podman',
              ...pod.args,
              'run',
              '--rm',
              'busybox',
              'true',
            ],
          }
        : {}),
    };
    const results = [];
    for (const [label, env] of certEnvs()) {
      // rounds interleave the commands, so a change in the machine's load falls on all alike
      const times = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
      for (let i = 0; i < RUNS + 3; i++)
        for (const [name, argv] of Object.entries(commands)) {
          const t = process.hrtime.bigint();
          const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'inherit'] });
          if (r.status !== 0) throw new Error(`${name}: exit ${r.status}`);
          if (i >= 3) times[name].push(Number(process.hrtime.bigint() - t) / 1e6); // 3 warm-up rounds
        }
      results.push([label, Object.fromEntries(Object.entries(times).map(([name, xs]) => [name, median(xs)]))]);
    }
    const ms = (x) => `${x.toFixed(1)} ms`;
    console.log(`\nctl run --rm busybox true, medians of ${RUNS} (in a netns of its own, state on tmpfs):`);
    for (const [label, m] of results) {
      const none = m['ctl run --rm --network none'];
      const bridge = m['ctl run --rm (default bridge)'];
      const podman = m['podman run --rm (CNI bridge)'];
      console.log(`  ${label}: node -e 0 ${ms(m['node -e 0'])}`);
      console.log(`    --network none ${ms(none)}, default bridge ${ms(bridge)}: the network adds ${ms(bridge - none)} (target <= 15 ms)`);
      if (podman) console.log(`    podman (CNI bridge) ${ms(podman)}: ctl/podman = ${(bridge / podman).toFixed(2)}x (target < 1)`);
    }
    if (!pod) console.log('  podman is not installed: no podman figure');
  } finally {
    pod?.reset();
    await instance?.stop();
    tmp.remove();
  }
}
