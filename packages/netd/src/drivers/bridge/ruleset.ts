/**
 * The nftables table of one netd instance, rendered whole from the model (nft's JSON form): the
 * firewall is rebuilt in one transaction on every change (delete the table and add it again in
 * the same batch), so it always says exactly what the records say and never half of it.
 *
 *   prerouting, output (nat): traffic to a local address goes to `ports`, which DNATs each
 *     published port to its container; output too, so the host itself, 127.0.0.1 included,
 *     reaches them without a proxy process.
 *   postrouting (nat): masquerade of what leaves a non-internal network, of 127/8 sources sent
 *     into a bridge (the localhost DNAT above, with route_localnet on the bridge), and of
 *     hairpin traffic (a container reaching a port published on its own network).
 *   forward (filter): internal networks neither send nor receive beyond their bridge; replies
 *     and DNATed connections pass; nothing new enters a network from outside it (so two of our
 *     networks cannot reach each other).
 *   untracked (raw, before conntrack): traffic from one container to another of the same network
 *     is bridged, and the host's br_netfilter (bridge-nf-call-iptables, a setting of the whole
 *     netns that a per-bridge option can only turn on) hands every such frame to the IP hooks,
 *     where conntrack would track each connection for nothing: no NAT or filter of ours needs
 *     it. So it is not tracked: from the network's subnet to the same subnet, into its bridge,
 *     but not to the gateway (the host's own address: published ports reached from a container,
 *     replies to what was masqueraded to it, the network's DNS all stay tracked).
 *
 * Other tables are never touched: every command names this table.
 */

export interface FirewallNetwork {
  bridge: string;
  /** Subnet and gateway (the bridge's address) per family, as a network has them. */
  ipv4?: { subnet: string; gateway: string };
  ipv6?: { subnet: string; gateway: string };
  internal: boolean;
}

export interface FirewallPort {
  protocol: 'tcp' | 'udp';
  /** Empty: every local address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

type Expr = Record<string, unknown>;

const match = (left: Expr, right: unknown, op = '=='): Expr => ({ match: { op, left, right } });
const meta = (key: string): Expr => ({ meta: { key } });
const payload = (protocol: string, field: string): Expr => ({ payload: { protocol, field } });
const prefix = (cidr: string): Expr => {
  const [addr, len] = cidr.split('/');
  return { prefix: { addr, len: Number(len) } };
};
const family = (cidr: string): 'ip' | 'ip6' => (cidr.includes(':') ? 'ip6' : 'ip');

export function renderTable(table: string, networks: readonly FirewallNetwork[], ports: readonly FirewallPort[]): object[] {
  const t = { family: 'inet', table };
  const rule = (chain: string, ...expr: Expr[]) => ({ add: { rule: { ...t, chain, expr } } });
  const chain = (name: string, hook?: { type: string; hook: string; prio: number }) => ({
    add: { chain: { ...t, name, ...(hook ? { ...hook, policy: 'accept' } : {}) } },
  });
  const toPorts = [match({ fib: { result: 'type', flags: ['daddr'] } }, 'local'), { jump: { target: 'ports' } }];
  const out: object[] = [
    chain('ports'),
    chain('prerouting', { type: 'nat', hook: 'prerouting', prio: -100 }),
    chain('output', { type: 'nat', hook: 'output', prio: -100 }),
    chain('postrouting', { type: 'nat', hook: 'postrouting', prio: 100 }),
    chain('forward', { type: 'filter', hook: 'forward', prio: 0 }),
    chain('untracked', { type: 'filter', hook: 'prerouting', prio: -300 }),
    rule('prerouting', ...toPorts),
    rule('output', ...toPorts),
  ];
  for (const p of ports) {
    out.push(
      rule('ports', ...(p.hostIp ? [match(payload('ip', 'daddr'), p.hostIp)] : []), match(payload(p.protocol, 'dport'), p.hostPort), {
        dnat: { family: 'ip', addr: p.containerIp, port: p.containerPort },
      }),
    );
  }
  for (const n of networks) {
    const bridge = n.bridge;
    for (const { subnet, gateway } of [n.ipv4, n.ipv6].filter((s) => s !== undefined)) {
      const ip = family(subnet);
      out.push(
        rule(
          'untracked',
          match(meta('iifname'), bridge),
          match(payload(ip, 'saddr'), prefix(subnet)),
          match(payload(ip, 'daddr'), prefix(subnet)),
          ...(gateway ? [match(payload(ip, 'daddr'), gateway, '!=')] : []),
          { notrack: null },
        ),
      );
      const from = match(payload(ip, 'saddr'), prefix(subnet));
      if (!n.internal) out.push(rule('postrouting', from, match(meta('oifname'), bridge, '!='), { masquerade: null }));
      out.push(
        rule('postrouting', from, match(meta('oifname'), bridge), match({ ct: { key: 'status' } }, 'dnat', 'in'), { masquerade: null }),
      );
    }
    if (n.ipv4)
      out.push(
        rule('postrouting', match(payload('ip', 'saddr'), prefix('127.0.0.0/8')), match(meta('oifname'), bridge), { masquerade: null }),
      );
    if (n.internal) {
      out.push(rule('forward', match(meta('iifname'), bridge), match(meta('oifname'), bridge, '!='), { drop: null }));
      out.push(rule('forward', match(meta('oifname'), bridge), match(meta('iifname'), bridge, '!='), { drop: null }));
    }
  }
  out.push(rule('forward', match({ ct: { key: 'state' } }, ['established', 'related'], 'in'), { accept: null }));
  out.push(rule('forward', match({ ct: { key: 'status' } }, 'dnat', 'in'), { accept: null }));
  for (const n of networks) {
    out.push(rule('forward', match(meta('oifname'), n.bridge), match(meta('iifname'), n.bridge, '!='), { drop: null }));
  }
  return out;
}

/** The batch that replaces the table with `body` (or, with none, removes it) in one transaction. */
export function replaceTable(table: string, body: readonly object[] | undefined): object[] {
  const t = { table: { family: 'inet', name: table } };
  // "add" first makes the "delete" valid whether or not the table exists.
  return [{ add: t }, { delete: t }, ...(body ? [{ add: t }, ...body] : [])];
}
