/**
 * Parsing a command's own options: one wrapper over node:util's parseArgs, so every command
 * reports a bad option the same way (docker's words, a UsageError). Apart from args.ts so that
 * the entry (--help, --version) does not carry it.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from './args';

/** What a command accepts: node:util parseArgs's option table. */
export type OptionTable = NonNullable<ParseArgsConfig['options']>;
type Strict<T extends OptionTable> = { args: string[]; options: T; allowPositionals: true; strict: true };
export type ParsedOptions<T extends OptionTable> = ReturnType<typeof parseArgs<Strict<T>>>;

/**
 * A command's own options and operands (strict: an unknown option is an error). Every command
 * parses through here, so a bad option is reported the same way everywhere: a UsageError in
 * docker's (pflag's) words, never Node's parser text. positionals: false refuses operands too
 * (for commands that take none).
 */
export function parseOptions<T extends OptionTable>(argv: string[], options: T, { positionals = true } = {}): ParsedOptions<T> {
  const quick = quickParse(argv, options, positionals);
  if (quick) return quick as ParsedOptions<T>;
  try {
    return parseArgs<Strict<T>>({
      args: argv,
      options,
      allowPositionals: positionals as true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(flagError(argv, options, positionals) ?? (e as Error).message);
  }
}

/**
 * The usual command line, parsed without parseArgs: loading and running it over a table the size
 * of run's costs ~7 M instructions (callgrind), ~1.7 ms at every command. Undefined for anything
 * it does not take for certain: an unknown option, a group of shorthands or one with its value
 * attached, a value starting with "-", a boolean given a value, an operand where none may be;
 * parseArgs then decides, and its results and errors stay the reference (options.test.ts holds
 * the two to the same results).
 */
function quickParse(
  argv: string[],
  options: OptionTable,
  positionals: boolean,
): { values: Record<string, unknown>; positionals: string[] } | undefined {
  const values: Record<string, unknown> = { __proto__: null };
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (!positionals && i + 1 < argv.length) return undefined;
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') {
      if (!positionals) return undefined;
      operands.push(arg);
      continue;
    }
    let name: string | undefined;
    let value: string | undefined;
    if (arg[1] === '-') {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      value = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (arg.length === 2) {
      name = Object.keys(options).find((k) => options[k]!.short === arg[1]);
    }
    const option = name !== undefined && Object.prototype.hasOwnProperty.call(options, name) ? options[name] : undefined;
    if (!option || name === undefined) return undefined;
    if (option.type === 'boolean') {
      if (value !== undefined) return undefined;
    } else if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('-')) return undefined;
    }
    const stored = value ?? true;
    if (option.multiple) ((values[name] ??= []) as unknown[]).push(stored);
    else values[name] = stored;
  }
  return { values, positionals: operands };
}

/**
 * Options before the first operand, and everything from that operand on untouched: for commands
 * whose operand is followed by a command of its own (`run IMAGE CMD -l`, `exec CONTAINER CMD -l`).
 * Which options take a value comes from the table, so `-e K=V`, `-eK=V` and `-dit` split right; a
 * value in the next argument is joined to its flag, so that one starting with "-" is taken as
 * docker (pflag) takes it (`--memory-swap -1`).
 */
export function parseLeadingOptions<T extends OptionTable>(
  argv: string[],
  options: T,
): { values: ParsedOptions<T>['values']; rest: string[] } {
  const takesValue = (name: string | undefined): boolean => name !== undefined && options[name]?.type === 'string';
  const byShort = (letter: string): string | undefined => Object.keys(options).find((k) => options[k]!.short === letter);
  const leading: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const next = argv[i + 1];
    const long = arg.startsWith('--');
    // A long flag with its value apart, or a group whose last letter is the first to take one.
    const valueApart = long
      ? !arg.includes('=') && takesValue(arg.slice(2))
      : [...arg.slice(1)].findIndex((letter) => takesValue(byShort(letter))) === arg.length - 2;
    if (valueApart && next !== undefined) {
      if (long) leading.push(`${arg}=${next}`);
      else leading.push(...(arg.length > 2 ? [arg.slice(0, -1)] : []), `--${byShort(arg.at(-1)!)}=${next}`);
      i++;
    } else leading.push(arg);
  }
  return { values: parseOptions(leading, options, { positionals: false }).values, rest: argv.slice(i) };
}

/** pflag's name of a flag as written: `--name`, or `'n' in -n` for a shorthand. */
const flagName = (raw: string): string => (raw.startsWith('--') ? raw : `'${raw.slice(1)}' in ${raw}`);

/** What is wrong with argv under options, in docker's words; undefined when nothing is. */
function flagError(argv: string[], options: OptionTable, positionals: boolean): string | undefined {
  const { tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'positional' && !positionals) return `accepts no arguments, got "${t.value}"`;
    if (t.kind !== 'option') continue;
    const option = Object.prototype.hasOwnProperty.call(options, t.name) ? options[t.name] : undefined;
    if (!option) return `unknown ${t.rawName.startsWith('--') ? 'flag' : 'shorthand flag'}: ${flagName(t.rawName)}`;
    if (option.type === 'string' && (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))))
      return `flag needs an argument: ${flagName(t.rawName)}${t.value === undefined ? '' : ` (a value starting with "-": ${t.rawName}=VALUE)`}`;
    if (option.type === 'boolean' && t.inlineValue) return `flag ${t.rawName} takes no value, got "${t.value}"`;
  }
  return undefined;
}

/**
 * A time option's value: a duration (10s, 5m, 2h) before now (sign -1: --since) or after it (sign
 * 1: --until), Unix seconds, or an RFC 3339 time. examples: what the error message suggests.
 */
export function timeOption(value: string, option: string, sign: 1 | -1, examples: string): number {
  const rel = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(value);
  if (rel) return Date.now() + sign * Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 's' | 'm' | 'h'];
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`${option} ${value}: expected e.g. ${examples}, or an RFC 3339 time`);
  return t;
}
