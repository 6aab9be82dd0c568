/**
 * TEMPORARY placeholder of the frontend's expand.ts (another helper writes the real one; this
 * file goes at the merge). Same signatures; only $V, ${V}, ${V:-x}, ${V:+x}, quotes and the
 * escape character, enough for the executor's tests.
 */
import type { InstructionKind } from './model';

export type Vars = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

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

export function expand(word: string, vars: Vars, escape = '\\'): string {
  const get = (name: string): string | undefined => (vars instanceof Map ? vars.get(name) : (vars as Record<string, string>)[name]);
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < word.length; i++) {
    const c = word[i]!;
    if (c === escape && quote !== "'" && i + 1 < word.length) {
      out += word[++i];
    } else if ((c === '"' || c === "'") && (!quote || quote === c)) {
      quote = quote ? undefined : c;
    } else if (c === '$' && quote !== "'") {
      const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}/.exec(word.slice(i + 1));
      const plain = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i + 1));
      if (braced) {
        const value = get(braced[1]!);
        if (braced[2] === '-') out += value ? value : expand(braced[3]!, vars, escape);
        else if (braced[2] === '+') out += value ? expand(braced[3]!, vars, escape) : '';
        else out += value ?? '';
        i += braced[0].length;
      } else if (plain) {
        out += get(plain[0]) ?? '';
        i += plain[0].length;
      } else out += c;
    } else out += c;
  }
  return out;
}
