import type { Queryable } from '../../db/database.ts';
import type { FoundDocument, ItemError, ItemResult, TargetCallContext, TargetConnector } from '../target.ts';
import { CAPABILITY_OF, type TargetKind } from '../target.ts';
import { deliverRemote } from '../outbound.ts';
import {
  PageOutcome,
  type SourceDocumentRow,
  type SyncContext,
  callContext,
  recordSourceDocuments,
  saveMapping,
} from './context.ts';
import { resolveSucceeded } from '../exceptions.ts';
import type { RunRecord } from '../runs.ts';
import { retryConflicts, sqlState } from '../../db/database.ts';
import { isDomainError } from '../../domain/errors.ts';
import { dateRuleViolation } from '../../ledger/periods.ts';

/** A document on its way to the target, with what the source sent (kept with its exception if parked). */
export interface Outgoing<D> {
  sourceId: string;
  doc: D;
  raw: unknown;
  /**
   * The operation, part of the idempotency key: `create` for documents, which never change once
   * booked; for master data an update of given content, so that a changed customer is sent again.
   */
  operation?: string | undefined;
}

export type Delivered<D> = { item: Outgoing<D>; result: Extract<ItemResult, { ok: true }> };

/**
 * How one kind of document goes to a target: which operation sends a batch, which reference finds
 * it again after an uncertain outcome, and what is saved with a success (the source map, the
 * write-back, the closing of earlier exceptions) in the transaction that records it.
 */
export interface Delivery<D> {
  /** The outbox kind (also the run record's kind, unless `recordKind` says otherwise). */
  kind: string;
  /** The kind its run records and exceptions carry, when not `kind` (drafts are invoices to the source). */
  recordKind?: string;
  /** What the target is asked to create, for capability checks and lookups. */
  targetKind: TargetKind;
  send(target: TargetConnector, ctx: TargetCallContext, batch: D[]): Promise<ItemResult[]>;
  /**
   * The write is an upsert by a key the target keeps (customers and products by code): sending it
   * again after an uncertain outcome cannot create a second one, and a lookup would find the old
   * version and lose the update, so it is resent instead of looked up.
   */
  resendSafe?: boolean;
  reference(doc: D): string;
  customerTargetId(doc: D): string | null;
  /** Whether the target implements the operation (beyond the capability it declares), when it is optional. */
  available?(target: TargetConnector): boolean;
  /** How a document is looked up after an uncertain outcome, when not by its reference (allocations have none). */
  find?(ctx: SyncContext, doc: D): Promise<FoundDocument | null>;
  commit(ctx: SyncContext, tx: Queryable, done: Delivered<D>[], out: PageOutcome): Promise<void>;
}

/** How `saveDelivered` saves one kind's successes, where it differs from the plain document. */
export interface SaveDelivered<D> {
  /** The run's record of it, when not "created" (or "skipped" for one the target already had, linked). */
  record?: (d: Delivered<D>) => Pick<RunRecord, 'outcome' | 'targetId' | 'message'>;
  /** Its source-map row, beyond the target's id: under another kind (a draft), its number, its fingerprint. */
  map?: (d: Delivered<D>) => { kind?: string; number?: string | null; fingerprint?: string | null };
  /** Its row in source_documents, for the documents reconciliation compares one by one. */
  sourceDocument?: (d: Delivered<D>) => SourceDocumentRow;
}

/**
 * What every success saves, in the transaction that recorded it in the target: the run's record of
 * it, its source-map row (what makes it exactly once), the closing of the exceptions it had, and,
 * for documents, what the source sent for reconciliation.
 */
export async function saveDelivered<D>(
  ctx: SyncContext,
  tx: Queryable,
  kind: string,
  done: Delivered<D>[],
  out: PageOutcome,
  how: SaveDelivered<D> = {},
): Promise<void> {
  for (const d of done)
    out.record({
      kind,
      sourceId: d.item.sourceId,
      ...(how.record?.(d) ?? {
        outcome: d.result.outcome === 'linked' ? 'skipped' : 'created',
        targetId: d.result.targetId,
        message: d.result.message ?? null,
      }),
    });
  const maps = new Map<string, Parameters<typeof saveMapping>[3]>();
  for (const d of done) {
    const { kind: mapKind = kind, ...rest } = how.map?.(d) ?? {};
    const rows = maps.get(mapKind) ?? [];
    rows.push({ sourceId: d.item.sourceId, targetId: d.result.targetId, ...rest });
    maps.set(mapKind, rows);
  }
  for (const [mapKind, rows] of maps) await saveMapping(tx, ctx.pipeline.id, mapKind, rows);
  // A document parked earlier (the target kept failing) and delivered now is no longer an exception.
  await resolveSucceeded(
    tx,
    ctx.pipeline.id,
    kind,
    done.map((d) => d.item.sourceId),
    ctx.actor,
  );
  if (how.sourceDocument) await recordSourceDocuments(tx, ctx.pipeline.id, done.map(how.sourceDocument));
}

/** Parks a document the target refused (or could not take after all retries), with its data. */
export function parkFailure(out: PageOutcome, kind: string, item: Outgoing<unknown>, error: ItemError): void {
  out.park({
    kind,
    sourceId: item.sourceId,
    reasonCode: error.code,
    message: error.message,
    field: error.field,
    payload: { record: (item.doc as { record?: unknown }).record ?? item.doc, raw: item.raw },
    needs: error.needs,
  });
}

/**
 * Sends documents to the pipeline's target, exactly once. A transactional target (the embedded
 * ledger) writes in the same transaction that saves the map, the write-back and the closing of
 * exceptions. A remote target goes through the outbox protocol of src/sync/outbound.ts.
 */
export async function deliver<D>(
  ctx: SyncContext,
  delivery: Delivery<D>,
  items: Outgoing<D>[],
  out: PageOutcome,
): Promise<void> {
  if (items.length === 0) return;
  const capability = CAPABILITY_OF[delivery.targetKind];
  if (!ctx.target.capabilities[capability] || delivery.available?.(ctx.target) === false) {
    for (const item of items)
      parkFailure(out, delivery.recordKind ?? delivery.kind, item, {
        code: 'TARGET_CAPABILITY_MISSING',
        message: `The ${ctx.target.type} target of this pipeline cannot take ${delivery.targetKind}s`,
        retryable: false,
      });
    return;
  }
  if (!ctx.target.transactional) return deliverRemote(ctx, delivery, once(delivery, items, out), out);
  try {
    // Staged apart, a transaction can run again as a whole when PostgreSQL picks it as a deadlock victim.
    out.absorb(await retryConflicts(() => deliverInTransaction(ctx, delivery, items)));
    return;
  } catch (err) {
    if (isTransient(err)) throw err;
    if (items.length === 1) return parkUnexpected(ctx, delivery, items[0]!, err, out);
    ctx.log.warn({ err, kind: delivery.kind, items: items.length }, 'a batch failed; booking its documents one by one');
  }
  // The batch's speed is kept for the normal case; only a failed batch is redone record by record,
  // so that one record the target cannot take is parked and its neighbours are still booked.
  for (const item of items) {
    try {
      out.absorb(await retryConflicts(() => deliverInTransaction(ctx, delivery, [item])));
    } catch (err) {
      if (isTransient(err)) throw err;
      parkUnexpected(ctx, delivery, item, err, out);
    }
  }
}

/**
 * The first of each source id: a page that carries a record twice (a file with a row repeated, a
 * webhook delivered twice in one batch) sends it once; the copies are recorded as skipped. The
 * outbox keeps one entry a document, and one statement cannot write the same entry twice.
 */
function once<D>(delivery: Delivery<D>, items: Outgoing<D>[], out: PageOutcome): Outgoing<D>[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    if (!seen.has(item.sourceId)) {
      seen.add(item.sourceId);
      return true;
    }
    out.record({
      kind: delivery.recordKind ?? delivery.kind,
      sourceId: item.sourceId,
      outcome: 'skipped',
      message: 'came twice in one batch: sent once',
    });
    return false;
  });
}

/** One transaction: the target's writes, the parking of what it refused, and what a success saves. */
async function deliverInTransaction<D>(
  ctx: SyncContext,
  delivery: Delivery<D>,
  items: Outgoing<D>[],
): Promise<PageOutcome> {
  // Staged apart: a transaction that fails must leave no record or exception behind in the page's outcome.
  const staged = new PageOutcome();
  await ctx.db.transaction(async (tx) => {
    const results = await delivery.send(
      ctx.target,
      callContext(ctx, tx),
      items.map((i) => i.doc),
    );
    const done: Delivered<D>[] = [];
    results.forEach((r, n) => {
      if (r.ok) done.push({ item: items[n]!, result: r });
      else parkFailure(staged, delivery.recordKind ?? delivery.kind, items[n]!, r.error);
    });
    await delivery.commit(ctx, tx, done, staged);
  });
  return staged;
}

/**
 * A failure that says nothing about the record: the database unreachable, shutting down, out of
 * resources, or a transaction lost to a concurrent one. The run fails (and its queue retries it)
 * rather than parking records that would book fine a moment later.
 */
function isTransient(err: unknown): boolean {
  const state = sqlState(err);
  if (state === undefined) return false;
  // Node's network errors (ECONNRESET, ETIMEDOUT...) carry their code in the same property.
  if (/^E[A-Z]+$/.test(state)) return true;
  return ['08', '40', '53', '57', '58'].includes(state.slice(0, 2));
}

/** Parks one document whose booking threw: a business refusal by its code, anything else as POSTING_FAILED. */
function parkUnexpected<D>(
  ctx: SyncContext,
  delivery: Delivery<D>,
  item: Outgoing<D>,
  err: unknown,
  out: PageOutcome,
): void {
  const kind = delivery.recordKind ?? delivery.kind;
  const domain = isDomainError(err) ? err : dateRuleViolation(err);
  if (domain) {
    const field = Array.isArray(domain.details) ? domain.details[0]?.field : undefined;
    parkFailure(out, kind, item, { code: domain.code, message: domain.message, retryable: false, field });
    return;
  }
  // The raw error (it may quote the database) goes to the log only; the exception says what to do.
  ctx.log.error({ err, kind, sourceId: item.sourceId }, 'booking a document failed unexpectedly; parked');
  const state = sqlState(err);
  parkFailure(out, kind, item, {
    code: 'POSTING_FAILED',
    message:
      `Booking this ${kind} failed unexpectedly${state ? ` (database error ${state})` : ''}; the rest of its page was booked. ` +
      'The details are in the server log. Correct the record in the source, or retry this exception once the cause is fixed.',
    retryable: false,
  });
}
