/**
 * .dockerignore, with Docker's rules: which paths of a build context are left out.
 *
 * - One pattern a line; a line starting with `#` is a comment; spaces around a pattern go;
 *   blank lines are nothing. A leading `!` makes an exception (what matches is sent after all).
 * - A pattern is cleaned as a path (`./a//b/` is `a/b`, a leading `/` goes) and matched against
 *   the path relative to the context root, `/`-separated: Go's filepath.Match syntax (`*` and `?`
 *   within one path component, `[a-z]`, `[^a-z]`, `\` escapes) plus `**`, any number of whole
 *   directories (zero too): `**∕*.go` is every .go file at any depth.
 * - A pattern that matches a directory matches everything below it.
 * - The last pattern that matches a path decides: `*.md` then `!README.md` sends README.md.
 */

export class DockerignoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DockerignoreError';
  }
}

export interface IgnorePattern {
  /** the pattern as cleaned, without its `!` */
  pattern: string;
  exception: boolean;
}

interface Compiled extends IgnorePattern {
  regexp: RegExp;
  /** one per `/`-separated component, for asking whether something below a directory may match */
  segments: { text: string; regexp: RegExp; anyDepth: boolean }[];
}

/** A path cleaned as Go's path.Clean does it: no `.` components, `..` resolved, no doubled or trailing `/`. */
export function cleanPath(path: string): string {
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/** The patterns of a .dockerignore file's text, in order. */
export function parseDockerignore(text: string): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  for (const [i, raw] of text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .entries()) {
    if (raw.startsWith('#')) continue;
    let line = raw.trim();
    if (!line) continue;
    const exception = line.startsWith('!');
    if (exception) {
      line = line.slice(1).trim();
      if (!line) throw new DockerignoreError(`.dockerignore line ${i + 1}: illegal exclusion pattern: "!"`);
    }
    let pattern = cleanPath(line);
    if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    patterns.push({ pattern, exception });
  }
  return patterns;
}

const REGEXP_SPECIAL = /[.*?+^${}()|[\]\\/]/;

/**
 * A pattern as a regular expression source (unanchored). `*` and `?` never cross `/`; `**`
 * followed by `/` is any number of directories, else any text.
 */
function translate(pattern: string, whole: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        while (pattern[i + 1] === '*') i++;
        if (pattern[i + 1] === '/') {
          out += '(?:.*/)?';
          i++;
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) throw new DockerignoreError(`.dockerignore: syntax error in pattern "${whole}" (a trailing \\)`);
      out += REGEXP_SPECIAL.test(next) ? `\\${next}` : next;
    } else if (c === '[') {
      const end = classEnd(pattern, i);
      if (end < 0) throw new DockerignoreError(`.dockerignore: syntax error in pattern "${whole}" (an unclosed [)`);
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith('^');
      if (negated) body = body.slice(1);
      // Escape what a JavaScript class would read differently; keep ranges and Go's \ escapes.
      body = body.replace(/\\(.)|([\]^[])/g, (_m, escaped: string | undefined, special: string | undefined) => {
        const literal = escaped ?? special!;
        return /[\\\]^[-]/.test(literal) ? `\\${literal}` : literal;
      });
      // A class stands for one character of one component: never `/`.
      out += negated ? `[^/${body}]` : `(?!/)[${body}]`;
      i = end;
    } else {
      out += REGEXP_SPECIAL.test(c) ? `\\${c}` : c;
    }
  }
  return out;
}

/** Where the class opened at `start` closes (Go: a `]` right after `[` or `[^` is a member), or -1. */
function classEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === '^') i++;
  if (pattern[i] === ']') i++;
  for (; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']') return i;
  }
  return -1;
}

function compile(p: IgnorePattern): Compiled {
  const regexp = new RegExp(`^${translate(p.pattern, p.pattern)}$`);
  const segments = p.pattern.split('/').map((text) => ({
    text,
    regexp: new RegExp(`^${translate(text, p.pattern)}$`),
    anyDepth: text.includes('**'),
  }));
  return { ...p, regexp, segments };
}

export class Dockerignore {
  private readonly compiled: Compiled[];

  constructor(patterns: IgnorePattern[]) {
    this.compiled = patterns.map(compile);
  }

  static parse(text: string): Dockerignore {
    return new Dockerignore(parseDockerignore(text));
  }

  get patterns(): IgnorePattern[] {
    return this.compiled.map(({ pattern, exception }) => ({ pattern, exception }));
  }

  /** Whether the context leaves `path` out (relative to the context root, `/`-separated). */
  excludes(path: string): boolean {
    if (!this.compiled.length) return false;
    const clean = cleanPath(path);
    const prefixes: string[] = [];
    let at = clean.indexOf('/');
    while (at >= 0) {
      prefixes.push(clean.slice(0, at));
      at = clean.indexOf('/', at + 1);
    }
    prefixes.push(clean);
    // The last pattern to match the path, or a directory above it, decides.
    for (let i = this.compiled.length - 1; i >= 0; i--) {
      const p = this.compiled[i]!;
      if (prefixes.some((prefix) => p.regexp.test(prefix))) return !p.exception;
    }
    return false;
  }

  /**
   * Whether an exception may match something below the directory `dir` that it does not
   * match through `dir` itself: only then is an excluded directory worth walking. A pattern
   * that matches `dir` or a directory above it decides for everything below alike, so only
   * exceptions with more components than `dir` (or a `**` among its components) count.
   */
  mayIncludeBelow(dir: string): boolean {
    const parts = cleanPath(dir).split('/');
    return this.compiled.some((p) => {
      if (!p.exception) return false;
      for (const [i, part] of parts.entries()) {
        const segment = p.segments[i];
        if (!segment) return false;
        if (segment.anyDepth) return true;
        if (!segment.regexp.test(part)) return false;
      }
      return p.segments.length > parts.length;
    });
  }
}
