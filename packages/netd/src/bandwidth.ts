/**
 * Network IO as a constraint: a container's bandwidth, shaped with tc on the host side of its
 * veth, which netd owns (every root and ingress qdisc on it is ours).
 *
 * - What the container receives (its ingress) leaves the host side: a tbf on its root.
 * - What the container sends (its egress) arrives on the host side as ingress, where a qdisc
 *   cannot queue: an ingress qdisc with a u32 match-all filter redirects it (mirred) to an ifb
 *   device of its own, whose root tbf shapes it as egress. A shaper queues the excess and so holds
 *   a TCP flow at the rate; a police action (the alternative) drops it, which makes TCP saw-tooth
 *   under the rate, and this kernel has neither act_police nor cls_matchall, so ifb+mirred+u32 it is.
 *
 * A fresh interface costs one `ip` (the ifb, only with an egress limit) and one `tc -batch`.
 */
import { ErrorKind, invalidArgument } from '@ctl/proto/errors';
import type { Bandwidth } from './records';
import { createHash } from 'node:crypto';
import { type CommandResult, commandFailed, runCommand } from './command';

/** The longest interface name Linux takes (IFNAMSIZ - 1). */
const IFNAME_MAX = 15;
const IFB_PREFIX = 'ifb-';
/** Never less than this much burst: a few full frames, so the tbf passes whole (segmented) packets. */
const MIN_BURST_BYTES = 16 * 1024;
/** Burst as time at the rate, for high rates; and how long a packet may wait in the shaper's queue. */
const BURST_SECONDS = 0.01;
const LATENCY = '50ms';

/**
 * The ifb device that shapes what the container behind `hostInterface` sends: `ifb-` and the veth's
 * name without `veth` (or a hash of the name when that is too long), so it is found again from the
 * veth alone and never is one of the host's own (ifb0, ifb1: they have no dash).
 */
export function ifbName(hostInterface: string): string {
  const suffix = hostInterface.startsWith('veth') ? hostInterface.slice(4) : hostInterface;
  const room = IFNAME_MAX - IFB_PREFIX.length;
  const fitted =
    suffix.length > 0 && suffix.length <= room ? suffix : createHash('sha256').update(hostInterface).digest('hex').slice(0, room);
  return IFB_PREFIX + fitted;
}

export interface LimitOptions {
  /** An alias for the ifb (the owner's mark), so that a start can tell its own from others'. */
  alias?: string;
}

/**
 * Limits the container behind `hostInterface` to `bandwidth` (bits per second, 0 = no limit that
 * way), replacing any limits it had.
 */
export async function limitBandwidth(hostInterface: string, bandwidth: Bandwidth, options: LimitOptions = {}): Promise<void> {
  if (bandwidth.egressBps <= 0 && bandwidth.ingressBps <= 0) return clearBandwidth(hostInterface);
  checkRate('egress', bandwidth.egressBps);
  checkRate('ingress', bandwidth.ingressBps);
  if (!(await tryLimit(hostInterface, bandwidth, options))) return;
  // Something of an earlier limit is in the way (an ifb, an ingress filter): start again from nothing.
  await clearBandwidth(hostInterface);
  const conflict = await tryLimit(hostInterface, bandwidth, options);
  if (conflict) throw commandFailed(conflict.command, conflict.result, ErrorKind.Aborted);
}

/**
 * Makes the limits of `hostInterface` these, touching nothing when they are already (as after a
 * restart of netd: the kernel kept them), so that the shaping goes on without a gap. Costs two
 * `tc` queries when they are in place.
 */
export async function ensureBandwidth(hostInterface: string, bandwidth: Bandwidth, options: LimitOptions = {}): Promise<void> {
  if (!(await bandwidthInPlace(hostInterface, bandwidth))) await limitBandwidth(hostInterface, bandwidth, options);
}

interface Qdisc {
  kind: string;
  root?: boolean;
  options?: { rate?: number };
}

/** Whether the qdiscs of `hostInterface` (and its ifb) are those limitBandwidth makes for `bandwidth`. */
export async function bandwidthInPlace(hostInterface: string, bandwidth: Bandwidth): Promise<boolean> {
  const [veth, ifb, filters] = await Promise.all([
    qdiscs(hostInterface),
    bandwidth.egressBps > 0 ? qdiscs(ifbName(hostInterface)) : Promise.resolve([]),
    bandwidth.egressBps > 0 ? runCommand('tc', ['-j', 'filter', 'show', 'dev', hostInterface, 'parent', 'ffff:']) : undefined,
  ]);
  const shapedAt = (list: Qdisc[], bps: number): boolean => {
    const root = list.find((q) => q.root);
    if (bps <= 0) return root?.kind !== 'tbf';
    // tc JSON gives the rate in bytes per second
    return root?.kind === 'tbf' && Math.abs((root.options?.rate ?? 0) * 8 - bps) < 8;
  };
  const redirected = filters === undefined || (filters.code === 0 && filters.stdout.includes(`"to_dev":"${ifbName(hostInterface)}"`));
  const ingress = veth.some((q) => q.kind === 'ingress');
  return shapedAt(veth, bandwidth.ingressBps) && ingress === bandwidth.egressBps > 0 && redirected && shapedAt(ifb, bandwidth.egressBps);
}

async function qdiscs(device: string): Promise<Qdisc[]> {
  const shown = await runCommand('tc', ['-j', 'qdisc', 'show', 'dev', device]);
  return shown.code === 0 && shown.stdout.trim() ? (JSON.parse(shown.stdout) as Qdisc[]) : [];
}

/** Removes every limit and the ifb of `hostInterface`; no error when they, or the interface, are gone. */
export async function clearBandwidth(hostInterface: string): Promise<void> {
  const [qdiscs, ifb] = await Promise.all([
    runCommand('tc', ['-force', '-batch', '-'], `qdisc del dev ${hostInterface} root\nqdisc del dev ${hostInterface} ingress\n`),
    runCommand('ip', ['link', 'del', 'dev', ifbName(hostInterface)]),
  ]);
  if (!onlyAbsent(qdiscs)) throw commandFailed('tc', qdiscs);
  if (!onlyAbsent(ifb)) throw commandFailed('ip', ifb);
}

interface Conflict {
  command: string;
  result: CommandResult;
}

/**
 * Applies the limits to an interface without ours. Answers the conflict when something of ours
 * is already there (nothing changed then); on any other failure removes what it made and throws.
 */
async function tryLimit(hostInterface: string, bandwidth: Bandwidth, options: LimitOptions): Promise<Conflict | undefined> {
  const ifb = ifbName(hostInterface);
  const lines: string[] = [];
  if (bandwidth.ingressBps > 0) lines.push(`qdisc add dev ${hostInterface} root ${tbf(bandwidth.ingressBps)}`);
  if (bandwidth.egressBps > 0) {
    // a new link takes no alias: it is set by a line of its own
    const alias = options.alias ? `link set ${ifb} alias ${options.alias}\n` : '';
    const made = await runCommand('ip', ['-batch', '-'], `link add name ${ifb} up type ifb\n${alias}`);
    if (made.code !== 0) return conflictOrThrow('ip', made);
    lines.push(
      `qdisc add dev ${ifb} root ${tbf(bandwidth.egressBps)}`,
      `qdisc add dev ${hostInterface} handle ffff: ingress`,
      `filter add dev ${hostInterface} parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
    );
  }
  const shaped = await runCommand('tc', ['-batch', '-'], lines.join('\n') + '\n');
  if (shaped.code === 0) return undefined;
  const conflict = isConflict(shaped);
  if (!conflict || bandwidth.egressBps > 0) await clearBandwidth(hostInterface); // leave nothing half-made
  if (conflict) return { command: 'tc', result: shaped };
  throw failure('tc', shaped);
}

function tbf(bps: number): string {
  const burst = Math.max(MIN_BURST_BYTES, Math.ceil((bps / 8) * BURST_SECONDS));
  return `tbf rate ${bps}bit burst ${burst} latency ${LATENCY}`;
}

function checkRate(direction: string, bps: number): void {
  if (!Number.isSafeInteger(bps) || bps < 0)
    throw invalidArgument(`bandwidth: ${direction} rate ${bps} is not a whole number of bits per second`);
}

/** "Exists": an earlier limit is there (the caller clears and retries). */
function isConflict(result: CommandResult): boolean {
  return /File exists|Exclusivity flag on/i.test(result.stderr);
}

function conflictOrThrow(command: string, result: CommandResult): Conflict {
  if (isConflict(result)) return { command, result };
  throw failure(command, result);
}

function failure(command: string, result: CommandResult): Error {
  return commandFailed(command, result, /Cannot find device/.test(result.stderr) ? ErrorKind.NotFound : ErrorKind.Internal);
}

/** Whether every failure of a removal batch says only that the thing was not there. */
function onlyAbsent(result: CommandResult): boolean {
  if (result.code === 0) return true;
  const failures = result.stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('Command failed'));
  return failures.every((line) => ABSENT.some((pattern) => pattern.test(line)));
}

const ABSENT = [/Cannot find device/, /Cannot delete qdisc with handle of zero/, /Invalid handle/, /Cannot find specified qdisc/];
