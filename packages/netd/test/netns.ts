/**
 * Network tests run in a network namespace of their own: the test file re-runs itself under
 * `unshare --net`, so the test process's namespace plays "the host" (netd's side), and the named
 * namespaces it adds play containers. Nothing reaches the real host's interfaces, and whatever a
 * run leaves behind dies with its namespace or is deleted by the outer run.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';

const INSIDE = 'CTL_TEST_NETNS_PREFIX';
const NETNS_DIR = '/run/netns';

/**
 * `describe` that runs `body` inside a fresh network namespace (loopback up): outside it, a single
 * test re-runs this file's mocha there and passes when every test inside passed.
 */
export function describeInOwnNetns(title: string, testFile: string, body: () => void): void {
  if (process.env[INSIDE]) {
    describe(title, () => {
      before(() => ip('link', 'set', 'lo', 'up'));
      body();
    });
    return;
  }
  describe(title, () => {
    it('passes in a network namespace of its own', async function () {
      this.timeout(300_000);
      const prefix = `ctlt${process.pid}`;
      const mocha = require.resolve('mocha/bin/mocha.js');
      const args = ['--net', '--', process.execPath, mocha, '--reporter', 'spec', '--timeout', '120000', '--exit', testFile];
      try {
        const child = spawn('unshare', args, { stdio: 'inherit', env: { ...process.env, [INSIDE]: prefix } });
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        assert.equal(code, 0, `the tests inside the network namespace failed (output above)`);
      } finally {
        for (const name of leftNamespaces(prefix)) ip('netns', 'del', name);
      }
    });
  });
}

function leftNamespaces(prefix: string): string[] {
  try {
    return readdirSync(NETNS_DIR).filter((name) => name.startsWith(`${prefix}-`));
  } catch {
    return [];
  }
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A named network namespace, for a "container": `ip netns add`, and `remove` deletes it. */
export class Netns {
  private static count = 0;
  readonly name: string;

  constructor(role: string) {
    const prefix = process.env[INSIDE];
    if (!prefix) throw new Error('Netns: only inside describeInOwnNetns');
    this.name = `${prefix}-${role}${Netns.count++}`;
    ip('netns', 'add', this.name);
    this.exec('ip', 'link', 'set', 'lo', 'up');
  }

  exec(command: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.name, command, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  remove(): void {
    ip('netns', 'del', this.name);
  }
}

/**
 * Joins this (the "host") namespace to `container` with a veth pair: `hostName` here with
 * `hostAddress`, `eth0` there with `containerAddress` (both /24).
 */
export function vethPair(hostName: string, container: Netns, hostAddress: string, containerAddress: string): void {
  ip('link', 'add', hostName, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', container.name);
  ip('addr', 'add', `${hostAddress}/24`, 'dev', hostName);
  ip('link', 'set', hostName, 'up');
  container.exec('ip', 'addr', 'add', `${containerAddress}/24`, 'dev', 'eth0');
  container.exec('ip', 'link', 'set', 'eth0', 'up');
}
