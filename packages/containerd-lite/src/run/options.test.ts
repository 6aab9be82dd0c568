import { ErrorKind, isKind } from '@ctl/proto/errors';
import type { ContainerConfig, ContainerConfig__Output } from '@ctl/proto/generated/ctl/run/v1/ContainerConfig';
import { wireType } from '@ctl/proto/wire';
import { buildSpec } from '@ctl/runtime-native';
import { strict as assert } from 'node:assert';
import { fromConfig, recordLabels } from './options';

const codec = wireType<ContainerConfig>('ctl/run/v1/config', 'ctl.run.v1.ContainerConfig')!;

/** The config as the service receives it: encoded by a client, decoded with the loader's options. */
const wire = (config: ContainerConfig): ContainerConfig__Output => codec.decode(codec.encode(config)) as ContainerConfig__Output;
const convert = (config: ContainerConfig) => fromConfig(wire(config));

/** Asserts InvalidArgument whose message starts with the field's name. */
function refused(config: ContainerConfig, field: string): void {
  assert.throws(
    () => convert(config),
    (err: unknown) => isKind(err, ErrorKind.InvalidArgument) && (err as Error).message.startsWith(`config.${field}: `),
    `config.${field} should be refused`,
  );
}

describe('ContainerConfig to RunOptions', () => {
  it("leaves everything to the image's and the engine's defaults when unset", () => {
    assert.deepEqual(fromConfig(undefined), { options: {}, volumes: [], labels: {}, snapshotLabels: {} });
    assert.deepEqual(convert({}), { options: {}, volumes: [], labels: {}, snapshotLabels: {} });
  });

  it('converts the process', () => {
    const { options } = convert({
      process: {
        cmd: ['sh', '-c', 'x'],
        entrypoint: { values: [] },
        env: ['A=1'],
        user: 'app:staff',
        additionalGids: [5],
        workdir: '/w',
        tty: true,
        rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }],
        oomScoreAdj: -5,
      },
    });
    assert.deepEqual(options, {
      cmd: ['sh', '-c', 'x'],
      entrypoint: [],
      env: ['A=1'],
      user: 'app:staff',
      additionalGids: [5],
      workdir: '/w',
      tty: true,
      ulimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }],
      oomScoreAdj: -5,
    });
    // An unset entrypoint keeps the image's; an empty one clears it.
    assert.equal('entrypoint' in convert({ process: { cmd: ['x'] } }).options, false);
  });

  it('converts resources, keeping a zero apart from unset', () => {
    const throttle = [{ major: 8, minor: 0, rate: 1048576 }];
    const { options } = convert({
      resources: {
        memoryBytes: 64 * 1024 * 1024,
        memorySwapBytes: -1,
        memoryReservationBytes: 0,
        cpus: 1.5,
        cpuShares: 512,
        cpusetCpus: '0-1',
        pidsLimit: 50,
        blkioWeight: 300,
        deviceReadBps: throttle,
        deviceWriteIops: [{ major: 8, minor: 0, rate: 100 }],
      },
    });
    assert.deepEqual(options, {
      memory: 64 * 1024 * 1024,
      memorySwap: -1,
      memoryReservation: 0,
      cpus: 1.5,
      cpuShares: 512,
      cpusetCpus: '0-1',
      pidsLimit: 50,
      blkioWeight: 300,
      deviceReadBps: throttle,
      deviceWriteIops: [{ major: 8, minor: 0, rate: 100 }],
    });
  });

  it("asks for the disk limit as the size-limit label of the container's snapshot", () => {
    assert.deepEqual(convert({ resources: { diskBytes: 20 << 20 } }).snapshotLabels, {
      'containerd.io/snapshot/ctl.size-limit': '20971520',
    });
    assert.deepEqual(convert({ resources: { memoryBytes: 1 << 30 } }).snapshotLabels, {});
  });

  it('converts mounts to OCI mounts in their order, and volumes apart', () => {
    const { options, volumes } = convert({
      mounts: [
        { destination: '/a/', bind: { source: '/h' } },
        { destination: '/b', bind: { source: '/h', nonrecursive: true, propagation: 'rslave' }, readonly: false },
        { destination: '/c', volume: { name: 'data', nocopy: true }, readonly: true },
        { destination: '/t', tmpfs: { sizeBytes: 1024, mode: 0o1777 }, options: ['exec'], readonly: true },
        { destination: '/d', volume: {} },
      ],
    });
    assert.deepEqual(options.mounts, [
      { destination: '/a', type: 'bind', source: '/h', options: ['rbind'] },
      { destination: '/b', type: 'bind', source: '/h', options: ['bind', 'rw', 'rslave'] },
      { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'size=1024', 'mode=1777', 'exec', 'ro'] },
    ]);
    assert.deepEqual(volumes, [
      { name: 'data', destination: '/c', readonly: true, nocopy: true },
      { name: '', destination: '/d', readonly: false, nocopy: false },
    ]);
  });

  it('converts security, with the seccomp profile as a document', () => {
    const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
    const security = { privileged: true, capAdd: ['net_admin'], capDrop: ['ALL'], noNewPrivileges: true, readonlyRootfs: true };
    assert.deepEqual(convert({ security: { ...security, seccomp: { mode: 'PROFILE', profileJson: JSON.stringify(profile) } } }).options, {
      ...security,
      seccomp: profile,
    });
    assert.equal(convert({ security: { seccomp: { mode: 'UNCONFINED' } } }).options.seccomp, 'unconfined');
    assert.equal(convert({ security: { seccomp: {} } }).options.seccomp, undefined, "DEFAULT: the engine's profile");
  });

  it('converts namespaces', () => {
    assert.equal(convert({ namespaces: {} }).options.network, 'none');
    assert.equal(convert({ namespaces: { network: 'HOST' } }).options.network, 'host');
    const ids = [{ containerId: 0, hostId: 100000, size: 65536 }];
    assert.deepEqual(
      convert({
        namespaces: {
          network: 'PATH',
          networkPath: '/run/netns/a',
          hostPid: true,
          hostIpc: true,
          cgroup: true,
          uidMappings: ids,
          gidMappings: ids,
        },
      }).options,
      {
        network: { path: '/run/netns/a' },
        pidMode: 'host',
        ipcMode: 'host',
        cgroupns: true,
        userns: {
          uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
          gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        },
      },
    );
  });

  it('converts the rest: hostname, init, /dev/shm, sysctls, annotations', () => {
    assert.deepEqual(
      convert({ hostname: 'web', init: true, shmSizeBytes: 0, sysctls: { 'net.ipv4.ip_forward': '1' }, annotations: { a: 'b' } }).options,
      { hostname: 'web', init: true, shmSize: 0, sysctls: { 'net.ipv4.ip_forward': '1' }, annotations: { a: 'b' } },
    );
  });

  it('records the stop signal, stop timeout and restart policy as the labels ctl stop and the supervisor read', () => {
    const { labels } = convert({
      lifecycle: { stopSignal: 'hup', stopTimeout: 3, restartPolicy: { name: 'on-failure', maximumRetryCount: 2 } },
    });
    assert.deepEqual(labels, {
      'ctl.stop-signal': 'hup',
      'ctl.stop-timeout': '3',
      'ctl.restart-policy': 'on-failure',
      'ctl.restart-max': '2',
    });
    assert.deepEqual(convert({ lifecycle: { stopSignal: '15', restartPolicy: { name: 'no' } } }).labels, { 'ctl.stop-signal': '15' });
    assert.deepEqual(recordLabels({ team: 'a', 'ctl.stop-signal': 'INT' }, labels), { team: 'a', ...labels });
    assert.throws(
      () => recordLabels({ 'ctl.restart-count': '9' }, {}),
      (err: unknown) => isKind(err, ErrorKind.InvalidArgument) && /ctl\.restart-count/.test((err as Error).message),
    );
  });

  it('refuses bad values with InvalidArgument naming the field', () => {
    refused({ process: { env: ['A=1', 'B'] } }, 'process.env[1]');
    refused({ process: { workdir: 'rel' } }, 'process.workdir');
    refused({ process: { oomScoreAdj: 1001 } }, 'process.oom_score_adj');
    refused({ resources: { memoryBytes: -1 } }, 'resources.memory_bytes');
    refused({ resources: { diskBytes: 0 } }, 'resources.disk_bytes');
    refused({ resources: { memorySwapBytes: -2 } }, 'resources.memory_swap_bytes');
    refused({ resources: { cpus: -1 } }, 'resources.cpus');
    refused({ resources: { deviceReadBps: [{ major: -1, minor: 0, rate: 1 }] } }, 'resources.device_read_bps[0].major');
    refused({ mounts: [{ destination: '/a', volume: {} }, { destination: '/b' }] }, 'mounts[1]');
    refused({ mounts: [{ destination: 'a', volume: {} }] }, 'mounts[0].destination');
    refused({ mounts: [{ destination: '/', volume: {} }] }, 'mounts[0].destination');
    refused({ mounts: [{ destination: '/a', bind: { source: 'h' } }] }, 'mounts[0].bind.source');
    refused({ mounts: [{ destination: '/a', bind: { source: '/h', propagation: 'odd' } }] }, 'mounts[0].bind.propagation');
    refused({ mounts: [{ destination: '/a', volume: { name: 'a/b' } }] }, 'mounts[0].volume.name');
    refused({ mounts: [{ destination: '/a', volume: {}, options: ['ro'] }] }, 'mounts[0].options');
    refused({ mounts: [{ destination: '/a', tmpfs: { mode: 0o17777 } }] }, 'mounts[0].tmpfs.mode');
    refused({ security: { seccomp: { mode: 'PROFILE', profileJson: '{' } } }, 'security.seccomp.profile_json');
    refused({ security: { seccomp: { mode: 'PROFILE', profileJson: '[]' } } }, 'security.seccomp.profile_json');
    refused({ security: { seccomp: { profileJson: '{}' } } }, 'security.seccomp.profile_json');
    refused({ namespaces: { network: 'PATH', networkPath: 'netns' } }, 'namespaces.network_path');
    refused({ namespaces: { gidMappings: [{ containerId: 0, hostId: 1, size: 1 }] } }, 'namespaces.uid_mappings');
    refused({ lifecycle: { stopSignal: 'SIGNOPE' } }, 'lifecycle.stop_signal');
    refused({ lifecycle: { stopTimeout: -2 } }, 'lifecycle.stop_timeout');
    refused({ lifecycle: { restartPolicy: { name: 'sometimes' } } }, 'lifecycle.restart_policy');
    refused({ lifecycle: { restartPolicy: { name: 'always', maximumRetryCount: 3 } } }, 'lifecycle.restart_policy');
  });

  it('gives buildSpec what it makes the spec from', () => {
    const { options } = convert({
      process: { cmd: ['true'] },
      resources: { memoryBytes: 64 * 1024 * 1024, pidsLimit: 10 },
      mounts: [{ destination: '/data', bind: { source: '/srv' }, readonly: true }],
      security: { readonlyRootfs: true },
    });
    const spec = buildSpec({}, { ...options, id: 'abc' });
    assert.deepEqual(spec.process?.args, ['true']);
    assert.equal(spec.linux?.resources?.memory?.limit, 64 * 1024 * 1024);
    assert.equal(spec.linux?.resources?.pids?.limit, 10);
    assert.deepEqual(spec.mounts?.at(-1), { destination: '/data', type: 'bind', source: '/srv', options: ['rbind', 'ro'] });
    assert.equal(spec.root?.readonly, true);
  });
});
