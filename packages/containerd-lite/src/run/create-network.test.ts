import { notFound, unavailable } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { Runner, type RunnerDeps } from './runner';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const blobs = new Map<string, Buffer>([
  [
    'sha256:c',
    Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['true'] }, rootfs: { type: 'layers', diff_ids: [] } }),
    ),
  ],
]);
blobs.set(
  'sha256:m',
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:c', size: blobs.get('sha256:c')!.length },
      layers: [],
    }),
  ),
);

/**
 * Runner.create with its services stood in for (an image without layers): when the container's
 * network is made, and that it goes when the create fails.
 */
function runner(unpackTarget: () => Promise<void>) {
  const events: string[] = [];
  let networkAsked!: () => void;
  const asked = new Promise<void>((resolve) => (networkAsked = resolve));
  const content = {
    info: async (digest: string) => ({ digest, size: blobs.get(digest)!.length }),
    read: async function* (digest: string) {
      yield blobs.get(digest)!;
    },
  };
  const snapshots = {
    prepare: async () => {
      events.push('snapshot prepared');
      return [];
    },
    remove: async () => void events.push('snapshot removed'),
  };
  const deps = {
    content: () => content,
    images: () => ({ get: async () => ({ target: { mediaType: MANIFEST, digest: 'sha256:m', size: blobs.get('sha256:m')!.length } }) }),
    leases: () => ({ createForOperation: async () => ({ id: 'l' }), addResource: async () => undefined, delete: async () => undefined }),
    containers: () => ({
      get: async (id: string) => Promise.reject(notFound(id)),
      create: async () => void events.push('record created'),
    }),
    unpackTarget: async () => {
      await unpackTarget();
      return { content, snapshots, namespace: 'ns', snapshotter: 'overlayfs', hold: async () => undefined };
    },
    locateTask: () => ({ attachSocket: '' }),
    volumes: { usedBy: () => [] },
    tmpRoot: '/tmp',
    cgroupParent: '/ctl',
    networking: {
      setUp: async () => {
        events.push('network made');
        networkAsked();
        return { network: 'none', mounts: [], labels: {}, hostname: 'c1' };
      },
      tearDown: async () => void events.push('network torn down'),
    },
  };
  return { runner: new Runner(deps as unknown as RunnerDeps), events, asked };
}

describe('creating a container: its network', () => {
  const request = { id: 'c1', image: 'busybox', snapshotter: 'overlayfs', labels: {} };

  it('is made while the image is unpacked and the snapshot prepared, not after', async () => {
    // the unpack goes on only once the network was asked for: in sequence this never ends
    const { runner: r, events, asked } = runner(() => asked);
    await r.create('ns', request);
    assert.deepEqual(events, ['network made', 'snapshot prepared', 'record created']);
  });

  it('goes when the create fails after it was made', async () => {
    const {
      runner: r,
      events,
      asked,
    } = runner(async () => {
      await asked;
      throw unavailable('the snapshotter is down');
    });
    await assert.rejects(r.create('ns', request), /snapshotter is down/);
    assert.deepEqual(events, ['network made', 'network torn down']);
  });
});
