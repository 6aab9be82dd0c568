import { ErrorKind, isKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { atLine, EXPANDED_KINDS, expand, expandPairs, expandWords } from './expand';
import { DockerfileError } from './model';

const vars = { A: 'a', EMPTY: '', SPACED: 'x  y', PATH: '/usr/bin', VERSION: 'v1.2.3', FILE: 'archive.tar.gz', 1: 'one' };

function refused(word: string, pattern: RegExp): void {
  assert.throws(
    () => expand(word, vars),
    (err: unknown) =>
      err instanceof DockerfileError && isKind(err, ErrorKind.InvalidArgument) && err.line === 0 && pattern.test(err.message),
    word,
  );
}

describe('expand', () => {
  it('replaces $NAME and ${NAME}, unset ones with nothing', () => {
    const cases: [string, string][] = [
      ['$A', 'a'],
      ['${A}', 'a'],
      ['$A/b', 'a/b'],
      ['${A}b', 'ab'],
      ['$Ab', ''],
      ['pre-$UNSET-post', 'pre--post'],
      ['$PATH:/sbin', '/usr/bin:/sbin'],
      ['$1x', 'onex'],
      ['cost: $ 5 $', 'cost: $ 5 $'],
      ['$-$/', '$-$/'],
    ];
    for (const [word, want] of cases) assert.equal(expand(word, vars), want, word);
  });

  it('applies the default and alternative operators, with and without the colon', () => {
    const cases: [string, string][] = [
      ['${UNSET:-d}', 'd'],
      ['${EMPTY:-d}', 'd'],
      ['${A:-d}', 'a'],
      ['${UNSET-d}', 'd'],
      ['${EMPTY-d}', ''],
      ['${A-d}', 'a'],
      ['${UNSET:+alt}', ''],
      ['${EMPTY:+alt}', ''],
      ['${A:+alt}', 'alt'],
      ['${UNSET+alt}', ''],
      ['${EMPTY+alt}', 'alt'],
      ['${A+alt}', 'alt'],
      ['${UNSET:-}', ''],
      ['${UNSET:-a b}', 'a b'],
    ];
    for (const [word, want] of cases) assert.equal(expand(word, vars), want, word);
  });

  it('expands nested defaults and quotes inside them', () => {
    assert.equal(expand('${UNSET:-${A}}', vars), 'a');
    assert.equal(expand('${UNSET:-${ALSO_UNSET:-deep}}', vars), 'deep');
    assert.equal(expand('${A:+<${PATH}>}', vars), '</usr/bin>');
    assert.equal(expand('${UNSET:-"quoted }"}', vars), 'quoted }');
    assert.equal(expand('${UNSET:-\\}}', vars), '}');
  });

  it('removes quotes: single quotes suppress expansion, double quotes keep it', () => {
    const cases: [string, string][] = [
      ["'$A'", '$A'],
      ['"$A"', 'a'],
      ['"${A}-x"', 'a-x'],
      ['"it\'s"', "it's"],
      ['\'say "hi"\'', 'say "hi"'],
      ['a"b c"d', 'ab cd'],
      ['""', ''],
      ["''", ''],
      ['"$SPACED"', 'x  y'],
    ];
    for (const [word, want] of cases) assert.equal(expand(word, vars), want, word);
  });

  it('takes the escape character literally before the next character, and only before "$\\ inside double quotes', () => {
    const cases: [string, string][] = [
      ['\\$A', '$A'],
      ['\\${A}', '${A}'],
      ['a\\ b', 'a b'],
      ['\\\\', '\\'],
      ['\\n', 'n'],
      ['"\\$A"', '$A'],
      ['"\\"q\\""', '"q"'],
      ['"a\\nb"', 'a\\nb'],
      ['"\\\\"', '\\'],
      ['end\\', 'end\\'],
      ["'\\$A'", '\\$A'],
    ];
    for (const [word, want] of cases) assert.equal(expand(word, vars), want, word);
  });

  it('uses the escape directive character instead of backslash', () => {
    assert.equal(expand('`$A', vars, '`'), '$A');
    assert.equal(expand('C:\\$A', vars, '`'), 'C:\\a');
    assert.equal(expand('"``"', vars, '`'), '`');
  });

  it('removes prefixes and suffixes and replaces by glob patterns', () => {
    const cases: [string, string][] = [
      ['${VERSION#v}', '1.2.3'],
      ['${VERSION#*.}', '2.3'],
      ['${VERSION##*.}', '3'],
      ['${VERSION%.*}', 'v1.2'],
      ['${VERSION%%.*}', 'v1'],
      ['${FILE%.tar.gz}', 'archive'],
      ['${FILE#x}', 'archive.tar.gz'],
      ['${VERSION/./-}', 'v1-2.3'],
      ['${VERSION//./-}', 'v1-2-3'],
      ['${VERSION//[0-9]/N}', 'vN.N.N'],
      ['${VERSION//[!0-9]}', '123'],
      ['${UNSET#x}', ''],
    ];
    for (const [word, want] of cases) assert.equal(expand(word, vars), want, word);
  });

  it('refuses :? on an unset or empty variable, with its message, but not in an unused operand', () => {
    refused('${UNSET:?must be set}', /UNSET: must be set/);
    refused('${EMPTY:?}', /EMPTY: is empty/);
    refused('${UNSET?}', /UNSET: is not set/);
    assert.equal(expand('${EMPTY?}', vars), '');
    assert.equal(expand('${A:?x}', vars), 'a');
    assert.equal(expand('${A:-${UNSET:?never}}', vars), 'a');
  });

  it('refuses bad substitutions and unterminated quotes', () => {
    refused('${A', /missing '}'/);
    refused('${A:-x', /missing '}'/);
    refused('${}', /needs a variable name/);
    refused('${A:x}', /unsupported modifier ":x"/);
    refused('${A!}', /unsupported modifier/);
    refused("'open", /unterminated single quote/);
    refused('"open', /unterminated double quote/);
  });

  it('takes a Map as well as a record, and no names from Object.prototype', () => {
    assert.equal(expand('$A-$B', new Map([['A', '1']])), '1-');
    assert.equal(expand('[$constructor][$toString][${__proto__}]', {}), '[][][]');
  });
});

describe('expandWords', () => {
  it('splits at unquoted blanks, also those an unquoted variable brings, dropping empty fields', () => {
    assert.deepEqual(expandWords('80/tcp  $PORTS', { PORTS: '443 8080/udp' }), ['80/tcp', '443', '8080/udp']);
    assert.deepEqual(expandWords('"$SPACED" $SPACED', vars), ['x  y', 'x', 'y']);
    assert.deepEqual(expandWords("'a b' a\\ b", vars), ['a b', 'a b']);
    assert.deepEqual(expandWords('$UNSET "" x', vars), ['x']);
    assert.deepEqual(expandWords('${UNSET:-p q}', vars), ['p', 'q']);
  });
});

describe('expandPairs', () => {
  it("expands every pair with the values from before the instruction, as Docker's ENV does", () => {
    const pairs = [
      { key: 'A', value: 'new' },
      { key: 'B', value: '$A' },
      { key: '"${A}_KEY"', value: '"x y"' },
    ];
    assert.deepEqual(expandPairs(pairs, vars), [
      { key: 'A', value: 'new' },
      { key: 'B', value: 'a' },
      { key: 'a_KEY', value: 'x y' },
    ]);
  });
});

describe('atLine', () => {
  it("gives substitution errors the instruction's line and what was expanded", () => {
    assert.throws(
      () => atLine(7, 'COPY --from', () => expand('${X', {})),
      (err: unknown) =>
        err instanceof DockerfileError && err.line === 7 && err.message.startsWith('Dockerfile:7: COPY --from: bad substitution'),
    );
    assert.equal(
      atLine(7, 'x', () => expand('$A', vars)),
      'a',
    );
  });
});

describe('EXPANDED_KINDS', () => {
  it('holds the instructions Docker expands, and not those the shell or the child image does', () => {
    for (const kind of ['ADD', 'ARG', 'COPY', 'ENV', 'EXPOSE', 'FROM', 'LABEL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'] as const)
      assert.ok(EXPANDED_KINDS.has(kind), kind);
    for (const kind of ['RUN', 'CMD', 'ENTRYPOINT', 'ONBUILD', 'SHELL', 'HEALTHCHECK', 'MAINTAINER'] as const)
      assert.ok(!EXPANDED_KINDS.has(kind), kind);
  });
});
