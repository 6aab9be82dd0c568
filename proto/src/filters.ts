/**
 * containerd's filter syntax, for List/Walk: `name==foo,labels."containerd.io/snapshot.ref"==x`.
 * A list of filters is OR-ed; within one filter, comma-separated selectors are AND-ed. A
 * selector is a field path, optionally followed by ==, != or ~= (regular expression) and a value;
 * a bare field path tests that the field is present and not empty. Values and path parts may be
 * double-quoted.
 */
import { invalidArgument } from './errors';

type Operator = '==' | '!=' | '~=' | 'present';

interface Selector {
  path: string[];
  operator: Operator;
  value: string;
  regexp?: RegExp;
}

export type Adaptor = (path: string[]) => string | undefined;

export interface Filter {
  match(adaptor: Adaptor): boolean;
}

class Scanner {
  private pos = 0;
  constructor(private readonly text: string) {}

  done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(n = 1): string {
    return this.text.slice(this.pos, this.pos + n);
  }

  take(n = 1): string {
    const s = this.text.slice(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  skipSpaces(): void {
    while (this.peek() === ' ') this.pos++;
  }

  fail(why: string): never {
    throw invalidArgument(`filter "${this.text}": ${why} at position ${this.pos}`);
  }

  quoted(): string {
    this.take(); // opening quote
    let out = '';
    while (!this.done() && this.peek() !== '"') {
      if (this.peek() === '\\') this.take();
      out += this.take();
    }
    if (this.done()) this.fail('unterminated quote');
    this.take();
    return out;
  }

  /** A path part or a bare value: up to a separator. */
  word(stops: string): string {
    let out = '';
    while (!this.done() && !stops.includes(this.peek()) && !['==', '!=', '~='].includes(this.peek(2))) out += this.take();
    return out.trim();
  }
}

function parseSelector(s: Scanner): Selector {
  const path: string[] = [];
  for (;;) {
    s.skipSpaces();
    const part = s.peek() === '"' ? s.quoted() : s.word('.,"');
    if (!part) s.fail('empty field name');
    path.push(part);
    if (s.peek() !== '.') break;
    s.take();
  }
  s.skipSpaces();
  const op = s.peek(2);
  if (op !== '==' && op !== '!=' && op !== '~=') return { path, operator: 'present', value: '' };
  s.take(2);
  s.skipSpaces();
  const value = s.peek() === '"' ? s.quoted() : s.word(',');
  let regexp: RegExp | undefined;
  if (op === '~=') {
    try {
      regexp = new RegExp(value);
    } catch (err) {
      s.fail(`bad regular expression "${value}": ${(err as Error).message}`);
    }
  }
  return { path, operator: op, value, regexp };
}

export function parseFilter(text: string): Filter {
  const s = new Scanner(text);
  const selectors: Selector[] = [];
  for (;;) {
    selectors.push(parseSelector(s));
    s.skipSpaces();
    if (s.done()) break;
    if (s.peek() !== ',') s.fail(`unexpected "${s.peek()}"`);
    s.take();
  }
  return {
    match: (adaptor) =>
      selectors.every((sel) => {
        const actual = adaptor(sel.path);
        switch (sel.operator) {
          case 'present':
            return actual !== undefined && actual !== '';
          case '==':
            return actual === sel.value;
          case '!=':
            return actual !== sel.value;
          case '~=':
            return actual !== undefined && sel.regexp!.test(actual);
        }
      }),
  };
}

/** Filters OR-ed; an empty list matches everything. */
export function parseFilters(filters: readonly string[]): Filter {
  const parsed = filters.filter((f) => f.trim() !== '').map(parseFilter);
  return { match: (adaptor) => parsed.length === 0 || parsed.some((f) => f.match(adaptor)) };
}
