#!/usr/bin/env node
// `ctl build` against `buildah bud` (Debian's, --isolation chroot, --layers so that it caches as
// ctl does) of the same 10-step, two-stage Dockerfile (RUN, COPY of 1,000 files, ENV, WORKDIR, a
// COPY --from), side by side in interleaved rounds, every contender's state on one tmpfs:
//   cold      --no-cache: every step runs (the base image is already local for both)
//   cached    nothing changed: every step from the cache
//   changed   one of the 1,000 COPY inputs changed: that step and the ones after it run again
// Medians and spread per case, ratios ctl/buildah, and `node -e 0` with and without
// NODE_EXTRA_CA_CERTS beside them (the ctl figures are taken without it, as on users' hosts).
//   node tools/bench/build.mjs            (BENCH_RUNS=N rounds, default 7)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCtl, tmpfsBase } from './lib/ctl.mjs';
import { median, nodeStart } from './lib/stats.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const plain = { ...process.env };
delete plain.NODE_EXTRA_CA_CERTS;
const spread = (xs) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;

const DOCKERFILE = `FROM docker.io/library/busybox:latest AS base
ENV APP=/app
WORKDIR /app
COPY files/ /app/files/
RUN find /app/files -type f | wc -l > /count && sha256sum /app/files/f0001 > /sum
FROM docker.io/library/busybox:latest
ARG VERSION=1
ENV VERSION=$VERSION
COPY --from=base /count /sum /
RUN cat /count /sum > /report
CMD ["cat", "/report"]
`;

function time(cmd, args, env) {
  const start = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return ms;
}

const tmp = tmpfsBase('ctl-bench-build-');
let engine;
try {
  const context = join(tmp.base, 'context');
  mkdirSync(join(context, 'files'), { recursive: true });
  writeFileSync(join(context, 'Dockerfile'), DOCKERFILE);
  for (let i = 0; i < 1000; i++) writeFileSync(join(context, 'files', `f${String(i).padStart(4, '0')}`), `file ${i}\n`.repeat(20));
  let generation = 0;
  const change = () => writeFileSync(join(context, 'files', 'f0001'), `changed ${++generation}\n`);

  engine = await startCtl(join(tmp.base, 'ctl'), plain);
  const ctl = (args) => [engine.argv[0], [...engine.argv.slice(1), ...args]];
  const buildahRoot = ['--root', join(tmp.base, 'buildah', 'root'), '--runroot', join(tmp.base, 'buildah', 'run')];
  execFileSync('buildah', [...buildahRoot, 'pull', '-q', `oci-archive:${join(tmp.base, 'ctl', 'busybox.tar')}`], { stdio: 'ignore' });
  const buildah = (extra) => [
    'buildah',
    [...buildahRoot, 'bud', '--isolation', 'chroot', '--layers', '-q', ...extra, '-t', 'bench:1', context],
  ];
  const contenders = {
    // RUN steps on the host's network, as buildah's chroot isolation runs them; and no bridge of ours in the
    // host's namespace (the engine's default network would make one).
    ctl: {
      cold: ctl(['build', '-q', '--network', 'host', '--no-cache', '-t', 'bench:1', context]),
      warm: ctl(['build', '-q', '--network', 'host', '-t', 'bench:1', context]),
    },
    buildah: { cold: buildah(['--no-cache']), warm: buildah([]) },
  };
  // Warm-up: both have built once, so their caches hold every step.
  for (const c of Object.values(contenders)) time(...c.warm, plain);

  const times = {};
  const add = (key, ms) => (times[key] ??= []).push(ms);
  for (let round = 0; round < RUNS; round++) {
    // Alternate who goes first, so neither always meets the other's page cache.
    const order = round % 2 ? ['buildah', 'ctl'] : ['ctl', 'buildah'];
    for (const name of order) add(`${name} cold`, time(...contenders[name].cold, plain));
    for (const name of order) add(`${name} cached`, time(...contenders[name].warm, plain));
    change();
    for (const name of order) add(`${name} changed`, time(...contenders[name].warm, plain));
  }

  const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
  console.log(`ctl build against buildah bud (--isolation chroot --layers), medians of ${RUNS} rounds, state on tmpfs`);
  console.log(
    `node -e 0: ${nodeStart(plain).toFixed(1)} ms without NODE_EXTRA_CA_CERTS, ${nodeStart(process.env).toFixed(1)} ms with; load ${load}`,
  );
  for (const c of ['cold', 'cached', 'changed']) {
    const a = times[`ctl ${c}`];
    const b = times[`buildah ${c}`];
    console.log(
      `${c.padEnd(8)} ctl ${median(a).toFixed(0)} ms (${spread(a)})   buildah ${median(b).toFixed(0)} ms (${spread(b)})   ratio ${(median(a) / median(b)).toFixed(2)}x`,
    );
  }
} finally {
  await engine?.stop();
  tmp.remove();
}
