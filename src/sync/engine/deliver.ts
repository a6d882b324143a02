import type { Queryable } from '../../db/database.ts';
import type { ItemError, ItemResult, TargetCallContext, TargetConnector } from '../target.ts';
import { CAPABILITY_OF, type TargetKind } from '../target.ts';
import { deliverRemote } from '../outbound.ts';
import { type PageOutcome, type SyncContext, callContext } from './context.ts';

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
  commit(ctx: SyncContext, tx: Queryable, done: Delivered<D>[], out: PageOutcome): Promise<void>;
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
  if (!ctx.target.capabilities[capability]) {
    for (const item of items)
      parkFailure(out, delivery.recordKind ?? delivery.kind, item, {
        code: 'TARGET_CAPABILITY_MISSING',
        message: `The ${ctx.target.type} target of this pipeline cannot take ${delivery.targetKind}s`,
        retryable: false,
      });
    return;
  }
  if (!ctx.target.transactional) return deliverRemote(ctx, delivery, items, out);
  await ctx.db.transaction(async (tx) => {
    const results = await delivery.send(
      ctx.target,
      callContext(ctx, tx),
      items.map((i) => i.doc),
    );
    const done: Delivered<D>[] = [];
    results.forEach((r, n) => {
      if (r.ok) done.push({ item: items[n]!, result: r });
      else parkFailure(out, delivery.recordKind ?? delivery.kind, items[n]!, r.error);
    });
    await delivery.commit(ctx, tx, done, out);
  });
}
