/**
 * Interop proof: Debian's `ctr` (containerd 1.6) against containerd-lite's Containers and
 * Events services with containerd's own Go client: `ctr containers ls` (ListStream) with
 * filters, `info` (Get, spec decoded from its Any), `label` (Update with a labels.<key> mask),
 * `rm --keep-snapshot` (Delete), and `ctr events` (Subscribe), which decodes our
 * containerd.events payloads by their type URLs.
 */
import { WireClient } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { Children, type TempInstance, tempInstance, waitFor, waitForService } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ContainersClient } from '../src/containers/client';
import { SPEC_TYPE_URL } from '../src/containers/containers';

const run = promisify(execFile);
const REPO = join(__dirname, '..', '..', '..', '..');
const BIN = join(REPO, 'node_modules', '.bin', 'containerd-lite');

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('ctr containers and events against containerd-lite', function () {
  this.timeout(60_000);
  let tmp: TempInstance;
  let socket: string;
  let wire: WireClient;
  let events: ChildProcess | undefined;
  const children = new Children();
  const ctr = async (...args: string[]): Promise<string> =>
    (await run('ctr', ['--address', socket, '--namespace', 'interop', ...args], { timeout: 20_000 })).stdout;

  before(function () {
    if (!have('ctr')) this.skip(); // tools/setup.sh installs ctr
  });
  beforeEach(async () => {
    tmp = tempInstance('ctl-containers-ctr-');
    ensureDir(tmp.state);
    socket = join(tmp.state, 'containerd-lite.sock');
    children.spawn(BIN, ['--socket', socket, '--root', tmp.root, '--state', tmp.state, '--log-level', 'warn']);
    await waitForService(socket);
    wire = new WireClient(socket);
  });
  afterEach(async () => {
    if (events && events.exitCode === null) events.kill('SIGTERM');
    events = undefined;
    wire?.close();
    await children.stopAll(5000);
    tmp.remove();
  });

  it('lists, shows, labels and removes containers; ctr events decodes what the store publishes', async () => {
    let out = '';
    events = spawn('ctr', ['--address', socket, '--namespace', 'interop', 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    events.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const containers = new ContainersClient(wire, 'interop');
    const spec = { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify({ ociVersion: '1.0.2', process: { args: ['sh'], cwd: '/' } })) };
    // ctr events has no "subscribed" signal: publish until its first line shows up.
    await waitFor('ctr events to subscribe', async () => {
      await containers.create({ id: `probe${Date.now()}`, runtime: { name: 'probe' }, spec });
      return out.includes('/containers/create') ? true : undefined;
    }, 10_000);
    await containers.create({ id: 'web', image: 'docker.io/library/busybox:latest', runtime: { name: 'io.containerd.runc.v2' }, spec, snapshotter: 'native', snapshotKey: 'web', labels: { a: 'b' } });

    const ls = await ctr('containers', 'ls', 'runtime.name==io.containerd.runc.v2');
    assert.match(ls, /^CONTAINER\s+IMAGE\s+RUNTIME/);
    assert.match(ls, /\nweb\s+docker\.io\/library\/busybox:latest\s+io\.containerd\.runc\.v2/);
    assert.doesNotMatch(ls, /probe/);
    const info = JSON.parse(await ctr('containers', 'info', 'web')) as { ID: string; Labels: Record<string, string>; Snapshotter: string; Spec: { process: { args: string[] } } };
    assert.equal(info.ID, 'web');
    assert.equal(info.Snapshotter, 'native');
    assert.deepEqual(info.Spec.process.args, ['sh']);
    await ctr('containers', 'label', 'web', 'x=y');
    assert.deepEqual((await containers.get('web')).labels, { a: 'b', x: 'y' });
    await ctr('containers', 'rm', '--keep-snapshot', 'web');
    assert.deepEqual((await containers.list(['id==web'])), []);

    await waitFor('the events', async () => (out.includes('/containers/delete') ? true : undefined), 10_000);
    const lines = out.split('\n').filter((l) => / web|"web"/.test(l));
    assert.match(lines[0]!, /interop \/containers\/create \{"id":"web","image":"docker.io\/library\/busybox:latest","runtime":\{"name":"io.containerd.runc.v2"\}\}/);
    assert.match(lines[1]!, /interop \/containers\/update \{"id":"web",.*"labels":\{"a":"b","x":"y"\},"snapshot_key":"web"\}/);
    assert.match(lines[2]!, /interop \/containers\/delete \{"id":"web"\}/);
  });
});
