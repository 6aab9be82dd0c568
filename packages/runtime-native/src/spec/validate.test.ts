import * as assert from 'node:assert/strict';
import { buildSpec } from './builder';
import { validateSpec } from './validate';
import type { Spec } from './types';
import { SpecError } from '../errors';

function base(): Spec {
  return buildSpec({ Cmd: ['/bin/true'] }, { id: 'v' });
}

function fieldOf(mutate: (s: Spec) => void): string {
  const s = base();
  mutate(s);
  try {
    validateSpec(s);
  } catch (e) {
    assert.ok(e instanceof SpecError, `expected SpecError, got ${String(e)}`);
    assert.equal(e.kind, 'InvalidArgument');
    assert.ok(e.message.startsWith(e.field));
    return e.field;
  }
  assert.fail('spec was accepted');
}

describe('validateSpec', () => {
  it('accepts what the builder makes', () => {
    validateSpec(base());
  });

  it('names the field of each problem', () => {
    assert.equal(
      fieldOf((s) => (s.ociVersion = '2.0')),
      'ociVersion',
    );
    assert.equal(
      fieldOf((s) => (s.root.path = '')),
      'root.path',
    );
    assert.equal(
      fieldOf((s) => (s.process!.args = [])),
      'process.args',
    );
    assert.equal(
      fieldOf((s) => (s.process!.cwd = 'relative')),
      'process.cwd',
    );
    assert.equal(
      fieldOf((s) => (s.process!.env = ['NOEQUALS'])),
      'process.env[0]',
    );
    assert.equal(
      fieldOf((s) => s.linux!.namespaces!.push({ type: 'bogus' as never })),
      'linux.namespaces[5].type',
    );
    assert.equal(
      fieldOf((s) => s.linux!.namespaces!.push({ type: 'pid' })),
      'linux.namespaces[5].type',
    );
    assert.equal(
      fieldOf((s) => (s.process!.capabilities!.bounding = ['CAP_NOPE'])),
      'process.capabilities.bounding[0]',
    );
    assert.equal(
      fieldOf((s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 5 }])),
      'process.rlimits[0]',
    );
    assert.equal(
      fieldOf((s) => (s.process!.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }])),
      'process.rlimits[0].type',
    );
    assert.equal(
      fieldOf((s) => s.mounts!.push({ destination: 'rel', type: 'tmpfs' })),
      'mounts[7].destination',
    );
    assert.equal(
      fieldOf((s) => s.mounts!.push({ destination: '/x', type: 'bind' })),
      'mounts[7].source',
    );
    assert.equal(
      fieldOf((s) => (s.linux!.seccomp!.defaultAction = 'SCMP_ACT_NOPE')),
      'linux.seccomp.defaultAction',
    );
    assert.equal(
      fieldOf((s) => (s.linux!.cgroupsPath = '/a/../b')),
      'linux.cgroupsPath',
    );
    assert.equal(
      fieldOf((s) => (s.hooks = { poststop: [{ path: 'relative' }] })),
      'hooks.poststop[0].path',
    );
  });

  it('checks user namespace mappings', () => {
    assert.equal(
      fieldOf((s) => (s.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }])),
      'linux.uidMappings',
    );
    assert.equal(
      fieldOf((s) => {
        s.linux!.namespaces!.push({ type: 'user' });
        s.linux!.uidMappings = [{ containerID: 0, hostID: -5, size: 1 }];
        s.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
      }),
      'linux.uidMappings[0]',
    );
    assert.equal(
      fieldOf((s) => {
        s.linux!.namespaces!.push({ type: 'user' });
        s.linux!.uidMappings = [{ containerID: 1, hostID: 1000, size: 1 }];
        s.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
      }),
      'linux.uidMappings',
    );
  });

  it('requires a uts namespace for a hostname and a mount namespace always', () => {
    assert.equal(
      fieldOf((s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts'))),
      'hostname',
    );
    assert.equal(
      fieldOf((s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount'))),
      'linux.namespaces',
    );
  });
});
