/**
 * `ctl network create|ls|inspect|rm|connect|disconnect|prune` (netd's ctl.netd.v1, Docker's
 * commands) and `ctl port` (a container's published ports, from its record).
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { readFileSync } from 'node:fs';
import type * as Readline from 'node:readline';
import { UsageError } from '../args';
import type { Command, CommandContext } from '../command';
import { lite, withClients } from '../clients';
import { each } from '../container/common';
import { portLines } from '../container/network';
import { table } from '../format';
import { parseLabelArgs } from '../labels';
import { DEFAULT_NETWORK, isIP } from '../netflags';
import { parseOptions } from '../options';
import { type Fields, template } from '../template';

type Network = import('@ctl/netd/client').Network;
type Endpoint = import('@ctl/netd/client').Endpoint;
type Subnet = import('@ctl/netd/client').Subnet;

const USAGE = `Usage: ctl network COMMAND

Commands:
  create [OPTIONS] NAME            create a network; prints its id
      -d, --driver bridge|cni      (default bridge)
      --subnet CIDR                IPv4 (and with --ipv6 an IPv6) subnet; repeatable, one per family
      --gateway IP                 the subnet's gateway (default: its first address); one per family
      --ip-range CIDR              where dynamic addresses come from, inside the subnet
      --ipv6                       an IPv6 subnet too (give it with --subnet)
      --internal                   no route out and no published ports
      --label K=V, -o/--opt K=V    labels; driver options (docker's names, e.g. com.docker.network.bridge.name)
      --config FILE.conflist       cni: the network's CNI configuration list
  ls [-q] [--format json|FORMAT] [-f F]   list networks; filters: name=PART, id=PREFIX, driver=D,
                                   label=KEY[=VALUE]; FORMAT fields: ID Name Driver Scope IPv6 Internal Labels CreatedAt
  inspect [-f FORMAT] NETWORK...   show networks (with their containers) as JSON
  rm NETWORK...                    remove networks (refused while containers are connected)
  connect [--ip IP] [--ip6 IP] [--alias NAME]... NETWORK CONTAINER   connect a running or stopped container
  disconnect [-f] NETWORK CONTAINER  (-f: no error when it is not connected)
  prune [-f]                       remove every network no container is connected to (never "bridge")
`;

const LS_FIELDS: Fields = {
  ID: 'NETWORK ID',
  Name: 'NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  IPv6: 'IPV6',
  Internal: 'INTERNAL',
  Labels: 'LABELS',
  CreatedAt: 'CREATED AT',
};

const lsRow = (n: Network): Record<keyof typeof LS_FIELDS, string> => ({
  ID: n.id.slice(0, 12),
  Name: n.name,
  Driver: n.driver,
  Scope: 'local',
  IPv6: String(Boolean(n.ipv6)),
  Internal: String(n.internal),
  Labels: Object.entries(n.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(','),
  CreatedAt: n.createdAt,
});

/** docker network inspect's shape. */
function inspectJson(n: Network, endpoints: Endpoint[]): Record<string, unknown> {
  const config = [n.ipv4, n.ipv6]
    .filter((s): s is Subnet => Boolean(s))
    .map((s) => ({ Subnet: s.subnet, Gateway: s.gateway, ...(s.ipRange ? { IPRange: s.ipRange } : {}) }));
  const address = (e: Endpoint, v6: boolean): string => e.ips.find((ip) => ip.address.includes(':') === v6)?.address ?? '';
  return {
    Name: n.name,
    Id: n.id,
    Created: n.createdAt,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: Boolean(n.ipv6),
    IPAM: { Driver: 'default', Options: {}, Config: config },
    Internal: n.internal,
    Attachable: false,
    Containers: Object.fromEntries(
      endpoints.map((e) => [
        e.containerId,
        {
          Name: e.name || e.containerId,
          EndpointID: `${e.networkId.slice(0, 12)}-${e.containerId}`,
          MacAddress: e.interface.macAddress,
          IPv4Address: address(e, false),
          IPv6Address: address(e, true),
          Aliases: e.aliases,
          Ports: e.ports,
        },
      ]),
    ),
    Options: n.options,
    Labels: n.labels,
    Bridge: n.bridge,
    DNS: n.dns,
  };
}

/** docker network ls's filters: name (a substring), id (a prefix), driver, label. */
function filterOf(filters: string[]): (n: Network) => boolean {
  const tests = filters.map((f): ((n: Network) => boolean) => {
    const eq = f.indexOf('=');
    const key = f.slice(0, eq < 0 ? undefined : eq);
    const value = eq < 0 ? '' : f.slice(eq + 1);
    if (key === 'name' && value) return (n) => n.name.includes(value);
    if (key === 'id' && value) return (n) => n.id.startsWith(value);
    if (key === 'driver' && value) return (n) => n.driver === value;
    if (key === 'label' && value) {
      const [k, ...rest] = value.split('=');
      return (n) => k! in n.labels && (rest.length === 0 || n.labels[k!] === rest.join('='));
    }
    throw new UsageError(`--filter ${f}: supported: name=PART, id=PREFIX, driver=DRIVER, label=KEY[=VALUE]`);
  });
  return (n) => tests.every((t) => t(n));
}

/** --subnet/--gateway/--ip-range given per family (docker pairs them by family too). */
function subnets(values: { subnet?: string[]; gateway?: string[]; 'ip-range'?: string[]; ipv6?: boolean }): {
  ipv4?: Partial<Subnet>;
  ipv6?: Partial<Subnet>;
} {
  const familyOf = (text: string, flag: string): 4 | 6 => {
    const family = isIP(text.split('/')[0]!);
    if (!family || (flag !== 'gateway' && !/\/\d+$/.test(text)))
      throw new UsageError(`--${flag} ${text}: not ${flag === 'gateway' ? 'an IP address' : 'a CIDR'}`);
    return family as 4 | 6;
  };
  const out: Record<4 | 6, Partial<Subnet>> = { 4: {}, 6: {} };
  const put = (flag: 'subnet' | 'gateway' | 'ip-range', key: keyof Subnet): void => {
    for (const v of values[flag] ?? []) {
      const f = familyOf(v, flag);
      if (out[f][key]) throw new UsageError(`--${flag}: one IPv${f} ${flag} only`);
      out[f][key] = v;
    }
  };
  put('subnet', 'subnet');
  put('gateway', 'gateway');
  put('ip-range', 'ipRange');
  for (const f of [4, 6] as const)
    if ((out[f].gateway || out[f].ipRange) && !out[f].subnet)
      throw new UsageError(`--gateway and --ip-range need the IPv${f} --subnet they belong to`);
  if (out[6].subnet && !values.ipv6) throw new UsageError('an IPv6 --subnet needs --ipv6');
  if (values.ipv6 && !out[6].subnet) throw new UsageError('--ipv6 needs an IPv6 --subnet (netd does not pick IPv6 subnets)');
  return { ...(out[4].subnet ? { ipv4: out[4] } : {}), ...(out[6].subnet ? { ipv6: out[6] } : {}) };
}

/** `-o K=V` driver options, and --config's conflist as the cni driver's "cni.conflist" option. */
function driverOptions(opts: string[], config: string | undefined, driver: string): Record<string, string> {
  const options = parseLabelArgs(opts);
  if (config) {
    if (driver !== 'cni') throw new UsageError('--config is for --driver cni');
    let text: string;
    try {
      text = readFileSync(config, 'utf8');
      JSON.parse(text);
    } catch (err) {
      throw new UsageError(`--config ${config}: ${(err as Error).message}`);
    }
    options['cni.conflist'] = text;
  } else if (driver === 'cni' && !options['cni.conflist']) throw new UsageError('--driver cni needs --config FILE.conflist');
  return options;
}

async function confirm(context: CommandContext, question: string): Promise<boolean> {
  context.out(`${question} [y/N] `);
  // readline and stdin's stream (net, for a pipe) for the prompt alone, not for every network command
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rl = (require('node:readline') as typeof Readline).createInterface({ input: process.stdin });
  const answer = await new Promise<string>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(''));
  });
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

/** -f is --filter for ls, --format for inspect and --force elsewhere, as in docker. */
function parse(rest: string[], verb: string | undefined) {
  const ls = verb === 'ls' || verb === 'list';
  const inspect = verb === 'inspect';
  return parseOptions(rest, {
    driver: { type: 'string', short: 'd' },
    subnet: { type: 'string', multiple: true },
    gateway: { type: 'string', multiple: true },
    'ip-range': { type: 'string', multiple: true },
    ipv6: { type: 'boolean' },
    internal: { type: 'boolean' },
    label: { type: 'string', multiple: true },
    opt: { type: 'string', short: 'o', multiple: true },
    config: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    format: inspect ? { type: 'string', short: 'f' } : { type: 'string' },
    filter: ls ? { type: 'string', short: 'f', multiple: true } : { type: 'string', multiple: true },
    force: ls || inspect ? { type: 'boolean' } : { type: 'boolean', short: 'f' },
    ip: { type: 'string' },
    ip6: { type: 'string' },
    alias: { type: 'string', multiple: true },
  });
}

const operands = (positionals: string[], count: number, what: string): string[] => {
  if (positionals.length !== count) throw new UsageError(`${what}`);
  return positionals;
};

export const command: Command = {
  summary: 'Manage networks',
  usage: USAGE,
  async run(args, context) {
    const [verb, ...rest] = args;
    const { values, positionals } = parse(rest, verb);
    switch (verb) {
      case 'create': {
        const [name] = operands(positionals, 1, 'create needs one NAME');
        const driver = values.driver ?? 'bridge';
        if (driver !== 'bridge' && driver !== 'cni') throw new UsageError(`--driver ${driver}: supported: bridge, cni`);
        const network = {
          name: name!,
          driver,
          ...subnets(values),
          internal: Boolean(values.internal),
          labels: parseLabelArgs(values.label ?? []),
          options: driverOptions(values.opt ?? [], values.config, driver),
        };
        const made = await withClients(context, ({ networks }) => networks.create(network));
        context.out(`${made.id}\n`);
        return 0;
      }
      case 'ls':
      case 'list': {
        if (positionals.length) throw new UsageError('ls takes no arguments');
        const keep = filterOf(values.filter ?? []);
        const format = template(values.format, LS_FIELDS);
        const list = (await withClients(context, ({ networks }) => networks.list()))
          .filter(keep)
          .sort((a, b) => a.name.localeCompare(b.name));
        if (values.format === 'json')
          context.out(
            `${JSON.stringify(
              list.map((n) => inspectJson(n, [])),
              null,
              2,
            )}\n`,
          );
        else if (values.quiet) context.out(list.map((n) => `${n.id.slice(0, 12)}\n`).join(''));
        else if (format) context.out(format.render(list.map(lsRow)));
        else
          context.out(
            table([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...list.map((n) => [n.id.slice(0, 12), n.name, n.driver, 'local'])]),
          );
        return 0;
      }
      case 'inspect': {
        if (!positionals.length) throw new UsageError('inspect needs at least one NETWORK');
        const format = template(values.format);
        return withClients(context, async ({ networks }) => {
          const out: Record<string, unknown>[] = [];
          const code = await each(context, 'network inspect', positionals, async (name) => {
            const { network, endpoints } = await networks.inspect(name);
            out.push(inspectJson(network, endpoints));
          });
          context.out(format ? format.render(out) : `${JSON.stringify(out, null, 2)}\n`);
          return code;
        });
      }
      case 'rm':
      case 'remove': {
        if (!positionals.length) throw new UsageError('rm needs at least one NETWORK');
        return withClients(context, ({ networks }) =>
          each(context, 'network rm', positionals, async (name) => {
            await networks.remove(name);
            context.out(`${name}\n`);
          }),
        );
      }
      case 'connect':
      case 'disconnect': {
        const [network, container] = operands(positionals, 2, `${verb} needs NETWORK and CONTAINER`);
        // through containerd-lite: it owns the container's netns and /etc/hosts
        return withClients(context, async ({ runner }) => {
          if (verb === 'disconnect')
            // -f: not being connected is no error (docker's, for an endpoint already gone)
            await runner.disconnect(container!, network!).catch((err: unknown) => {
              if (!(values.force && isKind(err, ErrorKind.NotFound))) throw err;
            });
          else
            await runner.connect({
              id: container!,
              network: network!,
              aliases: values.alias ?? [],
              ipv4Address: values.ip ?? '',
              ipv6Address: values.ip6 ?? '',
            });
          return 0;
        });
      }
      case 'prune': {
        if (positionals.length) throw new UsageError('prune takes no arguments');
        if (
          !values.force &&
          !(await confirm(
            context,
            'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?',
          ))
        )
          return 0;
        return withClients(context, async ({ networks }) => {
          const [list, endpoints] = await Promise.all([networks.list(), networks.listEndpoints()]);
          const used = new Set(endpoints.map((e) => e.networkId));
          const removed: string[] = [];
          for (const n of list.filter((n) => n.name !== DEFAULT_NETWORK && !used.has(n.id))) {
            // one connected meanwhile is refused by netd: it stays, as docker leaves it
            if (
              await networks.remove(n.name).then(
                () => true,
                () => false,
              )
            )
              removed.push(n.name);
          }
          if (removed.length) context.out(`Deleted Networks:\n${removed.map((n) => `${n}\n`).join('')}`);
          return 0;
        });
      }
      default:
        throw new UsageError(verb ? `unknown network command "${verb}"` : 'network needs a command');
    }
  },
};

/** `ctl port CONTAINER [PORT[/PROTO]]`: docker port's lines, from the ports published at create. */
export const port: Command = {
  summary: "List a container's published ports",
  usage: 'Usage: ctl port CONTAINER [PRIVATE_PORT[/PROTO]]\n',
  async run(argv, context) {
    const { positionals } = parseOptions(argv, {});
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('port needs CONTAINER and at most one PORT');
    const [id, spec] = positionals as [string, string | undefined];
    let asked: { port: number; protocol: string } | undefined;
    if (spec !== undefined) {
      const m = /^(\d+)(?:\/(tcp|udp))?$/i.exec(spec);
      if (!m) throw new UsageError(`${spec}: expected PORT[/PROTO], e.g. 80/tcp`);
      asked = { port: Number(m[1]), protocol: (m[2] ?? 'tcp').toLowerCase() };
    }
    const container = await withClients(context, ({ containers }) => containers.get(id));
    const lines = portLines(lite().publishedPorts(container.labels), asked);
    if (asked && !lines.length) {
      context.err(`Error: No public port '${asked.port}/${asked.protocol}' published for ${id}\n`);
      return 1;
    }
    context.out(lines.map((l) => `${l}\n`).join(''));
    return 0;
  },
};

export const commands: Record<string, Command> = { network: command, port };
