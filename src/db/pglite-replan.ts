/**
 * Fresh statistics and plans for embedded PostgreSQL as its tables grow. The posting path's
 * statements are prepared once on PGlite's connection (pglite-statements.ts), and PL/pgSQL keeps each
 * trigger statement's plan; after five executions each keeps a generic plan, made with what the
 * planner knew then. PostgreSQL replaces such plans when autovacuum ANALYZEs a table; PGlite has no
 * autovacuum, so a plan made while a table was small was kept for as long as the process ran.
 * Measured (docs/performance.md, "Plans made on small tables"): on a fresh database the bulk
 * duplicate check kept the plan of its first requests, which read every document of the entity,
 * and grew from 1 to 390 ms a request of 50 queries over 4,000 documents.
 *
 * Every `intervalMs`, if statements ran since the last look, this compares the tables' live rows with
 * those at their last ANALYZE here, and ANALYZEs each table that has more than doubled (and grown by
 * more than 50 rows); ANALYZE invalidates the cached plans that read it, prepared statements' and
 * triggers' alike, which are then made again with the new statistics. Autovacuum's own threshold,
 * 10 % of growth, was tried first: PGlite runs ANALYZE on its one connection, in the way of every
 * request, and sampling the wide tables that often halved bulk posting on a growing database.
 */
export const REPLAN_INTERVAL_MS = 2000;

const LIVE_ROWS = `
  SELECT format('%I.%I', schemaname, relname) AS name, n_live_tup::text AS live
    FROM pg_stat_user_tables ORDER BY 1`;

export interface ReplanTarget {
  /** Statements run so far; nothing is looked at while it has not moved. */
  readonly executed: number;
  /** True while a transaction holds the one connection: the look waits for the next tick. */
  readonly busy: boolean;
  query<T>(sql: string): Promise<{ rows: T[] }>;
  exec(sql: string): Promise<void>;
}

export class Replanner {
  #timer: NodeJS.Timeout | undefined;
  #seen = -1;
  #running: Promise<void> | null = null;
  /** Live rows of each table at its last ANALYZE here. */
  readonly #planned = new Map<string, number>();
  /** The tables ANALYZEd, one list per look that found some, for tests and the curious. */
  readonly replanned: string[][] = [];
  /** Why the last look failed, if it did (the database closing, a transaction in the way). */
  lastError: unknown = null;

  constructor(
    private readonly target: ReplanTarget,
    private readonly intervalMs = REPLAN_INTERVAL_MS,
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

  /** One look; returns the tables that doubled, once they are ANALYZEd. */
  async tick(): Promise<string[]> {
    if (this.#running || this.target.busy || this.target.executed === this.#seen) return [];
    let grown: string[] = [];
    this.#running = (async () => {
      // Counts reach the shared statistics at most once a second, and PGlite has no idle timer to
      // send them later: the first statement asks for them now (they are sent as it ends).
      await this.target.query('SELECT pg_stat_force_next_flush()');
      const { rows } = await this.target.query<{ name: string; live: string }>(LIVE_ROWS);
      grown = rows
        .filter((r) => {
          const live = Number(r.live);
          const before = this.#planned.get(r.name) ?? 0;
          return live > 2 * before && live - before > 50;
        })
        .map((r) => r.name);
      if (grown.length > 0) {
        await this.target.exec(`ANALYZE ${grown.join(', ')}`);
        for (const r of rows) if (grown.includes(r.name)) this.#planned.set(r.name, Number(r.live));
        this.replanned.push(grown);
      }
      // Its own statements are not a reason for the next look.
      this.#seen = this.target.executed;
    })()
      .catch((err: unknown) => {
        // The database closing, or a transaction that took the connection meanwhile: the next tick tries again.
        this.lastError = err;
        grown = [];
      })
      .finally(() => {
        this.#running = null;
      });
    await this.#running;
    return grown;
  }
}
