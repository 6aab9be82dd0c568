/**
 * How the daemon's Node process is started: by ctl's autostart, and by whatever else starts
 * `ctl daemon` and wants the same (tools/leaks.mjs, the benchmarks, a service manager's unit:
 * `MALLOC_ARENA_MAX=2 node --max-semi-space-size=4 .../bin/ctl.js daemon`).
 *
 * Both keep the resident memory of a daemon that runs container after container flat; neither
 * changes what it holds: its JavaScript heap after a full GC is the same with and without them
 * (18.4 MiB after 100 `run --rm`, 19.4 MiB after 1,000, the growth being V8's optimized code).
 * tools/leaks.mjs, 1,000 cycles: on Node's defaults RSS went 114.5 → 133.8 MiB from cycle 100 to
 * 1,000 (2.1 MiB per 100); with these, 99.9 → 106.8 MiB, 0.3 MiB per 100 after cycle 500. (Taken
 * before LevelDB scans read in small batches, @ctl/proto's inBatches: tools/bench/daemon-rss.mjs
 * has the figures since, and what is left, V8's old generation growing until its first full GC.)
 */

/**
 * V8 grows the young generation of a process that keeps allocating up to two semi-spaces of
 * 16 MiB (and back, and up again, as the allocation rate moves), resident while it is that big.
 * The daemon allocates about 2 MiB per container run, nearly all of it garbage by the next
 * scavenge, so 4 MiB semi-spaces cost a scavenge of well under a millisecond every other run
 * (measured with --trace-gc) and save 24 MiB.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * glibc gives each thread that allocates under contention an arena of its own (up to 8 per core)
 * and keeps what an arena once held: libuv's pool (LevelDB's reads and writes), LevelDB's
 * compactions and V8's compiler threads each grew one, and the daemon's memory with them for
 * hundreds of runs (from cycle 100 to 500, both with small semi-spaces: 8 MiB without this, 3.5
 * MiB with it).
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** The daemon's environment: env with DAEMON_ENV's defaults where env does not say otherwise. */
export function daemonEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...DAEMON_ENV, ...env };
}
