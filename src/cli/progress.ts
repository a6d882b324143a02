/** A count, or how far along of how many (`[done, total]`, shown `done/total`). */
export type ProgressCount = number | readonly [done: number, total: number];

/**
 * A one-line progress report on a terminal (counts and rate), redrawn in place; on a pipe or with
 * --json it stays silent so the output remains machine-readable.
 */
export class Progress {
  private readonly started = Date.now();
  private readonly enabled: boolean;
  private last = 0;
  private phase = '';

  constructor(
    private readonly label: string,
    enabled = process.stderr.isTTY,
  ) {
    this.enabled = Boolean(enabled);
  }

  /** What the work is doing now (`reading the target`), shown after the label from the next update on. */
  setPhase(phase: string): void {
    this.phase = phase;
  }

  /** Redraws the line, at most every 100 ms unless `force`; the rate is of `fetched`. */
  update(counts: Record<string, ProgressCount>, unit = 'records', force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const seconds = (now - this.started) / 1000;
    const fetched = counts.fetched ?? 0;
    const done = typeof fetched === 'number' ? fetched : fetched[0];
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    const parts = Object.entries(counts).map(([k, v]) => `${k} ${typeof v === 'number' ? v : `${v[0]}/${v[1]}`}`);
    const spinner = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[Math.floor(now / 100) % 10];
    const label = this.phase ? `${this.label}, ${this.phase}` : this.label;
    process.stderr.write(
      `\r\x1b[2K${spinner} ${label}: ${parts.join(' · ')} · ${rate} ${unit}/s · ${seconds.toFixed(1)}s`,
    );
  }

  done(): void {
    if (this.enabled) process.stderr.write('\n');
  }
}
