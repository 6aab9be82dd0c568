/**
 * Dockerfile text → the model (model.ts), as Docker's BuildKit frontend reads it: parser
 * directives, comments, line continuations, JSON (exec) and shell forms, flags, heredocs.
 * Words stay unexpanded (expand.ts does that when the instruction runs); what is wrong with the
 * text itself is refused here, naming the line.
 *
 * Hand-written rather than on `dockerfile-ast` (the VS Code Docker tooling's parser): that one
 * is an editor's AST, tolerant by design (it reports nothing for an unknown instruction or flag,
 * which a builder must refuse), its heredoc API is marked experimental and gives only ranges
 * (no `<<-` tab stripping, no quoted-delimiter flag, no body), and it brings the
 * vscode-languageserver packages. What it would save (splitting lines) is the smallest part of
 * this file; the builder's semantics would have to be written here anyway.
 */
import type { Command, Dockerfile, Healthcheck, Heredoc, Instruction, InstructionKind, KeyValue, RunMount, Stage } from './model';
import { DockerfileError } from './model';

/**
 * Parses a Dockerfile. Throws DockerfileError (InvalidArgument) naming the 1-based line.
 *
 * RUN's shell-form text holds what the shell must see: the instruction's line and, when it has
 * heredocs, each heredoc's body and delimiter line as written after it (the shell applies `<<-`
 * and expansion itself). `RUN <<EOF` alone is a script: its body is in `heredocs[0].content`.
 */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const directives = readDirectives(lines);
  const reader = new LineReader(lines, directives.end, directives.escape);
  const dockerfile: Dockerfile = { escape: directives.escape, globalArgs: [], stages: [] };
  if (directives.syntax !== undefined) dockerfile.syntax = directives.syntax;
  const stageNames = new Map<string, Stage>();

  for (let logical = reader.next(); logical; logical = reader.next()) {
    const { keyword, rest } = splitKeyword(logical.text);
    const kind = keyword.toUpperCase();
    const context: Context = {
      line: logical.line,
      original: logical.text,
      escape: directives.escape,
      heredoc: (marker) => reader.heredoc(marker, logical.line),
    };
    if (!isKind(kind)) throw unknownInstruction(keyword, logical.line);
    if (kind === 'FROM') {
      dockerfile.stages.push(parseFrom(rest, dockerfile.stages.length, stageNames, context));
      continue;
    }
    const stage = dockerfile.stages.at(-1);
    if (!stage && kind !== 'ARG') {
      throw new DockerfileError(`${kind} before the first FROM: only ARG may come before FROM`, logical.line);
    }
    const instruction = parseInstruction(kind, rest, context);
    if (stage) stage.instructions.push(instruction);
    else if (instruction.kind === 'ARG') dockerfile.globalArgs.push(...instruction.args.map((arg) => ({ ...arg, line: logical.line })));
  }
  if (!dockerfile.stages.length) throw new DockerfileError('the Dockerfile has no FROM: there is no stage to build', 0);
  return dockerfile;
}

/**
 * A Go duration ("30s", "1m30s", "1.5h", "500ms", "0") in nanoseconds, as HEALTHCHECK's flags
 * are written and docker stores them; undefined when it is not one.
 */
export function durationNanos(text: string): number | undefined {
  if (text === '0') return 0;
  const whole = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(text);
  if (!whole) return undefined;
  let total = 0;
  for (const [, amount, unit] of whole[2].matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(amount) * UNIT_NANOS[unit];
  return Math.round(whole[1] === '-' ? -total : total);
}

const UNIT_NANOS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

const KINDS = new Set<string>([
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]);

const isKind = (kind: string): kind is InstructionKind | 'FROM' => KINDS.has(kind);

const unknownInstruction = (keyword: string, line: number): DockerfileError =>
  new DockerfileError(`unknown instruction ${JSON.stringify(keyword)}`, line);

const missingArguments = (kind: string, line: number): DockerfileError =>
  new DockerfileError(`${kind} requires at least one argument`, line);

// ---------------------------------------------------------------------------------------------
// Lines: directives, comments, continuations, heredoc bodies

const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);

/**
 * The parser directives at the top: `# name=value` lines before anything else. The first line
 * that is not one (an instruction, a comment, a blank line, an unknown directive, which is a
 * comment) ends them.
 */
function readDirectives(lines: string[]): { escape: string; syntax?: string; end: number } {
  let escape = '\\';
  let syntax: string | undefined;
  const seen = new Set<string>();
  let index = 0;
  for (; index < lines.length; index++) {
    const match = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/.exec(lines[index]);
    const name = match?.[1].toLowerCase();
    if (!match || !name || !KNOWN_DIRECTIVES.has(name)) break;
    const value = match[2];
    if (seen.has(name)) throw new DockerfileError(`the ${name} directive is given twice`, index + 1);
    seen.add(name);
    if (name === 'escape') {
      if (value !== '\\' && value !== '`')
        throw new DockerfileError(`escape directive: ${JSON.stringify(value)} is neither \\ nor \``, index + 1);
      escape = value;
    } else if (name === 'syntax') {
      syntax = value;
    }
  }
  return { escape, ...(syntax !== undefined && { syntax }), end: index };
}

/** A heredoc operator found among an instruction's words. */
interface Marker {
  name: string;
  chomp: boolean;
  expand: boolean;
}

interface ReadHeredoc {
  heredoc: Heredoc;
  /** the body and the delimiter line as written, for the shell */
  raw: string;
}

const isIgnoredLine = (line: string): boolean => {
  const trimmed = line.trimStart();
  return trimmed === '' || trimmed.startsWith('#');
};

class LineReader {
  private index: number;
  private readonly continuation: RegExp;

  constructor(
    private readonly lines: string[],
    start: number,
    escape: string,
  ) {
    this.index = start;
    this.continuation = new RegExp(`${escape === '\\' ? '\\\\' : escape}[ \\t]*$`);
  }

  /**
   * The next instruction's text and its first line: leading blanks, comments and blank lines
   * skipped; a line ending with the escape character continues on the next line that is not a
   * comment or blank (Docker drops those inside a continuation too).
   */
  next(): { line: number; text: string } | undefined {
    this.skipIgnored();
    if (this.index >= this.lines.length) return undefined;
    const line = this.index + 1;
    let piece = this.lines[this.index++].trimStart();
    let text = '';
    for (;;) {
      const match = this.continuation.exec(piece);
      if (!match) {
        text += piece;
        break;
      }
      text += piece.slice(0, match.index);
      this.skipIgnored();
      if (this.index >= this.lines.length) break;
      piece = this.lines[this.index++];
    }
    return { line, text: text.trim() };
  }

  /** The heredoc's body: the lines after the instruction up to the delimiter line. */
  heredoc(marker: Marker, line: number): ReadHeredoc {
    const body: string[] = [];
    const raw: string[] = [];
    for (;;) {
      if (this.index >= this.lines.length) {
        throw new DockerfileError(`heredoc <<${marker.name} is not closed: no line ${JSON.stringify(marker.name)} follows`, line);
      }
      const written = this.lines[this.index++];
      raw.push(written);
      const stripped = marker.chomp ? written.replace(/^\t+/, '') : written;
      if (stripped === marker.name) break;
      body.push(stripped);
    }
    const heredoc: Heredoc = { name: marker.name, content: body.map((l) => `${l}\n`).join(''), expand: marker.expand, chomp: marker.chomp };
    return { heredoc, raw: raw.join('\n') };
  }

  private skipIgnored(): void {
    while (this.index < this.lines.length && isIgnoredLine(this.lines[this.index])) this.index++;
  }
}

// ---------------------------------------------------------------------------------------------
// Words

const isBlank = (ch: string): boolean => ch === ' ' || ch === '\t';

/** The keyword and the rest of an instruction's text. */
function splitKeyword(text: string): { keyword: string; rest: string } {
  const match = /^(\S+)\s*([\s\S]*)$/.exec(text);
  return { keyword: match?.[1] ?? text, rest: (match?.[2] ?? '').trim() };
}

/** Where the word starting at `pos` ends: at a blank outside quotes, not escaped. */
function wordEnd(text: string, pos: number, escape: string): number {
  let quote: string | undefined;
  for (; pos < text.length; pos++) {
    const ch = text[pos];
    if (ch === escape && quote !== "'") pos++;
    else if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (isBlank(ch)) return pos;
  }
  return text.length;
}

/** The blank-separated words, quotes and escapes kept as written (expansion removes them). */
function rawWords(text: string, escape: string): string[] {
  const words: string[] = [];
  for (let pos = 0; pos < text.length;) {
    if (isBlank(text[pos])) {
      pos++;
      continue;
    }
    const end = wordEnd(text, pos, escape);
    words.push(text.slice(pos, end));
    pos = end;
  }
  return words;
}

/** The position of the first `ch` outside quotes and not escaped, or -1. */
function indexOutsideQuotes(word: string, ch: string, escape: string): number {
  let quote: string | undefined;
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (c === escape && quote !== "'") i++;
    else if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ch) return i;
  }
  return -1;
}

/**
 * The exec form's arguments when the text is a JSON array; undefined when it is not JSON (the
 * text is then shell form, as Docker falls back). A JSON array of anything but strings is refused.
 */
function jsonArray(text: string, kind: string, line: number): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (!parsed.every((arg) => typeof arg === 'string')) throw new DockerfileError(`${kind}: a JSON array here must hold only strings`, line);
  return parsed;
}

/**
 * A heredoc operator word: `<<NAME`, `<<-NAME`, `<<"NAME"`, `<<'NAME'` (an fd before it, `3<<X`,
 * too). The name ends at a shell operator (`<<EOF>out` is EOF); any quoting in it means the body
 * is taken literally. `<<<` (a here-string) is not a heredoc.
 */
function heredocMarker(word: string, escape: string): Marker | undefined {
  const operator = /^\d*<<(-?)/.exec(word);
  if (!operator) return undefined;
  const rest = word.slice(operator[0].length);
  if (rest.startsWith('<')) return undefined;
  let name = '';
  let quoted = false;
  let quote: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const ch = rest[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      else name += ch;
    } else if (ch === escape) {
      quoted = true;
      name += rest[++i] ?? '';
    } else if (ch === '"' || ch === "'") {
      quoted = true;
      quote = ch;
    } else if (';|&<>()'.includes(ch)) {
      break;
    } else {
      name += ch;
    }
  }
  return name ? { name, chomp: operator[1] === '-', expand: !quoted } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Flags

type FlagType = 'string' | 'bool' | 'list';

/** The flags each instruction takes; any other is refused by name (as BuildKit does). */
const FLAG_TYPES: Partial<Record<InstructionKind | 'FROM', Record<string, FlagType>>> = {
  FROM: { platform: 'string' },
  RUN: { mount: 'list', network: 'string', security: 'string' },
  COPY: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' },
  ADD: { chown: 'string', chmod: 'string', link: 'bool', checksum: 'string', 'keep-git-dir': 'bool', exclude: 'list' },
  HEALTHCHECK: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

/** The `--name[=value]` words at the start of the text, and the text after them (`--` ends them too). */
function takeFlags(kind: InstructionKind | 'FROM', text: string, context: Context): { flags: Map<string, string[]>; rest: string } {
  const types = FLAG_TYPES[kind] ?? {};
  const flags = new Map<string, string[]>();
  let pos = 0;
  for (;;) {
    while (pos < text.length && isBlank(text[pos])) pos++;
    if (!text.startsWith('--', pos)) break;
    const end = wordEnd(text, pos, context.escape);
    const word = text.slice(pos, end);
    pos = end;
    if (word === '--') break;
    const eq = word.indexOf('=');
    const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
    let value = eq < 0 ? undefined : word.slice(eq + 1);
    const type = Object.hasOwn(types, name) ? types[name] : undefined;
    if (!type) {
      const known = Object.keys(types);
      const hint = known.length ? ` (${kind} takes ${known.map((k) => `--${k}`).join(', ')})` : ` (${kind} takes no flags)`;
      throw new DockerfileError(`${kind}: unknown flag --${name}${hint}`, context.line);
    }
    if (type === 'bool') {
      const lower = (value ?? 'true').toLowerCase();
      if (lower !== 'true' && lower !== 'false')
        throw new DockerfileError(`${kind}: --${name} is true or false, not ${JSON.stringify(value)}`, context.line);
      value = lower;
    } else if (value === undefined) {
      throw new DockerfileError(`${kind}: --${name} needs a value (--${name}=...)`, context.line);
    }
    const values = flags.get(name);
    if (values && type !== 'list') throw new DockerfileError(`${kind}: --${name} is given twice`, context.line);
    if (values) values.push(value);
    else flags.set(name, [value]);
  }
  return { flags, rest: text.slice(pos).trim() };
}

const single = (flags: Map<string, string[]>, name: string): string | undefined => flags.get(name)?.[0];

const MOUNT_TYPES = new Set(['bind', 'cache', 'tmpfs', 'secret', 'ssh']);
/** Spellings BuildKit takes for one option, folded to one name so the executor reads one key. */
const MOUNT_KEY_ALIASES: Record<string, string> = {
  src: 'source',
  dst: 'target',
  destination: 'target',
  ro: 'readonly',
  rw: 'readwrite',
};
const MOUNT_KEYS = new Set(['from', 'source', 'target', 'readonly', 'id', 'sharing', 'mode', 'uid', 'gid', 'required', 'size', 'env']);
const NEEDS_TARGET = new Set(['bind', 'cache', 'tmpfs']);

/**
 * RUN --mount's comma-separated key=value list (a field may be quoted whole to hold a comma). Values
 * stay unexpanded; a bare key (`ro`, `required`) is "true"; `rw` is readonly=false.
 */
function parseMount(value: string, context: Context): RunMount {
  const fail = (why: string) => new DockerfileError(`RUN --mount=${value}: ${why}`, context.line);
  const fields: string[] = [];
  for (let start = 0; start <= value.length;) {
    const comma = indexOutsideQuotes(value.slice(start), ',', context.escape);
    const end = comma < 0 ? value.length : start + comma;
    fields.push(value.slice(start, end).trim());
    start = end + 1;
  }
  let type = 'bind';
  const options: Record<string, string> = {};
  for (const written of fields) {
    // A field quoted whole may hold a comma, as in CSV: "target=/a,b".
    const field = /^"[\s\S]*"$/.test(written) && written.length > 1 ? written.slice(1, -1).replace(/""/g, '"') : written;
    if (!field) continue;
    const eq = field.indexOf('=');
    const name = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const optionValue = eq < 0 ? 'true' : field.slice(eq + 1);
    if (name === 'type') {
      type = optionValue.toLowerCase();
      if (!MOUNT_TYPES.has(type)) throw fail(`unknown mount type ${JSON.stringify(optionValue)} (${[...MOUNT_TYPES].join(', ')})`);
      continue;
    }
    let key = Object.hasOwn(MOUNT_KEY_ALIASES, name) ? MOUNT_KEY_ALIASES[name] : name;
    let keyValue = optionValue;
    if (key === 'readwrite') {
      key = 'readonly';
      keyValue = optionValue.toLowerCase() === 'false' ? 'true' : 'false';
    }
    if (!MOUNT_KEYS.has(key)) throw fail(`unknown option ${JSON.stringify(name)}`);
    if (Object.hasOwn(options, key)) throw fail(`${key} is given twice`);
    options[key] = keyValue;
  }
  if (NEEDS_TARGET.has(type) && !options.target) throw fail(`a ${type} mount needs a target`);
  return { type, options };
}

const NETWORKS = new Set(['default', 'none', 'host']);
const SECURITY_MODES = new Set(['sandbox', 'insecure']);

// ---------------------------------------------------------------------------------------------
// Instructions

interface Context {
  line: number;
  original: string;
  escape: string;
  heredoc(marker: Marker): ReadHeredoc;
}

function parseFrom(rest: string, index: number, names: Map<string, Stage>, context: Context): Stage {
  const { flags, rest: text } = takeFlags('FROM', rest, context);
  const words = rawWords(text, context.escape);
  if (!words.length) throw missingArguments('FROM', context.line);
  if (!(words.length === 1 || (words.length === 3 && words[1].toUpperCase() === 'AS'))) {
    throw new DockerfileError(
      `FROM takes an image and an optional stage name: FROM image [AS name], not ${JSON.stringify(text)}`,
      context.line,
    );
  }
  const stage: Stage = { index, base: words[0], line: context.line, original: context.original, instructions: [] };
  const platform = single(flags, 'platform');
  if (platform !== undefined) stage.platform = platform;
  if (words.length === 3) {
    const name = words[2].toLowerCase();
    if (!/^[a-z][a-z0-9-_.]*$/.test(name)) {
      throw new DockerfileError(
        `invalid stage name ${JSON.stringify(words[2])}: it must start with a letter and hold only letters, digits, '-', '_' and '.'`,
        context.line,
      );
    }
    const earlier = names.get(name);
    if (earlier)
      throw new DockerfileError(`stage name ${JSON.stringify(name)} is already used by the stage at line ${earlier.line}`, context.line);
    names.set(name, stage);
    stage.name = name;
  }
  return stage;
}

function parseInstruction(kind: InstructionKind, rest: string, context: Context): Instruction {
  const { line, original, escape } = context;
  const base = { line, original };
  const { flags, rest: text } = takeFlags(kind, rest, context);
  switch (kind) {
    case 'RUN':
      return { ...base, kind, ...parseRun(text, flags, context) };
    case 'COPY':
    case 'ADD':
      return { ...base, kind, ...parseCopy(kind, text, flags, context) };
    case 'ENV':
    case 'LABEL':
      return { ...base, kind, pairs: parsePairs(kind, text, context) };
    case 'ARG': {
      const words = rawWords(text, escape);
      if (!words.length) throw missingArguments(kind, line);
      const args = words.map((word) => {
        const eq = indexOutsideQuotes(word, '=', escape);
        const name = eq < 0 ? word : word.slice(0, eq);
        if (!name) throw new DockerfileError(`ARG: a name can't be empty (${JSON.stringify(word)})`, line);
        return eq < 0 ? { name } : { name, default: word.slice(eq + 1) };
      });
      return { ...base, kind, args };
    }
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER':
      if (!text) throw missingArguments(kind, line);
      return { ...base, kind, value: text };
    case 'EXPOSE': {
      const ports = rawWords(text, escape);
      if (!ports.length) throw missingArguments(kind, line);
      return { ...base, kind, ports };
    }
    case 'VOLUME': {
      const paths = jsonArray(text, kind, line) ?? rawWords(text, escape);
      if (!paths.length) throw missingArguments(kind, line);
      if (paths.some((path) => !path.trim())) throw new DockerfileError('VOLUME: a path can not be an empty string', line);
      return { ...base, kind, paths };
    }
    case 'CMD':
    case 'ENTRYPOINT':
      if (!text) throw missingArguments(kind, line);
      return { ...base, kind, command: parseCommand(kind, text, line) };
    case 'SHELL': {
      if (!text) throw missingArguments(kind, line);
      const args = jsonArray(text, kind, line);
      if (!args) throw new DockerfileError(`SHELL requires the arguments in JSON form: SHELL ["executable", "parameters"]`, line);
      if (!args.length) throw missingArguments(kind, line);
      return { ...base, kind, args };
    }
    case 'HEALTHCHECK':
      return { ...base, kind, healthcheck: parseHealthcheck(text, flags, line) };
    case 'ONBUILD':
      return { ...base, kind, trigger: parseTrigger(text, context) };
  }
}

function parseCommand(kind: string, text: string, line: number): Command {
  const args = jsonArray(text, kind, line);
  return args ? { form: 'exec', args } : { form: 'shell', text };
}

function parseRun(text: string, flags: Map<string, string[]>, context: Context) {
  const { line, escape } = context;
  const mounts = (flags.get('mount') ?? []).map((value) => parseMount(value, context));
  const network = single(flags, 'network');
  if (network !== undefined && !NETWORKS.has(network)) {
    throw new DockerfileError(`RUN: --network=${network} is not one of ${[...NETWORKS].join(', ')}`, line);
  }
  const security = single(flags, 'security');
  if (security !== undefined && !SECURITY_MODES.has(security)) {
    throw new DockerfileError(`RUN: --security=${security} is not one of ${[...SECURITY_MODES].join(', ')}`, line);
  }
  if (!text) throw missingArguments('RUN', line);
  let command = parseCommand('RUN', text, line);
  const heredocs: Heredoc[] = [];
  if (command.form === 'exec' && !command.args.length) throw new DockerfileError('RUN: the command is an empty JSON array', line);
  if (command.form === 'shell') {
    const read = rawWords(text, escape).flatMap((word) => {
      const marker = heredocMarker(word, escape);
      return marker ? [context.heredoc(marker)] : [];
    });
    heredocs.push(...read.map((r) => r.heredoc));
    if (read.length) command = { form: 'shell', text: [text, ...read.map((r) => r.raw)].join('\n') };
  }
  return {
    command,
    heredocs,
    mounts,
    ...(network !== undefined && { network }),
    ...(security !== undefined && { security }),
  };
}

function parseCopy(kind: 'COPY' | 'ADD', text: string, flags: Map<string, string[]>, context: Context) {
  const { line, escape } = context;
  const exec = jsonArray(text, kind, line);
  const words = exec ?? rawWords(text, escape);
  if (words.length < 2) throw new DockerfileError(`${kind} requires at least one source and a destination`, line);
  const heredocs: Heredoc[] = [];
  const sources = words.slice(0, -1).map((word) => {
    const marker = exec ? undefined : heredocMarker(word, escape);
    if (!marker) return word;
    heredocs.push(context.heredoc(marker).heredoc);
    return `<<${marker.name}`;
  });
  const dest = words[words.length - 1];
  if (!exec && heredocMarker(dest, escape)) throw new DockerfileError(`${kind}: the destination can't be a heredoc`, line);
  const from = single(flags, 'from');
  if (from === '') throw new DockerfileError(`${kind}: --from needs a stage name, a stage index or an image`, line);
  const chown = single(flags, 'chown');
  const chmod = single(flags, 'chmod');
  // The flags the model has no field for (--parents, --exclude, --checksum, --keep-git-dir); a
  // repeated --exclude keeps each pattern, one a line.
  const others: Record<string, string> = {};
  for (const [name, values] of flags) if (!['from', 'chown', 'chmod', 'link'].includes(name)) others[name] = values.join('\n');
  return {
    sources,
    dest,
    heredocs,
    ...(from !== undefined && { from }),
    ...(chown !== undefined && { chown }),
    ...(chmod !== undefined && { chmod }),
    link: single(flags, 'link') === 'true',
    flags: others,
  };
}

/**
 * ENV and LABEL: `K=V K2="v 2"` pairs, or the legacy `K V...` (one pair, the value is the rest of
 * the line). Keys and values stay as written; expansion removes the quotes and escapes.
 */
function parsePairs(kind: 'ENV' | 'LABEL', text: string, context: Context): KeyValue[] {
  const { line, escape } = context;
  const words = rawWords(text, escape);
  if (!words.length) throw missingArguments(kind, line);
  if (indexOutsideQuotes(words[0], '=', escape) < 0) {
    const legacy = /^(\S+)\s+([\s\S]+)$/.exec(text);
    if (!legacy) throw new DockerfileError(`${kind} ${words[0]} has no value: ${kind} name=value (or ${kind} name value)`, line);
    return [{ key: legacy[1], value: legacy[2].trim() }];
  }
  return words.map((word) => {
    const eq = indexOutsideQuotes(word, '=', escape);
    if (eq < 0) throw new DockerfileError(`${kind}: can't find = in ${JSON.stringify(word)}; each must be name=value`, line);
    if (eq === 0) throw new DockerfileError(`${kind}: a name can't be empty (${JSON.stringify(word)})`, line);
    return { key: word.slice(0, eq), value: word.slice(eq + 1) };
  });
}

const HEALTHCHECK_DURATIONS = [
  ['interval', 'interval'],
  ['timeout', 'timeout'],
  ['start-period', 'startPeriod'],
  ['start-interval', 'startInterval'],
] as const;

function parseHealthcheck(text: string, flags: Map<string, string[]>, line: number): Healthcheck {
  if (!text) throw missingArguments('HEALTHCHECK', line);
  const { keyword, rest } = splitKeyword(text);
  const type = keyword.toUpperCase();
  if (type === 'NONE') {
    if (rest || flags.size) throw new DockerfileError('HEALTHCHECK NONE takes no flags or arguments', line);
    return { test: ['NONE'] };
  }
  if (type !== 'CMD') throw new DockerfileError(`HEALTHCHECK: unknown type ${JSON.stringify(keyword)} (CMD or NONE)`, line);
  if (!rest) throw new DockerfileError('HEALTHCHECK CMD needs a command', line);
  const args = jsonArray(rest, 'HEALTHCHECK', line);
  if (args && !args.length) throw new DockerfileError('HEALTHCHECK CMD needs a command', line);
  const healthcheck: Healthcheck = { test: args ? ['CMD', ...args] : ['CMD-SHELL', rest] };
  for (const [flag, field] of HEALTHCHECK_DURATIONS) {
    const value = single(flags, flag);
    if (value === undefined) continue;
    const nanos = durationNanos(value);
    if (nanos === undefined) throw new DockerfileError(`HEALTHCHECK: --${flag}=${value} is not a duration (e.g. 30s, 1m30s)`, line);
    if (nanos !== 0 && nanos < 1e6) throw new DockerfileError(`HEALTHCHECK: --${flag}=${value} must be 0 or at least 1ms`, line);
    healthcheck[field] = value;
  }
  const retries = single(flags, 'retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw new DockerfileError(`HEALTHCHECK: --retries=${retries} is not a whole number`, line);
    healthcheck.retries = retries;
  }
  return healthcheck;
}

/** ONBUILD's trigger, checked as the instruction it will be but kept as written. */
function parseTrigger(text: string, context: Context): string {
  const { line } = context;
  if (!text) throw missingArguments('ONBUILD', line);
  const { keyword, rest } = splitKeyword(text);
  const kind = keyword.toUpperCase();
  if (!isKind(kind)) throw unknownInstruction(keyword, line);
  if (kind === 'ONBUILD') throw new DockerfileError("ONBUILD ONBUILD isn't allowed", line);
  if (kind === 'FROM' || kind === 'MAINTAINER') throw new DockerfileError(`${kind} isn't allowed as an ONBUILD trigger`, line);
  parseInstruction(kind, rest, {
    ...context,
    original: text,
    heredoc: () => {
      throw new DockerfileError("ONBUILD: a trigger can't have a heredoc", line);
    },
  });
  return text;
}
