/**
 * Restart policies, Docker's (`--restart no|on-failure[:N]|always|unless-stopped`), kept in a
 * container's labels so the record alone says what the daemon's supervisor must do:
 *
 *   ctl.restart-policy   no | on-failure | always | unless-stopped (absent = no)
 *   ctl.restart-max      N of on-failure:N (absent = no limit)
 *   ctl.restart-count    restarts the supervisor made since the container was last started by
 *                        the user (`ctl inspect`: RestartCount); on-failure:N stops at N
 *   ctl.stopped-by-user  "true" once `ctl stop`/`ctl kill` signalled it; `ctl start` clears it
 *
 * Light imports only: the CLI parses and writes the same labels.
 */

export const RestartLabel = {
  policy: 'ctl.restart-policy',
  max: 'ctl.restart-max',
  count: 'ctl.restart-count',
  stoppedByUser: 'ctl.stopped-by-user',
  /** Lifecycle.auto_remove: the container goes once its task has exited. */
  autoRemove: 'ctl.auto-remove',
} as const;

/** Whether the labels ask for the container's removal once its task has exited. */
export const autoRemoves = (labels: Record<string, string>): boolean => labels[RestartLabel.autoRemove] === '1';

export type RestartPolicyName = 'no' | 'on-failure' | 'always' | 'unless-stopped';

export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure's N; 0 = no limit */
  maxRetries: number;
}

const NAMES: readonly RestartPolicyName[] = ['no', 'on-failure', 'always', 'unless-stopped'];

/**
 * Parses `--restart` as Docker does: a policy name, and `:N` (N > 0) only after on-failure.
 * Throws an Error whose message names the value and the cause.
 */
export function parseRestartPolicy(value: string): RestartPolicy {
  const [name, max, ...rest] = value.split(':');
  if (!NAMES.includes(name as RestartPolicyName) || rest.length > 0) {
    throw new Error(`invalid restart policy "${value}": expected no, on-failure[:N], always or unless-stopped`);
  }
  if (max === undefined) return { name: name as RestartPolicyName, maxRetries: 0 };
  if (name !== 'on-failure') throw new Error(`invalid restart policy "${value}": a maximum retry count can only be used with on-failure`);
  if (!/^\d+$/.test(max) || Number(max) <= 0)
    throw new Error(`invalid restart policy "${value}": the maximum retry count must be a positive integer`);
  return { name: 'on-failure', maxRetries: Number(max) };
}

/** The labels that record a policy ("no" records nothing). */
export function restartLabels(policy: RestartPolicy): Record<string, string> {
  if (policy.name === 'no') return {};
  return { [RestartLabel.policy]: policy.name, ...(policy.maxRetries ? { [RestartLabel.max]: String(policy.maxRetries) } : {}) };
}

/** The policy a container's labels record (an unknown one counts as "no"). */
export function policyOf(labels: Record<string, string>): RestartPolicy {
  const name = labels[RestartLabel.policy] as RestartPolicyName | undefined;
  if (!name || !NAMES.includes(name)) return { name: 'no', maxRetries: 0 };
  const max = Number(labels[RestartLabel.max] ?? 0);
  return { name, maxRetries: name === 'on-failure' && Number.isInteger(max) && max > 0 ? max : 0 };
}

export const restartCountOf = (labels: Record<string, string>): number => {
  const n = Number(labels[RestartLabel.count] ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
};

export const stoppedByUser = (labels: Record<string, string>): boolean => labels[RestartLabel.stoppedByUser] === 'true';

/** Whether the init's exit with this status calls for a restart, given the container's labels. */
export function shouldRestart(labels: Record<string, string>, exitStatus: number): boolean {
  const policy = policyOf(labels);
  if (stoppedByUser(labels)) return false;
  switch (policy.name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exitStatus !== 0 && (policy.maxRetries === 0 || restartCountOf(labels) < policy.maxRetries);
    default:
      return false;
  }
}

export const BACKOFF_INITIAL_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
/** A run at least this long resets the back-off (Docker's). */
export const BACKOFF_RESET_AFTER_MS = 10_000;

/** The delay before the n-th consecutive restart (n ≥ 1): 100 ms doubling, at most 1 min. */
export function backoffDelay(consecutive: number): number {
  const n = Math.max(1, consecutive);
  return Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.min(n - 1, 20));
}
