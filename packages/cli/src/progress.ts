/**
 * One status line on a terminal, rewritten in place (bytes, layers) while a transfer runs; on
 * anything but a terminal it stays silent, so scripts see only the results.
 */
type LineStream = { isTTY?: boolean; columns?: number; write(text: string): unknown };

export class ProgressLine {
  private shown = false;
  private stream: LineStream | undefined;

  /**
   * stream is asked for at the first update: process.stderr builds its stream then (and loads
   * net for a pipe), which a pull or push does while the daemon works, not before its first call.
   */
  constructor(private readonly open: () => LineStream = () => process.stderr) {}

  private get out(): LineStream {
    return (this.stream ??= this.open());
  }

  get enabled(): boolean {
    return Boolean(this.out.isTTY);
  }

  update(text: string): void {
    if (!this.enabled) return;
    const width = Math.max(20, (this.out.columns ?? 80) - 1);
    this.out.write(`\r\x1b[K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    this.shown = true;
  }

  /** Clears the line, so that what is printed next starts on a clean one. */
  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}
