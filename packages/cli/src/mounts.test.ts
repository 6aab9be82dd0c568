import { strict as assert } from 'node:assert';
import { tmpdir } from 'node:os';
import { UsageError } from './args';
import { checkDuplicates, parseMountFlag, parseVolumeFlag } from './mounts';
import { containerConfig, parseRunArgs } from './runflags';

const refused = (fn: () => unknown, message: RegExp): void =>
  assert.throws(fn, (err: unknown) => err instanceof UsageError && message.test(err.message));

describe('--mount', () => {
  it("parses volume mounts, named and anonymous, with Docker's aliases", () => {
    assert.deepEqual(parseMountFlag('type=volume,source=data,target=/data'), {
      destination: '/data',
      volume: { name: 'data', nocopy: false },
    });
    assert.deepEqual(parseMountFlag('src=data,dst=/data/,ro'), {
      destination: '/data',
      volume: { name: 'data', nocopy: false },
      readonly: true,
    });
    assert.deepEqual(parseMountFlag('type=volume,destination=/x,readonly=false,volume-nocopy'), {
      destination: '/x',
      volume: { name: '', nocopy: true },
    });
  });

  it('parses bind mounts of existing paths', () => {
    const dir = tmpdir();
    assert.deepEqual(parseMountFlag(`type=bind,source=${dir},target=/b,readonly`), {
      destination: '/b',
      bind: { source: dir, nonrecursive: false, propagation: '' },
      readonly: true,
    });
    assert.deepEqual(parseMountFlag(`type=bind,src=${dir},target=/b,bind-propagation=rslave,bind-nonrecursive`), {
      destination: '/b',
      bind: { source: dir, nonrecursive: true, propagation: 'rslave' },
      readonly: false,
    });
    refused(() => parseMountFlag('type=bind,source=/no/such/dir/here,target=/b'), /bind source path does not exist: \/no\/such\/dir\/here/);
    refused(() => parseMountFlag('type=bind,source=rel,target=/b'), /must be an absolute path/);
    refused(() => parseMountFlag('type=bind,target=/b'), /needs a source/);
    refused(() => parseMountFlag(`type=bind,source=${dir},target=/b,bind-propagation=odd`), /bind-propagation "odd"/);
  });

  it('parses tmpfs mounts with size and mode', () => {
    assert.deepEqual(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770,ro'), {
      destination: '/t',
      tmpfs: { sizeBytes: 64 * 1024 * 1024, mode: 0o1770 },
      readonly: true,
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
    assert.deepEqual(parseVolumeFlag('/host:/ctr:ro'), { destination: '/ctr', bind: { source: '/host' }, readonly: true });
    assert.deepEqual(parseVolumeFlag('/host:/ctr:rw'), { destination: '/ctr', bind: { source: '/host' }, readonly: false });
    // No mode: the mount's options say neither ro nor rw, as docker's -v.
    assert.deepEqual(parseVolumeFlag('/host:/ctr'), { destination: '/ctr', bind: { source: '/host' } });
    assert.deepEqual(parseVolumeFlag('data:/data'), { destination: '/data', volume: { name: 'data' } });
    assert.deepEqual(parseVolumeFlag('data:/data:ro'), { destination: '/data', volume: { name: 'data' }, readonly: true });
    assert.deepEqual(parseVolumeFlag('data:/data:nocopy'), { destination: '/data', volume: { name: 'data', nocopy: true } });
    assert.deepEqual(parseVolumeFlag('/data'), { destination: '/data', volume: { name: '' } });
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

describe('container config with mounts', () => {
  it('lists -v, --mount and --tmpfs in that order, each as its kind', () => {
    const { mounts } = containerConfig(
      parseRunArgs([
        '--tmpfs',
        '/e:size=1m',
        '-v',
        '/h:/a',
        '-v',
        'data:/b',
        '--mount',
        'type=tmpfs,target=/c',
        '--mount',
        'target=/d',
        'busybox',
      ]),
      {},
    );
    assert.deepEqual(mounts, [
      { destination: '/a', bind: { source: '/h' } },
      { destination: '/b', volume: { name: 'data' } },
      { destination: '/c', tmpfs: {} },
      { destination: '/d', volume: { name: '', nocopy: false } },
      { destination: '/e', tmpfs: {}, options: ['size=1m'] },
    ]);
  });

  it('refuses a destination given twice', () => {
    refused(() => containerConfig(parseRunArgs(['-v', 'aa:/x', '--tmpfs', '/x', 'busybox']), {}), /duplicate mount point: \/x/);
    assert.doesNotThrow(() =>
      checkDuplicates([
        { destination: '/a', what: '-v a:/a' },
        { destination: '/b', what: '-v b:/b' },
      ]),
    );
  });
});
