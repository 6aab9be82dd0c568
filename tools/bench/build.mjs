#!/usr/bin/env node
// `ctl build` against `buildah bud` (Debian's, --isolation chroot, --layers so that it caches as
// ctl does) and `docker build` where a private dockerd starts (lib/docker.mjs: BuildKit, and the
// legacy builder beside it) of the same 10-step, two-stage Dockerfile (RUN, COPY of 1,000 files,
// ENV, WORKDIR, a COPY --from), side by side in interleaved rounds, every contender's state on one
// tmpfs:
//   cold      --no-cache: every step runs (the base image is already local for both)
//   cached    nothing changed: every step from the cache
//   changed   one of the 1,000 COPY inputs changed: that step and the ones after it run again
// Medians and spread per case, ratios ctl/buildah and ctl/docker, and `node -e 0` with and without
// NODE_EXTRA_CA_CERTS beside them (the ctl figures are taken without it, as on users' hosts).
//   node tools/bench/build.mjs            (BENCH_RUNS=N rounds, default 7)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCtl, tmpfsBase } from './lib/ctl.mjs';
import { buildkitCli, dockerArchive, startDockerd } from './lib/docker.mjs';
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
let dockerd;
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
  const notes = [];
  try {
    dockerd = await startDockerd(join(tmp.base, 'docker'));
  } catch (e) {
    notes.push(`docker skipped: ${e.message}`);
  }
  if (dockerd) {
    const archive = dockerArchive(
      join(tmp.base, 'ctl', 'busybox.tar'),
      join(tmp.base, 'docker-busybox.tar'),
      'docker.io/library/busybox:latest',
    );
    execFileSync('docker', ['load', '-q', '-i', archive], { env: dockerd.env, stdio: 'ignore' });
    // RUN steps without a network (dockerd has no bridge here): a netns of their own each, where
    // ctl's and buildah's share the host's.
    const docker = (cli, extra) => [cli, ['build', '-q', '--network', 'none', ...extra, '-t', 'bench:1', context]];
    const withBuilder = (on) => ({ ...plain, ...dockerd.env, DOCKER_BUILDKIT: on ? '1' : '0' });
    const bk = buildkitCli(dockerd.env);
    if (bk) contenders['docker'] = { cold: docker(bk, ['--no-cache']), warm: docker(bk, []), env: withBuilder(true) };
    else notes.push('docker with BuildKit skipped: no CLI here has buildx or BuildKit built in');
    contenders['docker-legacy'] = { cold: docker('docker', ['--no-cache']), warm: docker('docker', []), env: withBuilder(false) };
    notes.push(
      `docker: private dockerd ${dockerd.version}, storage driver ${dockerd.storageDriver}, RUN steps --network none; ` +
        `"docker" is BuildKit${bk ? ` (${bk} ${cliVersion(bk, dockerd.env)})` : ''}, "docker-legacy" the legacy builder (docker ${cliVersion('docker', dockerd.env)}, DOCKER_BUILDKIT=0)`,
    );
  }
  // Warm-up: each has built once, so its cache holds every step. A docker builder that fails
  // here is left out (ctl and buildah are what the bench is for).
  for (const [name, c] of Object.entries(contenders))
    try {
      time(...c.warm, c.env ?? plain);
    } catch (e) {
      if (!name.startsWith('docker')) throw e;
      notes.push(`${name} skipped: ${e.message.trim().split('\n').slice(-2).join(' ')}`);
      delete contenders[name];
    }

  const times = {};
  const add = (key, ms) => (times[key] ??= []).push(ms);
  const names = Object.keys(contenders);
  for (let round = 0; round < RUNS; round++) {
    // Each round starts one further along, so none always meets another's page cache.
    const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
    const run = (name, kind) => time(...contenders[name][kind], contenders[name].env ?? plain);
    for (const name of order) add(`${name} cold`, run(name, 'cold'));
    for (const name of order) add(`${name} cached`, run(name, 'warm'));
    change();
    for (const name of order) add(`${name} changed`, run(name, 'warm'));
  }

  const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
  console.log(
    `ctl build against buildah bud (--isolation chroot --layers)${dockerd ? ' and docker build' : ''}, medians of ${RUNS} rounds, state on tmpfs`,
  );
  for (const note of notes) console.log(note);
  console.log(
    `node -e 0: ${nodeStart(plain).toFixed(1)} ms without NODE_EXTRA_CA_CERTS, ${nodeStart(process.env).toFixed(1)} ms with; load ${load}`,
  );
  for (const c of ['cold', 'cached', 'changed']) {
    const ms = (name) => times[`${name} ${c}`];
    const figures = names.map((name) => `${name} ${median(ms(name)).toFixed(0)} ms (${spread(ms(name))})`);
    const ratios = names.slice(1).map((name) => `ctl/${name} ${(median(ms('ctl')) / median(ms(name))).toFixed(2)}x`);
    console.log(`${c.padEnd(8)} ${figures.join('   ')}\n${''.padEnd(9)}ratio ${ratios.join('   ')}`);
  }
} finally {
  await dockerd?.stop();
  await engine?.stop();
  tmp.remove();
}

function cliVersion(cli, env) {
  return execFileSync(cli, ['version', '--format', '{{.Client.Version}}'], { env, encoding: 'utf8' }).trim();
}
