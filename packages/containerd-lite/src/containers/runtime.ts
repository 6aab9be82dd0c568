/**
 * Which OCI runtime a container's task runs with, recorded as containerd records it: runtime.name
 * is the shim (io.containerd.runc.v2, runtime-native's shim here) and runtime.options a
 * containerd.runc.v1.Options whose binary_name names the runc-compatible binary (what
 * `ctr run --runc-binary crun`, nerdctl's and docker's `--runtime crun` record). No options, or
 * an empty binary_name, is the default: ctl-runtime (runtime-native).
 */
import { invalidArgument } from '@ctl/proto/errors';
import type { Any, Container } from './containers';

export const RUNC_SHIM = 'io.containerd.runc.v2';
export const RUNC_OPTIONS_TYPE = 'containerd.runc.v1.Options';
/** containerd.runc.v1.Options.binary_name */
const BINARY_NAME_FIELD = 6;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** The runtime record of a container run with binaryName ('' for the default). */
export function runtimeRecord(binaryName: string): Container['runtime'] {
  if (!binaryName) return { name: RUNC_SHIM };
  const bytes = Buffer.from(binaryName, 'utf8');
  return { name: RUNC_SHIM, options: { typeUrl: RUNC_OPTIONS_TYPE, value: Buffer.from([...varint((BINARY_NAME_FIELD << 3) | 2), ...varint(bytes.length), ...bytes]) } };
}

/** binary_name of runc options (protobuf); '' when the options are of another type or do not set it. */
export function binaryName(runtime: Container['runtime'] | undefined): string {
  const o: Any | undefined = runtime?.options;
  if (!o || !/(^|\/)containerd\.runc\.v1\.Options$/.test(o.typeUrl)) return '';
  const b = o.value;
  let at = 0;
  let name = '';
  const read = (): number => {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      if (at >= b.length || shift > 28) throw invalidArgument('runtime options: malformed containerd.runc.v1.Options');
      const byte = b[at++]!;
      n += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) return n;
    }
  };
  while (at < b.length) {
    const key = read();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        read();
        break;
      case 1:
        at += 8;
        break;
      case 5:
        at += 4;
        break;
      case 2: {
        const len = read();
        if (at + len > b.length) throw invalidArgument('runtime options: malformed containerd.runc.v1.Options');
        if (field === BINARY_NAME_FIELD) name = b.subarray(at, at + len).toString('utf8');
        at += len;
        break;
      }
      default:
        throw invalidArgument('runtime options: malformed containerd.runc.v1.Options');
    }
  }
  return name;
}
