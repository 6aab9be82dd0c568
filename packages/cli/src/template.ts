/**
 * docker's `--format`: the small part of Go's text/template that docker users type, exactly, and
 * an error for anything else (never the default output instead):
 *
 *   {{.Field}} {{.Field.Sub}}   a field, printed as Go prints it (lists `[a b]`, maps `map[k:v]`)
 *   {{json .}} {{json .Field}}  the row, or a field, as JSON
 *   table FORMAT                a header row (each field's column name), columns aligned at tabs
 *   \t, \n                      a tab, a newline (as docker replaces them)
 *
 * A field a command does not have is docker's "can't evaluate field X". Commands give their rows
 * as plain objects keyed by docker's field names; `--format json` stays each command's own.
 */
import { UsageError } from './args';

type Part = { text: string } | { path: string[]; json: boolean };

/** A command's fields for templates: docker's name → the column header `table` prints. */
export type Fields = Record<string, string>;

const ACTION = /\{\{-?\s*(.*?)\s*-?\}\}/g;
const FIELD = /^(json\s+)?\.((?:[A-Za-z_]\w*)(?:\.[A-Za-z_]\w*)*)?$/;

export class Template {
  private readonly parts: Part[] = [];
  readonly table: boolean;

  /** fields: what every row has (checked now); without it (inspect), each path is checked against each row. */
  constructor(
    format: string,
    private readonly fields?: Fields,
  ) {
    let text = format;
    this.table = /^table(\s|$)/.test(text);
    if (this.table) text = text.slice('table'.length).trim();
    text = text.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
    let last = 0;
    for (const m of text.matchAll(ACTION)) {
      if (m.index! > last) this.parts.push({ text: text.slice(last, m.index) });
      last = m.index! + m[0].length;
      const action = FIELD.exec(m[1]!);
      const path = action?.[2]?.split('.') ?? [];
      if (!action || (!action[1] && path.length === 0))
        throw new UsageError(`template: unsupported action ${m[0]} (supported: {{.Field}}, {{json .}}, {{json .Field}}, a "table" prefix)`);
      if (fields && path[0] !== undefined && !Object.prototype.hasOwnProperty.call(fields, path[0])) throw cannotEvaluate(path[0], fields);
      this.parts.push({ path, json: Boolean(action[1]) });
    }
    if (/\{\{|\}\}/.test(text.slice(last))) throw new UsageError(`template: unclosed action in ${JSON.stringify(format)}`);
    if (last < text.length) this.parts.push({ text: text.slice(last) });
  }

  /** Each row through the template, one line each (after a header row and aligned, for `table`). */
  render(rows: readonly Record<string, unknown>[]): string {
    const lines = rows.map((row) => this.line(row));
    if (!this.table) return lines.map((l) => `${l}\n`).join('');
    const header = this.parts.map((p) =>
      'text' in p ? p.text : p.path.length ? (this.fields?.[p.path[0]!] ?? p.path.join('.').toUpperCase()) : '',
    );
    return aligned([header.join(''), ...lines]);
  }

  private line(row: Record<string, unknown>): string {
    return this.parts
      .map((p) => {
        if ('text' in p) return p.text;
        let value: unknown = row;
        for (const [i, key] of p.path.entries()) {
          if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, key))
            throw cannotEvaluate(p.path.slice(0, i + 1).join('.'), this.fields);
          value = (value as Record<string, unknown>)[key];
        }
        return p.json ? JSON.stringify(value ?? null) : goString(value);
      })
      .join('');
  }
}

/** docker's --format value, or undefined for none, `table` alone or `json` (each command's own output). */
export function template(format: string | undefined, fields?: Fields): Template | undefined {
  if (format === undefined || format === 'json' || format.trim() === 'table') return undefined;
  return new Template(format, fields);
}

function cannotEvaluate(field: string, fields: Fields | undefined): UsageError {
  const known = fields ? ` (fields: ${Object.keys(fields).join(', ')})` : '';
  return new UsageError(`template: can't evaluate field ${field}${known}`);
}

/** A value as Go's fmt prints it in a template. */
function goString(value: unknown): string {
  if (value === null || value === undefined) return '<no value>';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return `[${value.map(goString).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, v]) => `${k}:${goString(v)}`).join(' ')}]`;
  }
  return String(value);
}

/** Lines with their tab-separated cells aligned as docker's tabwriter does (cells at least 10 wide, 3 apart). */
function aligned(lines: string[]): string {
  const cells = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const row of cells) row.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return cells.map((row) => `${row.map((c, i) => (i < row.length - 1 ? c.padEnd(Math.max(widths[i]! + 3, 10)) : c)).join('')}\n`).join('');
}
