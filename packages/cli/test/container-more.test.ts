/**
 * pause/unpause, top, stats, restart, events, container prune and commit end to end, as root on
 * the real kernel, from the busybox image that tools/busybox-image.sh makes.
 */
import { serviceSocket } from '@ctl/proto';
import { haveCommand, waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { useEngine } from './engine';
import { CTL } from './helpers';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ctl pause, top, stats, restart, events, container prune, commit', function () {
  this.timeout(60_000);
  const engine = useEngine('more');
  const { ns, env, run, ok, containers } = engine;
  const pidOf = (id: string): number => (JSON.parse(ok('inspect', id)) as { State: { Pid: number } }[])[0]!.State.Pid;

  it('pauses a container (its counter stands still, ps says Paused) and unpauses it', async () => {
    ok('run', '-d', '--name', 'counter', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done');
    const count = (): number => ok('logs', 'counter').split('\n').filter(Boolean).length;
    await waitFor('the counter to count', () => count() > 2 || undefined, 5000);
    assert.equal(ok('pause', 'counter'), 'counter\n');
    assert.match(ok('ps'), /counter .*Up \(Paused\)/);
    const paused = count();
    await sleep(500);
    assert.equal(count(), paused, 'a paused container counted on');
    const again = run('pause', 'counter');
    assert.deepEqual([again.code, again.stderr], [1, 'ctl pause: counter: is already paused\n']);
    assert.equal(ok('unpause', 'counter'), 'counter\n');
    await waitFor('the counter to go on', () => count() > paused || undefined, 5000);
    assert.match(ok('ps'), /counter .*Up\s*$/m);
    assert.equal(run('unpause', 'counter').code, 1);
  });

  it('shows the processes (top) and usage (stats --no-stream) of a container, and restarts it with a new pid', () => {
    ok('run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '300');
    const pid = pidOf('sleeper');
    const topOut = ok('top', 'sleeper').split('\n');
    assert.match(topOut[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.match(topOut[1]!, new RegExp(`^root\\s+${pid}\\s+\\d+\\s+\\d+\\s+\\S+\\s+\\?\\s+\\d\\d:\\d\\d:\\d\\d\\s+sleep 300$`));

    const table = ok('stats', '--no-stream', 'sleeper').split('\n');
    assert.match(table[0]!, /^CONTAINER ID\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    assert.match(table[1]!, /^sleeper\s+\d+\.\d\d%\s+[\d.]+(B|KiB|MiB) \/ [\d.]+(MiB|GiB)\s+\d+\.\d\d%\s+0B \/ 0B\s+\S+ \/ \S+\s+1$/);
    const [json] = JSON.parse(ok('stats', '--no-stream', '--format', 'json')) as {
      id: string;
      memoryUsage: number;
      memoryLimit: number;
      pids: number;
    }[];
    assert.equal(json!.id, 'sleeper');
    assert.ok(json!.memoryUsage > 0 && json!.memoryLimit > json!.memoryUsage, JSON.stringify(json));

    assert.equal(ok('restart', '-t', '0', 'sleeper'), 'sleeper\n');
    const after = pidOf('sleeper');
    assert.ok(after > 0 && after !== pid, `pid ${pid} then ${after}`);
    assert.match(ok('ps'), /sleeper .*Up/);
    assert.equal(run('top', 'no-such').code, 1);
    ok('stop', '-t', '0', 'sleeper');
    assert.match(ok('stats', '--no-stream', 'sleeper').split('\n')[1]!, /^sleeper\s+0\.00%\s+0B \/ 0B\s+0\.00%\s+0B \/ 0B\s+0B \/ 0B\s+0$/);
    assert.match(ok('container', 'rm', '--help'), /^Usage: ctl rm/);
    assert.match(ok('container', '--help'), /^Usage: ctl container COMMAND/);
  });

  it('streams stats every second until Ctrl-C, and commits a running container (paused meanwhile, running after)', async () => {
    ok('run', '-d', '--name', 'busy', 'busybox', 'sh', '-c', 'echo made > /made; sleep 300');
    const child = spawn(
      process.execPath,
      [CTL, '--root', engine.instance.root, '--state', engine.instance.state, 'stats', '--format', 'json', 'busy'],
      { env: { ...process.env, CTL_NO_AUTOSTART: '', ...env } },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('two refreshes', () => out.split('\n').filter(Boolean).length >= 2 || undefined, 10_000);
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0);
    for (const line of out.split('\n').filter(Boolean)) assert.equal((JSON.parse(line) as { id: string }[])[0]!.id, 'busy');

    ok('commit', 'busy', 'busy:snap');
    assert.match(ok('ps'), /busy .*Up\s*$/m);
    assert.equal(ok('run', '--rm', 'busy:snap', 'cat', '/made'), 'made\n');
    ok('image', 'rm', 'busy:snap');
  });

  it('prints the events of a run: /containers/create and /tasks/exit; filters by type', async () => {
    const follow = (...args: string[]): { child: ChildProcess; out: () => string } => {
      const child = spawn(process.execPath, [CTL, '--root', engine.instance.root, '--state', engine.instance.state, 'events', ...args], {
        env: { ...process.env, CTL_NO_AUTOSTART: '', ...env },
      });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      return { child, out: () => out };
    };
    const all = follow();
    const images = follow('--filter', 'type=image');
    const exits = follow('--filter', 'event=die', '--filter', 'type=task');
    const formatted = follow('--filter', 'event=die', '--format', '{{.Type}} {{.Action}} {{.ID}} {{json .Event.exitStatus}}');
    // No readiness line to wait for: the subscriptions are made within a moment.
    await sleep(1500);
    ok('run', '--rm', '--name', 'evented', 'busybox', 'true');
    await waitFor('the exit event', () => /\/tasks\/exit/.test(all.out()) || undefined, 10_000);
    await waitFor('the filtered exit event', () => /\/tasks\/exit/.test(exits.out()) || undefined, 10_000);
    await waitFor('the formatted exit event', () => formatted.out() || undefined, 10_000);
    await sleep(200);
    for (const f of [all, images, exits, formatted]) f.child.kill('SIGINT');
    await Promise.all(
      [all, images, exits, formatted].map((f) => new Promise((r) => (f.child.exitCode !== null ? r(null) : f.child.once('exit', r)))),
    );
    const lines = all.out().split('\n').filter(Boolean);
    const create = lines.find((l) => l.includes(' /containers/create '));
    assert.match(create ?? '', new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z /containers/create ${ns} \\{.*"id":"evented"`));
    assert.match(lines.find((l) => l.includes(' /tasks/exit ')) ?? '', /"containerId":"evented"/);
    assert.equal(images.out(), '', 'type=image shows no container events');
    assert.equal(formatted.out(), 'task exit evented 0\n');
    const bad = run('events', '--format', '{{.Bogus}}');
    assert.deepEqual([bad.code, bad.stdout], [125, '']);
    assert.match(bad.stderr, /^ctl events: template: can't evaluate field Bogus/);
    assert.deepEqual(
      exits
        .out()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[1]),
      ['/tasks/exit'],
    );
  });

  it("prints ps, inspect and stats through docker's --format templates; an unknown field is an error, never the default table", () => {
    ok('run', '-d', '--name', 'fmt', '-l', 'team=a', 'busybox', 'sleep', '300');
    assert.equal(ok('ps', '--format', '{{.Names}}'), 'fmt\n');
    assert.equal(
      ok('ps', '--format', 'table {{.Names}}\\t{{.State}}\\t{{.Labels}}'),
      'NAMES     STATE     LABELS\nfmt       running   team=a\n',
    );
    const row = JSON.parse(ok('ps', '--format', '{{json .}}')) as Record<string, string>;
    assert.deepEqual([row.ID, row.Image, row.Command, row.Status], ['fmt', 'busybox:latest', '"sleep 300"', 'Up']);
    assert.equal(ok('inspect', '-f', '{{.Name}} {{.State.Running}} {{json .Labels}}', 'fmt'), 'fmt true {"team":"a"}\n');
    assert.equal(ok('inspect', '--format', '{{.State.Pid}}', 'fmt'), `${pidOf('fmt')}\n`);
    assert.equal(ok('stats', '--no-stream', '--format', '{{.Name}}: {{.PIDs}}', 'fmt'), 'fmt: 1\n');
    for (const args of [
      ['ps', '--format', '{{.Bogus}}'],
      ['inspect', '-f', '{{.State.Bogus}}', 'fmt'],
      ['stats', '--no-stream', '--format', '{{.NetBogus}}', 'fmt'],
      ['ps', '--format', '{{.Names | upper}}'],
    ]) {
      const bad = run(...args);
      assert.deepEqual([bad.code, bad.stdout], [125, ''], args.join(' '));
      assert.match(bad.stderr, /^ctl \w+: template: (can't evaluate field|unsupported action)/, args.join(' '));
    }
  });

  it('prunes only stopped and created containers', () => {
    ok('run', '-d', '--name', 'alive', 'busybox', 'sleep', '300');
    ok('run', '--name', 'done', 'busybox', 'true');
    ok('create', '--name', 'fresh', 'busybox', 'true');
    const out = ok('container', 'prune', '-f');
    assert.match(out, /^Deleted Containers:\n/);
    assert.deepEqual(out.split('\n').slice(1, 3).sort(), ['done', 'fresh']);
    assert.match(out, /Total reclaimed space: /);
    assert.deepEqual(containers(), ['alive']);
    assert.equal(ok('container', 'prune', '-f'), 'Total reclaimed space: 0 B\n');
  });

  it("commits a container's changes as an image that runs, lists and exports", () => {
    ok('run', '--name', 'writer', '-e', 'KEPT=yes', 'busybox', 'sh', '-c', 'echo committed > /file; rm /bin/vi');
    const digest = ok('commit', '-m', 'a file', '-c', 'CMD ["cat", "/file"]', 'writer', 'mine:1').trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(ok('run', '--rm', 'mine:1', 'cat', '/file'), 'committed\n');
    assert.equal(ok('run', '--rm', 'mine:1'), 'committed\n', 'CMD from --change');
    assert.equal(ok('run', '--rm', 'mine:1', 'sh', '-c', 'echo $KEPT; test -e /bin/vi || echo deleted'), 'yes\ndeleted\n');
    assert.match(ok('image', 'ls'), new RegExp(`docker.io/library/mine:1\\s+manifest\\s+${digest}`));
    const archive = join(engine.instance.base, 'mine.tar');
    ok('image', 'export', '-o', archive, 'mine:1');
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${archive}`], { encoding: 'utf8' })) as {
      Layers: string[];
      Digest: string;
    };
    assert.equal(inspected.Layers.length, 2);
    assert.equal(inspected.Digest, digest);
    const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci-archive:${archive}`], { encoding: 'utf8' })) as {
      history: { comment?: string }[];
      rootfs: { diff_ids: string[] };
    };
    assert.equal(config.rootfs.diff_ids.length, 2);
    assert.equal(config.history.at(-1)!.comment, 'a file');
    // Committing again under the same name moves it.
    ok('run', '--name', 'writer2', 'mine:1', 'sh', '-c', 'echo two > /file');
    const second = ok('commit', 'writer2', 'mine:1').trim();
    assert.notEqual(second, digest);
    assert.equal(ok('run', '--rm', 'mine:1', 'cat', '/file'), 'two\n');
    assert.equal(run('commit', 'writer2').code, 125);
    assert.equal(run('commit', 'nobody', 'x:1').code, 1);
  });

  it('finds an image an archive names without a registry host (rt/longpath:latest) by that short name everywhere', () => {
    engine.importBusybox('rt/longpath:latest');
    assert.match(ok('image', 'ls', '-q'), /^docker\.io\/rt\/longpath:latest$/m, 'recorded normalised');
    assert.equal((JSON.parse(ok('image', 'inspect', 'rt/longpath')) as { name: string }[])[0]!.name, 'docker.io/rt/longpath:latest');
    assert.equal(ok('run', '--rm', 'rt/longpath:latest', 'echo', 'ok'), 'ok\n');
    ok('image', 'rm', 'rt/longpath');
    assert.doesNotMatch(ok('image', 'ls', '-q'), /longpath/);
  });

  it("is removed by ctr's `containers rm` with its exited task and its snapshot; ctr sees only its namespace's snapshots", function () {
    if (!haveCommand('ctr')) this.skip();
    const ctr = (...args: string[]): string =>
      execFileSync('ctr', ['--address', serviceSocket(engine.instance, 'containerd-lite'), '--namespace', ns, ...args], {
        encoding: 'utf8',
      });
    ok('run', '--name', 'byctr', 'busybox', 'true');
    const snapshots = ctr('snapshots', '--snapshotter', 'overlayfs', 'ls');
    assert.match(snapshots, /^byctr\s+sha256:[0-9a-f]{64}\s+Active\s*$/m);
    assert.doesNotMatch(snapshots, new RegExp(`${ns}/`), 'backend names leak into the namespace view');
    ctr('containers', 'rm', 'byctr');
    assert.doesNotMatch(ok('ps', '-a', '--format', '{{.Names}}'), /byctr/);
    assert.doesNotMatch(ctr('snapshots', '--snapshotter', 'overlayfs', 'ls'), /^byctr\s/m, 'its snapshot is left');
  });

  it("gives a container's shim none of the daemon's open files (its databases), only its own", () => {
    ok('run', '-d', '--name', 'fds', 'busybox', 'sleep', '300');
    const shim = execFileSync('pgrep', ['-f', `ctl-shim --state-dir ${engine.instance.state}/containerd-lite/tasks/${ns}/fds `], {
      encoding: 'utf8',
    }).trim();
    const dir = `/proc/${shim}/fd`;
    const open = readdirSync(dir).map((fd) => {
      try {
        return readlinkSync(join(dir, fd));
      } catch {
        return '';
      }
    });
    const daemons = open.filter((target) => target.startsWith(engine.instance.root) && !target.includes('/logs/'));
    assert.deepEqual(daemons, [], open.join('\n'));
    ok('rm', '-f', 'fds');
  });
});
