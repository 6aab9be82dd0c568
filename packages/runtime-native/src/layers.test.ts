/**
 * The layer wrapper without root: the exit-code mapping, usage errors of the tools, and
 * cancellation before the tool starts.
 */
import * as assert from 'node:assert/strict';
import { ErrorKind } from '@ctl/proto/errors';
import { LAYER_EXIT, kindFromNativeExit } from './errors';
import { applyLayer, diffLayer } from './layers';

describe('layers wrapper', () => {
  it('maps every exit code of ctl-apply/ctl-diff to one kind', () => {
    assert.equal(kindFromNativeExit(LAYER_EXIT.Invalid), ErrorKind.InvalidArgument);
    assert.equal(kindFromNativeExit(LAYER_EXIT.Usage), ErrorKind.InvalidArgument);
    assert.equal(kindFromNativeExit(LAYER_EXIT.DiffIdMismatch), ErrorKind.FailedPrecondition);
    assert.equal(kindFromNativeExit(LAYER_EXIT.NoSpace), ErrorKind.ResourceExhausted);
    assert.equal(kindFromNativeExit(LAYER_EXIT.NotFound), ErrorKind.NotFound);
    assert.equal(kindFromNativeExit(LAYER_EXIT.Internal), ErrorKind.Internal);
    assert.equal(kindFromNativeExit(137), ErrorKind.Internal);
  });

  it('a malformed expected diff id is refused by ctl-apply as InvalidArgument', async () => {
    await assert.rejects(
      applyLayer({ input: '/dev/null', target: '/nonexistent', whiteouts: 'remove', expectDiffId: 'md5:x' }),
      (err: Error & { kind?: string }) => {
        assert.equal(err.kind, ErrorKind.InvalidArgument);
        assert.match(err.message, /^ctl-apply: --expect-diff-id md5:x: not a sha256/);
        return true;
      },
    );
  });

  it('an already aborted signal does not start the tool', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(diffLayer({ upper: '/', mode: 'overlay', compression: 'none', output: '/nonexistent/x', signal: ac.signal }), {
      kind: ErrorKind.Canceled,
    });
  });
});
