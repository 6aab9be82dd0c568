/**
 * COPY and ADD source wildcards as Docker matches them: Go's filepath.Match, one path component
 * at a time. `*` is any run of characters but "/", `?` one character, `[...]` a class (`[^...]`
 * negated, `a-z` ranges), `\` escapes the next character. `**` is no more than `*`: it does not
 * cross directories (Docker's COPY has no recursive wildcard).
 */
import { invalidArgument } from '@ctl/proto/errors';

type Token =
  { kind: 'star' } | { kind: 'one' } | { kind: 'literal'; char: string } | { kind: 'class'; negated: boolean; ranges: [string, string][] };

/** Whether a path component holds an unescaped wildcard (otherwise it names one entry literally). */
export function hasWildcards(component: string): boolean {
  for (let i = 0; i < component.length; i++) {
    if (component[i] === '\\') i++;
    else if (component[i] === '*' || component[i] === '?' || component[i] === '[') return true;
  }
  return false;
}

/** A component pattern, checked (InvalidArgument naming it when malformed) and ready to match. */
export class ComponentPattern {
  private readonly tokens: Token[];

  constructor(readonly pattern: string) {
    this.tokens = parse(pattern);
  }

  matches(name: string): boolean {
    return matchFrom(this.tokens, Array.from(name));
  }
}

function parse(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const bad = (why: string) => invalidArgument(`invalid wildcard pattern "${pattern}": ${why}`);
  const tokens: Token[] = [];
  let i = 0;
  // A class member: any character but an unescaped "-" or "]" (Go's rule), "\" escapes.
  const member = (): string => {
    if (i >= chars.length) throw bad('unterminated [');
    let c = chars[i++];
    if (c === '-' || c === ']') throw bad(`"${c}" must be escaped in a class`);
    if (c === '\\') {
      if (i >= chars.length) throw bad('trailing \\');
      c = chars[i++];
    }
    return c;
  };
  while (i < chars.length) {
    const c = chars[i++];
    if (c === '*') tokens.push({ kind: 'star' });
    else if (c === '?') tokens.push({ kind: 'one' });
    else if (c === '\\') {
      if (i >= chars.length) throw bad('trailing \\');
      tokens.push({ kind: 'literal', char: chars[i++] });
    } else if (c === '[') {
      const negated = chars[i] === '^';
      if (negated) i++;
      const ranges: [string, string][] = [];
      do {
        const lo = member();
        let hi = lo;
        if (chars[i] === '-') {
          i++;
          hi = member();
        }
        ranges.push([lo, hi]);
      } while (i < chars.length && chars[i] !== ']');
      if (i >= chars.length) throw bad('unterminated [');
      i++;
      tokens.push({ kind: 'class', negated, ranges });
    } else tokens.push({ kind: 'literal', char: c });
  }
  return tokens;
}

function matchOne(token: Token, char: string): boolean {
  switch (token.kind) {
    case 'one':
      return true;
    case 'literal':
      return token.char === char;
    case 'class': {
      const point = char.codePointAt(0)!;
      const inside = token.ranges.some(([lo, hi]) => lo.codePointAt(0)! <= point && point <= hi.codePointAt(0)!);
      return inside !== token.negated;
    }
    case 'star':
      return false;
  }
}

/** Wildcard matching with one backtrack point (the last star): linear in practice, never exponential. */
function matchFrom(tokens: Token[], name: string[]): boolean {
  let t = 0;
  let n = 0;
  let lastStar = -1;
  let starAt = 0;
  while (n < name.length) {
    if (t < tokens.length && tokens[t].kind === 'star') {
      lastStar = t++;
      starAt = n;
    } else if (t < tokens.length && matchOne(tokens[t], name[n])) {
      t++;
      n++;
    } else if (lastStar >= 0) {
      t = lastStar + 1;
      n = ++starAt;
    } else return false;
  }
  while (t < tokens.length && tokens[t].kind === 'star') t++;
  return t === tokens.length;
}
