import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { formatSize, parseSize } from './size';

describe('parseSize', () => {
  it('reads bytes and units in powers of 1024', () => {
    assert.equal(parseSize('1048576'), 1048576);
    assert.equal(parseSize('512k'), 512 * 1024);
    assert.equal(parseSize('10m'), 10 * 1024 * 1024);
    assert.equal(parseSize('10M'), 10 * 1024 * 1024);
    assert.equal(parseSize('10MiB'), 10 * 1024 * 1024);
    assert.equal(parseSize('10mb'), 10 * 1024 * 1024);
    assert.equal(parseSize('1G'), 1024 ** 3);
    assert.equal(parseSize(' 2t '), 2 * 1024 ** 4);
    assert.equal(parseSize('1.5g'), 1.5 * 1024 ** 3);
    assert.equal(parseSize('7b'), 7);
  });

  it('refuses malformed, empty, zero, negative and oversized input as InvalidArgument', () => {
    for (const text of ['', ' ', 'abc', '10x', '-1', '-10m', '1.5', '0', '0k', '1e6', '10 m b', 'm', '99999999999t']) {
      assert.throws(
        () => parseSize(text),
        (err: unknown) => errorKind(err) === ErrorKind.InvalidArgument && (err as Error).message.includes(JSON.stringify(text)),
        `parseSize(${JSON.stringify(text)})`,
      );
    }
  });

  it('formats sizes with the largest whole unit', () => {
    assert.equal(formatSize(10 * 1024 * 1024), '10MiB');
    assert.equal(formatSize(1536), '1536B');
    assert.equal(formatSize(3 * 1024), '3KiB');
  });
});
