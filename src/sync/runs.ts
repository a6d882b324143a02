import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { storable } from '../domain/storable.ts';

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled';
export type RunTrigger = 'manual' | 'schedule' | 'webhook' | 'import' | 'daily-summary' | 'retry';

export interface RunCounts {
  fetched: number;
  /** Everything created: the sum of the created* counters below. */
  created: number;
  updated: number;
  skipped: number;
  parked: number;
  writtenBack: number;
  /** What was created, by kind: documents apart from the customers and products they brought along. */
  createdInvoices: number;
  createdReceipts: number;
  createdCustomers: number;
  createdProducts: number;
  createdOther: number;
}

export const ZERO_COUNTS: RunCounts = {
  fetched: 0,
  created: 0,
  updated: 0,
  skipped: 0,
  parked: 0,
  writtenBack: 0,
  createdInvoices: 0,
  createdReceipts: 0,
  createdCustomers: 0,
  createdProducts: 0,
  createdOther: 0,
};

/** Counts as the API and the command line show them: `created` with its split by kind. */
export function publicCounts(c: RunCounts) {
  return {
    fetched: c.fetched,
    created: c.created,
    updated: c.updated,
    skipped: c.skipped,
    parked: c.parked,
    writtenBack: c.writtenBack,
    createdByKind: {
      invoices: c.createdInvoices,
      receipts: c.createdReceipts,
      customers: c.createdCustomers,
      products: c.createdProducts,
      other: c.createdOther,
    },
  };
}
export type PublicCounts = ReturnType<typeof publicCounts>;

/** The counter of created records of a kind (payments are booked as receipts). */
export function createdCounter(kind: string): keyof RunCounts {
  return kind === 'invoice'
    ? 'createdInvoices'
    : kind === 'payment'
      ? 'createdReceipts'
      : kind === 'customer'
        ? 'createdCustomers'
        : kind === 'product'
          ? 'createdProducts'
          : 'createdOther';
}

export interface Run {
  runId: string;
  pipeline: string;
  pipelineId: string;
  entityId: string;
  trigger: RunTrigger;
  slot: string | null;
  status: RunStatus;
  params: Record<string, unknown>;
  cursor: string | null;
  counts: RunCounts;
  /** Documents of the run still on their way to the target (retried automatically). */
  waiting: number;
  error: string | null;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /**
   * When the retention policy removed the run's per-document records (src/sync/retention.ts); null
   * while they are kept. The run and its counts stay.
   */
  recordsRemovedAt: string | null;
  /**
   * When someone asked to cancel the run, and who (src/sync/run-cancel.ts): a run still working
   * stops at its next page boundary and ends `cancelled`. Null when nobody did.
   */
  cancelRequestedAt: string | null;
  cancelledBy: string | null;
}

interface Row {
  id: string;
  pipeline: string;
  pipeline_id: string;
  entity_id: string;
  trigger: RunTrigger;
  slot: string | null;
  status: RunStatus;
  params: Record<string, unknown>;
  cursor: string | null;
  counts: RunCounts;
  waiting: number;
  error: string | null;
  created_by: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  records_removed_at: Date | null;
  cancel_requested_at: Date | null;
  cancelled_by: string | null;
}

const COLUMNS = `r.id, p.name AS pipeline, r.pipeline_id, r.entity_id, r.trigger, r.slot, r.status, r.params, r.cursor, r.counts, r.waiting, r.error,
  r.created_by, r.created_at, r.started_at, r.finished_at, r.records_removed_at, r.cancel_requested_at, r.cancelled_by`;

function toRun(r: Row): Run {
  return {
    runId: r.id,
    pipeline: r.pipeline,
    pipelineId: r.pipeline_id,
    entityId: r.entity_id,
    trigger: r.trigger,
    slot: r.slot,
    status: r.status,
    params: r.params,
    cursor: r.cursor,
    counts: { ...ZERO_COUNTS, ...r.counts },
    waiting: r.waiting,
    error: r.error,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    startedAt: r.started_at?.toISOString() ?? null,
    finishedAt: r.finished_at?.toISOString() ?? null,
    recordsRemovedAt: r.records_removed_at?.toISOString() ?? null,
    cancelRequestedAt: r.cancel_requested_at?.toISOString() ?? null,
    cancelledBy: r.cancelled_by,
  };
}

export interface NewRun {
  pipelineId: string;
  entityId: string;
  trigger: RunTrigger;
  createdBy: string;
  slot?: string | null;
  params?: Record<string, unknown>;
}

/**
 * Creates a queued run; for a scheduled slot that another worker already took, returns null. A
 * webhook run is the pipeline's waiting one when it has one (`joinWebhookRun`).
 */
export async function createRun(db: Queryable, p: NewRun): Promise<string | null> {
  if (p.trigger === 'webhook') return (await joinWebhookRun(db, p)).runId;
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO runs (pipeline_id, entity_id, trigger, slot, params, created_by) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (pipeline_id, slot) WHERE slot IS NOT NULL DO NOTHING RETURNING id`,
    [p.pipelineId, p.entityId, p.trigger, p.slot ?? null, JSON.stringify(p.params ?? {}), p.createdBy],
  );
  return rows[0]?.id ?? null;
}

/** A webhook run that no execution has started: the one a delivery joins (index runs_one_waiting_webhook). */
const WAITING_WEBHOOK = `trigger = 'webhook' AND status = 'queued' AND attempts = 0`;

/**
 * The pipeline's webhook run that has not started yet, created when there is none (`created`), inside
 * the caller's transaction. A delivery's events are processed by it, since a run reads every pending
 * event when it starts, so a burst of deliveries makes one run. The database keeps it to one: a
 * partial unique index (migration 0062) makes a second delivery racing past an empty queue wait for
 * the first's insert and then join its run, on PostgreSQL as on PGlite. The run's row is locked until
 * the caller commits, so it cannot start (setRunStatus waits) before the caller's event is stored.
 *
 * A run that has started (attempts > 0, also once it is queued again after a failure) is never
 * joined: it may have read the events already, so a delivery during it makes the next run.
 */
export async function joinWebhookRun(
  db: Queryable,
  p: Omit<NewRun, 'trigger' | 'slot'>,
): Promise<{ runId: string; created: boolean }> {
  // Each round either finds the waiting run or creates it; it takes another only when the waiting run
  // started between the two statements, so a few rounds settle it.
  for (let round = 0; round < 5; round++) {
    const waiting = await db.query<{ id: string }>(
      `SELECT id FROM runs WHERE pipeline_id = $1 AND ${WAITING_WEBHOOK} FOR UPDATE`,
      [p.pipelineId],
    );
    if (waiting.rows[0]) return { runId: waiting.rows[0].id, created: false };
    const inserted = await db.query<{ id: string }>(
      `INSERT INTO runs (pipeline_id, entity_id, trigger, params, created_by) VALUES ($1, $2, 'webhook', $3, $4)
       ON CONFLICT (pipeline_id) WHERE ${WAITING_WEBHOOK} DO NOTHING RETURNING id`,
      [p.pipelineId, p.entityId, JSON.stringify(p.params ?? {}), p.createdBy],
    );
    if (inserted.rows[0]) return { runId: inserted.rows[0].id, created: true };
  }
  throw new Error(`No waiting webhook run could be found or created for pipeline ${p.pipelineId}`);
}

export async function getRun(db: Queryable, runId: string, entityId?: string): Promise<Run | null> {
  if (!/^[0-9a-f-]{36}$/i.test(runId)) return null;
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = $1 AND ($2::uuid IS NULL OR r.entity_id = $2)`,
    [runId, entityId ?? null],
  );
  return rows[0] ? toRun(rows[0]) : null;
}

export async function requireRun(db: Queryable, runId: string, entityId?: string): Promise<Run> {
  const run = await getRun(db, runId, entityId);
  if (!run) throw new DomainError('NOT_FOUND', `No run ${runId}`);
  return run;
}

export async function listRuns(
  db: Queryable,
  f: {
    entityId?: string | undefined;
    pipeline?: string | undefined;
    status?: RunStatus | undefined;
    limit: number;
    offset: number;
  },
): Promise<{ items: Run[]; total: number }> {
  const where = `($1::uuid IS NULL OR r.entity_id = $1) AND ($2::text IS NULL OR p.name = $2) AND ($3::text IS NULL OR r.status = $3)`;
  const params = [f.entityId ?? null, f.pipeline ?? null, f.status ?? null];
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE ${where} ORDER BY r.created_at DESC, r.id LIMIT $4 OFFSET $5`,
    [...params, f.limit, f.offset],
  );
  const total = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE ${where}`,
    params,
  );
  return { items: rows.map(toRun), total: Number(total.rows[0]!.n) };
}

export interface RunRecord {
  kind: string;
  sourceId: string;
  outcome: 'created' | 'updated' | 'skipped' | 'parked' | 'writtenBack' | 'failed';
  targetId?: string | null | undefined;
  message?: string | null | undefined;
}

export async function addRunRecords(db: Queryable, runId: string, records: RunRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db.query(
    `INSERT INTO run_records (run_id, kind, source_id, outcome, target_id, message)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
    [
      runId,
      records.map((r) => r.kind),
      // A record parked for holding a NUL or a lone surrogate is still listed (as U+FFFD).
      records.map((r) => storable(r.sourceId)),
      records.map((r) => r.outcome),
      records.map((r) => (r.targetId === undefined || r.targetId === null ? null : storable(r.targetId))),
      records.map((r) => (r.message === undefined || r.message === null ? null : storable(r.message))),
    ],
  );
}

/**
 * How many documents a run booked besides the one given (kind and source id): those that ran
 * again with it because it was what they needed (src/sync/engine/deliveries.ts, `releaseNeeded`).
 * Customers and products, booked on the way, are not counted. Asked of the run a retry has just
 * made, whose records no retention has removed (it keeps them for a day at the least).
 */
export async function bookedBesides(db: Queryable, runId: string, kind: string, sourceId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(DISTINCT (kind, source_id)) AS n FROM run_records
      WHERE run_id = $1 AND outcome IN ('created', 'updated') AND kind NOT IN ('customer', 'product')
        AND NOT (kind = $2 AND source_id = $3)`,
    [runId, kind, sourceId],
  );
  return Number(rows[0]!.n);
}

/**
 * A page of a run's records, in order. Empty for a run whose records the retention policy removed
 * (`Run.recordsRemovedAt`); readers say so rather than show an empty list.
 */
export async function listRunRecords(db: Queryable, runId: string, limit: number, offset: number) {
  const { rows } = await db.query<{
    kind: string;
    source_id: string;
    outcome: RunRecord['outcome'];
    target_id: string | null;
    message: string | null;
    at: Date;
  }>(
    `SELECT kind, source_id, outcome, target_id, message, at FROM run_records WHERE run_id = $1 ORDER BY id LIMIT $2 OFFSET $3`,
    [runId, limit, offset],
  );
  return rows.map((r) => ({
    kind: r.kind,
    sourceId: r.source_id,
    outcome: r.outcome,
    targetId: r.target_id,
    message: r.message,
    at: r.at.toISOString(),
  }));
}

/** Adds to a run's counters atomically (several pages, several workers); says whether the run was asked to stop. */
export async function addCounts(
  db: Queryable,
  runId: string,
  delta: Partial<RunCounts>,
  cursor?: string | null,
): Promise<{ cancelRequested: boolean }> {
  const keys = Object.keys(ZERO_COUNTS) as (keyof RunCounts)[];
  const set = keys.map((k) => `'${k}', coalesce((counts->>'${k}')::int, 0) + ${Math.trunc(delta[k] ?? 0)}`).join(', ');
  // A page committed (its cursor given) is progress: the run's failures in a row start again from
  // nothing (src/sync/service.ts retryLater). Whether the run was asked to stop comes back with the
  // update: the engine asks once per page,
  // and this saves it a round trip (src/sync/run-cancel.ts).
  const { rows } = await db.query<{ requested: boolean }>(
    `UPDATE runs SET counts = jsonb_build_object(${set}), heartbeat_at = now()${cursor !== undefined ? ', cursor = $2, failures = 0' : ''}
      WHERE id = $1 RETURNING cancel_requested_at IS NOT NULL AS requested`,
    cursor !== undefined ? [runId, cursor] : [runId],
  );
  return { cancelRequested: rows[0]?.requested ?? false };
}

/**
 * Sets a run's status; `waiting`, when given, is how many of its documents still wait for the
 * target. A cancelled run keeps its status (src/sync/run-cancel.ts): `cancelled` is final.
 */
export async function setRunStatus(
  db: Queryable,
  runId: string,
  status: RunStatus,
  error: string | null = null,
  waiting?: number,
): Promise<void> {
  await db.query(
    `UPDATE runs SET status = $2, error = $3, waiting = coalesce($4::int, waiting),
       started_at = CASE WHEN $2 = 'running' AND started_at IS NULL THEN now() ELSE started_at END,
       finished_at = CASE WHEN $2 IN ('succeeded', 'partial', 'failed') THEN now() ELSE NULL END,
       attempts = attempts + CASE WHEN $2 = 'running' THEN 1 ELSE 0 END
     WHERE id = $1 AND status <> 'cancelled'`,
    [runId, status, error, waiting ?? null],
  );
}

/** What a run that ends with documents on their way says of them. */
export function waitingMessage(waiting: number, target: string): string {
  return `${waiting} document(s) wait for the ${target} target, or for a document that does; they are retried automatically`;
}

/** How many documents of each run still wait: sent and waiting for a retry, or held behind one. */
export async function waitingOf(db: Queryable, runIds: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ id: string; n: string }>(
    `SELECT r.id,
            (SELECT count(*) FROM outbox o WHERE o.run_id = r.id AND o.status = 'pending' AND o.direction = 'target')
          + (SELECT count(*) FROM held_records h WHERE h.run_id = r.id) AS n
       FROM unnest($1::uuid[]) AS r(id)`,
    [runIds],
  );
  return new Map(rows.map((r) => [r.id, Number(r.n)]));
}

/**
 * Brings up to date the runs of a pipeline that ended with documents waiting for its target, once
 * some of those have gone through or been parked (by the workers' timer, or at the end of another
 * run): how many still wait, and, when none does, the final status, `succeeded`, or `partial` when
 * the run parked something. Returns the runs that settled.
 */
export async function settleWaitingRuns(
  db: Queryable,
  pipelineId: string,
  target: string,
  except: string | null,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string; waiting: number }>(
    `SELECT id, waiting FROM runs WHERE pipeline_id = $1 AND waiting > 0 AND id IS DISTINCT FROM $2::uuid`,
    [pipelineId, except],
  );
  if (rows.length === 0) return [];
  const now = await waitingOf(
    db,
    rows.map((r) => r.id),
  );
  const settled: string[] = [];
  for (const r of rows) {
    const n = now.get(r.id) ?? 0;
    if (n === r.waiting) continue;
    // A cancelled run keeps its status and its message; only what still waits is brought up to date.
    await db.query(
      `UPDATE runs SET waiting = $2,
              error = CASE WHEN status = 'cancelled' THEN error ELSE $3 END,
              status = CASE WHEN status = 'cancelled' THEN 'cancelled'
                            WHEN $2 = 0 AND coalesce((counts->>'parked')::int, 0) = 0 THEN 'succeeded'
                            ELSE 'partial' END
        WHERE id = $1 AND waiting > 0`,
      [r.id, n, n > 0 ? waitingMessage(n, target) : null],
    );
    if (n === 0) settled.push(r.id);
  }
  return settled;
}
