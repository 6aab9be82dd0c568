/**
 * The firewall of one netd instance: what the bridge networks and their published ports need,
 * held in memory (made from the records at start, changed with each create, attach, detach and
 * remove) and written to the instance's own nftables table (ruleset.ts) whole, one transaction
 * per write. Writes asked for while one runs are folded into a single next one. With no network
 * left, the table is removed.
 */
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import { nft, nftTableExists } from '../../host';
import type { PortMapping } from '../../records';
import { type Published, choosePorts } from './ports';
import { type FirewallNetwork, type FirewallPort, renderTable, replaceTable } from './ruleset';

export class Firewall {
  private readonly networks = new Map<string, FirewallNetwork>();
  private readonly ports = new Map<string, FirewallPort[]>();
  /** Who each owner of ports is, for messages ("container web"). */
  private readonly labels = new Map<string, string>();
  /** Port choices run one at a time, across networks: a host port is the whole host's. */
  private readonly serial = new KeyedQueue();
  private running: Promise<void> = Promise.resolve();
  private next: Promise<void> | undefined;

  constructor(readonly table: string) {}

  setNetwork(id: string, network: FirewallNetwork): void {
    this.networks.set(id, network);
  }

  dropNetwork(id: string): void {
    this.networks.delete(id);
  }

  /** Network ids and their bridges, as the firewall knows them. */
  bridges(): Map<string, string> {
    return new Map([...this.networks].map(([id, n]) => [id, n.bridge]));
  }

  /** Chooses and holds host ports for an endpoint (see ports.ts); nothing is written yet. */
  reserve(owner: string, label: string, containerIp: string, wanted: readonly PortMapping[]): Promise<PortMapping[]> {
    if (!wanted.length) return Promise.resolve([]);
    return this.serial.run('ports', async () => {
      const published: Published[] = [...this.ports.entries()].flatMap(([key, ports]) =>
        key === owner ? [] : ports.map((p) => ({ ...p, owner: this.labels.get(key) ?? key })),
      );
      const chosen = await choosePorts(wanted, published);
      this.setPorts(owner, label, containerIp, chosen);
      return chosen;
    });
  }

  /** Records an endpoint's published ports as they are (reconcile). */
  setPorts(owner: string, label: string, containerIp: string, ports: readonly PortMapping[]): void {
    if (!ports.length) return;
    this.ports.set(
      owner,
      ports.map((p) => ({ ...p, containerIp })),
    );
    this.labels.set(owner, label);
  }

  /** Forgets an endpoint's ports; answers whether it had any (the table then needs a write). */
  dropPorts(owner: string): boolean {
    this.labels.delete(owner);
    return this.ports.delete(owner);
  }

  /** Writes the table as the model is now (soon: writes already asked for share one run). */
  write(): Promise<void> {
    if (this.next) return this.next;
    const next = this.running
      .catch(() => undefined)
      .then(async () => {
        this.next = undefined;
        const networks = [...this.networks.values()];
        if (networks.length) await nft(replaceTable(this.table, renderTable(this.table, networks, [...this.ports.values()].flat())));
        // No network: the table goes, if it is there (a start without networks writes nothing to the host).
        else if (await nftTableExists(this.table)) await nft(replaceTable(this.table, undefined));
      });
    this.next = next;
    this.running = next;
    return next;
  }
}
