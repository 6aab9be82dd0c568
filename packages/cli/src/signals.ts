/** Signals as Docker's flags name them: a number, or a name with or without SIG, any case. */
import { constants } from 'node:os';
import { UsageError } from './args';

export function signalNumber(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const name = value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`;
  const n = (constants.signals as Record<string, number>)[name];
  if (!n) throw new UsageError(`unknown signal "${value}"`);
  return n;
}
