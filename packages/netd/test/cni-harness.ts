/**
 * The CNI driver in a process of its own, for cni-driver.test.ts: the test runs it with
 * `ip netns exec <the test's netns>`, so the plugins it execs make their bridges, veths and
 * firewall rules in that namespace, never in the host's (a Node process cannot move itself).
 * Protocol: one JSON request per stdin line, `{id, op, args}` with op a driver method; one JSON
 * answer per stdout line, `{id, value}` or `{id, error: {kind, message}}`.
 */
import { errorKind } from '@ctl/proto/errors';
import { createInterface } from 'node:readline';
import { type CniDriverOptions, createCniDriver } from '../src/drivers/cni';

const driver = createCniDriver(JSON.parse(process.argv[2]) as CniDriverOptions);
const ops = {
  create: driver.create.bind(driver),
  remove: driver.remove.bind(driver),
  attach: driver.attach.bind(driver),
  detach: driver.detach.bind(driver),
  check: driver.check.bind(driver),
  reconcile: driver.reconcile.bind(driver),
} as Record<string, (...args: unknown[]) => Promise<unknown>>;

createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, op, args } = JSON.parse(line) as { id: number; op: string; args: unknown[] };
  const answer = (body: object): boolean => process.stdout.write(`${JSON.stringify({ id, ...body })}\n`);
  ops[op](...args).then(
    (value) => answer({ value: value ?? null }),
    (err: Error) => answer({ error: { kind: errorKind(err), message: err.message } }),
  );
});
