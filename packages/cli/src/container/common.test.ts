import { strict as assert } from 'node:assert';
import { EngineError, ErrorKind, ErrorReason } from '@ctl/proto/errors';
import { CANNOT_INVOKE, ENGINE_FAILED, NOT_FOUND, startFailure } from './common';

describe('startFailure', () => {
  it("takes docker's 126/127 from the reason the daemon tags the failure with, never from its words", () => {
    const tagged = (reason: ErrorReason) => new EngineError(ErrorKind.NotFound, 'create x: something', { reason });
    assert.equal(startFailure(tagged(ErrorReason.CommandNotFound)), NOT_FOUND);
    assert.equal(startFailure(tagged(ErrorReason.CommandNotExecutable)), CANNOT_INVOKE);
    // A socket's ENOENT or a mount's "permission denied" is the engine's failure, not the command's.
    assert.equal(startFailure(new EngineError(ErrorKind.NotFound, 'connect ENOENT /run/ctl/x.sock: no such file')), ENGINE_FAILED);
    assert.equal(startFailure(new EngineError(ErrorKind.PermissionDenied, 'mount proc: permission denied')), ENGINE_FAILED);
  });
});
