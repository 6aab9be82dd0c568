/** Signals as Docker's flags name them: a number, or a name with or without SIG, any case. */
import type * as Os from 'node:os';
import { UsageError } from './args';

/** Signal numbers by name; node:os is loaded when one is needed, not by every command. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const signalNumbers = (): Record<string, number> => (require('node:os') as typeof Os).constants.signals as Record<string, number>;

export function signalNumber(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const name = value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`;
  const n = signalNumbers()[name];
  if (!n) throw new UsageError(`unknown signal "${value}"`);
  return n;
}
