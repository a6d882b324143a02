/**
 * Planner statistics for embedded PostgreSQL, which has no autovacuum: without it nothing ever runs
 * ANALYZE, and a prepared statement's generic plan (pglite-statements.ts), made while a table was
 * small, is kept for as long as the process runs. Measured (docs/performance.md, "Plans made on
 * small tables"): on a fresh database the bulk duplicate check kept the sequential scan it was
 * planned with on the first requests, and grew from 1 to 390 ms a request of 50 queries over
 * 4,000 documents, 0.3 ms more for every document posted since the server started.
 *
 * Every `intervalMs`, if statements ran since the last look, this does what autovacuum's analyze
 * would: ANALYZE each table whose rows changed by more than PostgreSQL's default threshold (50 rows
 * plus 10 % of the rows counted at the last ANALYZE). ANALYZE invalidates the cached plans that
 * read the table, so they are planned again with the new statistics.
 */
export const ANALYZE_INTERVAL_MS = 2000;

/** autovacuum_analyze_threshold and autovacuum_analyze_scale_factor, PostgreSQL's defaults. */
const STALE_TABLES = `
  SELECT format('%I.%I', s.schemaname, s.relname) AS name
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
   WHERE s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
   ORDER BY 1`;

export interface AnalyzeTarget {
  /** Statements run so far; nothing is looked at while it has not moved. */
  readonly executed: number;
  /** True while a transaction holds the one connection: the look waits for the next tick. */
  readonly busy: boolean;
  query<T>(sql: string): Promise<{ rows: T[] }>;
  exec(sql: string): Promise<void>;
}

export class Analyzer {
  #timer: NodeJS.Timeout | undefined;
  #seen = -1;
  #running: Promise<void> | null = null;
  /** Tables analyzed, for tests and the curious. */
  analyzed: string[] = [];
  /** Why the last look failed, if it did (the database closing, a transaction in the way). */
  lastError: unknown = null;

  constructor(
    private readonly target: AnalyzeTarget,
    private readonly intervalMs = ANALYZE_INTERVAL_MS,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.#timer) return;
    this.#timer = setInterval(() => void this.tick(), this.intervalMs);
    this.#timer.unref(); // a command that is done does not wait for the next look
  }

  /** Stops looking and waits for a look under way. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One look: ANALYZE the tables that changed enough. Failures wait for the next tick. */
  async tick(): Promise<string[]> {
    if (this.#running || this.target.busy || this.target.executed === this.#seen) return [];
    let tables: string[] = [];
    this.#running = (async () => {
      // Counts reach the shared statistics at most once a second, and PGlite has no idle timer to
      // send them later: the first statement asks for them now (they are sent as it ends).
      await this.target.query('SELECT pg_stat_force_next_flush()');
      const { rows } = await this.target.query<{ name: string }>(STALE_TABLES);
      tables = rows.map((r) => r.name);
      if (tables.length > 0) await this.target.exec(`ANALYZE ${tables.join(', ')}`);
      // Its own statements are not a reason for the next look.
      this.#seen = this.target.executed;
      this.analyzed.push(...tables);
    })()
      .catch((err: unknown) => {
        // The database closing, or a transaction that took the connection meanwhile: the next tick tries again.
        this.lastError = err;
        tables = [];
      })
      .finally(() => {
        this.#running = null;
      });
    await this.#running;
    return tables;
  }
}
