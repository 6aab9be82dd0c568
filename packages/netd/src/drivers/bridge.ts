/**
 * The bridge driver: Docker's bridge networks. A Linux bridge per network holding the gateway
 * addresses (the default network "bridge" is "ctl0" on the default instance; others are
 * "ctl-<11 hex of the id>"), a veth pair per endpoint with its container end moved into the
 * container's netns (links.ts), addresses from netd's IPAM (ipam.ts), and the instance's
 * nftables table for NAT, isolation and published ports (bridge/firewall.ts).
 */
import { failedPrecondition, invalidArgument, notFound } from '@ctl/proto';
import { traced } from '@ctl/proto/trace';
import { clearBandwidth, ensureBandwidth, ifbName, limitBandwidth } from '../bandwidth';
import { type AttachPlan, type NetworkDriver, plannedEndpoint } from '../driver';
import type { Lease } from '../ipam';
import type { Bandwidth, Endpoint, Network } from '../records';
import { checkOverlap, completeSubnet, ipv4Pool, pickSubnet } from '../subnets';
import { Firewall } from './bridge/firewall';
import { addVeth, attachToBridge, deleteLink, ensureBridge, hostVethName, macFor, mark, ourLinks } from './bridge/links';
import { hostRoutes } from './bridge/routes';
import type { DriverContext } from './index';
import { isNetns } from '@ctl/runtime-native/netns';

const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

const limited = (b: Bandwidth): boolean => b.egressBps > 0 || b.ingressBps > 0;

export class BridgeDriver implements NetworkDriver {
  readonly name = 'bridge';
  private readonly firewall: Firewall;
  /**
   * Host veths being deleted. The kernel takes tens of milliseconds to delete a link (it waits
   * for RCU grace periods), most of a detach, so a detach lets it go on after the endpoint is
   * released (addresses, records, ports); whatever needs the name again or the bridge gone
   * waits for it. One a crash interrupts is swept at the next start (settle).
   */
  private readonly deleting = new Map<string, Promise<void>>();

  constructor(private readonly context: DriverContext) {
    this.firewall = new Firewall(context.instance);
  }

  private bridgeName(network: Network): string {
    const asked = network.options[BRIDGE_NAME_OPTION];
    if (asked) {
      if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(asked))
        throw invalidArgument(`bridge name "${asked}" of network ${network.name}: 1-15 of [a-zA-Z0-9_.-]`);
      return asked;
    }
    if (network.name === 'bridge' && this.context.instance === 'ctl') return 'ctl0';
    return `ctl-${network.id.slice(0, 11)}`;
  }

  private bridgeSpec(network: Network) {
    const gateways = [network.ipv4, network.ipv6].filter((s) => s !== undefined);
    return { name: network.bridge, addresses: gateways.map((s) => `${s.gateway}/${s.subnet.split('/')[1]}`), ipv6: Boolean(network.ipv6) };
  }

  private track(network: Network): void {
    this.firewall.setNetwork(network.id, {
      bridge: network.bridge,
      ...(network.ipv4 ? { ipv4: { subnet: network.ipv4.subnet, gateway: network.ipv4.gateway } } : {}),
      ...(network.ipv6 ? { ipv6: { subnet: network.ipv6.subnet, gateway: network.ipv6.gateway } } : {}),
      internal: network.internal,
    });
  }

  async create(network: Network, others: readonly Network[]): Promise<Network> {
    const bridge = this.bridgeName(network);
    const clash = others.find((o) => o.bridge === bridge);
    if (clash) throw invalidArgument(`bridge ${bridge} of network ${network.name} is already network ${clash.name}'s`);
    let ipv4;
    if (network.ipv4?.subnet) {
      ipv4 = completeSubnet(network.ipv4, 4, network.name);
      checkOverlap(network.name, ipv4.subnet, others);
    } else {
      if (network.ipv4?.gateway || network.ipv4?.ipRange)
        throw invalidArgument(`network ${network.name}: a gateway or ip range needs a subnet`);
      const ours = new Set(others.map((o) => o.bridge));
      const routes = (await hostRoutes()).filter((r) => !ours.has(r.dev)).map((r) => r.prefix);
      const pool = [...ipv4Pool()];
      const candidates = network.name === 'bridge' ? pool : pool.slice(1);
      ipv4 = completeSubnet({ subnet: pickSubnet(network.name, candidates, others, routes) }, 4, network.name);
    }
    let ipv6;
    if (network.ipv6?.subnet) {
      ipv6 = completeSubnet(network.ipv6, 6, network.name);
      checkOverlap(network.name, ipv6.subnet, others);
    } else if (network.ipv6?.gateway || network.ipv6?.ipRange) {
      throw invalidArgument(`network ${network.name}: IPv6 needs a subnet`);
    }
    const made: Network = { ...network, bridge, ipv4, ...(ipv6 ? { ipv6 } : {}) };
    if ((await ourLinks(this.context.instance)).bridge.includes(bridge)) await deleteLink(bridge); // a crash's leftover
    try {
      await ensureBridge(this.context.instance, this.bridgeSpec(made), false);
      this.track(made);
      await this.firewall.write();
    } catch (err) {
      this.firewall.dropNetwork(made.id);
      await deleteLink(bridge);
      throw err;
    }
    return made;
  }

  /** Deletes a host veth in the background, then its bandwidth shaper (the ifb outlives the veth) if it had limits. */
  private deleteLater(name: string, bandwidth: Bandwidth): void {
    const done = traced('netd.bridge.detach.veth', () => deleteLink(name))
      .then(() => (limited(bandwidth) ? clearBandwidth(name) : undefined))
      .catch((err: unknown) => this.context.logger.warn('deleting a veth failed', { veth: name, error: String(err) }))
      .finally(() => {
        if (this.deleting.get(name) === done) this.deleting.delete(name);
      });
    this.deleting.set(name, done);
  }

  private async deleted(): Promise<void> {
    await Promise.all(this.deleting.values());
  }

  async remove(network: Network): Promise<void> {
    await this.deleted();
    this.firewall.dropNetwork(network.id);
    await this.firewall.write();
    await deleteLink(network.bridge);
  }

  async attach(network: Network, plan: AttachPlan): Promise<Endpoint> {
    if (!isNetns(plan.netnsPath)) throw notFound(`network namespace ${plan.netnsPath} does not exist`);
    if (plan.macAddress && !MAC.test(plan.macAddress.toLowerCase())) throw invalidArgument(`invalid MAC address "${plan.macAddress}"`);
    if (network.internal && plan.ports.length) throw invalidArgument(`network ${network.name} is internal: it cannot publish ports`);
    const { ipam } = this.context;
    const owner = { namespace: plan.namespace, containerId: plan.containerId };
    const leases: Lease[] = [];
    const key = hostVethName(this.context.instance, plan.namespace, plan.containerId, network.id);
    let vethMade = false;
    let shaped = false;
    try {
      leases.push(await traced('netd.bridge.attach.ipam', () => ipam.take(network, 4, owner, plan.ipv4Address)));
      if (network.ipv6) leases.push(await ipam.take(network, 6, owner, plan.ipv6Address));
      else if (plan.ipv6Address) throw invalidArgument(`network ${network.name} has no IPv6 subnet for address ${plan.ipv6Address}`);
      const ipv4 = leases[0]!.address;
      const ports = await this.firewall.reserve(key, `container ${plan.containerId}`, ipv4, plan.ports);
      const macAddress = (plan.macAddress || macFor(ipv4)).toLowerCase();
      await this.deleting.get(key);
      await traced('netd.bridge.attach.veth', () =>
        addVeth({
          table: this.context.instance,
          hostName: key,
          bridge: network.bridge,
          netnsPath: plan.netnsPath,
          interfaceName: plan.interfaceName,
          macAddress,
          addresses: leases.map((l) => l.cidr),
          gateways: network.internal ? [] : leases.map((l) => l.gateway),
        }),
      );
      vethMade = true;
      if (limited(plan.bandwidth)) {
        shaped = true;
        await limitBandwidth(key, plan.bandwidth, { alias: mark(this.context.instance) });
      }
      if (ports.length) await this.firewall.write();
      return {
        ...plannedEndpoint(network, plan),
        interface: { name: plan.interfaceName, macAddress, hostName: key },
        ips: leases.map((l) => ({ address: l.cidr, gateway: l.gateway })),
        routes: network.internal
          ? []
          : leases.map((l) => ({ destination: l.address.includes(':') ? '::/0' : '0.0.0.0/0', gateway: l.gateway })),
        dns: { nameservers: [], search: [], options: [] },
        ports,
        bandwidth: plan.bandwidth,
        createdAt: new Date().toISOString(),
      };
    } catch (err) {
      if (vethMade) await deleteLink(key);
      if (shaped) await clearBandwidth(key).catch(() => undefined);
      if (this.firewall.dropPorts(key)) await this.firewall.write().catch(() => undefined);
      await ipam.release(network, leases);
      throw err;
    }
  }

  async detach(_network: Network, endpoint: Endpoint): Promise<void> {
    if (endpoint.interface.hostName) this.deleteLater(endpoint.interface.hostName, endpoint.bandwidth);
    if (this.firewall.dropPorts(endpoint.interface.hostName)) await this.firewall.write();
  }

  async reconcile(network: Network, endpoints: readonly Endpoint[]): Promise<Endpoint[]> {
    if (!network.bridge) throw failedPrecondition(`network ${network.name} has no bridge`);
    const links = await ourLinks(this.context.instance);
    await ensureBridge(this.context.instance, this.bridgeSpec(network), links.bridge.includes(network.bridge));
    this.track(network);
    const veths = new Set(links.veth);
    const dead: Endpoint[] = [];
    for (const e of endpoints) {
      if (!isNetns(e.netnsPath) || !veths.has(e.interface.hostName)) {
        dead.push(e);
        continue;
      }
      const ipv4 = e.ips.find((ip) => !ip.address.includes(':'))?.address.split('/')[0] ?? '';
      this.firewall.setPorts(e.interface.hostName, `container ${e.containerId}`, ipv4, e.ports);
      // the kernel kept the veth's qdiscs across netd's restart: made again only when they differ
      if (limited(e.bandwidth))
        await ensureBandwidth(e.interface.hostName, e.bandwidth, { alias: mark(this.context.instance) }).catch((err: unknown) =>
          this.context.logger.warn('bandwidth limits could not be set again', { veth: e.interface.hostName, error: String(err) }),
        );
    }
    // A bridge made again has lost its ports: the live endpoints' veths go back on it.
    const live = endpoints.filter((e) => !dead.includes(e));
    if (live.length)
      await attachToBridge(
        network.bridge,
        live.map((e) => e.interface.hostName),
      );
    return dead;
  }

  /** After every network was reconciled: links of ours that no record holds go, and the table is written. */
  async settle(live: readonly Endpoint[]): Promise<void> {
    await this.deleted();
    const bridges = new Set(this.firewall.bridges().values());
    const veths = new Set(live.map((e) => e.interface.hostName));
    const shapers = new Set(live.filter((e) => e.bandwidth.egressBps > 0).map((e) => ifbName(e.interface.hostName)));
    const links = await ourLinks(this.context.instance);
    for (const b of links.bridge) if (!bridges.has(b)) await deleteLink(b);
    for (const v of links.veth) if (!veths.has(v)) await deleteLink(v);
    for (const i of links.ifb) if (!shapers.has(i)) await deleteLink(i);
    await this.firewall.write();
  }
}
