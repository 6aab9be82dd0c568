#!/usr/bin/env node
// Whole-process time of the CLI against Node's own start, side by side in one run (hyperfine,
// medians): `ctl --version`, `ctl --help` (no daemon), and `ctl version` against a running
// daemon of a private instance. Targets (issue 2): --version/--help within 1.5x of `node -e 0`,
// `ctl version` within 2.5x. Reported with and without NODE_EXTRA_CA_CERTS, which this machine
// sets and users' hosts rarely do (it costs every Node start the same fixed amount).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ctl = join(repo, 'node_modules', '.bin', 'ctl');
const runs = Number(process.env.BENCH_RUNS ?? 40);
const base = mkdtempSync(join(tmpdir(), 'ctl-bench-'));
const root = join(base, 'root');
const state = join(base, 'state');
const inst = `--root ${root} --state ${state}`;

const daemon = spawn(
  process.execPath,
  [join(repo, 'packages/cli/bin/ctl.js'), '--root', root, '--state', state, 'daemon', '--log-level', 'warn'],
  { stdio: 'ignore' },
);
try {
  for (let i = 0; i < 200; i++) {
    try {
      execFileSync(ctl, ['--root', root, '--state', state, '--no-autostart', 'version'], { stdio: 'ignore' });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const commands = {
    'node -e 0': 'node -e 0',
    'ctl --version': `${ctl} --version`,
    'ctl --help': `${ctl} --help`,
    'ctl version (daemon running)': `${ctl} ${inst} --no-autostart version`,
  };
  const results = {};
  for (const [label, env] of [
    ['without NODE_EXTRA_CA_CERTS', { NODE_EXTRA_CA_CERTS: '' }],
    ['with NODE_EXTRA_CA_CERTS', {}],
  ]) {
    const json = join(base, 'out.json');
    const childEnv = { ...process.env, ...env };
    if (env.NODE_EXTRA_CA_CERTS === '') delete childEnv.NODE_EXTRA_CA_CERTS;
    else childEnv.NODE_EXTRA_CA_CERTS ??= '/etc/ssl/certs/ca-certificates.crt';
    execFileSync(
      'hyperfine',
      [
        '-N',
        '--warmup',
        '5',
        '--runs',
        String(runs),
        '--export-json',
        json,
        ...Object.entries(commands).flatMap(([name, cmd]) => ['-n', name, cmd]),
      ],
      { env: childEnv, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    results[label] = Object.fromEntries(JSON.parse(readFileSync(json, 'utf8')).results.map((r) => [r.command, r.median]));
  }
  const targets = { 'ctl --version': 1.5, 'ctl --help': 1.5, 'ctl version (daemon running)': 2.5 };
  for (const [label, medians] of Object.entries(results)) {
    const floor = medians['node -e 0'];
    console.log(`\n${label}: median of ${runs} runs each`);
    console.log(`  ${'command'.padEnd(30)} ${'median'.padStart(9)}  ratio to node -e 0  target`);
    for (const [name, median] of Object.entries(medians)) {
      const ratio = median / floor;
      const target = targets[name];
      const verdict = target ? `<= ${target}x ${ratio <= target ? 'met' : 'MISSED'}` : '';
      console.log(
        `  ${name.padEnd(30)} ${(median * 1000).toFixed(1).padStart(7)}ms  ${ratio.toFixed(2).padStart(6)}x             ${verdict}`,
      );
    }
  }
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(base, { recursive: true, force: true });
}
