/**
 * Docker's variable substitution for builder words: the part of a POSIX shell's word expansion
 * that the builder itself does before an instruction runs (the shell does it for RUN, CMD and
 * ENTRYPOINT). Quotes are removed, the escape character (`\`, or the `# escape=` one) takes the
 * next character literally, single quotes suppress expansion, double quotes keep expansion but
 * not field splitting, and unset variables expand to nothing.
 */
import { DockerfileError, type InstructionKind, type KeyValue } from './model';

export type Vars = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/**
 * The instructions whose words the builder expands, with the stage's ARG and ENV values at that
 * point (FROM: the global ARGs only). RUN, CMD and ENTRYPOINT are not expanded: their text goes
 * to the shell (shell form) or to exec as is (exec form), though RUN's --mount options are.
 * ONBUILD is not: its trigger is expanded when it runs in the image built FROM this one.
 * SHELL, HEALTHCHECK and MAINTAINER are kept as written, as Docker keeps them.
 * ARG is here because its default is expanded (`ARG B=${A}/x`); ADD and COPY expand their
 * sources, destination and --from, --chown, --chmod.
 */
export const EXPANDED_KINDS: ReadonlySet<InstructionKind | 'FROM'> = new Set<InstructionKind | 'FROM'>([
  'ADD',
  'ARG',
  'COPY',
  'ENV',
  'EXPOSE',
  'FROM',
  'LABEL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]);

/** The word with its variables replaced and its quotes and escapes removed (one word, spaces kept). */
export function expand(word: string, vars: Vars, escape = '\\'): string {
  return new WordExpander(word, lookupIn(vars), escape).run().text;
}

/**
 * The word expanded and split into fields as a shell would for an unquoted word: at unquoted
 * whitespace, also whitespace that an unquoted variable brings (EXPOSE $PORTS gives each port).
 * Empty fields are dropped.
 */
export function expandWords(word: string, vars: Vars, escape = '\\'): string[] {
  return new WordExpander(word, lookupIn(vars), escape).run().fields();
}

/**
 * ENV and LABEL pairs, keys and values expanded, all with the values from before the
 * instruction: `ENV A=1 B=$A` gives B the A that was set before this line, as Docker does.
 */
export function expandPairs(pairs: readonly KeyValue[], vars: Vars, escape = '\\'): KeyValue[] {
  return pairs.map(({ key, value }) => ({ key: expand(key, vars, escape), value: expand(value, vars, escape) }));
}

/**
 * Runs `expansion`, giving its substitution errors (which have no line) the instruction's line and
 * a prefix naming what was being expanded, e.g. atLine(7, 'COPY --from', () => expand(...)).
 */
export function atLine<T>(line: number, what: string, expansion: () => T): T {
  try {
    return expansion();
  } catch (err) {
    if (err instanceof DockerfileError && err.line === 0) throw new DockerfileError(`${what}: ${err.message}`, line);
    throw err;
  }
}

type Lookup = (name: string) => string | undefined;

function lookupIn(vars: Vars): Lookup {
  if (vars instanceof Map) return (name) => vars.get(name);
  const record = vars as Readonly<Record<string, string>>;
  // Own properties only: "constructor" or "toString" must not come from Object.prototype.
  return (name) => (Object.hasOwn(record, name) ? record[name] : undefined);
}

function substitutionError(message: string): DockerfileError {
  return new DockerfileError(message, 0);
}

/** The expansion's result: the whole text, and the same text cut into fields. */
class Expanded {
  text = '';
  private readonly done: string[] = [];
  private current = '';

  /** Text that stays in the current field whatever it holds (quoted, escaped or a plain character). */
  keep(text: string): void {
    this.text += text;
    this.current += text;
  }

  /** Unquoted text whose whitespace separates fields (a literal blank, an unquoted variable's value). */
  split(text: string): void {
    this.text += text;
    for (const ch of text) {
      if (isBlank(ch)) this.endField();
      else this.current += ch;
    }
  }

  fields(): string[] {
    this.endField();
    return this.done;
  }

  private endField(): void {
    if (this.current) this.done.push(this.current);
    this.current = '';
  }
}

const isBlank = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v';
const isNameStart = (ch: string | undefined): boolean => ch !== undefined && /[A-Za-z_]/.test(ch);
const isNameChar = (ch: string | undefined): boolean => ch !== undefined && /[A-Za-z0-9_]/.test(ch);
const isDigit = (ch: string | undefined): boolean => ch !== undefined && ch >= '0' && ch <= '9';

type Operator = ':-' | '-' | ':+' | '+' | ':?' | '?' | '#' | '##' | '%' | '%%' | '/' | '//';

class WordExpander {
  private pos = 0;
  /** > 0 while reading an operand whose value is not used (`${A:-x}` with A set): no `?` errors there. */
  private unused = 0;

  constructor(
    private readonly src: string,
    private readonly lookup: Lookup,
    private readonly escape: string,
  ) {}

  run(): Expanded {
    const out = new Expanded();
    this.readUntil('', out);
    return out;
  }

  /** Reads into `out` up to one of `stops` (unquoted, unescaped) and returns it, or '' at the end. */
  private readUntil(stops: string, out: Expanded): string {
    const { src, escape } = this;
    while (this.pos < src.length) {
      const ch = src[this.pos];
      if (stops.includes(ch)) {
        this.pos++;
        return ch;
      }
      if (ch === escape) {
        this.pos++;
        // A trailing escape has nothing to escape and stays, as in a shell.
        if (this.pos < src.length) out.keep(src[this.pos++]);
        else out.keep(escape);
      } else if (ch === "'") {
        out.keep(this.singleQuoted());
      } else if (ch === '"') {
        this.doubleQuoted(out);
      } else if (ch === '$') {
        out.split(this.dollar());
      } else if (isBlank(ch)) {
        out.split(ch);
        this.pos++;
      } else {
        out.keep(ch);
        this.pos++;
      }
    }
    return '';
  }

  private singleQuoted(): string {
    const end = this.src.indexOf("'", this.pos + 1);
    if (end < 0) throw substitutionError(`unterminated single quote in ${JSON.stringify(this.src)}`);
    const text = this.src.slice(this.pos + 1, end);
    this.pos = end + 1;
    return text;
  }

  private doubleQuoted(out: Expanded): void {
    const { src, escape } = this;
    this.pos++;
    while (this.pos < src.length) {
      const ch = src[this.pos];
      if (ch === '"') {
        this.pos++;
        return;
      }
      if (ch === '$') {
        out.keep(this.dollar());
        continue;
      }
      const next = src[this.pos + 1];
      // Inside double quotes the escape only escapes what is special there; before anything else it stays.
      if (ch === escape && (next === '"' || next === '$' || next === escape)) {
        out.keep(next);
        this.pos += 2;
        continue;
      }
      out.keep(ch);
      this.pos++;
    }
    throw substitutionError(`unterminated double quote in ${JSON.stringify(src)}`);
  }

  /** At a `$`: the expansion's value (a lone `$` stays itself). */
  private dollar(): string {
    const { src } = this;
    const next = src[this.pos + 1];
    if (next === '{') {
      this.pos += 2;
      return this.braced();
    }
    if (isNameStart(next)) {
      const start = ++this.pos;
      while (isNameChar(src[this.pos])) this.pos++;
      return this.lookup(src.slice(start, this.pos)) ?? '';
    }
    if (isDigit(next)) {
      // A positional parameter: one digit, as in a shell; nothing sets them here.
      this.pos += 2;
      return this.lookup(next) ?? '';
    }
    this.pos++;
    return '$';
  }

  /** After `${`: the name, an optional operator with its operand, and the closing `}`. */
  private braced(): string {
    const { src } = this;
    const start = this.pos;
    while (isNameChar(src[this.pos])) this.pos++;
    const name = src.slice(start, this.pos);
    if (!name) throw substitutionError(`bad substitution in ${JSON.stringify(src)}: \${ needs a variable name`);
    if (this.pos >= src.length) throw this.missingBrace();
    const value = this.lookup(name);
    if (src[this.pos] === '}') {
      this.pos++;
      return value ?? '';
    }
    const operator = this.operator(name);
    const set = value !== undefined;
    const nonEmpty = set && value !== '';
    switch (operator) {
      case ':-': {
        const word = this.operand(!nonEmpty);
        return nonEmpty ? (value ?? '') : word;
      }
      case '-': {
        const word = this.operand(!set);
        return set ? (value ?? '') : word;
      }
      case ':+': {
        const word = this.operand(nonEmpty);
        return nonEmpty ? word : '';
      }
      case '+': {
        const word = this.operand(set);
        return set ? word : '';
      }
      case ':?':
      case '?': {
        const ok = operator === '?' ? set : nonEmpty;
        const message = this.operand(!ok);
        if (!ok && this.unused === 0) throw substitutionError(`${name}: ${message || (set ? 'is empty' : 'is not set')}`);
        return value ?? '';
      }
      case '#':
      case '##':
        return removePrefix(value ?? '', this.operand(true), operator === '##');
      case '%':
      case '%%':
        return removeSuffix(value ?? '', this.operand(true), operator === '%%');
      case '/':
      case '//': {
        const pattern = new Expanded();
        const stop = this.readUntil('/}', pattern);
        if (!stop) throw this.missingBrace();
        const replacement = stop === '/' ? this.operand(true) : '';
        return replace(value ?? '', pattern.text, replacement, operator === '//');
      }
    }
  }

  private operator(name: string): Operator {
    const { src } = this;
    const two = src.slice(this.pos, this.pos + 2);
    if (two === ':-' || two === ':+' || two === ':?' || two === '##' || two === '%%' || two === '//') {
      this.pos += 2;
      return two;
    }
    const one = src[this.pos];
    if (one === '-' || one === '+' || one === '?' || one === '#' || one === '%' || one === '/') {
      this.pos++;
      return one;
    }
    throw substitutionError(
      `bad substitution in ${JSON.stringify(src)}: unsupported modifier ${JSON.stringify(src.slice(this.pos, this.pos + 2))} after \${${name}`,
    );
  }

  /** Reads the operand up to the closing `}`; `used` false: read only to skip it, its `?` errors silenced. */
  private operand(used: boolean): string {
    const out = new Expanded();
    if (!used) this.unused++;
    try {
      if (!this.readUntil('}', out)) throw this.missingBrace();
    } finally {
      if (!used) this.unused--;
    }
    return out.text;
  }

  private missingBrace(): DockerfileError {
    return substitutionError(`bad substitution in ${JSON.stringify(this.src)}: missing '}'`);
  }
}

/** A shell glob (`*`, `?`, `[...]`) as a whole-string RegExp. */
function globRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') source += '[\\s\\S]*';
    else if (ch === '?') source += '[\\s\\S]';
    else if (ch === '[' && pattern.indexOf(']', i + 2) > 0) {
      const end = pattern.indexOf(']', i + 2);
      let set = pattern.slice(i + 1, end);
      const negated = set.startsWith('!') || set.startsWith('^');
      if (negated) set = set.slice(1);
      source += `[${negated ? '^' : ''}${set.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else source += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function removePrefix(value: string, pattern: string, longest: boolean): string {
  const glob = globRegExp(pattern);
  for (let k = 0; k <= value.length; k++) {
    const end = longest ? value.length - k : k;
    if (glob.test(value.slice(0, end))) return value.slice(end);
  }
  return value;
}

function removeSuffix(value: string, pattern: string, longest: boolean): string {
  const glob = globRegExp(pattern);
  for (let k = 0; k <= value.length; k++) {
    const start = longest ? k : value.length - k;
    if (glob.test(value.slice(start))) return value.slice(0, start);
  }
  return value;
}

/** `${V/pattern/replacement}`: the first (or every) longest non-empty match replaced. */
function replace(value: string, pattern: string, replacement: string, all: boolean): string {
  if (!pattern) return value;
  const glob = globRegExp(pattern);
  let result = '';
  let i = 0;
  while (i < value.length) {
    let end = -1;
    for (let j = value.length; j > i; j--) {
      if (glob.test(value.slice(i, j))) {
        end = j;
        break;
      }
    }
    if (end < 0) {
      result += value[i++];
      continue;
    }
    result += replacement;
    i = end;
    if (!all) return result + value.slice(i);
  }
  return result;
}
