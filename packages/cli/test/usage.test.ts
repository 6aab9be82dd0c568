import { tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { parseGlobal } from '../src/args';
import { ctl, stopDaemons } from './helpers';

describe('ctl usage', () => {
  const instance = tempInstance();
  after(async () => {
    // None of these commands may start a daemon; if one did, it must not outlive the test.
    await stopDaemons(instance);
    instance.remove();
  });

  it('prints usage and exits 2 on an unknown command or flag', () => {
    for (const args of [['frobnicate'], ['--frobnicate', 'version'], ['version', '--frobnicate'], ['namespace', 'frob'], []]) {
      const run = ctl(instance, args);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, /Usage: ctl/, args.join(' '));
    }
  });

  it('answers --version and --help without a daemon', () => {
    const v = ctl(instance, ['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^ctl version \d+\.\d+\.\d+/);
    const h = ctl(instance, ['--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Commands:\n(.|\n)*version(.|\n)*daemon/);
    assert.match(ctl(instance, ['version', '--help']).stdout, /Usage: ctl version/);
    assert.match(ctl(instance, ['pull', '--help']).stdout, /^Usage: ctl pull \[OPTIONS\] REF(.|\n)*--all-platforms(.|\n)*--plain-http/);
    assert.match(ctl(instance, ['push', '-h']).stdout, /^Usage: ctl push \[OPTIONS\] REF(.|\n)*--platform/);
    for (const args of [['pull'], ['push', 'a', 'b'], ['image', 'pull', '--frob', 'busybox']]) {
      const bad = ctl(instance, args);
      assert.equal(bad.code, 2, args.join(' '));
      assert.match(bad.stderr, /Usage: ctl/);
    }
  });

  it('reads global options and their environment variables', () => {
    const g = parseGlobal(['--root=/r', '--state', '/s', '-n', 'ns1', '--no-autostart', 'version', '--format', 'json'], {});
    assert.deepEqual(
      { ...g.dirs, ns: g.namespace, auto: g.autostart, cmd: g.command, args: g.args },
      {
        root: '/r',
        state: '/s',
        ns: 'ns1',
        auto: false,
        cmd: 'version',
        args: ['--format', 'json'],
      },
    );
    const e = parseGlobal(['ps'], { CTL_ROOT: '/er', CTL_STATE: '/es', CTL_NAMESPACE: 'x', CTL_NO_AUTOSTART: '1' });
    assert.deepEqual([e.dirs.root, e.dirs.state, e.namespace, e.autostart], ['/er', '/es', 'x', false]);
    const d = parseGlobal(['ps'], {});
    assert.deepEqual([d.dirs.root, d.dirs.state, d.namespace, d.autostart], ['/var/lib/ctl', '/run/ctl', 'default', true]);
    assert.throws(() => parseGlobal(['--root'], {}), /--root needs a value/);
  });
});
