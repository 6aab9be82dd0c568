/**
 * Every method containerd-lite and the snapshotter serve, fed random bytes, truncated messages
 * and well-formed messages with random field values (issue 11): each call ends (an answer or a
 * gRPC error, never a hang past its deadline), and the services still answer a health check
 * afterwards. FUZZ_ROUNDS (default 4) sets the calls per method and kind; a long run:
 *   FUZZ_ROUNDS=500 npx mocha --config ../../.mocharc.json --timeout 0 dist/test/grpc-fuzz.test.js
 */
import { serviceSocket } from '@ctl/proto';
import * as grpc from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as protobuf from 'protobufjs';
import { type Instance, startInstance } from './instance';

const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? 4);
const DEADLINE_MS = 5000;
// A response stream may rightly run until the client leaves (Events.Subscribe, Attach): its
// calls end at this shorter deadline, and running into it is no failure.
const STREAM_DEADLINE_MS = 500;
// Writes wherever the request says (a path of the caller's host): not fed random paths here.
const SKIPPED = new Set(['/ctl.transfer.v1.Transfer/Export']);

const descriptor = JSON.parse(readFileSync(join(dirname(require.resolve('@ctl/proto/package.json')), 'dist', 'descriptor.json'), 'utf8'));
const root = protobuf.Root.fromJSON(descriptor.root ?? descriptor);

function services(pkg: string): protobuf.Service[] {
  const ns = root.lookup(pkg) as protobuf.Namespace | null;
  if (!ns) return [];
  const out: protobuf.Service[] = [];
  const walk = (n: protobuf.NamespaceBase): void => {
    for (const child of n.nestedArray) {
      if (child instanceof protobuf.Service) out.push(child);
      else if (child instanceof protobuf.Namespace) walk(child);
    }
  };
  walk(ns);
  return out;
}

const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const randomString = (): string =>
  pick(['', 'a', 'default', '../../etc', 'sha256:' + 'a'.repeat(64), 'x'.repeat(300), randomBytes(6).toString('hex'), '\u0000/\n']);

/** A message of type t with random values in some of its fields (nested up to depth 3). */
function randomMessage(t: protobuf.Type, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of t.fieldsArray) {
    if (Math.random() < 0.4) continue;
    const one = (): unknown => {
      field.resolve();
      if (field.resolvedType instanceof protobuf.Type) return depth < 3 ? randomMessage(field.resolvedType, depth + 1) : {};
      if (field.resolvedType instanceof protobuf.Enum) return pick(Object.values(field.resolvedType.values));
      switch (field.type) {
        case 'string':
          return randomString();
        case 'bytes':
          return randomBytes(Math.floor(Math.random() * 64));
        case 'bool':
          return Math.random() < 0.5;
        case 'double':
        case 'float':
          return pick([0, -1, 1.5, 1e300, Number.NaN]);
        default:
          return pick([0, 1, -1, 2 ** 31 - 1, 1e12]);
      }
    };
    if (field.map) out[field.name] = { [randomString() || 'k']: one() };
    else if (field.repeated) out[field.name] = Array.from({ length: Math.floor(Math.random() * 3) }, one);
    else out[field.name] = one();
  }
  return out;
}

/** The three kinds of input: noise, a truncated real message, a whole random one. */
function inputs(t: protobuf.Type): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    out.push(randomBytes(Math.floor(Math.random() * 200)));
    const whole = Buffer.from(t.encode(t.fromObject(randomMessage(t))).finish());
    out.push(whole.subarray(0, Math.floor(Math.random() * whole.length)));
    out.push(whole);
  }
  return out;
}

/** One call of any shape with raw bytes; resolves with its status code when it has ended. */
function call(channel: grpc.Client, path: string, m: protobuf.Method, body: Buffer): Promise<number> {
  const identity = (b: Buffer): Buffer => b;
  const options = { deadline: Date.now() + (m.responseStream ? STREAM_DEADLINE_MS : DEADLINE_MS) };
  const metadata = new grpc.Metadata();
  metadata.set('containerd-namespace', pick(['default', 'fuzz', '']));
  return new Promise((resolve) => {
    if (!m.requestStream && !m.responseStream) {
      channel.makeUnaryRequest(path, identity, identity, body, metadata, options, (err) => resolve(err ? err.code : 0));
    } else if (m.requestStream && !m.responseStream) {
      const s = channel.makeClientStreamRequest(path, identity, identity, metadata, options, (err) => resolve(err ? err.code : 0));
      s.write(body);
      s.end();
    } else {
      const s = m.requestStream
        ? channel.makeBidiStreamRequest(path, identity, identity, metadata, options)
        : channel.makeServerStreamRequest(path, identity, identity, body, metadata, options);
      if (m.requestStream) {
        (s as grpc.ClientDuplexStream<Buffer, Buffer>).write(body);
        (s as grpc.ClientDuplexStream<Buffer, Buffer>).end();
      }
      s.on('data', () => undefined);
      s.on('status', (st: grpc.StatusObject) => resolve(st.code));
      s.on('error', () => undefined);
    }
  });
}

describe('gRPC services under random and truncated input', function () {
  this.timeout(0);
  let inst: Instance;

  before(async () => {
    inst = await startInstance({ snapshotter: true, drivers: ['native'] });
  });
  after(async () => {
    await inst?.teardown();
  });

  for (const [service, packages] of [
    ['containerd-lite', ['containerd.services', 'ctl']],
    ['snapshotter', ['containerd.services.snapshots', 'ctl.snapshotter']],
  ] as const) {
    it(`${service}: every method ends with an answer or a gRPC error, and the service lives on`, async () => {
      const channel = new grpc.Client(`unix://${serviceSocket(inst.tmp, service)}`, grpc.credentials.createInsecure());
      try {
        const seen = new Set<string>();
        for (const svc of packages.flatMap(services)) {
          for (const m of svc.methodsArray) {
            const path = `/${svc.fullName.slice(1)}/${m.name}`;
            if (seen.has(path) || SKIPPED.has(path)) continue;
            seen.add(path);
            m.resolve();
            for (const body of inputs(m.resolvedRequestType!)) {
              const code = await call(channel, path, m, body);
              // Served (OK or an error of its own) or refused; UNIMPLEMENTED is a service this process does not serve.
              assert.ok(
                m.responseStream || code !== grpc.status.DEADLINE_EXCEEDED,
                `${path} did not answer within ${DEADLINE_MS} ms (request, base64: ${body.toString('base64')})`,
              );
            }
          }
        }
        assert.ok(seen.size > 5, `methods found: ${[...seen].join(', ')}`);
        const health = await call(channel, '/grpc.health.v1.Health/Check', services('grpc.health')[0]!.methods['Check']!, Buffer.alloc(0));
        assert.equal(health, grpc.status.OK);
      } finally {
        channel.close();
      }
    });
  }
});
