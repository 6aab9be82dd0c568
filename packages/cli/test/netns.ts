/**
 * A network namespace a suite makes for itself to play the host (its daemon, netd's bridges and
 * rules live in it; traffic stays in it), with an outward address on a veth of its own (this
 * kernel has no dummy driver). Made before the suite's engine, removed after it.
 */
import { type SpawnSyncReturns, execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface TestNetns {
  readonly name: string;
  /** Its file under /run/netns. */
  readonly file: string;
  /** Its own ("outward") address. */
  readonly outward: string;
  /** A command in the namespace (the host side of the containers). */
  run(...argv: string[]): SpawnSyncReturns<string>;
}

export function testNetns(suite: string, outward = '192.0.2.1'): TestNetns {
  const name = `ctl-${suite}-test-${process.pid}`;
  const file = `/run/netns/${name}`;
  return { name, file, outward, run: (...argv) => spawnSync('nsenter', [`--net=${file}`, ...argv], { encoding: 'utf8', timeout: 30_000 }) };
}

/** Whether this host can run the network suites (root, ip and nft). */
export const networkSuitesRun = (): boolean =>
  process.getuid?.() === 0 && spawnSync('ip', ['-V']).status === 0 && spawnSync('nft', ['--version']).status === 0;

export function makeTestNetns(n: TestNetns): void {
  execFileSync('ip', ['netns', 'add', n.name]);
  for (const cmd of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'out1'],
    ['addr', 'add', `${n.outward}/24`, 'dev', 'out0'],
    ['link', 'set', 'out0', 'up'],
    ['link', 'set', 'out1', 'up'],
  ])
    execFileSync('ip', ['-n', n.name, ...cmd]);
}

/** After the engine's own after hook: its daemon is gone, so nothing holds the namespace's parts. */
export function removeTestNetns(n: TestNetns): void {
  if (existsSync(n.file)) execFileSync('ip', ['netns', 'del', n.name]);
}
