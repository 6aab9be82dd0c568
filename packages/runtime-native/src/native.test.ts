/**
 * The C runtime's own validation of config.json (`ctl-runtime spec-validate`), which needs no
 * root: every refusal names the field, and the TypeScript validator agrees on what it checks.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RUNTIME_BINARY } from './native';
import { buildSpec } from './spec/builder';
import type { Spec } from './spec/types';
import { validateSpec } from './spec/validate';

function validate(dir: string): { code: number; stderr: string } {
  try {
    execFileSync(RUNTIME_BINARY, ['spec-validate', '--bundle', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { status: number; stderr: Buffer };
    return { code: e.status, stderr: e.stderr.toString() };
  }
}

describe('ctl-runtime spec-validate (no root needed)', function () {
  let dir: string;
  before(function () {
    if (!fs.existsSync(RUNTIME_BINARY)) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-validate-'));
    fs.mkdirSync(path.join(dir, 'rootfs'));
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  function write(edit: (s: Spec & Record<string, unknown>) => void): void {
    const s = buildSpec({ Cmd: ['/bin/true'] }, { id: 'v', rootfs: 'rootfs', bundleDir: dir }) as Spec & Record<string, unknown>;
    edit(s);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(s));
  }

  it('accepts what the builder makes', () => {
    write(() => undefined);
    assert.deepEqual(validate(dir), { code: 0, stderr: '' });
  });

  const cases: [string, (s: Spec & Record<string, unknown>) => void, RegExp, boolean][] = [
    ['missing ociVersion', (s) => delete (s as Partial<Spec>).ociVersion, /ociVersion: required string is missing/, true],
    ['unsupported version', (s) => (s.ociVersion = '2.0.0'), /ociVersion: unsupported version "2\.0\.0"/, true],
    ['empty args', (s) => (s.process!.args = []), /process\.args: must not be empty/, true],
    ['relative cwd', (s) => (s.process!.cwd = 'x'), /process\.cwd: must be an absolute path/, true],
    [
      'uid not a number',
      (s) => ((s.process!.user as unknown as Record<string, unknown>).uid = 'root'),
      /process\.user\.uid: must be an integer/,
      true,
    ],
    [
      'unknown capability',
      (s) => (s.process!.capabilities!.effective = ['CAP_NOPE']),
      /process\.capabilities: effective\[0\]: unknown capability "CAP_NOPE"/,
      true,
    ],
    [
      'rlimit soft above hard',
      (s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 9, hard: 1 }]),
      /process\.rlimits\[0\] \(RLIMIT_NOFILE\): soft limit 9 is above hard limit 1/,
      true,
    ],
    [
      'namespace twice',
      (s) => s.linux!.namespaces!.push({ type: 'pid' }),
      /linux\.namespaces\[5\]\.type: namespace "pid" listed twice/,
      true,
    ],
    [
      'namespace path missing',
      (s) => s.linux!.namespaces!.push({ type: 'cgroup', path: '/nonexistent/ns' }),
      /linux\.namespaces\[5\]\.path: cgroup namespace \/nonexistent\/ns: No such file/,
      false,
    ],
    [
      'mappings without a user namespace',
      (s) => (s.linux!.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }]),
      /linux\.uidMappings: mappings need a user namespace/,
      true,
    ],
    [
      'hostname without uts',
      (s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts')),
      /hostname: setting the hostname needs a uts namespace/,
      true,
    ],
    [
      'relative mount destination',
      (s) => s.mounts!.push({ destination: 'mnt', type: 'tmpfs' }),
      /mounts\[7\]\.destination: must be an absolute path/,
      true,
    ],
    [
      'non-string sysctl',
      (s) => (s.linux!.sysctl = { 'net.ipv4.ip_forward': 1 as unknown as string }),
      /linux\.sysctl\.net\.ipv4\.ip_forward: must be a string/,
      true,
    ],
    [
      'bad device type',
      (s) => (s.linux!.devices = [{ type: 'x' as 'c', path: '/dev/x' }]),
      /linux\.devices\[0\]\.type: must be one of c, b, u, p/,
      false,
    ],
    ['cgroupsPath with ..', (s) => (s.linux!.cgroupsPath = '/ctl/../../etc'), /linux\.cgroupsPath: must not contain "\.\."/, true],
    ['annotations not an object', (s) => ((s as Record<string, unknown>).annotations = []), /annotations: must be an object/, false],
  ];
  for (const [name, edit, expected, tsToo] of cases) {
    it(`refuses: ${name}`, () => {
      write(edit);
      const r = validate(dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, expected);
      if (tsToo) {
        const s = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Spec;
        assert.throws(() => validateSpec(s), 'the TypeScript validator refuses it too');
      }
    });
  }

  it('refuses malformed JSON with the position', () => {
    fs.writeFileSync(path.join(dir, 'config.json'), '{\n  "ociVersion": "1.0.0",\n  "root": }');
    const r = validate(dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config\.json: malformed JSON at line 3/);
  });
});
