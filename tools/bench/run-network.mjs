#!/usr/bin/env node
// What a network costs `ctl run`: `ctl run --rm busybox true` on the default bridge against the
// same with `--network none` (target: the network adds at most 15 ms), and against
// `podman run --rm` of the same image on its default CNI bridge (target: faster) when podman is
// installed, with `node -e 0` beside; side by side in interleaved rounds (medians), without and with
// NODE_EXTRA_CA_CERTS. All inside a network namespace of the bench's own (lib/netns.mjs), all
// state on one tmpfs; each daemon already running, the image already there (no pulls).
// BENCH_BASELINE_CTL=<another build's ctl> measures that build beside (before/after in one run).
import { startCtl, tmpfsBase } from './lib/ctl.mjs';
import { certEnvs, inOwnNetns } from './lib/netns.mjs';
import { podman as startPodman } from './lib/podman.mjs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './lib/stats.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);

if (inOwnNetns(fileURLToPath(import.meta.url))) {
  const tmp = tmpfsBase('ctl-bench-runnet-');
  const [[, plain]] = certEnvs();
  const instances = [];
  let pod;
  try {
    // BENCH_BASELINE_CTL: another build's ctl (e.g. /work/main/node_modules/.bin/ctl) measured beside this one
    const builds = { ctl: undefined, ...(process.env.BENCH_BASELINE_CTL ? { baseline: process.env.BENCH_BASELINE_CTL } : {}) };
    const commands = { 'node -e 0': [process.execPath, '-e', '0'] };
    for (const [name, binary] of Object.entries(builds)) {
      const instance = await startCtl(join(tmp.base, name), plain, binary);
      instances.push(instance);
      // the default network is made on first use: not part of what is measured
      instance.ctl(['run', '--rm', 'busybox', 'true']);
      commands[`${name} none`] = [...instance.argv, 'run', '--rm', '--network', 'none', 'busybox', 'true'];
      commands[`${name} bridge`] = [...instance.argv, 'run', '--rm', 'busybox', 'true'];
    }
    pod = startPodman(join(tmp.base, 'podman'), { cni: true });
    pod?.run(['load', '-i', join(tmp.base, 'ctl', 'busybox.tar')]);
    if (pod)
      commands.podman = ['env', `CONTAINERS_CONF=${pod.env.CONTAINERS_CONF}`, 'podman', ...pod.args, 'run', '--rm', 'busybox', 'true'];
    const results = [];
    for (const [label, env] of certEnvs()) {
      // Rounds interleave the commands, so a change in the machine's load falls on all alike, and
      // each round starts one further along: what a command leaves to the kernel (a netns being
      // destroyed) falls on each of the others in turn, not always on the same next one.
      const times = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
      const entries = Object.entries(commands);
      for (let i = 0; i < RUNS + 3; i++)
        for (const [name, argv] of [...entries.slice(i % entries.length), ...entries.slice(0, i % entries.length)]) {
          const t = process.hrtime.bigint();
          const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'inherit'] });
          if (r.status !== 0) throw new Error(`${name}: exit ${r.status}`);
          if (i >= 3) times[name].push(Number(process.hrtime.bigint() - t) / 1e6); // 3 warm-up rounds
        }
      results.push([label, times]);
    }
    const ms = (x) => `${x.toFixed(1)} ms`;
    console.log(`\nctl run --rm busybox true, medians of ${RUNS} (in a netns of its own, state on tmpfs):`);
    for (const [label, times] of results) {
      const m = (name) => median(times[name]);
      console.log(`  ${label}: node -e 0 ${ms(m('node -e 0'))}`);
      for (const name of Object.keys(builds)) {
        // the median of each round's difference: steadier on a busy machine than a difference of medians
        const added = median(times[`${name} bridge`].map((x, i) => x - times[`${name} none`][i]));
        const line = `    ${name}: --network none ${ms(m(`${name} none`))}, default bridge ${ms(m(`${name} bridge`))}`;
        console.log(`${line}: the network adds ${ms(added)} (target <= 15 ms)`);
        if (pod)
          console.log(
            `      podman (CNI bridge) ${ms(m('podman'))}: ctl/podman = ${(m(`${name} bridge`) / m('podman')).toFixed(2)}x (target < 1)`,
          );
      }
    }
    if (!pod) console.log('  podman is not installed: no podman figure');
  } finally {
    pod?.reset();
    for (const instance of instances) await instance.stop();
    tmp.remove();
  }
}
