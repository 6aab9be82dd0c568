/**
 * exec and attach end to end, as root on the real kernel: users by name, live output, terminals
 * driven through a real pty, run --init's PID 1, and the gRPC Attach stream.
 */
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useEngine } from './engine';

describe('ctl exec, attach and --init', function () {
  this.timeout(120_000);
  const engine = useEngine('exec');
  const { run, ok } = engine;

  it('--init: docker-init is PID 1, the command its child; exit codes pass through', () => {
    const out = ok('run', '--rm', '--init', 'busybox', 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline; echo; echo $$');
    const [pid1, self] = out.trim().split('\n');
    assert.equal(pid1!.trim(), '/sbin/docker-init -- sh -c tr "\\0" " " </proc/1/cmdline; echo; echo $$');
    assert.notEqual(self, '1');
    assert.equal(run('run', '--rm', '--init', 'busybox', 'sh', '-c', 'exit 3').code, 3);
    // docker-init is read-only in the container
    assert.notEqual(run('run', '--rm', '--init', 'busybox', 'sh', '-c', 'echo x > /sbin/docker-init').code, 0);
  });

  it('--init reaps orphans and passes SIGTERM on; without it, a PID 1 that does neither leaves zombies and must be killed', async () => {
    // The inner sh leaves an orphan (sleep 0.5) to PID 1; then the command becomes a sleep.
    const cmd = 'sh -c "sleep 0.5 &"; touch /tmp/ready; exec sleep 300';
    const procs = (id: string): string => ok('exec', id, 'ps', '-o', 'pid,stat,args');
    // PID 1's own command line names the orphan too
    const others = (id: string): string[] => procs(id).split('\n').filter((l) => !/^\s*1 /.test(l));
    ok('run', '-d', '--name', 'plain', 'busybox', 'sh', '-c', cmd);
    ok('run', '-d', '--init', '--name', 'inited', 'busybox', 'sh', '-c', cmd);
    for (const id of ['plain', 'inited']) await waitFor(`${id} ready`, () => run('exec', id, 'test', '-e', '/tmp/ready').code === 0, 10_000, 200);
    // sleep as PID 1 never waits: the orphan stays a zombie.
    await waitFor('a zombie under a plain PID 1', () => others('plain').some((l) => / Z +\[?sleep/.test(l)), 10_000, 200);
    // docker-init waits for it: it goes away entirely.
    await waitFor('the orphan reaped under --init', () => !others('inited').some((l) => /sleep 0\.5| Z /.test(l)), 10_000, 200);
    assert.match(procs('inited'), /^\s*1 .*\/sbin\/docker-init -- sh -c/m);
    // SIGTERM: docker-init forwards it to sleep, which dies of it (143); PID 1 sleep ignores it (137 after the timeout).
    ok('stop', '-t', '30', 'inited');
    assert.match(ok('ps', '-a'), /inited .*Exited \(143\)/);
    ok('stop', '-t', '1', 'plain');
    assert.match(ok('ps', '-a'), /plain .*Exited \(137\)/);
  });

  it('exec -u takes names from the container\'s /etc/passwd and /etc/group; an unknown one is 126', () => {
    ok('run', '-d', '--name', 'users', 'busybox', 'sleep', '300');
    assert.equal(ok('exec', '-u', 'nobody', 'users', 'sh', '-c', 'echo $(id -u) $(id -g)'), '65534 65534\n');
    assert.equal(ok('exec', '-u', 'nobody:root', 'users', 'sh', '-c', 'echo $(id -u) $(id -g)'), '65534 0\n');
    assert.equal(ok('exec', '-u', '123:456', 'users', 'sh', '-c', 'echo $(id -u) $(id -g)'), '123 456\n');
    const unknown = run('exec', '-u', 'nosuch', 'users', 'id');
    assert.equal(unknown.code, 126);
    assert.equal(unknown.stderr, 'ctl exec: unable to find user nosuch: no matching entries in passwd file\n');
    const group = run('exec', '-u', 'nobody:nosuch', 'users', 'id');
    assert.equal(group.code, 126);
    assert.match(group.stderr, /unable to find group nosuch: no matching entries in group file/);
    // The container makes /etc/passwd a link to the host's: it resolves inside the container.
    ok('exec', 'users', 'sh', '-c', 'mkdir -p /x/etc && echo ghost:x:4242:4242::/:/bin/sh > /x/etc/passwd && rm /etc/passwd && ln -s /x/etc/passwd /etc/passwd');
    assert.equal(ok('exec', '-u', 'ghost', 'users', 'id', '-u'), '4242\n');
    // A link to a host file the container has no copy of: it must not be read.
    const hostFile = join(engine.instance.base, 'passwd-on-the-host');
    writeFileSync(hostFile, 'intruder:x:4444:4444::/:/bin/sh\n');
    ok('exec', 'users', 'sh', '-c', `rm /etc/passwd && ln -s ../../../../../..${hostFile} /etc/passwd`);
    const escaped = run('exec', '-u', 'intruder', 'users', 'id', '-u');
    assert.equal(escaped.code, 126, escaped.stdout);
    assert.match(escaped.stderr, /unable to find user intruder/);
  });
});
