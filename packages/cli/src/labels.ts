import { UsageError } from './args';

/** KEY=VALUE arguments as labels; an empty value is kept (it removes the label in updates). */
export function parseLabelArgs(items: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`label "${item}" is not KEY=VALUE`);
    labels[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return labels;
}
