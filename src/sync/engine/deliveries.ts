import { flushTarget } from '../outbound.ts';
import { CanonicalRecord } from '../canonical.ts';
import type { SourceItem } from '../connector.ts';
import type { RecordKind } from '../canonical.ts';
import { type RunCounts, ZERO_COUNTS, addCounts as addRunCounts } from '../runs.ts';
import { PageOutcome, type SyncContext } from './context.ts';
import { applyEarlyPayments } from './early-payments.ts';
import { masterDataDeliveries } from './customers.ts';
import type { Delivery } from './deliver.ts';
import { allocationDeliveries } from './allocations.ts';
import { creditNoteDeliveries } from './credit-notes.ts';
import { invoiceDeliveries } from './invoices.ts';
import { paymentDeliveries } from './payments.ts';
import { processPage, saveOutcome } from './page.ts';

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
 * in dependency order (the runs of a pipeline and the workers' timer call this); what they did
 * goes into `out`, which the caller saves before it runs anything again (`releaseWaiting`), so
 * that a document parked here is known as parked to what names it.
 */
export async function flushTargetDeliveries(ctx: SyncContext, out: PageOutcome): Promise<void> {
  if (ctx.target.transactional) return;
  for (const d of DELIVERIES) await flushTarget(ctx, d, out);
}

/**
 * Runs again the records held behind what has now gone through (or failed), applies the payments
 * booked before their invoice whose invoice is booked now (src/sync/engine/early-payments.ts), and
 * runs again the parked records whose missing customer, product or document is now booked
 * (`releaseNeeded`; into QuickBooks a refund waits for its payment's application). Returns
 * what the records that ran again as the caller's run did (their records and exceptions are saved
 * already; held records an earlier run left are counted to it). Without a run of its own (the
 * workers' timer), `bookedBy` says which run each document the flush just delivered was sent by
 * (`bookedByRun`): what that frees is reported to that run.
 */
export async function releaseWaiting(ctx: SyncContext, bookedBy: Map<string, string> = new Map()): Promise<RunCounts> {
  const released: RunCounts = { ...ZERO_COUNTS };
  if (!ctx.target.transactional) addCounts(released, await releaseHeld(ctx));
  // Payments booked before their invoice, applied once it is booked; before what needs them runs again.
  const early = new PageOutcome();
  await applyEarlyPayments(ctx, early);
  if (early.records.length > 0) await saveOutcome(ctx, early);
  addCounts(released, early.counts);
  addCounts(released, await releaseNeeded(ctx, bookedBy));
  return released;
}

/** `kind\0sourceId` → the run it is reported to, of the documents a flush delivered for earlier runs. */
export function bookedByRun(out: PageOutcome): Map<string, string> {
  const by = new Map<string, string>();
  for (const [runId, theirs] of out.others)
    for (const r of theirs.records) if (r.outcome !== 'failed') by.set(`${r.kind}\u0000${r.sourceId}`, runId);
  return by;
}

function addCounts(to: RunCounts, from: RunCounts): void {
  for (const k of Object.keys(to) as (keyof RunCounts)[]) if (k !== 'fetched') to[k] += from[k];
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
    const { rows } = await ctx.db.query<StoredRecord & { run_id: string | null }>(
      `SELECT h.kind, h.source_id, h.payload, h.run_id FROM held_records h
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
    // Each run's held records run again as that run's: their outcome is reported to it.
    const byRun = new Map<string | null, StoredRecord[]>();
    for (const r of rows) {
      const runId = r.run_id ?? ctx.runId;
      byRun.set(runId, (byRun.get(runId) ?? []).concat(r));
    }
    for (const [runId, held] of byRun) {
      const done = await runAgain({ ...ctx, runId }, held, 'held for a retry');
      if (runId === ctx.runId) addCounts(counts, done);
      else if (runId) await addRunCounts(ctx.db, runId, { ...done, fetched: 0 });
    }
  }
  return counts;
}

/**
 * Runs again, through the engine, the parked records whose missing customer, product or document
 * (their exception's `needs`, migration 0101) the pipeline has booked since, as a person's retry
 * would: booked now (the exception is resolved), or parked with the reason of the moment and what
 * it needs now. Each is run once per booking of what it needed: one the run leaves as it was no
 * longer names it, and waits for a person. Every target, the embedded ledger too.
 *
 * What they do is reported to the run at work; without one (the workers' timer), to the run that
 * sent what they needed when this flush delivered it (`bookedBy`), else to the run that parked
 * them, so that what is booked here is always listed and counted in some run.
 */
async function releaseNeeded(ctx: SyncContext, bookedBy: Map<string, string>): Promise<RunCounts> {
  const counts: RunCounts = { ...ZERO_COUNTS };
  const tried: string[] = [];
  for (let pass = 0; pass < RELEASE_PASSES; pass++) {
    const { rows } = await ctx.db.query<
      StoredRecord & { id: string; at: Date; run_id: string | null; needs_kind: string; needs: string | null }
    >(
      `SELECT x.id, x.kind, x.source_id, x.payload, now() AS at, x.run_id, x.needs_kind,
              coalesce(x.needs_source_id, (SELECT sd.source_id FROM source_documents sd
                                            WHERE sd.pipeline_id = x.pipeline_id AND sd.kind = x.needs_kind
                                              AND sd.customer_code = x.needs_customer AND sd.external_reference = x.needs_reference
                                            ORDER BY sd.first_seen_at LIMIT 1)) AS needs
         FROM exceptions x
        WHERE x.pipeline_id = $1 AND x.status = 'open' AND x.needs_kind IS NOT NULL AND x.id <> ALL($2::bigint[])
          AND (EXISTS (SELECT 1 FROM sync_map m
                        WHERE m.pipeline_id = x.pipeline_id AND m.kind = x.needs_kind AND m.source_id = x.needs_source_id)
               OR EXISTS (SELECT 1 FROM source_documents sd
                            JOIN sync_map m ON m.pipeline_id = sd.pipeline_id AND m.kind = sd.kind AND m.source_id = sd.source_id
                           WHERE sd.pipeline_id = x.pipeline_id AND sd.kind = x.needs_kind
                             AND sd.customer_code = x.needs_customer AND sd.external_reference = x.needs_reference
                             -- A payment booked before its invoice is not there yet for a refund, into a
                             -- target that refunds only an applied one (migration 0106).
                             AND (sd.kind <> 'payment' OR NOT $4 OR NOT EXISTS (
                                   SELECT 1 FROM payments_before_invoice n
                                    WHERE n.pipeline_id = sd.pipeline_id AND n.payment_source_id = sd.source_id))))
        ORDER BY x.id
        LIMIT $3`,
      [ctx.pipeline.id, tried, RELEASE_PAGE, ctx.target.capabilities.refundsNeedAppliedPayment === true],
    );
    if (rows.length === 0) break;
    const byRun = new Map<string | null, StoredRecord[]>();
    for (const r of rows) {
      const runId =
        ctx.runId ?? (r.needs !== null ? bookedBy.get(`${r.needs_kind}\u0000${r.needs}`) : undefined) ?? r.run_id;
      byRun.set(runId, (byRun.get(runId) ?? []).concat(r));
    }
    for (const [runId, parked] of byRun) {
      const done = await runAgain({ ...ctx, runId }, parked, 'parked');
      if (runId === ctx.runId) addCounts(counts, done);
      else if (runId) await addRunCounts(ctx.db, runId, { ...done, fetched: 0 });
    }
    const ids = rows.map((r) => r.id);
    tried.push(...ids);
    // Those the run left as they were (skipped, say) no longer name it: a person looks at them.
    await ctx.db.query(
      `UPDATE exceptions SET needs_kind = NULL, needs_source_id = NULL, needs_customer = NULL, needs_reference = NULL
        WHERE id = ANY($1::bigint[]) AND status = 'open' AND updated_at <= $2`,
      [ids, rows[0]!.at],
    );
  }
  return counts;
}

interface StoredRecord {
  kind: string;
  source_id: string;
  payload: { record?: unknown; raw?: unknown };
}

/** Runs records kept by the engine (held, or parked) through it again; what it did, counted. */
async function runAgain(ctx: SyncContext, rows: StoredRecord[], keptAs: string): Promise<RunCounts> {
  const items: SourceItem[] = rows.map((r) => {
    const record = CanonicalRecord.safeParse(r.payload.record);
    if (record.success) return { record: record.data, raw: r.payload.raw };
    // Not expected (it was a record when it was kept): parked with its copy rather than kept for ever.
    return {
      invalid: {
        kind: r.kind as RecordKind,
        sourceId: r.source_id,
        reasonCode: 'SOURCE_ITEM_INVALID',
        message: `the record ${keptAs} could not be read again; fix it at the source and run the pipeline again`,
        payload: r.payload,
      },
    };
  });
  return (await processPage(ctx, items)).counts;
}
