/**
 * For the interop suites that drive containerd-lite with Debian's `ctr`: a containerd-lite
 * process (the real binary) on a temp instance for each test, stopped and removed after it, and
 * `ctr` pointed at its socket in namespace "interop". The suite is skipped without ctr.
 */
import { WireClient } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { Children, type TempInstance, haveCommand, tempInstance, waitForService } from '@ctl/proto/testing';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = join(__dirname, '..', '..', '..', '..', 'node_modules', '.bin', 'containerd-lite');

export interface CtrInterop {
  readonly tmp: TempInstance;
  readonly socket: string;
  readonly wire: WireClient;
  /** ctr's stdout for `ctr --address <socket> --namespace interop ARGS…`. */
  ctr(...args: string[]): Promise<string>;
}

export function useCtrInterop(prefix: string, needs: string[] = []): CtrInterop {
  let tmp: TempInstance | undefined;
  let wire: WireClient | undefined;
  const children = new Children();
  const state: CtrInterop = {
    get tmp() {
      return tmp!;
    },
    get socket() {
      return join(tmp!.state, 'containerd-lite.sock');
    },
    get wire() {
      return wire!;
    },
    ctr: async (...args) =>
      (await run('ctr', ['--address', state.socket, '--namespace', 'interop', ...args], { timeout: 20_000, maxBuffer: 64 << 20 })).stdout,
  };
  before(function () {
    // tools/setup.sh installs ctr; without it there is nothing to prove against
    if (![...needs, 'ctr'].every(haveCommand)) this.skip();
  });
  beforeEach(async () => {
    tmp = tempInstance(prefix);
    ensureDir(tmp.state);
    children.spawn(BIN, ['--socket', state.socket, '--root', tmp.root, '--state', tmp.state, '--log-level', 'warn']);
    await waitForService(state.socket);
    wire = new WireClient(state.socket);
  });
  afterEach(async () => {
    wire?.close();
    await children.stopAll(5000);
    tmp?.remove();
  });
  return state;
}
