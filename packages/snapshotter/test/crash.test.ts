/**
 * Crash safety: the service is killed with SIGKILL at random moments while a client prepares,
 * commits and removes snapshots; after each restart the store lists only whole snapshots, and
 * Cleanup leaves on disk exactly what the records point to.
 */
import { WireClient } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { Children, type TempInstance, tempInstance, waitForService } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotsClient } from '../src/client';

const BIN = join(__dirname, '..', '..', '..', '..', 'node_modules', '.bin', 'ctl-snapshotter');
const ROUNDS = 12;

describe('snapshotter crash safety', function () {
  this.timeout(180_000);
  let tmp: TempInstance;
  const children = new Children();
  beforeEach(() => {
    tmp = tempInstance('ctl-crash-');
    ensureDir(tmp.state);
  });
  afterEach(async () => {
    await children.killAll();
    tmp.remove();
  });

  const socket = () => join(tmp.state, 'snap.sock');
  const snapshotsDir = () => join(tmp.root, 'snapshotter', 'overlayfs', 'snapshots');

  async function start() {
    const proc = children.spawn(BIN, ['--socket', socket(), '--root', tmp.root, '--state', tmp.state, '--log-level', 'warn'], {
      ...process.env,
      CTL_SNAPSHOTTER_DRIVERS: 'overlayfs',
    });
    await waitForService(socket());
    return proc;
  }

  it('lists only whole snapshots after kill -9 at random points', async () => {
    let counter = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const proc = await start();
      const wire = new WireClient(socket());
      const s = new SnapshotsClient(wire, 'overlayfs');

      // Every record must point at a whole snapshot: its usage can be measured (its layer
      // exists) and an active one's mounts name directories that exist.
      const names: string[] = [];
      await s.walk((i) => void names.push(i.name));
      for (const name of names) {
        const info = await s.stat(name);
        await s.usage(name);
        if (info.kind !== 'COMMITTED') {
          for (const m of await s.mounts(name)) {
            const dirs = m.type === 'bind' ? [m.source] : m.options.flatMap((o) => o.replace(/^\w+=/, '').split(':'));
            for (const d of dirs) assert.ok(existsSync(d), `${name}: ${d} exists`);
          }
        }
      }
      await s.cleanup();
      const onDisk = existsSync(snapshotsDir()) ? readdirSync(snapshotsDir()) : [];
      assert.equal(onDisk.length, names.length, `round ${round}: ${onDisk.length} on disk for ${names.length} records`);

      // Work until killed: a chain that grows, actives that get committed, old ones removed.
      const killAt = 30 + Math.floor(Math.random() * 250);
      const killer = setTimeout(() => proc.process.kill('SIGKILL'), killAt);
      try {
        for (;;) {
          const n = counter++;
          await s.prepare(`active-${n}`, names.includes('top') && n % 3 === 0 ? 'top' : '');
          if (n % 2 === 0) await s.commit(`committed-${n}`, `active-${n}`);
          if (n % 5 === 0) await s.remove(n % 2 === 0 ? `committed-${n}` : `active-${n}`);
          if (n === 1) {
            await s.prepare('top-active', '');
            await s.commit('top', 'top-active');
          }
        }
      } catch {
        // The kill interrupts the client mid-call.
      } finally {
        clearTimeout(killer);
        wire.close();
      }
      await proc.exited;
    }
  });
});
