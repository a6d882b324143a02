import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { storable, storableJson } from '../domain/storable.ts';
import { type ExceptionCode, RESOLVED_BY_HAND } from './reasons.ts';
import type { EarlyNote } from './engine/early-payments.ts';
import { CanonicalRecord } from './canonical.ts';
import { type Audit, findPipelineById } from './pipelines.ts';
import { type RunStatus, getRun } from './runs.ts';
import type { SyncService } from './service.ts';

export interface ParkedRecord {
  kind: string;
  sourceId: string;
  /** From the closed list of src/sync/reasons.ts: a reason code or the ledger's error code. */
  reasonCode: ExceptionCode;
  message: string;
  field?: string | null | undefined;
  payload: unknown;
  /**
   * Set when the record is not parked but held: what it depends on only waits for a retry in the
   * target (src/sync/engine/waiting.ts), and it is run again once that has gone through or failed.
   */
  waitsFor?: WaitsFor | undefined;
  /**
   * Set when the record is parked for want of something not booked in the target (not only late):
   * it runs again by itself once that is booked (`releaseNeeded`, src/sync/engine/deliveries.ts).
   */
  needs?: Needs | undefined;
  /** What must happen for it to run again, when more than `needs` being booked ("payment P-1 is applied to invoice SO-1"). */
  until?: string | undefined;
}

/**
 * What a parked record needs booked in the target before it can go: a customer or product, by its
 * source id, or a document it settles or allocates, by its customer in the target and its reference.
 */
export type Needs =
  | { kind: 'customer' | 'product'; sourceId: string }
  | { kind: 'invoice' | 'creditNote' | 'payment'; customerTargetId: string; reference: string };

/** How a parked record's message names what it needs. */
export function describeNeeds(needs: Needs): string {
  if ('sourceId' in needs) return `${needs.kind === 'customer' ? 'customer' : 'product'} ${needs.sourceId}`;
  return `${needs.kind === 'creditNote' ? 'credit note' : needs.kind} ${needs.reference}`;
}

/** What a held record waits for: an item on its way to the target (outbox), or another held record. */
export interface WaitsFor {
  kind: string;
  sourceId: string;
}

export interface ExceptionView {
  id: number;
  pipeline: string;
  runId: string | null;
  kind: string;
  sourceId: string;
  reasonCode: string;
  message: string;
  field: string | null;
  /** What it is parked for want of: it runs again by itself once the pipeline has booked that. */
  needs: Needs | null;
  /** Whether it goes by itself, nobody acting (RUNS_BY_ITSELF); false: a person must act. */
  runsByItself: boolean;
  payload: unknown;
  status: 'open' | 'resolved';
  attempts: number;
  note: string | null;
  resolvedBy: string | null;
  createdAt: string;
  updatedAt: string;
  resolvedAt: string | null;
}

/**
 * Parks records as exceptions. A record parked again while its exception is open updates the
 * reason and counts the attempt instead of opening a second one. A record the page held twice (a
 * webhook delivered again, a row repeated in a file) is parked once, as its first copy says (as
 * src/sync/engine/deliver.ts sends the first): one statement cannot update the same exception
 * twice. Its copy of what the source sent is kept storable: a record is often parked precisely for
 * holding a NUL or a lone surrogate, shown as U+FFFD in the copy (nothing booked is ever made of it).
 */
export async function parkRecords(
  db: Queryable,
  pipelineId: string,
  entityId: string,
  runId: string | null,
  parked: ParkedRecord[],
): Promise<void> {
  if (parked.length === 0) return;
  const first = new Map<string, ParkedRecord>();
  for (const r of parked) {
    const key = `${r.kind}\u0000${r.sourceId}`;
    if (!first.has(key)) first.set(key, r);
  }
  const records = [...first.values()];
  const text = (v: string | null | undefined) => (v === undefined || v === null ? null : storable(v));
  await db.query(
    `INSERT INTO exceptions (pipeline_id, entity_id, run_id, kind, source_id, reason_code, message, field, payload,
                            needs_kind, needs_source_id, needs_customer, needs_reference)
     SELECT $1, $2, $3, r.kind, r.source_id, r.reason_code, r.message, r.field, r.payload::jsonb,
            r.needs_kind, r.needs_source_id, r.needs_customer, r.needs_reference
       FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
         AS r(kind, source_id, reason_code, message, field, payload, needs_kind, needs_source_id, needs_customer, needs_reference)
     ON CONFLICT (pipeline_id, kind, source_id) WHERE status = 'open'
     DO UPDATE SET reason_code = EXCLUDED.reason_code, message = EXCLUDED.message, field = EXCLUDED.field, payload = EXCLUDED.payload,
                   needs_kind = EXCLUDED.needs_kind, needs_source_id = EXCLUDED.needs_source_id,
                   needs_customer = EXCLUDED.needs_customer, needs_reference = EXCLUDED.needs_reference,
                   run_id = EXCLUDED.run_id, attempts = exceptions.attempts + 1, updated_at = now()`,
    [
      pipelineId,
      entityId,
      runId,
      records.map((r) => r.kind),
      records.map((r) => storable(r.sourceId)),
      records.map((r) => r.reasonCode),
      records.map((r) => storable(r.message.slice(0, 2000))),
      records.map((r) => text(r.field)),
      records.map((r) => storableJson(r.payload ?? {})),
      records.map((r) => r.needs?.kind ?? null),
      records.map((r) => text(r.needs && 'sourceId' in r.needs ? r.needs.sourceId : null)),
      records.map((r) => text(r.needs && 'reference' in r.needs ? r.needs.customerTargetId : null)),
      records.map((r) => text(r.needs && 'reference' in r.needs ? r.needs.reference : null)),
    ],
  );
}

/** Closes open exceptions of records that have now gone through. */
export async function resolveSucceeded(
  db: Queryable,
  pipelineId: string,
  kind: string,
  sourceIds: string[],
  by: string,
): Promise<void> {
  if (sourceIds.length === 0) return;
  await db.query(
    `UPDATE exceptions SET status = 'resolved', resolved_at = now(), updated_at = now(), resolved_by = $4, note = coalesce(note, 'posted on a later attempt')
      WHERE pipeline_id = $1 AND kind = $2 AND source_id = ANY($3::text[]) AND status = 'open'`,
    [pipelineId, kind, sourceIds, by],
  );
}

interface Row {
  id: string;
  pipeline: string;
  run_id: string | null;
  kind: string;
  source_id: string;
  reason_code: string;
  message: string;
  field: string | null;
  needs_kind: string | null;
  needs_source_id: string | null;
  needs_customer: string | null;
  needs_reference: string | null;
  runs_by_itself: boolean;
  payload: unknown;
  status: 'open' | 'resolved';
  attempts: number;
  note: string | null;
  resolved_by: string | null;
  created_at: Date;
  updated_at: Date;
  resolved_at: Date | null;
  pipeline_id: string;
  entity_id: string;
}

function toView(r: Row): ExceptionView {
  return {
    id: Number(r.id),
    pipeline: r.pipeline,
    runId: r.run_id,
    kind: r.kind,
    sourceId: r.source_id,
    reasonCode: r.reason_code,
    message: r.message,
    field: r.field,
    needs: needsOf(r),
    runsByItself: r.runs_by_itself,
    payload: r.payload,
    status: r.status,
    attempts: r.attempts,
    note: r.note,
    resolvedBy: r.resolved_by,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    resolvedAt: r.resolved_at?.toISOString() ?? null,
  };
}

function needsOf(r: Row): Needs | null {
  if (r.needs_kind === 'customer' || r.needs_kind === 'product')
    return r.needs_source_id === null ? null : { kind: r.needs_kind, sourceId: r.needs_source_id };
  if (r.needs_kind === 'invoice' || r.needs_kind === 'creditNote' || r.needs_kind === 'payment')
    return r.needs_customer === null || r.needs_reference === null
      ? null
      : { kind: r.needs_kind, customerTargetId: r.needs_customer, reference: r.needs_reference };
  return null;
}

/**
 * Whether an exception goes by itself, nobody acting: it names what it needs, and that can come
 * without a person (the source sends it later, or a person's retry of the exception that parked it
 * books it). Not when the source answered that it has no such customer or product: a person
 * restores it there and retries one of the exceptions; the others that need it go with that one.
 */
const RUNS_BY_ITSELF = `(x.needs_kind IS NOT NULL AND x.reason_code NOT IN ('SOURCE_CUSTOMER_NOT_FOUND', 'SOURCE_PRODUCT_NOT_FOUND'))`;

const COLUMNS = `x.id, p.name AS pipeline, x.pipeline_id, x.entity_id, x.run_id, x.kind, x.source_id, x.reason_code, x.message, x.field,
  x.needs_kind, x.needs_source_id, x.needs_customer, x.needs_reference, ${RUNS_BY_ITSELF} AS runs_by_itself, x.payload,
  x.status, x.attempts, x.note, x.resolved_by, x.created_at, x.updated_at, x.resolved_at`;

export async function listExceptions(
  db: Queryable,
  f: {
    entityId?: string | undefined;
    pipeline?: string | undefined;
    status?: 'open' | 'resolved' | undefined;
    /** Only exceptions parked with this reason code. */
    reasonCode?: string | undefined;
    /** Only exceptions first parked at or after / before these times (ISO 8601): their age. */
    createdFrom?: string | undefined;
    createdBefore?: string | undefined;
    /** true: only those that go by themselves (RUNS_BY_ITSELF); false: only those a person must act on. */
    runsByItself?: boolean | undefined;
    limit: number;
    offset: number;
  },
): Promise<{ items: ExceptionView[]; total: number }> {
  const where =
    `($1::uuid IS NULL OR x.entity_id = $1) AND ($2::text IS NULL OR p.name = $2) AND ($3::text IS NULL OR x.status = $3)` +
    ` AND ($4::text IS NULL OR x.reason_code = $4) AND ($5::timestamptz IS NULL OR x.created_at >= $5)` +
    ` AND ($6::timestamptz IS NULL OR x.created_at < $6) AND ($7::boolean IS NULL OR ${RUNS_BY_ITSELF} = $7)`;
  const params = [
    f.entityId ?? null,
    f.pipeline ?? null,
    f.status ?? null,
    f.reasonCode ?? null,
    f.createdFrom ?? null,
    f.createdBefore ?? null,
    f.runsByItself ?? null,
  ];
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM exceptions x JOIN pipelines p ON p.id = x.pipeline_id WHERE ${where} ORDER BY x.id LIMIT $8 OFFSET $9`,
    [...params, f.limit, f.offset],
  );
  const total = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM exceptions x JOIN pipelines p ON p.id = x.pipeline_id WHERE ${where}`,
    params,
  );
  return { items: rows.map(toView), total: Number(total.rows[0]!.n) };
}

/** The reason codes the entity's exceptions (of a status, when given) carry, sorted: a filter's choices. */
export async function exceptionReasonCodes(
  db: Queryable,
  entityId: string,
  status?: 'open' | 'resolved',
): Promise<string[]> {
  const { rows } = await db.query<{ reason_code: string }>(
    `SELECT DISTINCT reason_code FROM exceptions WHERE entity_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY reason_code`,
    [entityId, status ?? null],
  );
  return rows.map((r) => r.reason_code);
}

export async function getException(
  db: Queryable,
  id: number,
  entityId?: string,
): Promise<(ExceptionView & { pipelineId: string; entityId: string }) | null> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM exceptions x JOIN pipelines p ON p.id = x.pipeline_id WHERE x.id = $1 AND ($2::uuid IS NULL OR x.entity_id = $2)`,
    [id, entityId ?? null],
  );
  const r = rows[0];
  return r ? { ...toView(r), pipelineId: r.pipeline_id, entityId: r.entity_id } : null;
}

export async function requireException(db: Queryable, id: number, entityId?: string) {
  const x = await getException(db, id, entityId);
  if (!x) throw new DomainError('NOT_FOUND', `No exception ${id}`);
  return x;
}

export async function resolveException(db: Queryable, id: number, note: string, by: string): Promise<void> {
  await db.query(
    `UPDATE exceptions SET status = 'resolved', note = $2, resolved_by = $3, resolved_at = now(), updated_at = now() WHERE id = $1 AND status = 'open'`,
    [id, note, by],
  );
}

/** Retrying or resolving an exception that is resolved: a conflict with its state (409), not bad input. */
function alreadyResolved(x: ExceptionView, field: string): DomainError {
  const when = x.resolvedAt ? ` (since ${x.resolvedAt})` : '';
  return new DomainError('EXCEPTION_ALREADY_RESOLVED', `Exception ${x.id} is already resolved${when}`, [
    { field, message: 'already resolved' },
  ]);
}

/**
 * Closes an open exception by hand with a note, audited: the one implementation behind
 * `POST /v1/exceptions/{id}/resolve` and `ledgerlink exceptions resolve`. An exception already
 * resolved is refused, naming the field that names it.
 */
export async function resolveOpenException(
  db: Queryable,
  id: number,
  note: string,
  by: { actor: string; entityId?: string | undefined; field: string; audit: Audit },
) {
  const x = await requireException(db, id, by.entityId);
  if (x.status !== 'open') throw alreadyResolved(x, by.field);
  await resolveException(db, x.id, note, by.actor);
  const after = await requireException(db, x.id);
  await by.audit({
    entityId: x.entityId,
    action: 'exception.resolved',
    objectType: 'exception',
    objectId: x.id,
    before: x,
    after,
  });
  return after;
}

/** What retrying needs of the sync service: its secret box and the running of records in hand. */
export type RetryRunner = Pick<SyncService, 'box' | 'processRecords'>;

export interface RetryOutcome {
  /** The exception after the retry: resolved when the record went through, open with the new reason when not. */
  exception: ExceptionView & { pipelineId: string; entityId: string };
  runId: string;
  runStatus: RunStatus | undefined;
}

/**
 * Why a retry of an open exception could only be refused, found before anything runs; null when it
 * can be retried. The one check behind `retryException` and the dashboard, which offers no "Retry"
 * that cannot work and says instead what does.
 */
export type RetryBlock =
  /** A change the source made to a document already booked: the correction is booked by hand. */
  | { kind: 'resolved-by-hand' }
  /** A row of an imported file that could not be read: the corrected file is its retry (docs/imports.md). */
  | { kind: 'import-row'; file: string | null; lines: number[] }
  /** Nothing parked that could be sent again: the source's next run brings it. */
  | { kind: 'no-record' };

export function retryBlock(x: Pick<ExceptionView, 'reasonCode' | 'payload'>): RetryBlock | null {
  const stored = (x.payload ?? {}) as { record?: unknown; early?: unknown; file?: unknown; rows?: unknown };
  if (x.reasonCode === 'EARLY_PAYMENT_NOT_APPLIED' && stored.early) return null;
  if (RESOLVED_BY_HAND.has(x.reasonCode)) return { kind: 'resolved-by-hand' };
  if (CanonicalRecord.safeParse(stored.record).success) return null;
  if (x.reasonCode !== 'IMPORT_ROW_INVALID') return { kind: 'no-record' };
  const rows = Array.isArray(stored.rows) ? (stored.rows as { line?: unknown }[]) : [];
  return {
    kind: 'import-row',
    file: typeof stored.file === 'string' ? stored.file : null,
    lines: rows.map((r) => r.line).filter((l): l is number => typeof l === 'number'),
  };
}

function retryRefused(x: ExceptionView, blocked: RetryBlock, field: string): DomainError {
  switch (blocked.kind) {
    case 'resolved-by-hand':
      return new DomainError(
        'VALIDATION_ERROR',
        `Exception ${x.id} is a change the source made to a document already booked (${x.reasonCode}): nothing is sent again, since a posted document never changes; book the correction as its message says, then resolve the exception`,
        [{ field, message: 'nothing to retry: resolve it once the correction is booked' }],
      );
    case 'import-row':
      return new DomainError(
        'VALIDATION_ERROR',
        `Exception ${x.id} is a row of an imported file that could not be read (${x.reasonCode}): it holds no record to send again. ` +
          `Correct the row in the file and import the file again into pipeline ${x.pipeline} ` +
          `(\`ledgerlink import FILE --pipeline ${x.pipeline}\`, or POST /v1/imports): what was booked is skipped, ` +
          `the corrected row is posted and this exception is resolved`,
        [{ field, message: 'nothing to retry: import the corrected file' }],
      );
    case 'no-record':
      return new DomainError(
        'VALIDATION_ERROR',
        `Exception ${x.id} holds no record that can be retried (${x.reasonCode}); fix it at the source and run the pipeline again`,
        [{ field, message: 'nothing to retry' }],
      );
  }
}

/**
 * Runs a parked record through its pipeline again (a run of trigger "retry"), with the same
 * external reference, so it is posted at most once. The one implementation behind
 * `POST /v1/exceptions/{id}/retry` and `ledgerlink exceptions retry`.
 */
export async function retryException(
  db: Queryable,
  sync: RetryRunner,
  id: number,
  actor: string,
  /** `entityId` confines it to one entity's exceptions; `field` names the id in refusals (`params.id` for the API). */
  opts: { entityId?: string | undefined; field?: string } = {},
): Promise<RetryOutcome> {
  const field = opts.field ?? 'id';
  const x = await requireException(db, id, opts.entityId);
  if (x.status !== 'open') throw alreadyResolved(x, field);
  const stored = (x.payload ?? {}) as { record?: unknown; raw?: unknown; early?: EarlyNote };
  const pipelineOf = async () => {
    const pipeline = await findPipelineById(db, sync.box, x.pipelineId);
    if (!pipeline) throw new DomainError('NOT_FOUND', `The pipeline of exception ${x.id} no longer exists`);
    return pipeline;
  };
  if (x.reasonCode === 'EARLY_PAYMENT_NOT_APPLIED' && stored.early) {
    // Both documents are booked: the payment is noted again, and the run the retry starts applies it.
    const pipeline = await pipelineOf();
    const { noteAgain } = await import('./engine/early-payments.ts');
    await noteAgain(db, pipeline.id, x.sourceId, stored.early);
    const runId = await sync.processRecords(pipeline, 'retry', actor, [], { exceptionId: x.id });
    return { exception: await requireException(db, x.id), runId, runStatus: (await getRun(db, runId))?.status };
  }
  const blocked = retryBlock(x);
  if (blocked) throw retryRefused(x, blocked, field);
  const record = CanonicalRecord.parse(stored.record);
  const pipeline = await pipelineOf();
  const runId = await sync.processRecords(pipeline, 'retry', actor, [{ record, raw: stored.raw }], {
    exceptionId: x.id,
  });
  return {
    exception: await requireException(db, x.id),
    runId,
    runStatus: (await getRun(db, runId))?.status,
  };
}
