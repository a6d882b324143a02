/**
 * A one-line progress report on a terminal (counts and rate), redrawn in place; on a pipe or with
 * --json it stays silent so the output remains machine-readable.
 */
export class Progress {
  private readonly started = Date.now();
  private readonly enabled: boolean;
  private last = 0;

  constructor(
    private readonly label: string,
    enabled = process.stderr.isTTY,
  ) {
    this.enabled = Boolean(enabled);
  }

  update(counts: Record<string, number>, unit = 'records', force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const seconds = (now - this.started) / 1000;
    const done = counts.fetched ?? 0;
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    const parts = Object.entries(counts).map(([k, v]) => `${k} ${v}`);
    const spinner = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[Math.floor(now / 100) % 10];
    process.stderr.write(
      `\r\x1b[2K${spinner} ${this.label}: ${parts.join(' · ')} · ${rate} ${unit}/s · ${seconds.toFixed(1)}s`,
    );
  }

  done(): void {
    if (this.enabled) process.stderr.write('\n');
  }
}
