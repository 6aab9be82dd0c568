/**
 * Extended attributes through a build against a real containerd-lite (root, real kernel,
 * overlayfs): a context file's user.test and security.capability (pax SCHILY.xattr records in
 * the context tar) survive the context's extraction, COPY from the context, COPY --from a stage
 * and --from an image, reach the layers ctl-diff writes as SCHILY.xattr records, and are on the
 * files of a container of the image. A context extracted over the last one (context_key) gets
 * a changed attribute, and COPY's cache key sees the change.
 */
import { getXattr, listXattrs } from '@ctl/runtime-native/xattr';
import { withReadonlyTempMount } from '@ctl/runtime-native/mount';
import { strict as assert } from 'node:assert';
import { gunzipSync } from 'node:zlib';
import { TarReader } from '../src/build/tar-reader';
import type { Manifest } from '../src/oci';
import { RunnerClient } from '../src/run/client';
import { TasksClient } from '../src/tasks/client';
import { steps, useBuildEngine } from './build-engine';

/** cap_net_raw+ep as setcap writes it: VFS_CAP_REVISION_2 with the effective flag, permitted bit 13. */
const NET_RAW_CAP = Buffer.from([0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

describe('ctl build: extended attributes (root, real kernel)', function () {
  this.timeout(120_000);
  const engine = useBuildEngine('xattr');

  async function blob(digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of engine.inst.content(engine.ns).read(digest)) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  }

  /** Each layer's entries that carry attributes: name → attributes. */
  async function layerXattrs(name: string): Promise<Map<string, Map<string, Buffer>>[]> {
    const image = await engine.inst.images(engine.ns).get(name);
    const manifest = JSON.parse((await blob(image.target.digest)).toString()) as Manifest;
    const out: Map<string, Map<string, Buffer>>[] = [];
    for (const layer of manifest.layers) {
      const entries = new Map<string, Map<string, Buffer>>();
      for (const e of new TarReader().push(gunzipSync(await blob(layer.digest))))
        if ('header' in e && e.header.xattrs) entries.set(e.header.name, e.header.xattrs);
      out.push(entries);
    }
    return out;
  }

  /** Runs cmd in a container of the image; its exit status and the attributes of paths on its rootfs. */
  async function runAndRead(image: string, cmd: string[], paths: string[]): Promise<{ status: number; xattrs: Record<string, string>[] }> {
    const runner = new RunnerClient(engine.inst.wire, engine.ns);
    const tasks = new TasksClient(engine.inst.wire, engine.ns);
    const created = await runner.create({ image, config: { process: { cmd } }, snapshotter: 'overlayfs' });
    try {
      await tasks.create(created.id, { rootfs: created.rootfs });
      const exited = tasks.wait(created.id);
      await tasks.start(created.id);
      const { exitStatus } = await exited;
      await tasks.delete(created.id);
      const xattrs = await withReadonlyTempMount(created.rootfs, engine.inst.tmp.base, (root) =>
        paths.map((p) => Object.fromEntries(listXattrs(`${root}${p}`).map((n) => [n, getXattr(`${root}${p}`, n)!.toString('hex')]))),
      );
      return { status: exitStatus, xattrs };
    } finally {
      await runner.remove(created.id, true);
    }
  }

  const context = {
    tagged: { data: 'tagged\n', xattrs: { 'user.test': 'hello' } },
    ping: { data: '#!/bin/sh\necho ping\n', mode: 0o755, xattrs: { 'security.capability': NET_RAW_CAP.toString('latin1') } },
    'dir/inner': { data: 'inner\n' },
  };

  it('keeps user.* and security.capability through the context, COPY, COPY --from a stage and an image, the layers and a container', async () => {
    await engine.build('FROM busybox\nCOPY ping /image/ping\n', context, { tags: ['example.com/xattr:source'] });
    await engine.build(
      [
        'FROM busybox AS stage',
        'COPY ping /stage/ping',
        'COPY tagged /stage/tagged',
        'FROM busybox',
        'COPY tagged /tagged',
        'COPY --from=stage /stage/ping /from-stage',
        'COPY --from=stage /stage/ /stage-dir/',
        'COPY --from=example.com/xattr:source /image/ping /from-image',
        '',
      ].join('\n'),
      context,
      { tags: ['example.com/xattr:1'] },
    );
    const layers = await layerXattrs('example.com/xattr:1');
    const top = layers.slice(-4);
    assert.deepEqual(
      top.map((l) => [...l.keys()]),
      [['tagged'], ['from-stage'], ['stage-dir/ping', 'stage-dir/tagged'], ['from-image']],
    );
    assert.deepEqual(top[0]!.get('tagged'), new Map([['user.test', Buffer.from('hello')]]));
    for (const [layer, name] of [
      [top[1]!, 'from-stage'],
      [top[2]!, 'stage-dir/ping'],
      [top[3]!, 'from-image'],
    ] as const)
      assert.deepEqual(layer.get(name), new Map([['security.capability', NET_RAW_CAP]]), name);

    const ran = await runAndRead(
      'example.com/xattr:1',
      ['sh', '-c', 'test -x /from-stage && grep -qx tagged /tagged'],
      ['/tagged', '/from-stage', '/stage-dir/tagged', '/from-image'],
    );
    assert.equal(ran.status, 0);
    const cap = NET_RAW_CAP.toString('hex');
    assert.deepEqual(ran.xattrs, [
      { 'user.test': Buffer.from('hello').toString('hex') },
      { 'security.capability': cap },
      { 'user.test': Buffer.from('hello').toString('hex') },
      { 'security.capability': cap },
    ]);
  });

  it('a changed attribute in a context extracted over the last one: COPY runs again and copies the new value', async () => {
    const dockerfile = 'FROM busybox\nCOPY tagged /tagged\n';
    const options = { tags: ['example.com/xattr:reuse'], contextKey: `xattr-${process.hrtime.bigint()}` };
    await engine.build(dockerfile, context, options);
    const again = await engine.build(dockerfile, context, options);
    assert.ok(steps(again).find((s) => s.name.includes('COPY'))!.cached, 'unchanged: cached');
    const changed = await engine.build(dockerfile, { ...context, tagged: { data: 'tagged\n', xattrs: { 'user.other': 'v2' } } }, options);
    assert.equal(steps(changed).find((s) => s.name.includes('COPY'))!.cached, false, 'the attribute changed: run again');
    const layers = await layerXattrs('example.com/xattr:reuse');
    assert.deepEqual(layers.at(-1)!.get('tagged'), new Map([['user.other', Buffer.from('v2')]]), 'the old attribute is gone');
  });
});
