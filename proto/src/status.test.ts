import { strict as assert } from 'node:assert';
import { EngineError, ErrorKind, ErrorReason, errorKind, notFound, wrap } from './errors';
import { GrpcCode, fromGrpcStatus, grpcCodeOf, kindOfGrpcCode, toGrpcStatus } from './status';

describe('error kinds and gRPC status', () => {
  it("maps kinds to containerd's errdefs codes", () => {
    assert.equal(grpcCodeOf(ErrorKind.InvalidArgument), 3);
    assert.equal(grpcCodeOf(ErrorKind.NotFound), 5);
    assert.equal(grpcCodeOf(ErrorKind.AlreadyExists), 6);
    assert.equal(grpcCodeOf(ErrorKind.FailedPrecondition), 9);
    assert.equal(grpcCodeOf(ErrorKind.NotImplemented), 12);
    assert.equal(grpcCodeOf(ErrorKind.Unavailable), 14);
    assert.equal(grpcCodeOf(ErrorKind.Canceled), 1);
    assert.equal(grpcCodeOf(ErrorKind.DeadlineExceeded), 4);
  });

  it('round-trips every kind through its code', () => {
    for (const kind of Object.values(ErrorKind)) {
      assert.equal(kindOfGrpcCode(grpcCodeOf(kind)), kind, kind);
    }
  });

  it('treats codes without a kind as Unknown', () => {
    assert.equal(kindOfGrpcCode(GrpcCode.DATA_LOSS), ErrorKind.Unknown);
    assert.equal(kindOfGrpcCode(99), ErrorKind.Unknown);
  });

  it('keeps the kind through wrapping and causes', () => {
    const wrapped = wrap(notFound('snapshot "x" not found'), 'commit');
    assert.equal(wrapped.kind, ErrorKind.NotFound);
    assert.equal(wrapped.message, 'commit: snapshot "x" not found');
    const plain = new Error('outer', { cause: new EngineError(ErrorKind.AlreadyExists, 'inner') });
    assert.equal(errorKind(plain), ErrorKind.AlreadyExists);
    assert.equal(errorKind(new Error('anything')), ErrorKind.Unknown);
  });

  it('turns thrown values into a status and back', () => {
    const status = toGrpcStatus(notFound('image "busybox" not found'));
    assert.deepEqual(status, { code: 5, details: 'image "busybox" not found' });
    const back = fromGrpcStatus(status.code, status.details);
    assert.equal(back.kind, ErrorKind.NotFound);
    assert.equal(back.message, 'image "busybox" not found');
    assert.equal(toGrpcStatus('a string').code, GrpcCode.UNKNOWN);
  });

  it('carries a reason, also from a cause, and rebuilds it', () => {
    const missing = new EngineError(ErrorKind.NotFound, 'image "x" not found', { reason: ErrorReason.ImageNotFound });
    const status = toGrpcStatus(new Error('run', { cause: missing }));
    assert.deepEqual(status, { code: GrpcCode.NOT_FOUND, details: 'run', reason: ErrorReason.ImageNotFound });
    assert.equal(fromGrpcStatus(GrpcCode.NOT_FOUND, 'image "x" not found', status.reason).reason, ErrorReason.ImageNotFound);
    assert.equal(fromGrpcStatus(GrpcCode.NOT_FOUND, 'image "x" not found').reason, undefined);
  });
});
