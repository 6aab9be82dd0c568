import { strict as assert } from 'node:assert';
import { tmpdir } from 'node:os';
import { UsageError } from './args';
import { checkDuplicates, parseMountFlag, parseVolumeFlag } from './mounts';
import { parseRunArgs, runOptions } from './runflags';

const refused = (fn: () => unknown, message: RegExp): void =>
  assert.throws(fn, (err: unknown) => err instanceof UsageError && message.test(err.message));

describe('--mount', () => {
  it("parses volume mounts, named and anonymous, with Docker's aliases", () => {
    assert.deepEqual(parseMountFlag('type=volume,source=data,target=/data'), {
      kind: 'volume',
      volume: { name: 'data', destination: '/data' },
    });
    assert.deepEqual(parseMountFlag('src=data,dst=/data/,ro'), {
      kind: 'volume',
      volume: { name: 'data', destination: '/data', readonly: true },
    });
    assert.deepEqual(parseMountFlag('type=volume,destination=/x,readonly=false,volume-nocopy'), {
      kind: 'volume',
      volume: { name: '', destination: '/x', nocopy: true },
    });
  });

  it('parses bind mounts of existing paths into OCI mounts', () => {
    const dir = tmpdir();
    assert.deepEqual(parseMountFlag(`type=bind,source=${dir},target=/b,readonly`), {
      kind: 'mount',
      mount: { destination: '/b', type: 'bind', source: dir, options: ['rbind', 'ro'] },
    });
    assert.deepEqual(parseMountFlag(`type=bind,src=${dir},target=/b,bind-propagation=rslave,bind-nonrecursive`).kind, 'mount');
    refused(() => parseMountFlag('type=bind,source=/no/such/dir/here,target=/b'), /bind source path does not exist: \/no\/such\/dir\/here/);
    refused(() => parseMountFlag('type=bind,source=rel,target=/b'), /must be an absolute path/);
    refused(() => parseMountFlag('type=bind,target=/b'), /needs a source/);
    refused(() => parseMountFlag(`type=bind,source=${dir},target=/b,bind-propagation=odd`), /bind-propagation "odd"/);
  });

  it('parses tmpfs mounts with size and mode', () => {
    assert.deepEqual(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770'), {
      kind: 'mount',
      mount: {
        destination: '/t',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'noexec', `size=${64 * 1024 * 1024}`, 'mode=1770'],
      },
    });
    refused(() => parseMountFlag('type=tmpfs,source=x,target=/t'), /unexpected key "source" for a tmpfs mount/);
    refused(() => parseMountFlag('type=tmpfs,target=/t,tmpfs-size=lots'), /invalid size "lots"/);
    refused(() => parseMountFlag('type=tmpfs,target=/t,tmpfs-mode=rwx'), /not an octal mode/);
  });

  it('refuses bad specs clearly', () => {
    refused(() => parseMountFlag('type=bogus,target=/x'), /unsupported mount type "bogus" \(bind, volume or tmpfs\)/);
    refused(() => parseMountFlag('type=volume,source=data'), /a target \(destination\) is needed/);
    refused(() => parseMountFlag('type=volume,target=relative'), /must be an absolute path/);
    refused(() => parseMountFlag('type=volume,target=/'), /cannot mount over \//);
    refused(() => parseMountFlag('type=volume,source=a/b,target=/x'), /invalid volume name "a\/b"/);
    refused(() => parseMountFlag('type=volume,target=/x,target=/y'), /target given twice/);
    refused(() => parseMountFlag('type=volume,target=/x,,ro'), /empty field/);
    refused(() => parseMountFlag('type=volume,target=/x,readonly=maybe'), /invalid value for readonly/);
    refused(() => parseMountFlag('type=volume,target=/x,volume-driver=nfs'), /only local/);
    refused(() => parseMountFlag('type=volume,target=/x,size=1'), /unexpected key "size"/);
  });
});

describe('-v', () => {
  it('tells binds, named volumes and anonymous volumes apart', () => {
    assert.deepEqual(parseVolumeFlag('/host:/ctr:ro'), { kind: 'bind', bind: '/host:/ctr:ro' });
    assert.deepEqual(parseVolumeFlag('data:/data'), { kind: 'volume', volume: { name: 'data', destination: '/data' } });
    assert.deepEqual(parseVolumeFlag('data:/data:ro'), { kind: 'volume', volume: { name: 'data', destination: '/data', readonly: true } });
    assert.deepEqual(parseVolumeFlag('data:/data:nocopy'), {
      kind: 'volume',
      volume: { name: 'data', destination: '/data', nocopy: true },
    });
    assert.deepEqual(parseVolumeFlag('/data'), { kind: 'volume', volume: { name: '', destination: '/data' } });
  });

  it('refuses bad specs clearly', () => {
    refused(() => parseVolumeFlag(':/x'), /-v :\/x: expected NAME:\/container\/path/);
    refused(() => parseVolumeFlag('data'), /expected \/container\/path/);
    refused(() => parseVolumeFlag('./rel:/x'), /"\.\/rel" is not a valid volume name/);
    refused(() => parseVolumeFlag('data:rel'), /must be an absolute path/);
    refused(() => parseVolumeFlag('data:/x:rx'), /invalid mode "rx"/);
    refused(() => parseVolumeFlag('/h:/x:nocopy'), /nocopy is for volumes/);
    refused(() => parseVolumeFlag('a:b:c:d'), /expected NAME/);
  });
});

describe('run options with mounts', () => {
  it('puts binds, mounts and volumes where the daemon takes them', () => {
    const o = runOptions(
      parseRunArgs(['-v', '/h:/a', '-v', 'data:/b', '--mount', 'type=tmpfs,target=/c', '--mount', 'target=/d', 'busybox']),
      {},
    );
    assert.deepEqual(o.binds, ['/h:/a']);
    assert.deepEqual(
      (o.mounts as { destination: string }[]).map((m) => m.destination),
      ['/c'],
    );
    assert.deepEqual(o.volumes, [
      { name: 'data', destination: '/b' },
      { name: '', destination: '/d' },
    ]);
  });

  it('refuses a destination given twice', () => {
    refused(() => runOptions(parseRunArgs(['-v', 'aa:/x', '--tmpfs', '/x', 'busybox']), {}), /duplicate mount point: \/x/);
    assert.doesNotThrow(() =>
      checkDuplicates([
        { destination: '/a', what: '-v a:/a' },
        { destination: '/b', what: '-v b:/b' },
      ]),
    );
  });
});
