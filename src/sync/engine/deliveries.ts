import { flushTarget, pendingForTarget } from '../outbound.ts';
import { CanonicalRecord } from '../canonical.ts';
import type { SourceItem } from '../connector.ts';
import type { RecordKind } from '../canonical.ts';
import { type RunCounts, ZERO_COUNTS } from '../runs.ts';
import type { PageOutcome, SyncContext } from './context.ts';
import { masterDataDeliveries } from './customers.ts';
import type { Delivery } from './deliver.ts';
import { allocationDeliveries } from './allocations.ts';
import { creditNoteDeliveries } from './credit-notes.ts';
import { invoiceDeliveries } from './invoices.ts';
import { paymentDeliveries } from './payments.ts';
import { processPage } from './page.ts';
import { heldCount } from './waiting.ts';

/** Every kind of document the engine sends, in dependency order. */
const DELIVERIES: Delivery<never>[] = [
  ...masterDataDeliveries,
  ...invoiceDeliveries,
  ...creditNoteDeliveries,
  ...paymentDeliveries,
  ...allocationDeliveries,
] as Delivery<never>[];

/**
 * Sends the documents a remote target has not taken yet whose retry time has come, kind by kind
 * in dependency order (the runs of a pipeline and the workers' timer call this), then runs again
 * the records held behind what has now gone through (or failed). Returns how many still wait,
 * and what the held records that ran again did (their records and exceptions are saved already).
 */
export async function retryTargetDeliveries(
  ctx: SyncContext,
  out: PageOutcome,
): Promise<{ waiting: number; released: RunCounts }> {
  if (ctx.target.transactional) return { waiting: 0, released: { ...ZERO_COUNTS } };
  for (const d of DELIVERIES) await flushTarget(ctx, d, out);
  const released = await releaseHeld(ctx);
  // Everything still on its way: sent and waiting for a retry (due or not), or held behind such a document.
  return { waiting: (await pendingForTarget(ctx)) + (await heldCount(ctx.db, ctx.pipeline.id)), released };
}

/** Records run again per pass, and passes at most per flush (each pass may free the next: invoice, then its allocation). */
const RELEASE_PAGE = 500;
const RELEASE_PASSES = 20;

/**
 * Runs again, through the engine, the held records whose item they wait for is no longer on its
 * way (src/sync/engine/waiting.ts): booked now, held again behind something else, or parked with
 * the reason of the moment. `processPage` keeps `held_records` in step in the transaction that
 * saves each outcome, so a crash between two steps leaves a record held, to be run again (a
 * record already booked is then skipped by the map).
 */
async function releaseHeld(ctx: SyncContext): Promise<RunCounts> {
  const counts: RunCounts = { ...ZERO_COUNTS };
  for (let pass = 0; pass < RELEASE_PASSES; pass++) {
    const { rows } = await ctx.db.query<{
      kind: string;
      source_id: string;
      payload: { record?: unknown; raw?: unknown };
    }>(
      `SELECT h.kind, h.source_id, h.payload FROM held_records h
        WHERE h.pipeline_id = $1
          AND NOT EXISTS (SELECT 1 FROM outbox o
                           WHERE o.pipeline_id = h.pipeline_id AND o.direction = 'target' AND o.kind = h.waits_for_kind
                             AND o.source_id = h.waits_for AND o.status = 'pending')
          AND NOT EXISTS (SELECT 1 FROM held_records d
                           WHERE d.pipeline_id = h.pipeline_id AND d.kind = h.waits_for_kind AND d.source_id = h.waits_for)
        ORDER BY h.held_at, h.kind, h.source_id
        LIMIT $2`,
      [ctx.pipeline.id, RELEASE_PAGE],
    );
    if (rows.length === 0) break;
    const items: SourceItem[] = rows.map((r) => {
      const record = CanonicalRecord.safeParse(r.payload.record);
      if (record.success) return { record: record.data, raw: r.payload.raw };
      // Not expected (it was a record when it was held): parked with its copy rather than held for ever.
      return {
        invalid: {
          kind: r.kind as RecordKind,
          sourceId: r.source_id,
          reasonCode: 'SOURCE_ITEM_INVALID',
          message:
            'the record held for a retry could not be read again; fix it at the source and run the pipeline again',
          payload: r.payload,
        },
      };
    });
    const page = await processPage(ctx, items);
    for (const k of Object.keys(counts) as (keyof RunCounts)[]) if (k !== 'fetched') counts[k] += page.counts[k];
  }
  return counts;
}
