/**
 * The "cni" network driver: a network defined by a CNI conflist (network.options["cni.conflist"])
 * whose plugins do the work, run as CNI 1.0 says: ADD in list order with each result the next
 * one's prevResult, DEL in reverse with the cached final result, CHECK in order with it. What
 * each attachment ran with is cached under netd's root (cni-cache.ts), so DEL after a restart
 * runs the same plugins the same way even if the conflist has changed.
 *
 * The service serialises changes per network; the driver also never runs two operations on one
 * attachment (container id + interface) at a time, as the spec requires of a runtime.
 */
import { EngineError, alreadyExists, errorKind, failedPrecondition, invalidArgument, notFound, wrap } from '@ctl/proto/errors';
import { now } from '@ctl/proto/time';
import { runTool } from '@ctl/runtime-native/launch';
import { BlockList, isIPv4 } from 'node:net';
import { type AttachPlan, type NetworkDriver, plannedEndpoint } from '../driver';
import type { Endpoint, Network } from '../records';
import { type CacheEntry, ResultCache } from './cni-cache';
import { CNI_NAME, type ConfList, declares, ipamSubnets, parseConfList, pluginBinaries, pluginStdin, versionAtLeast } from './cni-config';
import { type CniCommand, DEFAULT_TIMEOUT_MS, PluginNotFound, type PluginRunner, execPlugin, findPlugin, pluginDirs } from './cni-exec';
import { endpointFromResult } from './cni-result';
import { isNetns } from '@ctl/runtime-native/netns';

/** The option that carries a cni network's conflist (JSON text). */
export const CONFLIST_OPTION = 'cni.conflist';

export interface CniDriverOptions {
  /** netd's data dir; the result cache lives under it. */
  root: string;
  /** Where plugins are looked for, in order; default CNI_PATH, else /usr/lib/cni then /opt/cni/bin. */
  pluginDirs?: string[];
  /** Deadline of one plugin run (default 60 s). */
  timeoutMs?: number;
}

export function createCniDriver(options: CniDriverOptions): CniDriver {
  return new CniDriver(options);
}

export class CniDriver implements NetworkDriver {
  readonly name = 'cni';
  private readonly runner: PluginRunner;
  private readonly cache: ResultCache;
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(options: CniDriverOptions) {
    this.runner = { dirs: pluginDirs(options.pluginDirs), timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS };
    this.cache = new ResultCache(options.root);
  }

  async create(network: Network, others: readonly Network[]): Promise<Network> {
    try {
      const list = conflistOf(network);
      if (network.internal) throw invalidArgument('internal is not supported: the conflist decides what leaves the network');
      await this.checkPlugins(list);
      const subnets = ipamSubnets(list);
      for (const family of ['ipv4', 'ipv6'] as const) {
        const asked = network[family]?.subnet;
        if (asked && asked !== subnets[family]?.subnet) {
          throw invalidArgument(
            `${family} subnet ${asked} differs from the conflist's (${subnets[family]?.subnet ?? 'none'}); it comes from the ipam`,
          );
        }
        if (subnets[family]) refuseOverlap(subnets[family].subnet, others);
      }
      const bridge = list.plugins.find((p) => p.type === 'bridge');
      return { ...network, ...subnets, bridge: bridge ? bridgeName(bridge) : '' };
    } catch (err) {
      throw wrap(err, `cni network "${network.name}"`);
    }
  }

  /** Each binary is in the plugin dirs and speaks the list's cniVersion (asked with VERSION). */
  private async checkPlugins(list: ConfList): Promise<void> {
    await Promise.all(
      pluginBinaries(list).map(async (type) => {
        if (!(await findPlugin(this.runner.dirs, type))) {
          throw invalidArgument(`plugin "${type}" not found in ${this.runner.dirs.join(', ')}`);
        }
        const answer = (await execPlugin(this.runner, type, { command: 'VERSION' }, JSON.stringify({ cniVersion: list.cniVersion })).catch(
          (err) => {
            throw invalidArgument((err as Error).message);
          },
        )) as { supportedVersions?: unknown } | undefined;
        const supported = Array.isArray(answer?.supportedVersions) ? answer.supportedVersions : [];
        if (!supported.includes(list.cniVersion)) {
          throw invalidArgument(
            `plugin "${type}" does not support cniVersion ${list.cniVersion} (it supports ${supported.join(', ') || 'none'})`,
          );
        }
      }),
    );
  }

  async remove(network: Network): Promise<void> {
    // The bridge plugin makes its bridge on first ADD and never removes it; an idle one goes with the network.
    if (network.bridge) await removeIdleBridge(network.bridge);
    this.cache.removeNetwork(network.id);
  }

  async attach(network: Network, plan: AttachPlan): Promise<Endpoint> {
    const context = `attach of ${plan.containerId} to cni network "${network.name}"`;
    try {
      checkIds(plan.containerId, plan.interfaceName);
      const list = conflistOf(network);
      const runtimeConfig = runtimeConfigFor(list, plan);
      if (!isNetns(plan.netnsPath)) throw notFound(`network namespace ${plan.netnsPath} does not exist`);
      const result = await this.exclusive(network.id, plan.containerId, plan.interfaceName, async () => {
        const earlier = this.cache.read(network.id, plan.containerId, plan.interfaceName);
        if (earlier?.result !== undefined) throw alreadyExists(`${plan.containerId} is already attached as ${plan.interfaceName}`);
        if (earlier) await this.del(earlier, earlier.netns); // an ADD cut short (a crash, an undo that failed)
        const entry: CacheEntry = {
          networkId: network.id,
          networkName: network.name,
          containerId: plan.containerId,
          ifName: plan.interfaceName,
          netns: plan.netnsPath,
          config: list,
          runtimeConfig,
          args: '',
        };
        this.cache.write(entry);
        entry.result = await this.add(entry);
        this.cache.write(entry);
        return entry.result;
      });
      return {
        ...plannedEndpoint(network, plan),
        ...endpointFromResult(result, plan.interfaceName),
        ports: plan.ports,
        bandwidth: plan.bandwidth,
        createdAt: now().toISOString(),
      };
    } catch (err) {
      throw wrap(err, context);
    }
  }

  /**
   * ADD in list order. On a failure the plugins run so far, and the failed one unless it could not
   * start, are DELeted (it may have made part of its work) and the entry dropped.
   */
  private async add(entry: CacheEntry): Promise<unknown> {
    let result: unknown;
    for (const index of entry.config.plugins.keys()) {
      try {
        result = (await this.invoke(entry, 'ADD', index, result, entry.netns)) ?? result;
      } catch (err) {
        const last = err instanceof PluginNotFound ? index - 1 : index;
        const undo = await this.del({ ...entry, result }, entry.netns, last).then(
          () => undefined,
          (e: Error) => e,
        );
        if (!undo) {
          this.cache.remove(entry.networkId, entry.containerId, entry.ifName);
          throw err;
        }
        const message = `${(err as Error).message}; undoing it failed too (${undo.message}), kept for a retry`;
        throw new EngineError(errorKind(err), message, { cause: err });
      }
    }
    return result;
  }

  /**
   * DEL of plugins last..0 (all, or those up to `last`), each given the cached result; every one
   * runs even when one fails, so as much as possible is undone, and the first failure is thrown.
   */
  private async del(entry: CacheEntry, netns: string, last = entry.config.plugins.length - 1): Promise<void> {
    let first: unknown;
    for (let index = last; index >= 0; index--) {
      await this.invoke(entry, 'DEL', index, entry.result, netns).catch((err) => (first ??= err));
    }
    if (first) throw first;
  }

  private invoke(entry: CacheEntry, command: CniCommand, index: number, prevResult: unknown, netns: string): Promise<unknown> {
    const { config } = entry;
    // Before 0.4.0, DEL took no prevResult (and there was no CHECK).
    const prev = command === 'ADD' || versionAtLeast(config.cniVersion, '0.4.0') ? prevResult : undefined;
    const stdin = pluginStdin(config, config.plugins[index], entry.runtimeConfig, prev);
    const inv = { command, containerId: entry.containerId, netns, ifName: entry.ifName, args: entry.args };
    return execPlugin(this.runner, config.plugins[index].type, inv, stdin);
  }

  async detach(network: Network, endpoint: Endpoint): Promise<void> {
    try {
      await this.release(network.id, endpoint.containerId, endpoint.interface.name);
    } catch (err) {
      throw wrap(err, `detach of ${endpoint.containerId} from cni network "${network.name}"`);
    }
  }

  /** DEL of a cached attachment, then its entry; nothing cached is nothing to do (detached already). */
  private release(networkId: string, containerId: string, ifName: string): Promise<void> {
    return this.exclusive(networkId, containerId, ifName, async () => {
      const entry = this.cache.read(networkId, containerId, ifName);
      if (!entry) return;
      // DEL must work when the netns is gone; CNI_NETNS is empty then.
      await this.del(entry, isNetns(entry.netns) ? entry.netns : '');
      this.cache.remove(networkId, containerId, ifName);
    });
  }

  /** CHECK of every plugin in order with the cached result: throws what the first unhappy plugin says. */
  async check(network: Network, endpoint: Endpoint): Promise<void> {
    const ifName = endpoint.interface.name;
    const context = `check of ${endpoint.containerId} on cni network "${network.name}"`;
    await this.exclusive(network.id, endpoint.containerId, ifName, async () => {
      const entry = this.cache.read(network.id, endpoint.containerId, ifName);
      if (entry?.result === undefined) throw notFound(`${context}: not attached`);
      if (entry.config.disableCheck) return;
      if (!versionAtLeast(entry.config.cniVersion, '0.4.0')) {
        throw failedPrecondition(`${context}: cniVersion ${entry.config.cniVersion} has no CHECK (0.4.0 or later)`);
      }
      for (const index of entry.config.plugins.keys()) {
        await this.invoke(entry, 'CHECK', index, entry.result, entry.netns).catch((err) => {
          throw wrap(err, context);
        });
      }
    });
  }

  /**
   * Answers the endpoints whose netns is gone (the service detaches them), and undoes what the
   * service never recorded: ADDs cut short by a crash, or finished just before one. The service
   * calls this with no change of the network running.
   */
  async reconcile(network: Network, endpoints: readonly Endpoint[]): Promise<Endpoint[]> {
    const known = new Set(endpoints.map((e) => `${e.containerId}-${e.interface.name}`));
    for (const entry of this.cache.list(network.id)) {
      if (known.has(`${entry.containerId}-${entry.ifName}`)) continue;
      // Best effort: one that fails stays cached and is tried again at the next reconcile.
      await this.release(network.id, entry.containerId, entry.ifName).catch(() => undefined);
    }
    const alive = endpoints.map((e) => isNetns(e.netnsPath));
    return endpoints.filter((_, i) => !alive[i]);
  }

  private exclusive<T>(networkId: string, containerId: string, ifName: string, work: () => Promise<T>): Promise<T> {
    const key = JSON.stringify([networkId, containerId, ifName]);
    const before = this.busy.get(key) ?? Promise.resolve();
    const mine = before.then(work, work);
    const tail = mine.catch(() => undefined);
    this.busy.set(key, tail);
    void tail.then(() => this.busy.get(key) === tail && this.busy.delete(key));
    return mine;
  }
}

function conflistOf(network: Network): ConfList {
  const text = network.options[CONFLIST_OPTION];
  if (!text) throw invalidArgument(`the cni driver needs the conflist (JSON) in options["${CONFLIST_OPTION}"]`);
  return parseConfList(text);
}

function checkIds(containerId: string, ifName: string): void {
  if (!CNI_NAME.test(containerId)) throw invalidArgument(`container id ${JSON.stringify(containerId)} is not valid for CNI`);
  if (!ifName || ifName.length > 15 || /[/\s:]/.test(ifName) || ifName === '.' || ifName === '..') {
    throw invalidArgument(`interface name ${JSON.stringify(ifName)} is not a valid Linux interface name`);
  }
}

/**
 * The runtime values of the attach (CNI's capability arguments). Each goes only to plugins that
 * declare its capability; one asked for that no plugin declares is refused, not silently dropped.
 */
function runtimeConfigFor(list: ConfList, plan: AttachPlan): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const give = (capability: string, what: string, value: unknown): void => {
    if (!list.plugins.some((p) => declares(p, capability))) {
      throw invalidArgument(`${what} needs a plugin with the "${capability}" capability in the conflist`);
    }
    values[capability] = value;
  };
  if (plan.ports.length) {
    const unset = plan.ports.find((p) => !p.hostPort || p.hostPortEnd);
    if (unset) throw invalidArgument(`published port ${unset.containerPort}/${unset.protocol} needs one host port on a cni network`);
    const mappings = plan.ports.map((p) => ({
      hostPort: p.hostPort,
      containerPort: p.containerPort,
      protocol: p.protocol,
      hostIP: p.hostIp || undefined,
    }));
    give('portMappings', 'publishing ports', mappings);
  }
  const { egressBps, ingressBps } = plan.bandwidth;
  if (egressBps || ingressBps) {
    // The plugin applies a direction only with both its rate and burst (bits): an eighth of a second's worth, at least 128 kbit.
    const burst = (rate: number): number => Math.max(Math.ceil(rate / 8), 128 * 1024);
    const limits = {
      ...(ingressBps ? { ingressRate: ingressBps, ingressBurst: burst(ingressBps) } : {}),
      ...(egressBps ? { egressRate: egressBps, egressBurst: burst(egressBps) } : {}),
    };
    give('bandwidth', 'a bandwidth limit', limits);
  }
  const ips = [plan.ipv4Address, plan.ipv6Address].filter(Boolean);
  if (ips.length) give('ips', `a static address (${ips.join(', ')})`, ips);
  if (plan.macAddress) give('mac', `a static MAC address (${plan.macAddress})`, plan.macAddress);
  if (plan.aliases.length && list.plugins.some((p) => declares(p, 'aliases'))) values.aliases = plan.aliases;
  return values;
}

function refuseOverlap(subnet: string, others: readonly Network[]): void {
  const [address, prefix] = subnet.split('/');
  const family = isIPv4(address) ? 'ipv4' : 'ipv6';
  const mine = new BlockList();
  mine.addSubnet(address, Number(prefix), family);
  for (const other of others) {
    const theirs = other[family]?.subnet;
    if (!theirs) continue;
    const [otherAddress, otherPrefix] = theirs.split('/');
    const block = new BlockList();
    block.addSubnet(otherAddress, Number(otherPrefix), family);
    if (mine.check(otherAddress, family) || block.check(address, family)) {
      throw invalidArgument(`subnet ${subnet} overlaps network "${other.name}" (${theirs})`);
    }
  }
}

const bridgeName = (plugin: Record<string, unknown>): string => (typeof plugin.bridge === 'string' && plugin.bridge) || 'cni0';

/** Deletes a bridge that exists and has no ports left; one still in use (by anyone) is left alone. */
async function removeIdleBridge(bridge: string): Promise<void> {
  const exists = await runTool('ip', ['-j', 'link', 'show', 'dev', bridge]).then(
    () => true,
    () => false,
  );
  if (!exists) return;
  const ports = JSON.parse((await runTool('ip', ['-j', 'link', 'show', 'master', bridge])) || '[]') as unknown[];
  if (ports.length === 0) await runTool('ip', ['link', 'delete', 'dev', bridge, 'type', 'bridge']);
}
