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

  it("reports a usage error as docker does: the message, See 'ctl CMD --help'., exit 125, never Node's parser text", () => {
    for (const [args, message, help] of [
      [['ps', '--bogus'], 'ctl ps: unknown flag: --bogus', 'ctl ps'],
      [['run', '--bogus', 'busybox'], 'ctl run: unknown flag: --bogus', 'ctl run'],
      [['run', '-x', 'busybox'], "ctl run: unknown shorthand flag: 'x' in -x", 'ctl run'],
      [['exec', '--bogus', 'web', 'sh'], 'ctl exec: unknown flag: --bogus', 'ctl exec'],
      [['logs', '--tail'], 'ctl logs: flag needs an argument: --tail', 'ctl logs'],
      [['stop', '-t'], "ctl stop: flag needs an argument: 't' in -t", 'ctl stop'],
      [['version', 'extra'], 'ctl version: accepts no arguments, got "extra"', 'ctl version'],
      [['version', '--frobnicate'], 'ctl version: unknown flag: --frobnicate', 'ctl version'],
      [['image', 'pull', '--frob', 'busybox'], 'ctl image: unknown flag: --frob', 'ctl image'],
      [['pull'], 'ctl pull: pull needs one REF', 'ctl pull'],
      [['namespace', 'frob'], 'ctl namespace: unknown namespace command "frob"', 'ctl namespace'],
      [['--frobnicate', 'version'], 'ctl: unknown flag: --frobnicate', 'ctl'],
      [['--root'], 'ctl: flag needs an argument: --root', 'ctl'],
      [['frobnicate'], 'ctl: unknown command "frobnicate"', 'ctl'],
    ] as const) {
      const run = ctl(instance, [...args]);
      assert.equal(run.code, 125, args.join(' '));
      assert.equal(run.stderr, `${message}\nSee '${help} --help'.\n`, args.join(' '));
    }
    const none = ctl(instance, []);
    assert.equal(none.code, 125);
    assert.match(none.stderr, /^Usage: ctl/);
  });

  it('suggests the nearest command for an unknown one', () => {
    const typo = ctl(instance, ['pss']);
    assert.equal(typo.code, 125);
    assert.match(typo.stderr, /^ctl: unknown command "pss"\n\nDid you mean this\?\n\tps\n(\t\w+\n)*\nSee 'ctl --help'\.\n$/);
    assert.equal(ctl(instance, ['xyzzy']).stderr, `ctl: unknown command "xyzzy"\nSee 'ctl --help'.\n`);
    assert.match(ctl(instance, ['imag']).stderr, /Did you mean this\?\n\timage\n\timages\n/);
    assert.match(ctl(instance, ['strat']).stderr, /\tstart\n/);
  });

  it('refuses -it when stdin is not a terminal (docker: "the input device is not a TTY"), before anything is made', () => {
    for (const args of [
      ['run', '-it', 'busybox', 'sh'],
      ['run', '-i', '-t', '--rm', 'busybox', 'sh'],
      ['exec', '-it', 'web', 'sh'],
    ]) {
      const run = ctl(instance, args, { CTL_NO_AUTOSTART: '1' });
      assert.equal(run.code, 1, args.join(' '));
      assert.equal(run.stderr, `ctl ${args[0]}: the input device is not a TTY\n`, args.join(' '));
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
    assert.throws(() => parseGlobal(['--root'], {}), /flag needs an argument: --root/);
  });
});
