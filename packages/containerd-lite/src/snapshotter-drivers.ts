/**
 * Which snapshotter driver a request's snapshotter name reaches ("" and "ctl" the default,
 * "ctl-<driver>" the driver): labels and garbage collection record the driver's own name. Only the
 * snapshotter service knows its configuration, so it is asked (Drivers.Resolve), at the first
 * request that needs the answer, never at start: run apart, containerd-lite may start before
 * the snapshotter answers. An answer changes only when the snapshotter restarts with another
 * configuration, so answers are kept for a short while (a pull of many layers asks once), and a
 * failed ask is not kept (the next request asks again).
 */
export interface DriverResolver {
  resolve(name: string): Promise<string>;
}

/** How long an answer is kept: a bound on how long a snapshotter's new configuration goes unseen. */
export const DRIVER_ANSWER_TTL_MS = 10_000;

export class CachedDriverResolver implements DriverResolver {
  private readonly answers = new Map<string, { driver: Promise<string>; until: number }>();

  constructor(
    private readonly service: DriverResolver,
    private readonly ttlMs = DRIVER_ANSWER_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  resolve(name: string): Promise<string> {
    const kept = this.answers.get(name);
    if (kept && kept.until > this.now()) return kept.driver;
    const driver = this.service.resolve(name);
    this.answers.set(name, { driver, until: this.now() + this.ttlMs });
    driver.catch(() => {
      if (this.answers.get(name)?.driver === driver) this.answers.delete(name);
    });
    return driver;
  }
}
