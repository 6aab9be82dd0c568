/**
 * The static codecs against @grpc/proto-loader, for every method of every service: services
 * served through `serviceDefinition` must put the same bytes on the wire and hand handlers the
 * same objects as those registered through `loadContracts()` (containerd and our clients talk
 * to both). Messages with every field set (each oneof member in turn), empty ones, and random
 * bytes, both ways.
 */
import type * as grpc from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { TO_OBJECT, messageCodec, staticCodecs, staticMethod } from './codecs';
import { loadContracts, serviceDefinition } from './contracts';

const descriptor = JSON.parse(readFileSync(join(__dirname, 'descriptor.json'), 'utf8')) as { files: string[]; root: protobuf.INamespace };
const reflection = protobuf.Root.fromJSON(descriptor.root);
reflection.resolveAll();

const LONG = 1234567890123;
const scalars: Record<string, (name: string) => unknown> = {
  double: () => 1.5,
  float: () => 0.25,
  int32: () => -7,
  sint32: () => -8,
  sfixed32: () => -9,
  uint32: () => 7,
  fixed32: () => 8,
  int64: () => -LONG,
  sint64: () => -LONG - 1,
  sfixed64: () => -LONG - 2,
  uint64: () => LONG,
  fixed64: () => LONG + 1,
  bool: () => true,
  string: (name) => `${name}-é`,
  bytes: () => Buffer.from([0, 1, 2, 254, 255]),
};

/** A value for one field: every field of a message set, oneofs through the member `pick` chooses. */
function valueOf(field: protobuf.FieldBase, pick: 'first' | 'last', depth: number): unknown {
  const scalar = scalars[field.type];
  if (scalar) return scalar(field.name);
  const type = field.resolvedType;
  if (type instanceof protobuf.Enum) {
    const names = Object.keys(type.values);
    return names[names.length > 1 ? 1 : 0];
  }
  return depth > 4 ? {} : sample(type as protobuf.Type, pick, depth + 1);
}

function sample(type: protobuf.Type, pick: 'first' | 'last', depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const skipped = new Set<protobuf.Field>();
  for (const oneof of type.oneofsArray) {
    const members = oneof.fieldsArray;
    const chosen = pick === 'first' ? members[0] : members[members.length - 1];
    for (const m of members) if (m !== chosen) skipped.add(m);
  }
  for (const field of type.fieldsArray) {
    if (skipped.has(field)) continue;
    field.resolve();
    const value = valueOf(field, pick, depth);
    if (field instanceof protobuf.MapField) {
      const key = field.keyType === 'string' ? `k-${field.name}` : '42';
      out[field.name] = { [key]: value };
    } else if (field.repeated) out[field.name] = [value, value];
    else out[field.name] = value;
  }
  return out;
}

/** Both decoders, or both throw. */
function sameDecoding(ours: (b: Buffer) => unknown, theirs: (b: Buffer) => unknown, bytes: Buffer, what: string): void {
  let expected: unknown;
  let failed = false;
  try {
    expected = theirs(bytes);
  } catch {
    failed = true;
  }
  if (failed) assert.throws(() => ours(bytes), `${what}: proto-loader refused ${bytes.toString('hex')}, the static codec did not`);
  else assert.deepStrictEqual(ours(bytes), expected, `${what}: ${bytes.toString('hex')}`);
}

describe('static codecs and proto-loader agree', () => {
  it('decode with the loader options of loader-options.json', () => {
    const options = JSON.parse(readFileSync(join(__dirname, '..', 'loader-options.json'), 'utf8')) as Record<string, unknown>;
    const { keepCase, longs, enums, ...rest } = options;
    assert.equal(keepCase, false, 'the static codecs are generated with camelCase names');
    assert.deepStrictEqual(
      { ...rest, longs: TO_OBJECT.longs.name, enums: TO_OBJECT.enums.name },
      { defaults: TO_OBJECT.defaults, oneofs: TO_OBJECT.oneofs, longs, enums },
    );
  });

  const contracts = loadContracts() as unknown as Record<string, unknown>;
  for (const file of descriptor.files) {
    const protoFile = file.replace(/\.proto$/, '');
    const services = new Set(Object.keys(staticCodecs(protoFile).methods).map((key) => key.split('/')[0]!));
    for (const service of services) {
      it(`${service} (${file})`, () => {
        const theirs = (service.split('.').reduce<any>((ns, part) => ns?.[part], contracts) as { service: grpc.ServiceDefinition }).service; // eslint-disable-line @typescript-eslint/no-explicit-any
        const ours = serviceDefinition(protoFile, service);
        assert.deepStrictEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
        for (const [name, method] of Object.entries(theirs)) {
          const mine = ours[name]!;
          assert.deepStrictEqual(
            [mine.path, mine.requestStream, mine.responseStream, mine.originalName],
            [method.path, method.requestStream, method.responseStream, method.originalName],
          );
          const lookup = reflection.lookupService(service).methods[name]!;
          lookup.resolve();
          const sides = [
            [
              'request',
              lookup.resolvedRequestType!,
              mine.requestSerialize,
              method.requestSerialize,
              mine.requestDeserialize,
              method.requestDeserialize,
            ],
            [
              'response',
              lookup.resolvedResponseType!,
              mine.responseSerialize,
              method.responseSerialize,
              mine.responseDeserialize,
              method.responseDeserialize,
            ],
          ] as const;
          // the light client's codecs of this method alone (generate.mjs: only the types it reaches)
          const light = staticMethod(protoFile, service, name);
          for (const [side, type, encode, theirEncode, decode, theirDecode] of sides) {
            const what = `${service}/${name} ${side}`;
            const alone = light[side];
            for (const message of [{}, sample(type, 'first'), sample(type, 'last')]) {
              const bytes = encode(message);
              assert.ok(Buffer.isBuffer(bytes), `${what}: grpc-js wants a Buffer`);
              assert.deepStrictEqual(bytes, theirEncode(message), `${what}: ${JSON.stringify(message)}`);
              assert.deepStrictEqual(Buffer.from(alone.encode(message)), bytes, `${what} (its own codecs): ${JSON.stringify(message)}`);
              assert.deepStrictEqual(alone.decode(bytes), decode(bytes), `${what} (its own codecs)`);
              sameDecoding(decode, theirDecode, bytes, what);
              // The sample, decoded, has every default and conversion applied: it must come back the same.
              const decoded = decode(bytes);
              assert.deepStrictEqual(decode(encode(decoded)), decoded, `${what}: a decoded message encodes to itself`);
            }
            for (let i = 0; i < 50; i++) sameDecoding(decode, theirDecode, randomBytes(1 + (i % 24)), what);
          }
        }
      });
    }
  }

  it("loads a method's own codecs, which hold only the types its messages reach", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const own = require('../dist/static/ctl_run_v1_run--Runner.Remove.js') as (pb: unknown) => Record<string, unknown>;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const root = own(require('protobufjs/minimal'));
    assert.ok(messageCodec(root, 'ctl.run.v1.RemoveRequest'));
    assert.equal(messageCodec(root, 'ctl.run.v1.ContainerConfig'), undefined, 'Remove reaches no container config');
    assert.ok(messageCodec(staticCodecs('ctl/run/v1/run').root, 'ctl.run.v1.ContainerConfig'));
    const remove = staticMethod('ctl/run/v1/run', 'ctl.run.v1.Runner', 'Remove');
    assert.deepEqual(remove.request.decode(remove.request.encode({ id: 'c1', force: true })), {
      id: 'c1',
      force: true,
      removeVolumes: false,
    });
  });

  it('decodes int64 as numbers and enums as names', () => {
    const info = serviceDefinition('containerd/services/snapshots/v1/snapshots', 'containerd.services.snapshots.v1.Snapshots').Usage!;
    const bytes = info.responseSerialize({ size: 2 ** 40, inodes: 3 });
    assert.deepStrictEqual(info.responseDeserialize(bytes), { size: 2 ** 40, inodes: 3 });
    const stat = serviceDefinition('containerd/services/snapshots/v1/snapshots', 'containerd.services.snapshots.v1.Snapshots').Stat!;
    const decoded = stat.responseDeserialize(stat.responseSerialize({ info: { name: 'a', kind: 'COMMITTED' } })) as {
      info: { kind: string };
    };
    assert.equal(decoded.info.kind, 'COMMITTED');
  });
});
