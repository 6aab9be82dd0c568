/**
 * Driving the kernel from netd: iproute2 (`ip -batch -`, in the host's netns or in a container's,
 * which ctl-launch enters before the exec: no nsenter in between) and nftables (`nft -j -f -`),
 * each one exec through ctl-launch (no fork of the daemon). A batch stops at its first failing
 * line; the error carries what the tool said.
 */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { launch } from '@ctl/runtime-native/launch';
import { NETNS_BINARY } from '@ctl/runtime-native/netns';
import { writeFile } from 'node:fs/promises';

async function run(command: string, args: string[], input: string, what: string, netns?: string): Promise<string> {
  const r = await launch(command, args, { input, netns }).catch((err: unknown) => {
    throw new EngineError(ErrorKind.Internal, `${what}: ${(err as Error).message}`, { cause: err });
  });
  if (r.code !== 0) throw new EngineError(ErrorKind.Internal, `${what}: ${(r.stderr || r.stdout || `exit code ${r.code}`).trim()}`);
  return r.stdout;
}

/** Runs iproute2 commands (one per line, without the leading `ip`), in the netns at netnsPath if given. */
export function ipBatch(lines: readonly string[], netnsPath?: string): Promise<string> {
  const input = lines.join('\n') + '\n';
  if (netnsPath === undefined) return run('ip', ['-batch', '-'], input, `ip: ${lines.join('; ')}`);
  return run('ip', ['-batch', '-'], input, `ip in ${netnsPath}: ${lines.join('; ')}`, netnsPath);
}

/**
 * runtime-native's ctl-netns `veth`: a container's veth pair made and configured over rtnetlink in
 * one exec (the host's end and the container's, which it enters itself), where two `ip -batch`
 * runs (the second through ctl-launch's netns) cost two.
 */
export function netnsVeth(args: readonly string[], what: string): Promise<string> {
  return run(NETNS_BINARY, ['veth', ...args], '', what);
}

/**
 * Deletes a link of netd's netns (a veth: both ends) by name with ctl-netns, a static binary that
 * starts in half the time of `ip`; none is no error.
 */
export async function deleteLinkByName(name: string): Promise<void> {
  await run(NETNS_BINARY, ['link-del', name], '', `delete link ${name}`);
}

/** iproute2's JSON answer to one query (`ip -j <args>`), in the host's netns. */
export async function ipJson<T>(args: readonly string[]): Promise<T[]> {
  const out = await run('ip', ['-j', ...args], '', `ip ${args.join(' ')}`);
  return out.trim() ? (JSON.parse(out) as T[]) : [];
}

/** Applies an nftables JSON document in one transaction: all of it or nothing. */
export function nft(commands: readonly object[]): Promise<string> {
  return run('nft', ['-j', '-f', '-'], JSON.stringify({ nftables: commands }), 'nft');
}

/** Whether this netns has the inet table of that name. */
export async function nftTableExists(table: string): Promise<boolean> {
  return (await launch('nft', ['list', 'table', 'inet', table])).code === 0;
}

/** Sets a sysctl of netd's netns (e.g. "net/ipv4/ip_forward"). */
export async function sysctl(key: string, value: string): Promise<void> {
  await writeFile(`/proc/sys/${key}`, value);
}
