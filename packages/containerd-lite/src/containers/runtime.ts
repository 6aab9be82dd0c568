/**
 * Which OCI runtime a container's task runs with, recorded as containerd records it: runtime.name
 * is the shim (io.containerd.runc.v2, runtime-native's shim here) and runtime.options a
 * containerd.runc.v1.Options whose binary_name names the runc-compatible binary (what
 * `ctr run --runc-binary crun`, nerdctl's and docker's `--runtime crun` record). No options, or
 * an empty binary_name, is the default: ctl-runtime (runtime-native).
 */
import { invalidArgument } from '@ctl/proto/errors';
import { Reader, Writer } from 'protobufjs/minimal';
import type { Any, Container } from './containers';

export const RUNC_SHIM = 'io.containerd.runc.v2';
export const RUNC_OPTIONS_TYPE = 'containerd.runc.v1.Options';
/** containerd.runc.v1.Options.binary_name */
const BINARY_NAME_FIELD = 6;

/** The runtime record of a container run with binaryName ('' for the default). */
export function runtimeRecord(binaryName: string): Container['runtime'] {
  if (!binaryName) return { name: RUNC_SHIM };
  const value = Buffer.from(
    Writer.create()
      .uint32((BINARY_NAME_FIELD << 3) | 2)
      .string(binaryName)
      .finish(),
  );
  return { name: RUNC_SHIM, options: { typeUrl: RUNC_OPTIONS_TYPE, value } };
}

/** binary_name of runc options (protobuf); '' when the options are of another type or do not set it. */
export function binaryName(runtime: Container['runtime'] | undefined): string {
  const o: Any | undefined = runtime?.options;
  if (!o || !/(^|\/)containerd\.runc\.v1\.Options$/.test(o.typeUrl)) return '';
  // Only binary_name is read, so the message's other fields are skipped rather than decoded.
  const reader = Reader.create(o.value);
  let name = '';
  try {
    while (reader.pos < reader.len) {
      const key = reader.uint32();
      // bytes(), not string(): a Buffer reader's string() clips a length past the end silently
      if (key >>> 3 === BINARY_NAME_FIELD && (key & 7) === 2) name = Buffer.from(reader.bytes()).toString('utf8');
      else reader.skipType(key & 7);
    }
  } catch (err) {
    throw invalidArgument(`runtime options: malformed containerd.runc.v1.Options: ${(err as Error).message}`);
  }
  return name;
}
