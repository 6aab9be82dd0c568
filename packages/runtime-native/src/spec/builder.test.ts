import * as assert from 'node:assert/strict';
import { buildSpec } from './builder';
import { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './defaults';
import { SpecError } from '../errors';

const image = { Env: ['PATH=/bin', 'A=1'], Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo hi'], WorkingDir: '/work', User: '1000:1000' };

describe('buildSpec', () => {
  it('combines entrypoint and cmd, env, user and workdir from the image', () => {
    const s = buildSpec(image, { id: 'c1', env: ['A=2', 'B=3'] });
    assert.deepEqual(s.process?.args, ['/bin/sh', '-c', 'echo hi']);
    assert.deepEqual(s.process?.env, ['PATH=/bin', 'A=2', 'B=3', 'HOME=/']);
    assert.equal(s.process?.cwd, '/work');
    assert.deepEqual(s.process?.user, { uid: 1000, gid: 1000 });
  });

  it('lets options override cmd and entrypoint as docker does', () => {
    assert.deepEqual(buildSpec(image, { id: 'c', cmd: ['ls'] }).process?.args, ['/bin/sh', '-c', 'ls']);
    assert.deepEqual(buildSpec(image, { id: 'c', entrypoint: ['/bin/true'] }).process?.args, ['/bin/true']);
  });

  it('applies Docker defaults: 14 capabilities, masked and read-only paths, seccomp, device rules', () => {
    const s = buildSpec(image, { id: 'c1' });
    assert.deepEqual(s.process?.capabilities?.bounding, [...DEFAULT_CAPABILITIES]);
    assert.deepEqual(s.process?.capabilities?.ambient, []);
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
    assert.deepEqual(s.linux?.maskedPaths, [...DEFAULT_MASKED_PATHS]);
    assert.deepEqual(s.linux?.readonlyPaths, [...DEFAULT_READONLY_PATHS]);
    assert.equal(s.linux?.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.linux?.resources?.devices?.[0].allow, false);
    assert.equal(s.linux?.cgroupsPath, '/ctl/c1');
    assert.deepEqual(
      s.linux?.namespaces?.map((n) => n.type),
      ['mount', 'pid', 'ipc', 'uts', 'network'],
    );
    const dests = s.mounts?.map((m) => m.destination);
    assert.deepEqual(dests, ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
  });

  it("privileged: all capabilities, no masks, no seccomp, every device allowed, the host's devices", () => {
    const s = buildSpec(image, { id: 'c1', privileged: true });
    assert.ok(s.process?.capabilities?.bounding?.includes('CAP_SYS_ADMIN'));
    assert.deepEqual(s.linux?.maskedPaths, []);
    assert.equal(s.linux?.seccomp, undefined);
    assert.deepEqual(s.linux?.resources?.devices, [{ allow: true, access: 'rwm' }]);
    const devices = s.linux?.devices ?? [];
    assert.ok(
      devices.some((d) => d.path === '/dev/null' && d.type === 'c' && d.major === 1 && d.minor === 3),
      "the host's /dev/null",
    );
    assert.equal(
      devices.find((d) => d.path === '/dev/console'),
      undefined,
      'the container has a console of its own',
    );
    assert.equal(buildSpec(image, { id: 'c2' }).linux?.devices, undefined, 'not privileged: only the default devices');
  });

  it('cap-add and cap-drop adjust the default set', () => {
    const caps = buildSpec(image, { id: 'c', capAdd: ['sys_admin'], capDrop: ['CAP_CHOWN'] }).process?.capabilities?.effective;
    assert.ok(caps?.includes('CAP_SYS_ADMIN'));
    assert.ok(!caps?.includes('CAP_CHOWN'));
    assert.deepEqual(buildSpec(image, { id: 'c', capDrop: ['ALL'] }).process?.capabilities?.effective, []);
  });

  it('the seccomp profile follows the capabilities: CAP_SYS_ADMIN unlocks mount and unshare', () => {
    const names = (s: ReturnType<typeof buildSpec>) =>
      new Set(s.linux?.seccomp?.syscalls?.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
    assert.ok(!names(buildSpec(image, { id: 'c' })).has('unshare'));
    assert.ok(!names(buildSpec(image, { id: 'c' })).has('keyctl'));
    assert.ok(names(buildSpec(image, { id: 'c', capAdd: ['SYS_ADMIN'] })).has('mount'));
  });

  it('maps resources: memory, cpus, pids, blkio', () => {
    const s = buildSpec(image, {
      id: 'c',
      memory: 64 << 20,
      memorySwap: 64 << 20,
      cpus: 1.5,
      pidsLimit: 20,
      blkioWeight: 300,
      cpusetCpus: '0',
    });
    assert.deepEqual(s.linux?.resources?.memory, { limit: 64 << 20, swap: 64 << 20 });
    assert.deepEqual(s.linux?.resources?.cpu, { period: 100000, quota: 150000, cpus: '0' });
    assert.deepEqual(s.linux?.resources?.pids, { limit: 20 });
    assert.deepEqual(s.linux?.resources?.blockIO, { weight: 300 });
  });

  it('maps device throttles into blockIO, next to the weight; a bad number is a SpecError', () => {
    const s = buildSpec(image, {
      id: 'c',
      blkioWeight: 300,
      deviceReadBps: [{ major: 8, minor: 0, rate: 1048576 }],
      deviceWriteBps: [{ major: 8, minor: 16, rate: 10240 }],
      deviceReadIops: [{ major: 8, minor: 0, rate: 100 }],
      deviceWriteIops: [{ major: 7, minor: 3, rate: 50 }],
    });
    assert.deepEqual(s.linux?.resources?.blockIO, {
      weight: 300,
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
      throttleWriteBpsDevice: [{ major: 8, minor: 16, rate: 10240 }],
      throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      throttleWriteIOPSDevice: [{ major: 7, minor: 3, rate: 50 }],
    });
    assert.throws(
      () => buildSpec(image, { id: 'c', deviceWriteBps: [{ major: 8, minor: 0, rate: -1 }] }),
      /throttleWriteBpsDevice\[0\]\.rate/,
    );
  });

  it('network: none makes a new netns, host shares, a path joins', () => {
    const types = (o: Parameters<typeof buildSpec>[1]) => buildSpec(image, o).linux?.namespaces?.find((n) => n.type === 'network');
    assert.deepEqual(types({ id: 'c' }), { type: 'network' });
    assert.equal(types({ id: 'c', network: 'host' }), undefined);
    assert.deepEqual(types({ id: 'c', network: { path: '/run/netns/x' } }), { type: 'network', path: '/run/netns/x' });
  });

  it('user namespace: mappings and the user namespace entry', () => {
    const m = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const s = buildSpec(image, { id: 'c', userns: { uidMappings: m, gidMappings: m } });
    assert.ok(s.linux?.namespaces?.some((n) => n.type === 'user'));
    assert.deepEqual(s.linux?.uidMappings, m);
  });

  it('binds become rbind mounts with options', () => {
    const s = buildSpec(image, { id: 'c', binds: ['/data:/mnt:ro'] });
    assert.deepEqual(s.mounts?.at(-1), { destination: '/mnt', type: 'bind', source: '/data', options: ['rbind', 'ro'] });
  });

  it('init: the host init bound read-only at /sbin/docker-init runs the command as its child', () => {
    const s = buildSpec(image, { id: 'c', init: true, initPath: process.execPath, binds: ['/data:/mnt'] });
    assert.deepEqual(s.process?.args, ['/sbin/docker-init', '--', '/bin/sh', '-c', 'echo hi']);
    assert.deepEqual(
      s.mounts?.find((m) => m.destination === '/sbin/docker-init'),
      { destination: '/sbin/docker-init', type: 'bind', source: process.execPath, options: ['bind', 'ro', 'nosuid', 'nodev'] },
    );
    assert.equal(s.mounts?.at(-1)?.destination, '/mnt', "the user's mounts stay last");
    assert.throws(
      () => buildSpec(image, { id: 'c', init: true, initPath: '/nonexistent/tini' }),
      (e: SpecError) => e.field === 'init' && /not installed/.test(e.message),
    );
  });

  it('rejects what it cannot run, naming the field', () => {
    assert.throws(
      () => buildSpec({}, { id: 'c' }),
      (e: SpecError) => e.field === 'process.args',
    );
    assert.throws(
      () => buildSpec(image, { id: 'c', user: 'nobody' }),
      (e: SpecError) => e.field === 'process.user',
    );
    assert.throws(
      () => buildSpec(image, { id: 'c', binds: ['nocolon'] }),
      (e: SpecError) => e.field === 'binds[0]',
    );
    assert.throws(
      () => buildSpec(image, { id: 'c', memory: 1000 }),
      (e: SpecError) => e.field === 'linux.resources.memory.limit',
    );
  });
});
