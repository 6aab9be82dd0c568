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
 * - What setUp was asked is kept beside the name files (network.json, on the persistent root), so
 *   a start after a host reboot (the netns file gone with /run) or after netd lost the endpoints
 *   makes the netns again and attaches it again (restore); addresses may change unless static,
 *   as in Docker.
 */
import {
  type Endpoint,
  type Networks,
  buildHosts,
  buildResolvConf,
  editHosts,
  parseResolvConf,
  readHostResolvConf,
} from '@ctl/netd/client';
import { traced } from '@ctl/proto/trace';
import { ErrorKind, isKind, notFound, wrap } from '@ctl/proto/errors';
import { writeFileAtomic } from '@ctl/proto/fsutil';
import type { RunOptions } from '@ctl/runtime-native';
import { addNetns, deleteNetns, isNetns } from '@ctl/runtime-native/netns';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { dirname, join } from 'node:path';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import { DEFAULT_NETWORK, NetworkLabel, networksOf, publishedPorts } from './network-labels';
import { type AttachmentPlan, type NetworkPlan, portsToPublish } from './network-plan';

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
  /** A container's record labels as they are now; undefined once the record is gone (restore asks it in its queue). */
  labels(ns: string, id: string): Promise<Record<string, string> | undefined>;
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

/** What restore needs to make a container's network again: setUp's plan and request (network.json). */
interface Recipe {
  plan: NetworkPlan;
  hostname: string;
  hostUts: boolean;
  imageExposed: string[];
}

const RECIPE = 'network.json';

/** file replaced whole (a new one renamed over it: no reader sees half), not synced to disk. */
function replaceFile(file: string, data: string, mode: number): void {
  const temporary = `${file}.tmp-${process.pid}`;
  writeFileSync(temporary, data, { mode });
  renameSync(temporary, file);
}

const readHost = (file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

export class ContainerNetworking {
  /** setUp, restore and release of one container run one at a time (a start racing an rm). */
  private readonly queue = new KeyedQueue();
  /** Containers released for a delete that has not removed the record yet: restore must not bring them back. */
  private readonly releasing = new Set<string>();
  /** Attached by this process and not started since: the first start need not ask netd again. */
  private readonly fresh = new Set<string>();
  /** Set up by this process: the sweep of an earlier run's leftovers never takes one (its record may be on its way). */
  private readonly madeHere = new Set<string>();

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
    return this.queue.run(`${ns}/${id}`, async () => {
      this.releasing.delete(`${ns}/${id}`);
      this.madeHere.add(`${ns}/${id}`);
      try {
        const made = await this.span('setUp', () => this.make(ns, id, plan, request));
        if (plan.mode === 'networks') {
          const recipe: Recipe = { plan, hostname: made.hostname, hostUts: Boolean(request.hostUts), imageExposed: request.imageExposed };
          writeFileAtomic(join(this.filesPath(ns, id), RECIPE), JSON.stringify(recipe), 0o600);
          this.fresh.add(`${ns}/${id}`);
        }
        return made;
      } catch (err) {
        await this.tearDownNow(ns, id, plan.mode === 'networks').catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Before a container's task is made: a container on networks whose netns is gone (a host
   * reboot empties /run) or whose endpoints netd no longer has gets its netns made again and
   * attached again from network.json. Answers the record's labels that changed (the ports as
   * published now), or undefined when nothing was made. On failure nothing half-made is left
   * (the name files and network.json stay for the next start).
   */
  async restore(ns: string, id: string): Promise<Record<string, string> | undefined> {
    const key = `${ns}/${id}`;
    return this.queue.run(key, async () => {
      const labels = this.releasing.has(key) ? undefined : await this.deps.labels(ns, id);
      if (!labels || !ContainerNetworking.attached(labels)) return undefined;
      const netns = this.netnsPath(ns, id);
      const live = isNetns(netns);
      if (live && this.fresh.delete(key)) return undefined;
      const networks = this.deps.networks(ns);
      const recipe = this.recipe(ns, id, labels);
      if (live && (await networks.listEndpoints({ containerId: id })).length >= recipe.plan.attachments.length) return undefined;
      try {
        // All endpoints go first (a gone netns's still hold addresses and ports, so static ones can be
        // had again; a live netns gets eth0, eth1, … in order again); a live netns is kept.
        await this.detach(ns, id);
        const made = await this.make(ns, id, recipe.plan, { ...recipe, mounted: new Set() });
        return made.labels[NetworkLabel.ports] === labels[NetworkLabel.ports]
          ? undefined
          : { [NetworkLabel.ports]: made.labels[NetworkLabel.ports]! };
      } catch (err) {
        await this.release(ns, id, true).catch(() => undefined);
        throw wrap(err, `make the network of container ${id} again`);
      }
    });
  }

  /** network.json; for a container made before it was kept, its networks and ports as the labels say. */
  private recipe(ns: string, id: string, labels: Record<string, string>): Recipe {
    try {
      return JSON.parse(readFileSync(join(this.filesPath(ns, id), RECIPE), 'utf8')) as Recipe;
    } catch {
      const attachments = networksOf(labels).map((network) => ({ network, aliases: [], ipv4Address: '', ipv6Address: '', macAddress: '' }));
      const plan: NetworkPlan = {
        mode: 'networks',
        container: '',
        attachments,
        ports: publishedPorts(labels),
        publishAll: false,
        expose: [],
        dns: { nameservers: [], search: [], options: [] },
        extraHosts: [],
        bandwidth: { egressBps: 0, ingressBps: 0 },
      };
      return { plan, hostname: id.slice(0, 12), hostUts: false, imageExposed: [] };
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
      const path = await this.span('setUp.netns', () => this.makeNetns(ns, id));
      network = { path };
      endpoints = await this.span('setUp.attach', () => this.attachAll(ns, id, path, plan, request.imageExposed));
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
    // On networks the files are made again with the netns (restore), and what could lose data
    // not yet synced (a power loss, a kernel crash) loses the netns too (its file is on /run, or is
    // no namespace after a reboot): no fsync, and network.json, which they are made from, has one.
    // In other modes nothing makes them again, so they are written to last.
    const write = plan.mode === 'networks' ? replaceFile : writeFileAtomic;
    await this.span('setUp.files', async () => {
      await mkdir(files, { recursive: true });
      // readable by every user of the container, as the image's own /etc files are
      write(join(files, 'hosts'), hosts, 0o644);
      write(join(files, 'hostname'), `${hostname}\n`, 0o644);
      write(join(files, 'resolv.conf'), resolv, 0o644);
    });
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

  /** A new network namespace pinned on the file, its loopback up (ctl-netns: one exec); a live one is kept (restore reattaches it). */
  private async makeNetns(ns: string, id: string): Promise<string> {
    const file = this.netnsPath(ns, id);
    if (isNetns(file)) return file;
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
          // on a network with names, its resolver forwards the container's other questions to them
          dnsUpstreams: plan.dns.nameservers,
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
   * docker network connect: one more network on the container's own netns (the caller checked it
   * has one), named as at create, its --dns (kept by its first endpoint) as the resolver's
   * upstreams; its addresses there go into its /etc/hosts. On failure the endpoint is undone.
   */
  async connect(ns: string, id: string, attachment: AttachmentPlan): Promise<Endpoint> {
    return this.queue.run(`${ns}/${id}`, async () => {
      const networks = this.deps.networks(ns);
      const [first] = await networks.listEndpoints({ containerId: id });
      const endpoint = await networks.attach({
        containerId: id,
        netnsPath: this.netnsPath(ns, id),
        name: id,
        ...attachment,
        dnsUpstreams: first?.dnsUpstreams ?? [],
      });
      try {
        await this.editHosts(ns, id, { add: endpoint.ips.map((ip) => ip.address.split('/')[0]!) });
        // A restore (after a reboot, or netd losing its endpoints) attaches it again too.
        this.editRecipe(ns, id, (attachments) => [
          ...attachments.filter((a) => a.network !== endpoint.network),
          { ...attachment, network: endpoint.network },
        ]);
      } catch (err) {
        await networks.detach(id, endpoint.networkId).catch(() => undefined);
        throw err;
      }
      return endpoint;
    });
  }

  /** docker network disconnect: the endpoint goes, and its addresses from the container's /etc/hosts. */
  async disconnect(ns: string, id: string, network: string): Promise<void> {
    await this.queue.run(`${ns}/${id}`, async () => {
      const networks = this.deps.networks(ns);
      const [endpoint] = await networks.listEndpoints({ network, containerId: id });
      if (!endpoint) throw notFound(`container ${id} is not connected to network ${network}`);
      await networks.detach(id, endpoint.networkId);
      await this.editHosts(ns, id, { remove: endpoint.ips.map((ip) => ip.address.split('/')[0]!) });
      this.editRecipe(ns, id, (attachments) =>
        attachments.filter((a) => ![network, endpoint.network, endpoint.networkId].includes(a.network)),
      );
    });
  }

  /** Changes the networks network.json attaches at a restore (a container made before it was kept keeps its labels' networks). */
  private editRecipe(ns: string, id: string, change: (attachments: AttachmentPlan[]) => AttachmentPlan[]): void {
    const file = join(this.filesPath(ns, id), RECIPE);
    if (!existsSync(file)) return;
    const recipe = JSON.parse(readFileSync(file, 'utf8')) as Recipe;
    recipe.plan = { ...recipe.plan, attachments: change(recipe.plan.attachments) };
    writeFileAtomic(file, JSON.stringify(recipe), 0o600);
  }

  /**
   * Changes the container's lines of its /etc/hosts, in place: the running container has the
   * file bound, so a new file put in its place (a rename) would not be seen.
   */
  private async editHosts(ns: string, id: string, change: { add?: string[]; remove?: string[] }): Promise<void> {
    const files = this.filesPath(ns, id);
    const hostname = (await readFile(join(files, 'hostname'), 'utf8')).trim();
    const hosts = join(files, 'hosts');
    await writeFile(hosts, editHosts(await readFile(hosts, 'utf8'), hostname, change));
  }

  /**
   * Undoes setUp: the container's endpoints on every network (when it had any: a container
   * without networks never needs netd), its netns and its name files. Safe to repeat. The netns
   * and files go even when netd fails (a detach works without them); that failure is thrown after.
   * When `deleting`, a restore that comes after (a start racing the delete) makes nothing again
   * until a setUp of the same id (call deleted() once the record is gone).
   */
  async tearDown(ns: string, id: string, attached: boolean, deleting = false): Promise<void> {
    await this.queue.run(`${ns}/${id}`, async () => {
      await this.tearDownNow(ns, id, attached);
      if (deleting) this.releasing.add(`${ns}/${id}`);
    });
  }

  /**
   * At start: what an earlier run set up for a container whose record it never wrote (killed
   * between the network's set-up and the record) is released: its netns file, its name files and
   * its endpoints on netd. Answers the containers released.
   */
  async releaseOrphans(namespaces: readonly string[]): Promise<string[]> {
    const candidates = new Set<string>();
    const listDir = async (dir: string): Promise<string[]> => readdir(dir).catch(() => []);
    const all = new Set([...namespaces, ...(await listDir(this.deps.netnsDir)), ...(await listDir(this.deps.filesDir))]);
    for (const ns of all) {
      for (const dir of [this.deps.netnsDir, this.deps.filesDir])
        for (const id of await listDir(join(dir, ns))) candidates.add(`${ns}/${id}`);
      const endpoints = await this.deps
        .networks(ns)
        .listEndpoints({})
        .catch(() => []);
      for (const e of endpoints) candidates.add(`${ns}/${e.containerId}`);
    }
    const released: string[] = [];
    for (const key of candidates) {
      const [ns, id] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      await this.queue.run(key, async () => {
        if (this.madeHere.has(key) || (await this.deps.labels(ns, id)) !== undefined) return;
        // One that fails (netd not up yet) is found again by system check, and by the next start.
        await this.tearDownNow(ns, id, true).then(
          () => released.push(key),
          () => undefined,
        );
      });
    }
    return released;
  }

  /** The record is gone (or its delete failed): restore reads the record again from now on. */
  deleted(ns: string, id: string): void {
    this.releasing.delete(`${ns}/${id}`);
    this.fresh.delete(`${ns}/${id}`);
    this.madeHere.delete(`${ns}/${id}`);
  }

  private async tearDownNow(ns: string, id: string, attached: boolean): Promise<void> {
    const failure = await this.span('tearDown', () => this.release(ns, id, attached)).then(
      () => undefined,
      (err: unknown) => err,
    );
    await rm(this.filesPath(ns, id), { recursive: true, force: true });
    if (failure) throw failure;
  }

  /** The container's endpoints (when attached) and its netns file; the netns goes even when netd fails. */
  private async release(ns: string, id: string, attached: boolean): Promise<void> {
    const failure = attached
      ? await this.span('tearDown.detach', () => this.detach(ns, id)).then(
          () => undefined,
          (err: unknown) => err,
        )
      : undefined;
    this.fresh.delete(`${ns}/${id}`);
    const netns = this.netnsPath(ns, id);
    // also when not mounted: a create cut short, or a reboot
    if (existsSync(netns)) await this.span('tearDown.netns', () => deleteNetns(netns));
    if (failure) throw failure;
  }

  private async detach(ns: string, id: string): Promise<void> {
    await this.deps
      .networks(ns)
      .detach(id)
      .catch((err: unknown) => {
        if (!isKind(err, ErrorKind.NotFound)) throw wrap(err, `detach container ${id} from its networks`);
      });
  }

  /** How long a part of setUp or tearDown took (CTL_TRACE). */
  private span<T>(what: string, work: () => Promise<T>): Promise<T> {
    return traced(`run.network.${what}`, work);
  }

  /** Whether a record's labels say its container was attached to networks. */
  static attached(labels: Record<string, string>): boolean {
    return networksOf(labels).length > 0;
  }
}
