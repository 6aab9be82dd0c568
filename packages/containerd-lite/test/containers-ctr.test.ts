/**
 * Interop proof: Debian's `ctr` (containerd 1.6) against containerd-lite's Containers and
 * Events services with containerd's own Go client: `ctr containers ls` (ListStream) with
 * filters, `info` (Get, spec decoded from its Any), `label` (Update with a labels.<key> mask),
 * `rm --keep-snapshot` (Delete), and `ctr events` (Subscribe), which decodes our
 * containerd.events payloads by their type URLs.
 */
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { type ChildProcess, spawn } from 'node:child_process';
import { ContainersClient } from '../src/containers/client';
import { SPEC_TYPE_URL } from '../src/containers/containers';
import { useCtrInterop } from './ctr-interop';

describe('ctr containers and events against containerd-lite', function () {
  this.timeout(60_000);
  const interop = useCtrInterop('ctl-containers-ctr-');
  const { ctr } = interop;
  let events: ChildProcess | undefined;

  afterEach(() => {
    if (events && events.exitCode === null) events.kill('SIGTERM');
    events = undefined;
  });

  it('lists, shows, labels and removes containers; ctr events decodes what the store publishes', async () => {
    let out = '';
    events = spawn('ctr', ['--address', interop.socket, '--namespace', 'interop', 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    events.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const containers = new ContainersClient(interop.wire, 'interop');
    const spec = {
      typeUrl: SPEC_TYPE_URL,
      value: Buffer.from(JSON.stringify({ ociVersion: '1.0.2', process: { args: ['sh'], cwd: '/' } })),
    };
    // ctr events has no "subscribed" signal: publish until its first line shows up.
    await waitFor(
      'ctr events to subscribe',
      async () => {
        await containers.create({ id: `probe${Date.now()}`, runtime: { name: 'probe' }, spec });
        return out.includes('/containers/create') ? true : undefined;
      },
      10_000,
    );
    await containers.create({
      id: 'web',
      image: 'docker.io/library/busybox:latest',
      runtime: { name: 'io.containerd.runc.v2' },
      spec,
      snapshotter: 'native',
      snapshotKey: 'web',
      labels: { a: 'b' },
    });

    const ls = await ctr('containers', 'ls', 'runtime.name==io.containerd.runc.v2');
    assert.match(ls, /^CONTAINER\s+IMAGE\s+RUNTIME/);
    assert.match(ls, /\nweb\s+docker\.io\/library\/busybox:latest\s+io\.containerd\.runc\.v2/);
    assert.doesNotMatch(ls, /probe/);
    const info = JSON.parse(await ctr('containers', 'info', 'web')) as {
      ID: string;
      Labels: Record<string, string>;
      Snapshotter: string;
      Spec: { process: { args: string[] } };
    };
    assert.equal(info.ID, 'web');
    assert.equal(info.Snapshotter, 'native');
    assert.deepEqual(info.Spec.process.args, ['sh']);
    await ctr('containers', 'label', 'web', 'x=y');
    assert.deepEqual((await containers.get('web')).labels, { a: 'b', x: 'y' });
    await ctr('containers', 'rm', '--keep-snapshot', 'web');
    assert.deepEqual(await containers.list(['id==web']), []);

    await waitFor('the events', async () => (out.includes('/containers/delete') ? true : undefined), 10_000);
    const lines = out.split('\n').filter((l) => / web|"web"/.test(l));
    assert.match(
      lines[0]!,
      /interop \/containers\/create \{"id":"web","image":"docker.io\/library\/busybox:latest","runtime":\{"name":"io.containerd.runc.v2"\}\}/,
    );
    assert.match(lines[1]!, /interop \/containers\/update \{"id":"web",.*"labels":\{"a":"b","x":"y"\},"snapshot_key":"web"\}/);
    assert.match(lines[2]!, /interop \/containers\/delete \{"id":"web"\}/);
  });
});
