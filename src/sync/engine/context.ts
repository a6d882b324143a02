import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database, Queryable } from '../../db/database.ts';
import type { EntityContext } from '../../ledger/entities.ts';
import { storableJson } from '../../domain/storable.ts';
import type { CanonicalCustomer, CanonicalProduct } from '../canonical.ts';
import type { Lookup, SourceConnector } from '../connector.ts';
import type { Pipeline } from '../pipelines.ts';
import { type Needs, type ParkedRecord, type WaitsFor, describeNeeds } from '../exceptions.ts';
import type { ExceptionCode } from '../reasons.ts';
import { type RunCounts, type RunRecord, ZERO_COUNTS, createdCounter } from '../runs.ts';
import type { TargetCallContext, TargetConnector } from '../target.ts';

/** How the engine retries documents a remote target could not take yet. */
export interface RetryPolicy {
  /** Seconds before the first retry; doubled each attempt, at most an hour. */
  baseSeconds: number;
  /** Attempts before the document is parked as TARGET_UNAVAILABLE. */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseSeconds: 2, maxAttempts: 10 };

/** Everything one run (or one import, or one retry) of a pipeline works with. */
export interface SyncContext {
  db: Database;
  log: Logger;
  pipeline: Pipeline;
  entity: EntityContext;
  source: SourceConnector;
  target: TargetConnector;
  runId: string | null;
  actor: string;
  /** Whether invoice PDFs are rendered for write-back, when the target can render them. */
  pdfs: boolean;
  retry: RetryPolicy;
  /** Lookups already made in this run, so a customer on 500 instalments is fetched once. */
  customerLookups: Map<string, Lookup<CanonicalCustomer>>;
  productLookups: Map<string, Lookup<CanonicalProduct>>;
  /**
   * Aborted when this worker begins to stop (`Liveness.stopSignal`): the target's waits end at
   * once, no further call is started, and the run is handed on at the end of its page.
   */
  signal?: AbortSignal | undefined;
}

/** The context of a call to the target: the given transaction for a transactional target. */
export function callContext(ctx: SyncContext, db: Queryable = ctx.db): TargetCallContext {
  return { db, log: ctx.log, actor: ctx.actor, signal: ctx.signal };
}

/** What processing a page produced: counters, a result per record, and what was parked. */
export class PageOutcome {
  readonly counts: RunCounts = { ...ZERO_COUNTS };
  readonly records: RunRecord[] = [];
  readonly parked: ParkedRecord[] = [];
  /** Records that wait for what they depend on (src/sync/engine/waiting.ts), instead of being parked. */
  readonly held: ParkedRecord[] = [];
  /** Writes that belong with this outcome: made in the transaction that saves it, so a crash loses both or neither. */
  readonly saves: ((tx: Queryable) => Promise<unknown>)[] = [];
  /**
   * What became of documents another run sent (they still waited when it ended), by that run:
   * saved to it, its counts included (`saveOutcome`), not to the run saving this outcome.
   */
  readonly others = new Map<string, PageOutcome>();

  /**
   * The outcome a document sent by `runId` reports to: this one when that is the run at work
   * (`own`) or none, else that run's own part of it.
   */
  forRun(runId: string | null, own: string | null): PageOutcome {
    if (runId === null || runId === own) return this;
    let theirs = this.others.get(runId);
    if (!theirs) this.others.set(runId, (theirs = new PageOutcome()));
    return theirs;
  }

  record(r: RunRecord): void {
    this.records.push(r);
    if (r.outcome === 'created' || r.outcome === 'updated' || r.outcome === 'skipped' || r.outcome === 'parked')
      this.counts[r.outcome]++;
    if (r.outcome === 'created') this.counts[createdCounter(r.kind)]++;
  }

  /** Parks a record, or holds it when what it lacks only waits for a retry (`waitsFor`). */
  park(p: ParkedRecord): void {
    if (p.waitsFor) {
      this.held.push(p);
      this.record({ kind: p.kind, sourceId: p.sourceId, outcome: 'failed', message: `waiting: ${p.message}` });
      return;
    }
    // What it lacks is named, and the record goes by itself once that is booked: said so.
    const parked = p.needs
      ? { ...p, message: `${p.message}; runs again by itself once ${p.until ?? `${describeNeeds(p.needs)} is booked`}` }
      : p;
    this.parked.push(parked);
    this.record({
      kind: p.kind,
      sourceId: p.sourceId,
      outcome: 'parked',
      message: `${p.reasonCode}: ${parked.message}`,
    });
  }

  /**
   * How a page parks one source record: the reason, the field at fault, and what it lacks (it is
   * held instead while that only waits; it runs again by itself once what it needs is booked).
   */
  parker(kind: string, input: { record: { sourceId: string }; raw: unknown }) {
    return (
      reasonCode: ExceptionCode,
      message: string,
      field?: string,
      lacks?: { waitsFor?: WaitsFor | undefined; needs?: Needs | undefined },
    ) =>
      this.park({
        kind,
        sourceId: input.record.sourceId,
        reasonCode,
        message,
        field,
        payload: { record: input.record, raw: input.raw },
        waitsFor: lacks?.waitsFor,
        needs: lacks?.needs,
      });
  }

  /** Takes over what another outcome holds (one staged inside a transaction that committed). */
  absorb(other: PageOutcome): void {
    this.parked.push(...other.parked);
    this.held.push(...other.held);
    this.saves.push(...other.saves);
    for (const r of other.records) this.record(r);
    for (const [runId, theirs] of other.others) this.forRun(runId, null).absorb(theirs);
  }
}

/** A stable hash of a record, to tell an unchanged customer or product from an updated one. */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);
}

export interface Mapped {
  targetId: string;
  number: string | null;
  fingerprint: string | null;
  writtenBack: string | null;
}

export async function mappedIds(
  db: Queryable,
  pipelineId: string,
  kind: string,
  sourceIds: string[],
): Promise<Map<string, Mapped>> {
  if (sourceIds.length === 0) return new Map();
  const { rows } = await db.query<{
    source_id: string;
    target_id: string;
    target_number: string | null;
    fingerprint: string | null;
    written_back: string | null;
  }>(
    `SELECT source_id, target_id, target_number, fingerprint, written_back FROM sync_map WHERE pipeline_id = $1 AND kind = $2 AND source_id = ANY($3::text[])`,
    [pipelineId, kind, [...new Set(sourceIds)]],
  );
  return new Map(
    rows.map((r) => [
      r.source_id,
      { targetId: r.target_id, number: r.target_number, fingerprint: r.fingerprint, writtenBack: r.written_back },
    ]),
  );
}

export async function saveMapping(
  db: Queryable,
  pipelineId: string,
  kind: string,
  rows: { sourceId: string; targetId: string; number?: string | null; fingerprint?: string | null }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO sync_map (pipeline_id, kind, source_id, target_id, target_number, fingerprint)
     SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[])
     ON CONFLICT (pipeline_id, kind, source_id) DO UPDATE
       SET target_id = EXCLUDED.target_id, target_number = coalesce(EXCLUDED.target_number, sync_map.target_number),
           fingerprint = coalesce(EXCLUDED.fingerprint, sync_map.fingerprint), updated_at = now()`,
    [
      pipelineId,
      kind,
      rows.map((r) => r.sourceId),
      rows.map((r) => r.targetId),
      rows.map((r) => r.number ?? null),
      rows.map((r) => r.fingerprint ?? null),
    ],
  );
}

export interface SourceDocumentRow {
  kind: string;
  sourceId: string;
  externalReference: string;
  customerSourceId: string;
  customerCode: string | null;
  date: string;
  currency: string;
  gross: bigint;
  location?: string | null | undefined;
  payload: unknown;
}

/** Records what the source sent, for reconciliation (updated when the source sends it again). */
export async function recordSourceDocuments(
  db: Queryable,
  pipelineId: string,
  docs: SourceDocumentRow[],
): Promise<void> {
  if (docs.length === 0) return;
  await db.query(
    `INSERT INTO source_documents (pipeline_id, kind, source_id, external_reference, customer_source_id, customer_code, document_date, currency, gross, location, payload)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[], $8::text[], $9::bigint[], $10::text[], $11::jsonb[])
     ON CONFLICT (pipeline_id, kind, source_id) DO UPDATE SET external_reference = EXCLUDED.external_reference, customer_code = EXCLUDED.customer_code,
       document_date = EXCLUDED.document_date, currency = EXCLUDED.currency, gross = EXCLUDED.gross, payload = EXCLUDED.payload, last_seen_at = now()`,
    [
      pipelineId,
      docs.map((d) => d.kind),
      docs.map((d) => d.sourceId),
      docs.map((d) => d.externalReference),
      docs.map((d) => d.customerSourceId),
      docs.map((d) => d.customerCode),
      docs.map((d) => d.date),
      docs.map((d) => d.currency),
      docs.map((d) => d.gross),
      docs.map((d) => d.location ?? null),
      docs.map((d) => storableJson(d.payload ?? {})),
    ],
  );
}

/**
 * Queues write-back items. One already queued or sent is left as is; one that failed for good is
 * queued again, since the source asking again means it still needs it.
 */
export async function queueWriteBack(
  db: Queryable,
  pipelineId: string,
  items: { kind: string; sourceId: string; payload: Record<string, unknown> }[],
): Promise<void> {
  if (items.length === 0) return;
  await db.query(
    `INSERT INTO outbox (pipeline_id, direction, kind, source_id, payload, idempotency_key)
     SELECT $1, 'source', k, s, p, 'source:' || k || ':' || s FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS u(k, s, p)
     ON CONFLICT (pipeline_id, direction, kind, source_id) DO UPDATE
       SET status = 'pending', attempts = 0, next_attempt_at = now(), payload = EXCLUDED.payload, last_error = NULL
       WHERE outbox.status = 'failed'`,
    [pipelineId, items.map((i) => i.kind), items.map((i) => i.sourceId), items.map((i) => JSON.stringify(i.payload))],
  );
}

/** Items per page the engine works on at once (records in hand, write-back groups, lookups). */
export const PAGE_SIZE = 500;

/** Splits a list into pages of at most `size`. */
export function* chunks<T>(items: T[], size = PAGE_SIZE): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
