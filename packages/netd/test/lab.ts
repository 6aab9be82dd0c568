/**
 * The network tests' world: a network namespace of their own that stands for the host (netd runs
 * in it, as its own process), container netns made with `ip netns add`, and a "client" netns
 * joined to the host netns by a veth (an outside machine). Traffic goes only between these.
 * Everything made is removed by `close`, also after a failure.
 */
import { cgroupParent } from '@ctl/proto';
import { Children, type TempInstance, tempInstance, waitForService } from '@ctl/proto/testing';
import { WireClient } from '@ctl/proto/wire';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { NetworksClient } from '../src/client';

const BIN = join(__dirname, '..', '..', 'bin', 'ctl-netd.js');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function sh(command: string, args: string[]): Run {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function must(command: string, args: string[]): string {
  const r = sh(command, args);
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr || r.status}`);
  return r.stdout;
}

/** The outside address of the host netns, and the client's, on their veth. */
export const HOST_OUTSIDE = '10.250.0.1';
export const CLIENT = '10.250.0.2';

export class Lab {
  readonly tag = randomBytes(3).toString('hex');
  readonly host = `ctl-test-${this.tag}`;
  readonly client = `ctl-test-${this.tag}-client`;
  private readonly made: string[] = [];
  private counter = 0;
  readonly dirs: TempInstance = tempInstance('ctl-netd-test-');
  readonly children = new Children();
  private netd?: ReturnType<Children['spawn']>;
  private wire?: WireClient;
  /** The instance's nftables table (its root is not the default one). */
  readonly table = cgroupParent(this.dirs).slice(1);

  constructor() {
    this.add(this.host);
    this.exec(this.host, ['ip', 'link', 'set', 'lo', 'up']);
    this.add(this.client);
    must('ip', ['-n', this.host, 'link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'out1', 'netns', this.client]);
    for (const [ns, dev, addr] of [
      [this.host, 'out0', HOST_OUTSIDE],
      [this.client, 'out1', CLIENT],
    ] as const) {
      must('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
      must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    must('ip', ['-n', this.client, 'route', 'add', 'default', 'via', HOST_OUTSIDE]);
  }

  private add(name: string): void {
    must('ip', ['netns', 'add', name]);
    this.made.push(name);
  }

  /** A new container netns (nothing in it, not even lo up): its path. */
  container(): string {
    const name = `${this.host}-c${this.counter++}`;
    this.add(name);
    return `/run/netns/${name}`;
  }

  /** Deletes a container netns before the end (its endpoint's netns is then gone). */
  removeNetns(path: string): void {
    const name = path.replace('/run/netns/', '');
    must('ip', ['netns', 'del', name]);
    this.made.splice(this.made.indexOf(name), 1);
  }

  exec(ns: string, args: string[]): Run {
    return sh('ip', ['netns', 'exec', ns.replace('/run/netns/', ''), ...args]);
  }

  /** The body `from` gets from url, if any (busybox wget, given 3 s: its own -T crashes busybox 1.35). */
  fetch(from: string, url: string): string | undefined {
    const r = this.exec(from, ['timeout', '3', 'busybox', 'wget', '-q', '-O', '-', url]);
    return r.status === 0 ? r.stdout : undefined;
  }

  ping(from: string, address: string): boolean {
    return this.exec(from, ['busybox', 'ping', '-c', '1', '-W', '2', address]).status === 0;
  }

  /** Starts netd in the host netns and answers a client for it. */
  async start(): Promise<NetworksClient> {
    this.netd = this.children.spawn('ip', ['netns', 'exec', this.host, 'node', BIN, '--root', this.dirs.root, '--state', this.dirs.state]);
    const socket = join(this.dirs.state, 'netd.sock');
    await waitForService(socket);
    this.wire?.close();
    this.wire = new WireClient(socket);
    return new NetworksClient(this.wire, 'default');
  }

  /** SIGKILLs netd (as a crash would) and waits for it to be gone. */
  async kill(): Promise<void> {
    this.netd?.process.kill('SIGKILL');
    await this.netd?.exited;
  }

  log(): string {
    return this.netd?.output() ?? '';
  }

  /** What of ours is in the host netns: links (but lo and the client's veth) and the nft table. */
  hostState(): { links: string[]; table: string } {
    const links = (JSON.parse(must('ip', ['-n', this.host, '-j', 'link', 'show'])) as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((n) => n !== 'lo' && n !== 'out0')
      .sort();
    const table = this.exec(this.host, ['nft', 'list', 'table', 'inet', this.table]);
    return { links, table: table.status === 0 ? table.stdout : '' };
  }

  async close(): Promise<void> {
    this.wire?.close();
    await this.children.killAll();
    for (const name of this.made.reverse()) sh('ip', ['netns', 'del', name]);
    this.dirs.remove();
  }
}
