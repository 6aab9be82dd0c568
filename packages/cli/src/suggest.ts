/** Cobra's "Did you mean this?" for a mistyped command: names it nearly matches. */

/** Edit distance (insertions, deletions, substitutions) between a and b. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The names within an edit distance of 2 of typed, or that start with it (as cobra suggests), nearest first. */
export function suggestions(typed: string, names: string[]): string[] {
  const t = typed.toLowerCase();
  return names
    .map((name) => ({ name, d: name.startsWith(t) ? 0 : distance(t, name) }))
    .filter((c) => c.d <= 2)
    .sort((a, b) => a.d - b.d)
    .map((c) => c.name);
}
