/** The shim's log records (JSON lines {time, stream, log}), as ctl logs and exec print them. */

/** Writes log records (the shim's JSON lines {time, stream, log}) to stdout and stderr. */
export function printLog(text: string, o: { since?: number; timestamps?: boolean }): void {
  for (const line of text.split('\n')) {
    let rec: { time?: string; stream?: string; log?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (o.since && rec.time && Date.parse(rec.time) < o.since) continue;
    (rec.stream === 'stderr' ? process.stderr : process.stdout).write(`${o.timestamps && rec.time ? `${rec.time} ` : ''}${rec.log ?? ''}`);
  }
}
