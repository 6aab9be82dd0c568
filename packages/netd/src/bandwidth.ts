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

/**
 * Limits the container behind `hostInterface` to `bandwidth` (bits per second, 0 = no limit that
 * way), replacing any limits it had.
 */
export async function limitBandwidth(hostInterface: string, bandwidth: Bandwidth): Promise<void> {
  if (bandwidth.egressBps <= 0 && bandwidth.ingressBps <= 0) return clearBandwidth(hostInterface);
  checkRate('egress', bandwidth.egressBps);
  checkRate('ingress', bandwidth.ingressBps);
  if (!(await tryLimit(hostInterface, bandwidth))) return;
  // Something of an earlier limit is in the way (an ifb, an ingress filter): start again from nothing.
  await clearBandwidth(hostInterface);
  const conflict = await tryLimit(hostInterface, bandwidth);
  if (conflict) throw commandFailed(conflict.command, conflict.result, ErrorKind.Aborted);
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
async function tryLimit(hostInterface: string, bandwidth: Bandwidth): Promise<Conflict | undefined> {
  const ifb = ifbName(hostInterface);
  const lines: string[] = [];
  if (bandwidth.ingressBps > 0) lines.push(`qdisc add dev ${hostInterface} root ${tbf(bandwidth.ingressBps)}`);
  if (bandwidth.egressBps > 0) {
    const made = await runCommand('ip', ['link', 'add', 'name', ifb, 'up', 'type', 'ifb']);
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
