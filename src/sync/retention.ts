import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.ts';
import { type RetentionDays, retentionSetting } from '../settings.ts';

/*
 * How long operational history is kept (docs/sync.md, "How long history is kept"). Stored
 * reconciliation reports, the per-document records of runs and the stored webhook events grow with
 * every reconciliation, every document synced and every delivery; each is removed once older than
 * its retention, a batch at a time, by every worker process at its start and every 10 minutes
 * (several at once are safe). Nothing the books stand on is touched: the ledger, the audit trail,
 * the source map, the outbox, exceptions and the runs themselves with their counts stay.
 */

/** What is kept, in days (`forever`: nothing is removed). */
export interface RetentionPolicy {
  /** Finished reconciliations (LEDGERLINK_RECONCILIATION_RETENTION_DAYS). */
  reconciliationDays: RetentionDays;
  /** The per-document records of finished runs (LEDGERLINK_RUN_RECORDS_RETENTION_DAYS). */
  runRecordsDays: RetentionDays;
  /** Processed webhook events, counted from when they were processed (LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS). */
  webhookEventsDays: RetentionDays;
}

/** A quarter: longer than a month-end close and a VAT quarter's return (docs/sync.md says why). */
export const DEFAULT_RETENTION_DAYS = 90;

/** The retention settings; a value that is not a number of days or `forever` is refused, naming the variable. */
export function retentionFromEnv(env: NodeJS.ProcessEnv = process.env): RetentionPolicy {
  return {
    reconciliationDays: retentionSetting(env, 'LEDGERLINK_RECONCILIATION_RETENTION_DAYS', DEFAULT_RETENTION_DAYS),
    runRecordsDays: retentionSetting(env, 'LEDGERLINK_RUN_RECORDS_RETENTION_DAYS', DEFAULT_RETENTION_DAYS),
    webhookEventsDays: retentionSetting(env, 'LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS', DEFAULT_RETENTION_DAYS),
  };
}

/** How often a worker removes what has aged out, as the API purges idempotency records. */
export const RETENTION_INTERVAL_MS = 10 * 60 * 1000;
/** Reports can be large (every mismatch of a long window): fewer of them per statement. */
const RECONCILIATION_BATCH = 100;
const RUN_RECORD_BATCH = 1000;
const RUNS_PER_ROUND = 100;
/** An event carries its whole payload (a few kilobytes, a megabyte at most). */
const WEBHOOK_EVENT_BATCH = 500;

export interface PurgeOptions {
  /** Rows removed per statement. */
  batch?: number;
  /** Aborted when the process stops: the purge ends after the statement in hand. */
  signal?: AbortSignal;
}

/**
 * One batch of reconciliations to delete: finished more than `$1` days ago, neither the newest
 * finished nor the newest succeeded of its pipeline (a newer one of each kind exists), and not the
 * answer of an Idempotency-Key that is still replayed.
 *
 * That last condition: POST /v1/pipelines/{name}/reconciliations answers with where the report is
 * (`Location: /v1/reconciliations/{id}`, src/api/routes/reconciliations.ts), and a retry under the
 * same key replays that answer until LEDGERLINK_IDEMPOTENCY_TTL_SECONDS (up to 30 days) has passed
 * (src/api/idempotency.ts, the Location stored by migration 0116). A retention shorter than that
 * would have the replay send the client to a 404. The report is kept until the key's record
 * expires instead, and goes at the first pass after: both promises are kept, whatever the two
 * settings are. Refusing such a pair of settings at start would not do: the API process replays and
 * the worker removes, and each reads only its own environment; the records in the database are
 * what both share.
 */
const DELETE_RECONCILIATIONS = `DELETE FROM reconciliations WHERE id IN (
   SELECT r.id FROM reconciliations r
    WHERE r.status IN ('succeeded', 'failed') AND r.finished_at < now() - make_interval(days => $1::int)
      AND EXISTS (SELECT 1 FROM reconciliations n
                   WHERE n.pipeline_id = r.pipeline_id AND n.created_at > r.created_at
                     AND n.status IN ('succeeded', 'failed'))
      AND (r.status = 'failed' OR EXISTS (SELECT 1 FROM reconciliations n
                   WHERE n.pipeline_id = r.pipeline_id AND n.created_at > r.created_at
                     AND n.status = 'succeeded'))
      AND NOT EXISTS (SELECT 1 FROM idempotency_keys k
                       WHERE k.response_location = '/v1/reconciliations/' || r.id AND k.expires_at > now())
    ORDER BY r.finished_at
    LIMIT $2
    FOR UPDATE OF r SKIP LOCKED)`;

/**
 * Deletes finished reconciliations that finished more than `days` ago, a batch at a time, keeping
 * for each pipeline its newest finished one and its newest succeeded one (by when they were asked
 * for, as the dashboard and the list order them), whatever their age: the last word on a pipeline,
 * and the last report it has, are never lost. Queued and running ones are never touched, nor one
 * that a replayed Idempotency-Key answer still points to, until that answer expires. Returns how
 * many went.
 *
 * Safe on several processes at once: a row another purge holds is skipped, and the newest of a
 * pipeline is never a candidate, so no purge removes what another relies on to remove something.
 */
export function purgeReconciliations(db: Queryable, days: number, o: PurgeOptions = {}): Promise<number> {
  return deleteInBatches(db, RETENTION_QUERIES.reconciliations, days, o.batch ?? RECONCILIATION_BATCH, o.signal);
}

/** Runs a one-batch DELETE (`$1` days, `$2` rows) until a batch comes back short; returns how many rows went. */
async function deleteInBatches(
  db: Queryable,
  sql: string,
  days: number,
  batch: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  let total = 0;
  while (!signal?.aborted) {
    const { rowCount } = await db.query(sql, [days, batch]);
    total += rowCount;
    if (rowCount < batch) break;
  }
  return total;
}

/**
 * A run whose records may go: finished (in whichever final status) more than `$1` days ago, its
 * records still there, and nothing of it still on its way. A run that still has documents waiting for the target, records held behind
 * them, or an exception open is kept whole: what becomes of those later is reported to it, in its
 * records (docs/sync.md, "A run's waiting documents stay its own").
 */
const REMOVABLE = `r.records_removed_at IS NULL AND r.status NOT IN ('queued', 'running')
  AND r.finished_at < now() - make_interval(days => $1::int) AND r.waiting = 0
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.run_id = r.id AND o.status = 'pending')
  AND NOT EXISTS (SELECT 1 FROM held_records h WHERE h.run_id = r.id)
  AND NOT EXISTS (SELECT 1 FROM exceptions x WHERE x.run_id = r.id AND x.status = 'open')`;

/** The next runs whose records may go, after (`$2`, `$3`) in the order the purge walks them. */
const RUNS_TO_PURGE = `SELECT r.id, r.finished_at::text AS finished_at FROM runs r
  WHERE ${REMOVABLE} AND (r.finished_at, r.id) > ($2::timestamptz, $3::uuid)
  ORDER BY r.finished_at, r.id
  LIMIT $4`;

/**
 * One batch of webhook events to delete: processed more than `$1` days ago. An event not processed
 * yet (its run failed, its pipeline is disabled) is never a candidate, however old.
 */
const DELETE_WEBHOOK_EVENTS = `DELETE FROM webhook_events WHERE (pipeline_id, event_id) IN (
   SELECT pipeline_id, event_id FROM webhook_events
    WHERE processed_at < now() - make_interval(days => $1::int)
    ORDER BY processed_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED)`;

/** The purge's searches, whose plans test/retention.test.ts checks use the indexes of migrations 0117 and 0120. */
export const RETENTION_QUERIES = {
  reconciliations: DELETE_RECONCILIATIONS,
  runs: RUNS_TO_PURGE,
  webhookEvents: DELETE_WEBHOOK_EVENTS,
};

/**
 * Deletes the per-document records (`run_records`) of runs that finished more than `days` ago and
 * marks each such run `records_removed_at`; the run's row and counts stay. At most `batch` records
 * per statement: a run with more loses them over several, and is marked with its last batch, in the
 * same transaction (a run of up to `batch` records goes at once, so no reader sees half of it).
 * Returns how many runs were marked and how many records went.
 *
 * Safe on several processes at once: each run is locked while a batch of it goes, and a run another
 * purge holds is passed over (the other one finishes it).
 */
export async function purgeRunRecords(
  db: Queryable,
  days: number,
  o: PurgeOptions = {},
): Promise<{ runs: number; records: number }> {
  const batch = o.batch ?? RUN_RECORD_BATCH;
  let runs = 0;
  let records = 0;
  // Walked once, oldest first, by (finished_at, id) (index runs_records_kept): a run passed over
  // (kept, or held by another purge) is not looked at again in this pass.
  let after = { finishedAt: '-infinity', id: '00000000-0000-0000-0000-000000000000' };
  while (!o.signal?.aborted) {
    const { rows } = await db.query<{ id: string; finished_at: string }>(RETENTION_QUERIES.runs, [
      days,
      after.finishedAt,
      after.id,
      RUNS_PER_ROUND,
    ]);
    for (const run of rows) {
      for (;;) {
        if (o.signal?.aborted) return { runs, records };
        const step = await db.transaction(async (tx) => {
          // Checked again under the run's lock: it may have changed since, or another purge has it.
          const held = await tx.query(
            `SELECT r.id FROM runs r WHERE r.id = $2 AND ${REMOVABLE} FOR UPDATE SKIP LOCKED`,
            [days, run.id],
          );
          if (held.rows.length === 0) return { removed: 0, done: true, marked: false };
          const { rowCount } = await tx.query(
            `DELETE FROM run_records WHERE id IN (SELECT id FROM run_records WHERE run_id = $1 ORDER BY id LIMIT $2)`,
            [run.id, batch],
          );
          if (rowCount >= batch) return { removed: rowCount, done: false, marked: false };
          await tx.query(`UPDATE runs SET records_removed_at = now() WHERE id = $1`, [run.id]);
          return { removed: rowCount, done: true, marked: true };
        });
        records += step.removed;
        if (step.marked) runs++;
        if (step.done) break;
      }
    }
    const last = rows.at(-1);
    if (!last || rows.length < RUNS_PER_ROUND) break;
    after = { finishedAt: last.finished_at, id: last.id };
  }
  return { runs, records };
}

/**
 * Deletes webhook events processed more than `days` ago, a batch at a time; unprocessed events
 * stay whatever their age. Returns how many went.
 *
 * Why an event may go: its row's key (pipeline, event id) is what answers a sender's retry
 * `duplicate: true`, and senders stop retrying long before (Stripe after 3 days; docs/sync.md says
 * more). A delivery of a removed event id is stored and processed again, and posts nothing: every
 * document it carries is found in the source map (`sync_map`) and skipped, as for any run that
 * reads the same document twice (src/sync/webhook-events.ts).
 *
 * Safe on several processes at once: an event another purge holds is skipped.
 */
export function purgeWebhookEvents(db: Queryable, days: number, o: PurgeOptions = {}): Promise<number> {
  return deleteInBatches(db, RETENTION_QUERIES.webhookEvents, days, o.batch ?? WEBHOOK_EVENT_BATCH, o.signal);
}

export interface HistoryRemoved {
  reconciliations: number;
  runs: number;
  runRecords: number;
  webhookEvents: number;
}

/**
 * One pass of the retention policy: what has aged out goes, and what went is logged at info (nothing
 * is logged when nothing went). On PGlite, which has no autovacuum, the tables something went from
 * are vacuumed after, so that their space is used again rather than the data folder only growing.
 */
export async function purgeHistory(
  db: Database,
  policy: RetentionPolicy,
  log: Logger,
  o: PurgeOptions = {},
): Promise<HistoryRemoved> {
  const removed: HistoryRemoved = { reconciliations: 0, runs: 0, runRecords: 0, webhookEvents: 0 };
  const { reconciliationDays: recDays, runRecordsDays: runDays, webhookEventsDays: eventDays } = policy;
  if (recDays !== 'forever') {
    removed.reconciliations = await purgeReconciliations(db, recDays, o);
    if (removed.reconciliations > 0)
      log.info(
        { reconciliations: removed.reconciliations, retentionDays: recDays },
        `retention: removed ${removed.reconciliations} reconciliation(s) finished more than ${recDays} days ago`,
      );
  }
  if (runDays !== 'forever') {
    const r = await purgeRunRecords(db, runDays, o);
    removed.runs = r.runs;
    removed.runRecords = r.records;
    if (r.runs > 0 || r.records > 0)
      log.info(
        { runs: r.runs, runRecords: r.records, retentionDays: runDays },
        `retention: removed ${r.records} run record(s) of ${r.runs} run(s) finished more than ${runDays} days ago`,
      );
  }
  if (eventDays !== 'forever') {
    removed.webhookEvents = await purgeWebhookEvents(db, eventDays, o);
    if (removed.webhookEvents > 0)
      log.info(
        { webhookEvents: removed.webhookEvents, retentionDays: eventDays },
        `retention: removed ${removed.webhookEvents} webhook event(s) processed more than ${eventDays} days ago`,
      );
  }
  if (db.kind === 'pglite') {
    const emptied = [
      ...(removed.reconciliations > 0 ? ['reconciliations'] : []),
      ...(removed.runRecords > 0 ? ['run_records'] : []),
      ...(removed.webhookEvents > 0 ? ['webhook_events'] : []),
    ];
    // Plain VACUUM: the space is marked free for new rows; nothing is locked against them.
    if (emptied.length > 0 && !o.signal?.aborted) await db.exec(`VACUUM ${emptied.join(', ')}`);
  }
  return removed;
}

/**
 * A worker's retention timer: a pass at start (in the background, so that a first pass over a long
 * history does not hold up the worker) and every 10 minutes, never two at once in one process.
 * `stop` ends the pass in hand after its current statement.
 */
export class HistoryRetention {
  private timer: NodeJS.Timeout | null = null;
  private pass: Promise<void> | null = null;

  constructor(private readonly deps: { db: Database; log: Logger; policy: RetentionPolicy; signal: AbortSignal }) {}

  start(): void {
    const { policy } = this.deps;
    if (this.timer || Object.values(policy).every((days) => days === 'forever')) return;
    void this.runOnce();
    this.timer = setInterval(() => void this.runOnce(), RETENTION_INTERVAL_MS);
    this.timer.unref();
  }

  /** The pass in hand, or a new one; resolves when it is done (failures are logged, never thrown). */
  runOnce(): Promise<void> {
    const { db, log, policy, signal } = this.deps;
    this.pass ??= purgeHistory(db, policy, log, { signal })
      .then(
        () => undefined,
        (err: unknown) => log.warn({ err }, 'removing history older than its retention failed; tried again later'),
      )
      .finally(() => (this.pass = null));
    return this.pass;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pass;
  }
}
