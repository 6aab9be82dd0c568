#!/usr/bin/env node
// What a network costs `ctl run`: `ctl run --rm busybox true` on the default bridge against the
// same with `--network none` (target: the network adds at most 15 ms), and against
// `podman run --rm` of the same image on its default CNI bridge (target: faster) when podman is
// installed, with `node -e 0` beside; side by side with hyperfine (medians), without and with
// NODE_EXTRA_CA_CERTS. All inside a network namespace of the bench's own (lib/netns.mjs), all
// state on one tmpfs; each daemon already running, the image already there (no pulls).
import { startCtl, tmpfsBase } from './lib/ctl.mjs';
import { certEnvs, inOwnNetns } from './lib/netns.mjs';
import { podman as startPodman } from './lib/podman.mjs';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);

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
      'node -e 0': `${process.execPath} -e 0`,
      'ctl run --rm --network none': `${instance.shell} run --rm --network none busybox true`,
      'ctl run --rm (default bridge)': `${instance.shell} run --rm busybox true`,
      ...(pod ? { 'podman run --rm (CNI bridge)': `${pod.shell} run --rm busybox true` } : {}),
    };
    const json = join(tmp.base, 'out.json');
    const results = [];
    for (const [label, env] of certEnvs()) {
      execFileSync(
        'hyperfine',
        [
          '--warmup',
          '3',
          '--runs',
          String(RUNS),
          '--export-json',
          json,
          '--style',
          'basic',
          ...Object.entries(commands).flatMap(([name, cmd]) => ['--command-name', name, cmd]),
        ],
        { env, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      results.push([label, Object.fromEntries(JSON.parse(readFileSync(json, 'utf8')).results.map((r) => [r.command, r.median * 1000]))]);
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
