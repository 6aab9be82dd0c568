/**
 * The two-stage fork's messages in the order a busy host can deliver them: the container's
 * init (stage 2) reports READY before stage 1, which forked it, has sent its pid. strace holds
 * every fork's return in its parent, so stage 2 runs ahead of stage 1 each time. Before the
 * runtime waited for stage 1's message, create exited 0 with -1 in the pid file and state.json
 * (about 1 create in 350 under load: "the runtime exited 0 but …/init.pid holds no pid").
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RUNTIME_BINARY } from '../src/native';
import { type Fixture, processAlive, useFixture } from './helpers';

const STRACE = '/usr/bin/strace';

describe('ctl-runtime create when the init is ready before stage 1 reports its pid (root, real kernel)', function () {
  this.timeout(60_000);
  let fx!: Fixture;
  useFixture((f) => (fx = f));
  before(function () {
    if (!fs.existsSync(STRACE)) this.skip();
  });

  for (const verb of ['create', 'exec'] as const) {
    it(`${verb} writes the init's pid, never -1`, async () => {
      const id = fx.id();
      const bundle = fx.bundle(id, ['sleep', '300']);
      const pidFile = path.join(fx.dir, `${id}.${verb}.pid`);
      const runtime = [RUNTIME_BINARY, '--root', path.join(fx.dir, 'state')];
      // 0.3 s on the way back from each clone in the caller: the child runs alone meanwhile. -D:
      // strace is no parent of the runtime, which returns at once (strace follows the waiting
      // init until the cleanup's delete kills it, then exits)
      const strace = [STRACE, '-D', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=clone', '-e', 'inject=clone:delay_exit=300000'];
      const create = ['create', '--bundle', bundle, '--pid-file', pidFile, id];
      const exec = ['exec', '--detach', '--pid-file', pidFile, id, 'sleep', '300'];
      if (verb === 'exec') execFileSync(runtime[0]!, [...runtime.slice(1), ...create], { stdio: 'ignore' });
      execFileSync(strace[0]!, [...strace.slice(1), ...runtime, ...(verb === 'create' ? create : exec)], { stdio: 'ignore' });
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      assert.ok(pid > 1 && processAlive(pid), `the pid file holds ${pid}`);
      if (verb === 'create') assert.equal((await fx.runtime.state(id)).pid, pid);
    });
  }
});
