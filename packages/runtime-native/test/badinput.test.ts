/** Bad bundles: a clear error naming the field or path, a non-zero exit, nothing left behind. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Runtime, SHIM_BINARY, buildSpec } from '../src';
import type { RuntimeError, Spec } from '../src';
import { type Fixture, assertNoLeftovers, useFixture } from './helpers';

describe('runtime bad input (root, real kernel)', function () {
  let fx!: Fixture;
  useFixture((f) => (fx = f));

  /** A valid spec for id, edited as raw JSON (so the TypeScript validator is bypassed). */
  function spec(id: string, edit: (s: Spec & Record<string, unknown>) => void): string {
    const s = buildSpec({ Env: ['PATH=/bin'] }, { id, cmd: ['true'], rootfs: fx.rootfs }) as Spec & Record<string, unknown>;
    edit(s);
    return JSON.stringify(s);
  }

  async function createFails(id: string, configText: string, expected: RegExp): Promise<void> {
    const b = fx.rawBundle(id, configText);
    // Runtime.create detaches the init's stdio, so an unexpected success cannot hang the test
    await assert.rejects(fx.runtime.create(id, b), (err: RuntimeError) => {
      assert.match(err.message, expected);
      assert.notEqual(err.details.exitCode, 0);
      return true;
    });
    assertNoLeftovers(id, fx);
  }

  it('a runtime that fails without logging: the shim says its code and its last stderr line, or that no pid came', async () => {
    const fake = (name: string, body: string): string => fx.script(name, body);
    const cases: [string, RegExp][] = [
      [
        'echo "first line" >&2; echo "the fake runtime broke" >&2; exit 4',
        /create \S+: container create failed: err 4 the fake runtime broke$/,
      ],
      ['exit 0', /container create failed: err 6 the runtime exited 0 but \S+init\.pid holds no pid \(open: No such file or directory\)/],
    ];
    for (const [i, [body, expected]] of cases.entries()) {
      const rt = new Runtime({ root: fx.runtime.root, runtimeBinary: fake(`fake-runtime-${i}`, body), shimBinary: SHIM_BINARY });
      const id = fx.id();
      const b = fx.rawBundle(id, '{}');
      await assert.rejects(rt.createWithShim(id, b), (err: RuntimeError) => expected.test(err.message.trim()) || assert.fail(err.message));
    }
  });

  it('malformed config.json', async () => {
    const id = fx.id();
    await createFails(id, '{"ociVersion": "1.0.2", "root": ', /config\.json: malformed JSON at line 1/);
  });

  it('missing rootfs', async () => {
    const id = fx.id();
    await createFails(
      id,
      spec(id, (s) => (s.root.path = '/nonexistent/rootfs')),
      /root\.path: rootfs \/nonexistent\/rootfs: No such file or directory/,
    );
  });

  it('unknown namespace type', async () => {
    const id = fx.id();
    await createFails(
      id,
      spec(id, (s) => s.linux!.namespaces!.push({ type: 'bogus' as never })),
      /linux\.namespaces\[5\]\.type: unknown namespace type "bogus"/,
    );
  });

  it('bad uid mapping (invalid entry)', async () => {
    const id = fx.id();
    const text = spec(id, (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 0 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 1 }];
    });
    await createFails(id, text, /linux\.uidMappings\[0\]: invalid mapping/);
  });

  it('bad uid mapping (refused by the kernel after the cgroup was made)', async () => {
    const id = fx.id();
    const text = spec(id, (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [
        { containerID: 0, hostID: 100000, size: 10 },
        { containerID: 5, hostID: 300000, size: 10 },
      ];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 10 }];
    });
    await createFails(id, text, /linux\.uidMappings: write \/proc\/\d+\/uid_map: Invalid argument/);
  });

  it('missing bind mount source', async () => {
    const id = fx.id();
    const text = spec(id, (s) => s.mounts!.push({ destination: '/data', type: 'bind', source: '/nonexistent/src', options: ['rbind'] }));
    await createFails(id, text, /mounts\[7\]\.source: bind source \/nonexistent\/src for \/data: No such file or directory/);
  });

  it('an rlimit above the hard limit fails clearly (no crash)', async function () {
    const id = fx.id();
    const hard = Number(/Max open files\s+\d+\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1]);
    const text = spec(id, (s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: hard * 2 }]));
    const capEff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
    if ((capEff >> 24n) & 1n) this.skip(); // CAP_SYS_RESOURCE: this host may raise it
    await createFails(
      id,
      text,
      /process\.rlimits\[0\] \(RLIMIT_NOFILE\): setrlimit hard=\d+ above the current hard limit \d+ needs CAP_SYS_RESOURCE/,
    );
  });

  it('an existing id, an unknown container and a bad id are recognisable runc errors', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['true']);
    await fx.runtime.create(id, b);
    await assert.rejects(fx.runtime.create(id, b), /container with given ID already exists/);
    const missing = await fx.runtime.command(['delete', 'no-such-container']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /does not exist/);
    const bad = await fx.runtime.command(['state', '../etc']);
    assert.match(bad.stderr, /invalid container ID format/);
    const badKill = await fx.runtime.command(['kill', id, 'SIGNOPE']);
    assert.match(badKill.stderr, /unknown signal/);
    await fx.runtime.delete(id);
  });

  it('writes runc-style JSON error lines to --log', async () => {
    const id = fx.id();
    const b = fx.rawBundle(id, '{');
    const log = path.join(b, 'log.json');
    const r = await fx.runtime.command(['--log', log, '--log-format', 'json', 'create', '--bundle', b, id]);
    assert.notEqual(r.code, 0);
    const line = JSON.parse(fs.readFileSync(log, 'utf8').trim().split('\n').at(-1)!) as { level: string; msg: string; time: string };
    assert.equal(line.level, 'error');
    assert.match(line.msg, /malformed JSON/);
    assert.ok(!Number.isNaN(Date.parse(line.time)));
  });
});
