/**
 * One status line on a terminal, rewritten in place (bytes, layers) while a transfer runs; on
 * anything but a terminal it stays silent, so scripts see only the results.
 */
export class ProgressLine {
  private shown = false;

  constructor(private readonly stream: { isTTY?: boolean; columns?: number; write(text: string): unknown }) {}

  get enabled(): boolean {
    return Boolean(this.stream.isTTY);
  }

  update(text: string): void {
    if (!this.enabled) return;
    const width = Math.max(20, (this.stream.columns ?? 80) - 1);
    this.stream.write(`\r\x1b[K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    this.shown = true;
  }

  /** Clears the line, so that what is printed next starts on a clean one. */
  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
