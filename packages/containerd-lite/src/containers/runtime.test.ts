import { strict as assert } from 'node:assert';
import { RUNC_OPTIONS_TYPE, RUNC_SHIM, binaryName, runtimeRecord } from './runtime';

describe('container runtime records (runc options binary_name)', () => {
  it('records the default without options and a binary in containerd.runc.v1.Options', () => {
    assert.deepEqual(runtimeRecord(''), { name: RUNC_SHIM });
    const crun = runtimeRecord('crun');
    assert.equal(crun.options?.typeUrl, RUNC_OPTIONS_TYPE);
    // field 6 (binary_name), length-delimited: what containerd's Go encoder writes
    assert.deepEqual([...crun.options!.value], [0x32, 4, ...Buffer.from('crun')]);
    assert.equal(binaryName(crun), 'crun');
    assert.equal(binaryName({ name: RUNC_SHIM }), '');
  });

  it('reads binary_name among the other fields ctr may set, and ignores options of another type', () => {
    // no_pivot_root=true (1), shim_cgroup="x" (3), binary_name="runc" (6), systemd_cgroup=true (9)
    const value = Buffer.from([0x08, 1, 0x1a, 1, 0x78, 0x32, 4, ...Buffer.from('runc'), 0x48, 1]);
    assert.equal(binaryName({ name: RUNC_SHIM, options: { typeUrl: `types.containerd.io/${RUNC_OPTIONS_TYPE}`, value } }), 'runc');
    assert.equal(binaryName({ name: RUNC_SHIM, options: { typeUrl: 'example.com/Other', value } }), '');
    assert.throws(
      () => binaryName({ name: RUNC_SHIM, options: { typeUrl: RUNC_OPTIONS_TYPE, value: Buffer.from([0x32, 9, 0x61]) } }),
      /malformed/,
    );
  });
});
