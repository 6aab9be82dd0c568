/**
 * The run path's share of networking: what a container's network is made of before its task
 * exists, and what goes when the container goes. netd (ctl.netd.v1, over gRPC) owns networks and
 * endpoints; this side owns the container's network namespace and its name files.
 *
 * - A container on networks gets a network namespace of its own, pinned by a bind mount on
 *   `<state>/netns/<ns>/<id>` (so it outlives its tasks: restarts keep addresses and ports),
 *   attached to each network in order (eth0, eth1, …; ports and bandwidth on the first).
 * - Every container gets /etc/hosts, /etc/hostname and /etc/resolv.conf bound from
 *   `<root>/containerd-lite/containers/<ns>/<id>/`, never written into its snapshot (Docker's
 *   way); `host` mode gets copies of the host's, `container:` mode shares the other container's.
 * - The record keeps the mode and the published ports as labels (NetworkLabel), for ps, port and
 *   inspect; the endpoints themselves are netd's (ListEndpoints).
 */
import { type Endpoint, type Networks, buildHosts, buildResolvConf, parseResolvConf, readHostResolvConf } from '@ctl/netd/client';
import { ErrorKind, isKind, notFound, wrap } from '@ctl/proto/errors';
import { writeFileAtomic } from '@ctl/proto/fsutil';
import type { RunOptions } from '@ctl/runtime-native';
import { addNetns, deleteNetns } from '@ctl/runtime-native/netns';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_NETWORK, NetworkLabel, networksOf } from './network-labels';
import { type NetworkPlan, portsToPublish } from './network-plan';

type SpecMount = NonNullable<RunOptions['mounts']>[number];

const NAME_FILES = ['hosts', 'hostname', 'resolv.conf'] as const;

export interface NetworkingDeps {
  /** netd's Networks API for a containerd namespace (the gRPC client). */
  networks(ns: string): Networks;
  /** Where the netns files go: `<dir>/<ns>/<id>`. */
  netnsDir: string;
  /** Where the name files go: `<dir>/<ns>/<id>/{hosts,hostname,resolv.conf}`. */
  filesDir: string;
  /** The running task's init pid of a container, for container: mode when it has no netns file of ours. */
  taskPid(ns: string, id: string): Promise<number | undefined>;
  /** The host's files (tests give their own; default /etc/hosts and the host's resolv.conf as Docker finds it). */
  hostFiles?: { hosts: string; resolvConf: string };
}

export interface NetworkSetUp {
  /** undefined: as the options say (path mode: the netns the caller named) */
  network: RunOptions['network'] | undefined;
  mounts: SpecMount[];
  labels: Record<string, string>;
  /** The container's hostname, as /etc/hostname says (host mode: the host's, unless the user chose one). */
  hostname: string;
}

export interface SetUpRequest {
  /** The user's hostname for the container, if any (else: the id's first 12 characters, or the host's). */
  hostname?: string;
  /** The container shares the host's UTS namespace (its hostname is the host's). */
  hostUts?: boolean;
  /** The image's ExposedPorts keys ("80/tcp"), for publish_all. */
  imageExposed: string[];
  /** Destinations the user mounts already (a user's /etc/hosts wins). */
  mounted: Set<string>;
}

const readHost = (file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

export class ContainerNetworking {
  constructor(private readonly deps: NetworkingDeps) {}

  netnsPath(ns: string, id: string): string {
    return join(this.deps.netnsDir, ns, id);
  }

  private filesPath(ns: string, id: string): string {
    return join(this.deps.filesDir, ns, id);
  }

  /**
   * Everything of the container's network before its record and task exist. On failure what was
   * made is undone here; once it resolves, tearDown undoes it.
   */
  async setUp(ns: string, id: string, plan: NetworkPlan, request: SetUpRequest): Promise<NetworkSetUp> {
    try {
      return await this.make(ns, id, plan, request);
    } catch (err) {
      await this.tearDown(ns, id, plan.mode === 'networks').catch(() => undefined);
      throw err;
    }
  }

  private async make(ns: string, id: string, plan: NetworkPlan, request: SetUpRequest): Promise<NetworkSetUp> {
    const files = this.filesPath(ns, id);
    const { hostFiles } = this.deps;
    // none is what a record without the label means (containers from before networks too)
    const labels: Record<string, string> = plan.mode === 'none' ? {} : { [NetworkLabel.mode]: plan.mode };
    let network: RunOptions['network'] | undefined = plan.mode === 'path' ? undefined : 'none';
    const hostShared = plan.mode === 'host' || request.hostUts;
    const hostname = request.hostname ?? (hostShared ? hostHostname() : id.slice(0, 12));
    let endpoints: Endpoint[] = [];
    if (plan.mode === 'container') {
      const shared = await this.sharedWith(ns, plan.container);
      labels[NetworkLabel.mode] = `container:${plan.container}`;
      return { network: { path: shared.netns }, mounts: this.bindFiles(shared.files, request.mounted), labels, hostname };
    }
    if (plan.mode === 'host') {
      network = 'host';
    } else if (plan.mode === 'networks') {
      network = { path: await this.makeNetns(ns, id) };
      endpoints = await this.attachAll(ns, id, network.path, plan, request.imageExposed);
      labels[NetworkLabel.mode] = plan.attachments.map((a) => a.network).join(',');
      labels[NetworkLabel.ports] = JSON.stringify(endpoints[0]?.ports ?? []);
    }
    const first = endpoints[0];
    const extraHosts = plan.extraHosts.map((h) => ({ name: h.host, address: h.ip }));
    const hosts =
      plan.mode === 'host'
        ? readHost(hostFiles?.hosts ?? '/etc/hosts') + extraHosts.map((h) => `${h.address}\t${h.name}\n`).join('')
        : buildHosts({
            hostname,
            addresses: first?.ips.slice(0, 1).map((ip) => ip.address.split('/')[0]!) ?? [],
            extraHosts,
            hostGateway: first?.ips.find((ip) => ip.gateway)?.gateway,
          });
    const resolv = buildResolvConf({
      host: hostFiles ? parseResolvConf(readHost(hostFiles.resolvConf)) : await readHostResolvConf(),
      hostNetwork: plan.mode === 'host',
      ipv6: endpoints.some((e) => e.ips.some((ip) => ip.address.includes(':'))),
      dns: plan.dns.nameservers,
      dnsSearch: plan.dns.search,
      dnsOptions: plan.dns.options,
      resolver: first?.dns.nameservers[0],
    }).text;
    await mkdir(files, { recursive: true });
    // readable by every user of the container, as the image's own /etc files are
    writeFileAtomic(join(files, 'hosts'), hosts, 0o644);
    writeFileAtomic(join(files, 'hostname'), `${hostname}\n`, 0o644);
    writeFileAtomic(join(files, 'resolv.conf'), resolv, 0o644);
    return { network, mounts: this.bindFiles(files, request.mounted), labels, hostname };
  }

  private bindFiles(dir: string, mounted: Set<string>): SpecMount[] {
    return NAME_FILES.filter((f) => !mounted.has(`/etc/${f}`)).map((f) => ({
      destination: `/etc/${f}`,
      type: 'bind',
      source: join(dir, f),
      options: ['rbind', 'rprivate', 'rw'],
    }));
  }

  /** container:<id>: its netns file (or its running init's netns) and its name files. */
  private async sharedWith(ns: string, other: string): Promise<{ netns: string; files: string }> {
    let netns = this.netnsPath(ns, other);
    if (!existsSync(netns)) {
      const pid = await this.deps.taskPid(ns, other);
      if (!pid) throw notFound(`container ${other} (--network container:${other}) is not running and has no network namespace of its own`);
      netns = `/proc/${pid}/ns/net`;
    }
    return { netns, files: this.filesPath(ns, other) };
  }

  /** A new network namespace pinned on the file, its loopback up (ctl-netns: one exec). */
  private async makeNetns(ns: string, id: string): Promise<string> {
    const file = this.netnsPath(ns, id);
    await mkdir(dirname(file), { recursive: true });
    await addNetns(file).catch((err: unknown) => {
      throw wrap(err, `make the network namespace of container ${id}`);
    });
    return file;
  }

  private async attachAll(ns: string, id: string, netnsPath: string, plan: NetworkPlan, imageExposed: string[]): Promise<Endpoint[]> {
    const networks = this.deps.networks(ns);
    const endpoints: Endpoint[] = [];
    for (const [i, a] of plan.attachments.entries()) {
      const first = i === 0;
      const attach = () =>
        networks.attach({
          containerId: id,
          network: a.network,
          netnsPath,
          name: id,
          aliases: a.aliases,
          ipv4Address: a.ipv4Address,
          ipv6Address: a.ipv6Address,
          macAddress: a.macAddress,
          ports: first ? portsToPublish(plan, imageExposed) : [],
          bandwidth: first ? plan.bandwidth : undefined,
        });
      endpoints.push(
        await attach().catch(async (err: unknown) => {
          // The default network is made on first use (docker's daemon has it from the start): only
          // an attach that does not find it pays the create's round trip to netd.
          if (a.network !== DEFAULT_NETWORK || !isKind(err, ErrorKind.NotFound)) throw err;
          await networks.create({ name: DEFAULT_NETWORK }, { ifNotExists: true });
          return attach();
        }),
      );
    }
    return endpoints;
  }

  /**
   * Undoes setUp: the container's endpoints on every network (when it had any: a container
   * without networks never needs netd), its netns and its name files. Safe to repeat. The netns
   * goes after the detach (a CNI plugin's DEL may still enter it), and even when netd fails (a
   * detach works without it); that failure is thrown after.
   */
  async tearDown(ns: string, id: string, attached: boolean): Promise<void> {
    let failure: unknown;
    if (attached) {
      await this.deps
        .networks(ns)
        .detach(id)
        .catch((err: unknown) => {
          if (!isKind(err, ErrorKind.NotFound)) failure = wrap(err, `detach container ${id} from its networks`);
        });
    }
    const netns = this.netnsPath(ns, id);
    await Promise.all([existsSync(netns) ? deleteNetns(netns) : undefined, rm(this.filesPath(ns, id), { recursive: true, force: true })]);
    if (failure) throw failure;
  }

  /** Whether a record's labels say its container was attached to networks. */
  static attached(labels: Record<string, string>): boolean {
    return networksOf(labels).length > 0;
  }
}
