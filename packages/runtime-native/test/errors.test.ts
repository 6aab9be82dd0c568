/**
 * The error-kind contract of ctl-runtime: its exit code is the kind (src/native/kinds.h), which
 * arrives as the engine's ErrorKind on an EngineError, with no look at the message. Messages are
 * matched only for foreign runtimes (runc, crun), which exit 1 whatever failed.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError, ErrorKind, ErrorReason, errorReason } from '@ctl/proto/errors';
import { NATIVE_EXIT, Runtime, RuntimeError, SHIM_BINARY } from '../src';
import { type Fixture, useFixture } from './helpers';

/** The rejection of p, which must be a RuntimeError (and so an EngineError). */
async function rejection(p: Promise<unknown>): Promise<RuntimeError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RuntimeError, `not a RuntimeError: ${String(err)}`);
    assert.ok(err instanceof EngineError, 'a RuntimeError is an EngineError');
    return err;
  }
  return assert.fail('expected a rejection');
}

describe('runtime error kinds (root, real kernel)', function () {
  let fx!: Fixture;
  useFixture((f) => (fx = f));

  it('state of a missing container: NotFound', async () => {
    const err = await rejection(fx.runtime.state(`${fx.id()}-missing`));
    assert.equal(err.kind, ErrorKind.NotFound);
    assert.equal(err.details.exitCode, NATIVE_EXIT.NotFound);
  });

  it('create of an id that exists: AlreadyExists', async () => {
    const id = fx.id();
    await fx.runtime.create(id, fx.bundle(id, ['sleep', '100']));
    const err = await rejection(fx.runtime.create(id, fx.bundle(id, ['sleep', '100'])));
    assert.equal(err.kind, ErrorKind.AlreadyExists);
    assert.equal(err.details.exitCode, NATIVE_EXIT.AlreadyExists);
  });

  it('kill of a stopped container: FailedPrecondition', async () => {
    const id = fx.id();
    await fx.runtime.create(id, fx.bundle(id, ['true']));
    await fx.runtime.start(id);
    for (;;) {
      if ((await fx.runtime.state(id)).status === 'stopped') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const err = await rejection(fx.runtime.kill(id, 'KILL'));
    assert.equal(err.kind, ErrorKind.FailedPrecondition);
    assert.equal(err.details.exitCode, NATIVE_EXIT.FailedPrecondition);
  });

  it('an invalid config.json, also through the shim: InvalidArgument, and the log line says so', async () => {
    const id = fx.id();
    const bundle = fx.rawBundle(id, '{"ociVersion": "1.0.2"}');
    const direct = await rejection(fx.runtime.create(id, bundle));
    assert.equal(direct.kind, ErrorKind.InvalidArgument);
    assert.equal(direct.details.exitCode, NATIVE_EXIT.InvalidArgument);
    fs.rmSync(path.join(bundle, 'runtime.log'), { force: true });
    const shimmed = await rejection(fx.runtime.createWithShim(id, bundle));
    assert.equal(shimmed.kind, ErrorKind.InvalidArgument);
    const last = fs.readFileSync(path.join(bundle, 'runtime.log'), 'utf8').trim().split('\n').pop()!;
    assert.equal((JSON.parse(last) as { kind?: string }).kind, 'InvalidArgument');
  });

  it("a command that cannot run: the reason (CommandNotFound, CommandNotExecutable) in the log line, in docker's words", async () => {
    for (const [cmd, reason, kind, words] of [
      ['no-such-command', ErrorReason.CommandNotFound, ErrorKind.NotFound, 'exec: "no-such-command": executable file not found in $PATH'],
      ['/etc/passwd', ErrorReason.CommandNotExecutable, ErrorKind.PermissionDenied, 'exec: "/etc/passwd": permission denied'],
    ] as const) {
      const id = fx.id();
      const bundle = fx.bundle(id, [cmd]);
      const err = await rejection(fx.runtime.createWithShim(id, bundle));
      assert.deepEqual([err.kind, errorReason(err), err.message], [kind, reason, `create ${id}: ${words}`], cmd);
      const last = JSON.parse(fs.readFileSync(path.join(bundle, 'runtime.log'), 'utf8').trim().split('\n').pop()!) as { reason?: string };
      assert.equal(last.reason, reason);
    }
  });

  describe('the kind comes from the exit code, not from the words', () => {
    const fake = (name: string, body: string): string => fx.script(name, body);

    it("ctl-runtime: a message of one kind with the exit code of another gets the code's kind", async () => {
      const bin = fake(
        'says-missing-exits-exists',
        `echo "ctl-runtime: container x does not exist" >&2; exit ${NATIVE_EXIT.AlreadyExists}`,
      );
      const rt = new Runtime({ root: fx.runtime.root, runtimeBinary: bin, shimBinary: SHIM_BINARY });
      assert.equal((await rejection(rt.state('x'))).kind, ErrorKind.AlreadyExists);
      assert.equal((await rejection(rt.createWithShim(fx.id(), fx.rawBundle(fx.id(), '{}')))).kind, ErrorKind.AlreadyExists);
    });

    it('runc and crun (exit 1 for everything): the message decides', async () => {
      const bin = fake('foreign', 'echo \'time="x" level=error msg="container x does not exist"\' >&2; exit 1');
      const rt = new Runtime({ root: fx.runtime.root, runtimeBinary: bin, shimBinary: SHIM_BINARY, flavor: 'runc' });
      assert.equal((await rejection(rt.state('x'))).kind, ErrorKind.NotFound);
    });

    it("runc and crun: a command that cannot run is told by Go's exec.LookPath words", async () => {
      const says = (msg: string) => fake(`says-${msg.length}`, `echo 'time="x" level=error msg="${msg}"' >&2; exit 1`);
      for (const [msg, reason] of [
        [
          'runc create failed: unable to start container process: exec: \\"nosuch\\": executable file not found in $PATH',
          ErrorReason.CommandNotFound,
        ],
        ['unable to start container process: exec: \\"/etc/passwd\\": permission denied', ErrorReason.CommandNotExecutable],
        ['executable file `nosuch` not found in $PATH: No such file or directory', ErrorReason.CommandNotFound],
        ['mount proc: permission denied', undefined],
      ] as const) {
        const rt = new Runtime({ root: fx.runtime.root, runtimeBinary: says(msg), shimBinary: SHIM_BINARY, flavor: 'runc' });
        assert.equal(errorReason(await rejection(rt.state('x'))), reason, msg);
      }
    });
  });
});
