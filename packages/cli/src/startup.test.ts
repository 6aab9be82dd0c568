import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What a command's start loads of Node's own modules: each below costs every command its load
 * and compile (node:net and the streams ~5 ms, node:module ~1 ms with the ESM loader it brings,
 * parseArgs ~1.7 ms over run's options). They are loaded where needed, never on the way to the
 * first call. Each command runs against an instance where no daemon answers: its options are
 * parsed and its bundle and codecs loaded before the connection fails.
 */
const HEAVY = [
  'NativeModule net',
  'NativeModule stream',
  'NativeModule module',
  'NativeModule internal/modules/esm/loader',
  'NativeModule internal/util/parse_args/parse_args',
  'NativeModule os',
];

const COMMANDS = [
  ['version'],
  ['ps'],
  ['ps', '-a', '-q'],
  ['inspect', 'c1'],
  ['run', '-d', '--network', 'none', '--name', 'c1', '-e', 'A=1', 'busybox', 'sleep', '9'],
  ['run', '--rm', 'busybox', 'true'],
  ['rm', '-f', 'c1'],
  ['stop', 'c1'],
  ['pull', 'busybox'],
  ['push', 'localhost:5000/busybox'],
  ['image', 'ls'],
  ['network', 'ls'],
];

describe('command start-up', function () {
  this.timeout(60_000);
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctl-startup-'));
    writeFileSync(
      join(dir, 'probe.js'),
      `process.on('exit', () => require('node:fs').writeFileSync(process.env.PROBE_OUT, process.moduleLoadList.join('\\n')));`,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const command of COMMANDS)
    it(`\`ctl ${command.join(' ')}\` loads none of ${HEAVY.length} heavy Node modules`, () => {
      const out = join(dir, 'modules.txt');
      rmSync(out, { force: true });
      const r = spawnSync(
        process.execPath,
        [
          '-r',
          join(dir, 'probe.js'),
          join(__dirname, '..', '..', 'bin', 'ctl.js'),
          '--root',
          join(dir, 'root'),
          '--state',
          join(dir, 'state'),
          '--no-autostart',
          ...command,
        ],
        { encoding: 'utf8', env: { ...process.env, PROBE_OUT: out }, timeout: 20_000 },
      );
      assert.match(r.stderr, /no daemon answers/, `the command got as far as connecting: ${r.stderr}`);
      const loaded = readFileSync(out, 'utf8').split('\n');
      assert.deepEqual(
        HEAVY.filter((m) => loaded.includes(m)),
        [],
      );
    });
});
