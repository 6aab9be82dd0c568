import { strict as assert } from 'node:assert';
import { Dockerignore, DockerignoreError, cleanPath, parseDockerignore } from './dockerignore';

/** Which of `paths` the .dockerignore text leaves out. */
const excluded = (text: string, paths: string[]): string[] => {
  const ignore = Dockerignore.parse(text);
  return paths.filter((p) => ignore.excludes(p));
};

describe('.dockerignore', () => {
  it('reads patterns as docker does: comments, blank lines, spaces, CRLF, a BOM, cleaned paths', () => {
    const text =
      '\uFEFF# a comment\r\n\n  node_modules  \r\n./build/\n/abs\na//b/../c\n  # not a comment once trimmed? it is a pattern\n! keep \n';
    assert.deepEqual(parseDockerignore(text), [
      { pattern: 'node_modules', exception: false },
      { pattern: 'build', exception: false },
      { pattern: 'abs', exception: false },
      { pattern: 'a/c', exception: false },
      { pattern: '# not a comment once trimmed? it is a pattern', exception: false },
      { pattern: 'keep', exception: true },
    ]);
    assert.equal(cleanPath('./a//b/./c/'), 'a/b/c');
    assert.equal(cleanPath('a/../..'), '..');
    assert.equal(cleanPath(''), '.');
  });

  it('refuses a bare "!" and broken patterns, naming them', () => {
    assert.throws(
      () => parseDockerignore('a\n!\n'),
      (e: Error) => e instanceof DockerignoreError && /line 2: illegal exclusion pattern/.test(e.message),
    );
    assert.throws(() => Dockerignore.parse('[abc'), /syntax error in pattern "\[abc"/);
    assert.throws(() => Dockerignore.parse('abc\\'), /syntax error in pattern/);
  });

  it('matches * and ? within one path component, as Go filepath.Match', () => {
    const paths = ['x.go', 'src/x.go', 'a.txt', 'ab', 'abc', 'a/b'];
    assert.deepEqual(excluded('*.go', paths), ['x.go']);
    assert.deepEqual(excluded('a?', paths), ['ab']);
    assert.deepEqual(excluded('a?c', paths), ['abc']);
    assert.deepEqual(excluded('*/x.go', paths), ['src/x.go']);
    assert.deepEqual(excluded('a*b', paths), ['ab'], '* never crosses /');
  });

  it('matches ** as any number of directories, none too', () => {
    const paths = ['x.go', 'src/x.go', 'src/deep/er/x.go', 'src/x.txt', 'a/b', 'a/x/y/b', 'a/b/c', 'ab'];
    assert.deepEqual(excluded('**/*.go', paths), ['x.go', 'src/x.go', 'src/deep/er/x.go']);
    assert.deepEqual(excluded('a/**/b', paths), ['a/b', 'a/x/y/b', 'a/b/c']);
    assert.deepEqual(excluded('**', paths), paths);
    assert.deepEqual(excluded('src/**', paths), ['src/x.go', 'src/deep/er/x.go', 'src/x.txt']);
  });

  it('takes character classes and escapes', () => {
    const paths = ['a1', 'b1', 'c1', 'd1', '*', 'x*', 'xy', '[a]', 'a/1'];
    assert.deepEqual(excluded('[a-c]1', paths), ['a1', 'b1', 'c1']);
    assert.deepEqual(excluded('[^a-c]1', paths), ['d1']);
    assert.deepEqual(excluded('x\\*', paths), ['x*']);
    assert.deepEqual(excluded('\\[a\\]', paths), ['[a]']);
    assert.deepEqual(excluded('a[^b]1', ['a/1', 'ax1']), ['ax1'], 'a class never matches /');
    assert.deepEqual(excluded('[]a]1', ['a1', ']1', 'b1']), ['a1', ']1'], "a ] first in a class is a member, as Go's");
  });

  it('leaves out everything below a directory that matches, and anything whose parent matches', () => {
    const paths = ['node_modules', 'node_modules/x/index.js', 'src/node_modules/y', 'nodes'];
    assert.deepEqual(excluded('node_modules', paths), ['node_modules', 'node_modules/x/index.js']);
    assert.deepEqual(excluded('**/node_modules', paths), ['node_modules', 'node_modules/x/index.js', 'src/node_modules/y']);
    assert.deepEqual(excluded('*/node_modules', paths), ['src/node_modules/y']);
  });

  it('lets the last matching pattern decide, exceptions included', () => {
    const paths = ['README.md', 'CHANGES.md', 'docs/x.md', 'main.go'];
    assert.deepEqual(excluded('*.md\n!README.md', paths), ['CHANGES.md']);
    assert.deepEqual(excluded('!README.md\n*.md', paths), ['README.md', 'CHANGES.md']);
    assert.deepEqual(excluded('*\n!main.go', paths), ['README.md', 'CHANGES.md', 'docs/x.md']);
    assert.deepEqual(
      excluded('**/*.md\n!docs\n', paths),
      ['README.md', 'CHANGES.md'],
      'an exception for a directory takes back what is in it',
    );
    assert.deepEqual(excluded('docs\n!docs/x.md\n', paths), []);
    assert.deepEqual(excluded('docs\n!docs/x.md\ndocs/*.md\n', paths), ['docs/x.md']);
  });

  it('says whether an exception may match below a left-out directory (only then is it walked)', () => {
    const ignore = Dockerignore.parse('docs\nvendor\n!docs/keep/*.txt\nbuild\n!**/keep.me\n');
    assert.equal(ignore.mayIncludeBelow('docs'), true);
    assert.equal(ignore.mayIncludeBelow('docs/keep'), true);
    assert.equal(ignore.mayIncludeBelow('docs/other'), true, '**/keep.me may match anywhere');
    const narrow = Dockerignore.parse('docs\nvendor\n!docs/keep/*.txt\n');
    assert.equal(narrow.mayIncludeBelow('docs'), true);
    assert.equal(narrow.mayIncludeBelow('docs/keep'), true);
    assert.equal(narrow.mayIncludeBelow('docs/other'), false);
    assert.equal(narrow.mayIncludeBelow('docs/keep/deeper'), false, '*.txt matches files of docs/keep, not below its subdirectories');
    assert.equal(narrow.mayIncludeBelow('vendor'), false);
    assert.equal(Dockerignore.parse('docs\n').mayIncludeBelow('docs'), false, 'no exceptions: never walked');
    assert.equal(
      Dockerignore.parse('docs\n!docs\ndocs\n').mayIncludeBelow('docs'),
      false,
      'an exception of the directory itself decides as the directory does',
    );
  });

  it('excludes nothing without patterns', () => {
    assert.deepEqual(excluded('', ['a', 'b/c']), []);
    assert.deepEqual(excluded('# only a comment\n\n', ['a']), []);
  });
});
