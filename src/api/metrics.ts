import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Queryable } from '../db/database.ts';
import { rateWaits } from '../sync/remote/rate-planner.ts';

const RUN_STATUSES = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled'] as const;
const OUTBOX_DIRECTIONS = ['source', 'target'] as const;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/**
 * The Prometheus metrics of one app (docs/deploy.md, "Metrics"): a registry of its own, never
 * prom-client's global one, so that several apps in one process (tests) do not share series.
 * Process metrics and the HTTP histogram are kept in memory; the ledger's figures are read from
 * the database at scrape time, one grouped query per family, so every API process of a
 * deployment reports the same totals (and `sum` over processes is wrong for them: use `max`).
 */
export class AppMetrics {
  readonly registry = new Registry();
  #defaults = false;
  #inFlight: Promise<string> | null = null;
  readonly #http: Histogram<'method' | 'route' | 'status'>;
  readonly #up: Gauge;
  readonly #runs: Gauge<'entity' | 'status'>;
  readonly #posted: Gauge<'entity' | 'kind'>;
  readonly #exceptions: Gauge<'entity' | 'reason'>;
  readonly #outboxDepth: Gauge<'direction'>;
  readonly #outboxAge: Gauge<'direction'>;
  readonly #held: Gauge<'entity' | 'kind'>;
  readonly #awaiting: Gauge<'entity'>;
  readonly #refundsAwaiting: Gauge<'entity'>;
  readonly #beforeInvoice: Gauge<'entity' | 'pipeline'>;
  readonly #waits: Counter<'system'>;
  readonly #waitSeconds: Counter<'system'>;

  constructor() {
    const registers = [this.registry];
    this.#http = new Histogram({
      name: 'ledgerlink_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#up = new Gauge({
      name: 'ledgerlink_database_up',
      help: '1 when the scrape read the figures below from the database, 0 when that failed.',
      registers,
    });
    this.#runs = new Gauge({
      name: 'ledgerlink_runs',
      help: 'Pipeline runs by entity code and status.',
      labelNames: ['entity', 'status'],
      registers,
    });
    this.#posted = new Gauge({
      name: 'ledgerlink_documents_posted',
      help: 'Documents posted to their target (rows of sync_map), by entity code and kind.',
      labelNames: ['entity', 'kind'],
      registers,
    });
    this.#exceptions = new Gauge({
      name: 'ledgerlink_exceptions_open',
      help: 'Records parked as open exceptions, by entity code and reason code.',
      labelNames: ['entity', 'reason'],
      registers,
    });
    this.#outboxDepth = new Gauge({
      name: 'ledgerlink_outbox_pending',
      help: 'Outbox items waiting to be sent, by direction (source: write-back; target: documents).',
      labelNames: ['direction'],
      registers,
    });
    this.#outboxAge = new Gauge({
      name: 'ledgerlink_outbox_oldest_age_seconds',
      help: 'Age of the oldest pending outbox item, by direction; 0 when none is pending.',
      labelNames: ['direction'],
      registers,
    });
    this.#held = new Gauge({
      name: 'ledgerlink_documents_held',
      help: 'Documents held behind one still on its way to a remote target (held_records), by entity code and kind.',
      labelNames: ['entity', 'kind'],
      registers,
    });
    this.#awaiting = new Gauge({
      name: 'ledgerlink_payments_awaiting_invoice',
      help: 'Receipts the embedded ledger booked unallocated, still open and waiting for the invoice they name to be booked, by entity code.',
      labelNames: ['entity'],
      registers,
    });
    this.#refundsAwaiting = new Gauge({
      name: 'ledgerlink_refunds_awaiting_payment',
      help: 'Refunds the embedded ledger booked unallocated, still open and waiting for the payment they refund (and its invoice) to be booked, by entity code.',
      labelNames: ['entity'],
      registers,
    });
    this.#beforeInvoice = new Gauge({
      name: 'ledgerlink_payments_before_invoice',
      help: 'Payments a remote target booked unapplied before the invoice they name, noted to be applied to it once it is booked (payments_before_invoice), by entity code and pipeline.',
      labelNames: ['entity', 'pipeline'],
      registers,
    });
    this.#waits = new Counter({
      name: 'ledgerlink_rate_planner_waits_total',
      help: 'Times a call waited for its rate budget in this process, by platform.',
      labelNames: ['system'],
      registers,
    });
    this.#waitSeconds = new Counter({
      name: 'ledgerlink_rate_planner_wait_seconds_total',
      help: 'Seconds calls waited for their rate budget in this process, by platform.',
      labelNames: ['system'],
      registers,
    });
  }

  /** Records one answered request. `route` is the template (`/v1/customers/:code`), never the URL. */
  observeRequest(method: string, route: string | undefined, status: number, seconds: number): void {
    this.#http.observe(
      { method: METHODS.has(method) ? method : 'OTHER', route: route ?? 'unmatched', status: String(status) },
      seconds,
    );
  }

  /** The exposition text, figures read from `db` now; scrapes arriving meanwhile share it. */
  scrape(db: Queryable, log: Logger): Promise<string> {
    this.#inFlight ??= this.#scrape(db, log).finally(() => (this.#inFlight = null));
    return this.#inFlight;
  }

  async #scrape(db: Queryable, log: Logger): Promise<string> {
    if (!this.#defaults) {
      // Started at the first scrape: an app nobody scrapes (most tests) runs no event-loop monitor.
      collectDefaultMetrics({ register: this.registry });
      this.#defaults = true;
    }
    try {
      await this.#readDatabase(db);
      this.#up.set(1);
    } catch (err) {
      log.warn({ err }, 'metrics: reading the database failed');
      this.#up.set(0);
      // The last scrape's figures are not now's: exported, they would hide what happens meanwhile
      // (an outbox that ages, runs that stay queued). Absent until the database answers again.
      for (const g of this.#databaseFamilies()) g.reset();
    }
    this.#waits.reset();
    this.#waitSeconds.reset();
    for (const [system, tally] of rateWaits) {
      this.#waits.inc({ system }, tally.count);
      this.#waitSeconds.inc({ system }, tally.seconds);
    }
    return this.registry.metrics();
  }

  /** The families read from the database at each scrape. */
  #databaseFamilies(): Gauge<string>[] {
    return [
      this.#runs,
      this.#posted,
      this.#exceptions,
      this.#outboxDepth,
      this.#outboxAge,
      this.#held,
      this.#awaiting,
      this.#refundsAwaiting,
      this.#beforeInvoice,
    ] as Gauge<string>[];
  }

  async #readDatabase(db: Queryable): Promise<void> {
    const runs = await db.query<{ entity: string; status: string; n: string }>(
      `SELECT e.code AS entity, r.status, count(*)::text AS n
         FROM runs r JOIN entities e ON e.id = r.entity_id GROUP BY 1, 2`,
    );
    const posted = await db.query<{ entity: string; kind: string; n: string }>(
      `SELECT e.code AS entity, m.kind, count(*)::text AS n
         FROM sync_map m JOIN pipelines p ON p.id = m.pipeline_id JOIN entities e ON e.id = p.entity_id GROUP BY 1, 2`,
    );
    const exceptions = await db.query<{ entity: string; reason: string; n: string }>(
      `SELECT e.code AS entity, x.reason_code AS reason, count(*)::text AS n
         FROM exceptions x JOIN entities e ON e.id = x.entity_id WHERE x.status = 'open' GROUP BY 1, 2`,
    );
    const outbox = await db.query<{ direction: string; n: string; age: string }>(
      `SELECT direction, count(*)::text AS n, extract(epoch FROM now() - min(created_at))::text AS age
         FROM outbox WHERE status = 'pending' GROUP BY 1`,
    );
    const held = await db.query<{ entity: string; kind: string; n: string }>(
      `SELECT e.code AS entity, h.kind, count(*)::text AS n
         FROM held_records h JOIN pipelines p ON p.id = h.pipeline_id JOIN entities e ON e.id = p.entity_id GROUP BY 1, 2`,
    );
    // A waiting document a person has since allocated by hand waits for nothing: only those with
    // money still open count.
    const awaiting = await db.query<{ entity: string; n: string }>(
      awaitingSql('payments_awaiting_invoice', 'receipt_id', 'credit'),
    );
    const refundsAwaiting = await db.query<{ entity: string; n: string }>(
      awaitingSql('refunds_awaiting_payment', 'refund_id', 'debit'),
    );
    const beforeInvoice = await db.query<{ entity: string; pipeline: string; n: string }>(
      `SELECT e.code AS entity, p.name AS pipeline, count(*)::text AS n
         FROM payments_before_invoice w JOIN pipelines p ON p.id = w.pipeline_id JOIN entities e ON e.id = p.entity_id
        GROUP BY 1, 2`,
    );
    // Series of entities and reasons that are gone must not linger: every family is rebuilt.
    for (const g of this.#databaseFamilies()) g.reset();
    for (const r of runs.rows) this.#runs.set({ entity: r.entity, status: r.status }, Number(r.n));
    for (const entity of new Set(runs.rows.map((r) => r.entity)))
      for (const status of RUN_STATUSES) this.#runs.inc({ entity, status }, 0);
    for (const r of posted.rows) this.#posted.set({ entity: r.entity, kind: r.kind }, Number(r.n));
    for (const r of exceptions.rows) this.#exceptions.set({ entity: r.entity, reason: r.reason }, Number(r.n));
    for (const r of held.rows) this.#held.set({ entity: r.entity, kind: r.kind }, Number(r.n));
    for (const r of awaiting.rows) this.#awaiting.set({ entity: r.entity }, Number(r.n));
    for (const r of refundsAwaiting.rows) this.#refundsAwaiting.set({ entity: r.entity }, Number(r.n));
    for (const r of beforeInvoice.rows)
      this.#beforeInvoice.set({ entity: r.entity, pipeline: r.pipeline }, Number(r.n));
    for (const direction of OUTBOX_DIRECTIONS) {
      const row = outbox.rows.find((r) => r.direction === direction);
      this.#outboxDepth.set({ direction }, Number(row?.n ?? 0));
      this.#outboxAge.set({ direction }, Math.max(0, Number(row?.age ?? 0)));
    }
  }
}

/**
 * Documents booked before the one they name (migrations 0104, 0105), by entity code: those with
 * something still open, so that one a person has allocated by hand meanwhile is not counted.
 */
function awaitingSql(table: string, waiting: string, side: 'debit' | 'credit'): string {
  return `SELECT e.code AS entity, count(*)::text AS n
            FROM ${table} w JOIN entities e ON e.id = w.entity_id JOIN transactions d ON d.id = w.${waiting}
           WHERE d.gross > (SELECT COALESCE(sum(a.amount), 0) FROM allocations a
                             WHERE a.${side}_transaction_id = d.id
                               AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id))
           GROUP BY 1`;
}
