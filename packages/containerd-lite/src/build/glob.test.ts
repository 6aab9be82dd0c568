import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { ComponentPattern, hasWildcards } from './glob';

const matches = (pattern: string, name: string) => new ComponentPattern(pattern).matches(name);

describe('COPY wildcards (Go filepath.Match per component)', () => {
  it('tells wildcard components from literal ones, escapes included', () => {
    for (const p of ['*', '*.txt', 'a?c', '[ab]', 'x[^y]']) assert.equal(hasWildcards(p), true, p);
    for (const p of ['a.txt', 'a\\*b', '\\[x]', 'plain-name']) assert.equal(hasWildcards(p), false, p);
  });

  it('matches stars, question marks, classes, ranges and negations as Go does', () => {
    const cases: [string, string, boolean][] = [
      ['*', 'anything', true],
      ['*', '.hidden', true],
      ['*', '', true],
      ['*.txt', 'a.txt', true],
      ['*.txt', 'a.txt.bak', false],
      ['a*b*c', 'aXXbYYc', true],
      ['a*b*c', 'aXXbYY', false],
      ['a*a*a*a*b', 'a'.repeat(200), false],
      ['**', 'abc', true],
      ['?', 'é', true],
      ['?', 'ab', false],
      ['a?c', 'abc', true],
      ['[ab].txt', 'b.txt', true],
      ['[ab].txt', 'c.txt', false],
      ['[a-c]x', 'bx', true],
      ['[a-c]x', 'dx', false],
      ['[^a-c]x', 'dx', true],
      ['[^a-c]x', 'ax', false],
      ['[\\]]', ']', true],
      ['[\\-]', '-', true],
      ['a\\*b', 'a*b', true],
      ['a\\*b', 'aXb', false],
      ['x]', 'x]', true],
    ];
    for (const [pattern, name, expected] of cases) assert.equal(matches(pattern, name), expected, `${pattern} ~ ${name}`);
  });

  it('refuses malformed patterns with InvalidArgument naming them', () => {
    for (const bad of ['[', '[]', '[^]', '[a-]', 'a\\', '[a', '[]a]']) {
      assert.throws(
        () => new ComponentPattern(bad),
        (err: Error) => errorKind(err) === ErrorKind.InvalidArgument && err.message.includes(`"${bad}"`),
        bad,
      );
    }
  });
});
