import {
  type CanonicalAllocation,
  type CanonicalCreditNote,
  type CanonicalCustomer,
  type CanonicalInvoice,
  type CanonicalPayment,
  type CanonicalProduct,
  type CanonicalRefund,
  lineAmountProblem,
} from '../canonical.ts';
import type { SourceItem } from '../connector.ts';
import { parkRecords } from '../exceptions.ts';
import { recordAudit } from '../../ledger/audit.ts';
import { findUnstorable } from '../../domain/storable.ts';
import { addCounts, addRunRecords } from '../runs.ts';
import type { Queryable } from '../../db/database.ts';
import { PageOutcome, type SyncContext } from './context.ts';
import { syncCustomers, syncProducts } from './customers.ts';
import { syncAllocations } from './allocations.ts';
import { syncCreditNotes } from './credit-notes.ts';
import { syncInvoices } from './invoices.ts';
import { syncPayments, syncRefunds } from './payments.ts';
import { recordSales } from '../daily-summary.ts';
import { saveHeld } from './waiting.ts';

/**
 * Processes one page of a source, in dependency order: customers, products, invoices, credit
 * notes, payments, refunds, allocations. A record that cannot be mapped or posted is parked with its reason and data; the rest
 * of the page goes on. Returns what happened, and has already stored the run records and the
 * exceptions.
 */
export async function processPage(ctx: SyncContext, items: SourceItem[]): Promise<PageOutcome> {
  const out = new PageOutcome();
  out.counts.fetched += items.length;
  const customers: CanonicalCustomer[] = [];
  const products: CanonicalProduct[] = [];
  const invoices: { record: CanonicalInvoice; raw: unknown }[] = [];
  const payments: { record: CanonicalPayment; raw: unknown }[] = [];
  const refunds: { record: CanonicalRefund; raw: unknown }[] = [];
  const creditNotes: { record: CanonicalCreditNote; raw: unknown }[] = [];
  const allocations: { record: CanonicalAllocation; raw: unknown }[] = [];
  for (const item of items) {
    if ('invalid' in item) {
      const line = item.line !== undefined ? ` (line ${item.line})` : '';
      out.park({ ...item.invalid, message: item.invalid.message + line });
      continue;
    }
    const r = item.record;
    // Text no column can keep (a NUL, a lone surrogate) would fail the page's writes as a whole,
    // the records booked before it included: the record is parked for it, like a value that does not parse.
    const unstorable = findUnstorable(r, []);
    if (unstorable) {
      const line = item.line !== undefined ? ` (line ${item.line})` : '';
      out.park({
        kind: r.kind,
        sourceId: r.sourceId,
        reasonCode: 'SOURCE_ITEM_INVALID',
        message: `${unstorable.field}: ${unstorable.message}${line}`,
        field: unstorable.field,
        payload: { record: r, raw: item.raw },
      });
      continue;
    }
    // Checked here, for every source alike, before anything the invoice refers to is fetched.
    const badLine = r.kind === 'invoice' || r.kind === 'creditNote' ? lineAmountProblem(r) : null;
    if (badLine) {
      const line = item.line !== undefined ? ` (line ${item.line})` : '';
      out.park({
        kind: r.kind,
        sourceId: r.sourceId,
        reasonCode: 'LINE_AMOUNT_MISMATCH',
        message: badLine.message + line,
        field: badLine.field,
        payload: { record: r, raw: item.raw },
      });
      continue;
    }
    if (r.kind === 'customer') customers.push(r);
    else if (r.kind === 'product') products.push(r);
    else if (r.kind === 'invoice') invoices.push({ record: r, raw: item.raw });
    else if (r.kind === 'payment') payments.push({ record: r, raw: item.raw });
    else if (r.kind === 'refund') refunds.push({ record: r, raw: item.raw });
    else if (r.kind === 'creditNote') creditNotes.push({ record: r, raw: item.raw });
    else allocations.push({ record: r, raw: item.raw });
  }
  const referencedCustomers = [...invoices, ...creditNotes, ...payments, ...refunds, ...allocations].map(
    (d) => d.record.customerSourceId,
  );
  const c = await syncCustomers(ctx, customers, referencedCustomers, out);
  const referencedProducts = [...invoices, ...creditNotes].flatMap((i) =>
    i.record.lines.map((l) => l.productSourceId).filter((x): x is string => !!x),
  );
  const prod = await syncProducts(ctx, products, referencedProducts, out);
  const unavailable = new Map(c.missing);
  for (const [id, why] of prod.missing) unavailable.set(`product:${id}`, why);
  // In daily-summary mode sales are recorded for the end-of-day summary instead of posted one by
  // one (src/sync/daily-summary.ts); what is left to post are the summaries themselves.
  const toPost =
    ctx.pipeline.mode === 'daily-summary'
      ? await recordSales(ctx, { invoices, payments }, c.codes, prod.codes, unavailable, out)
      : { invoices, payments };
  await syncInvoices(ctx, toPost.invoices, c.codes, prod.codes, unavailable, out);
  await syncCreditNotes(ctx, creditNotes, c.codes, prod.codes, unavailable, out);
  await syncPayments(ctx, toPost.payments, c.codes, unavailable, out);
  await syncRefunds(ctx, refunds, c.codes, unavailable, out);
  await syncAllocations(ctx, allocations, c.codes, unavailable, out);
  await saveOutcome(ctx, out);
  return out;
}

/**
 * Stores what a page (or a retry of waiting documents) produced: exceptions, held records, run
 * records, audit. What became of documents earlier runs left waiting (`PageOutcome.others`) is
 * stored as those runs', their counts included; the caller counts the rest to its own run.
 */
export async function saveOutcome(ctx: SyncContext, out: PageOutcome): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    await saveFor(tx, ctx, ctx.runId, out);
    for (const [runId, theirs] of out.others) {
      await saveFor(tx, ctx, runId, theirs);
      await addCounts(tx, runId, theirs.counts);
    }
  });
}

async function saveFor(tx: Queryable, ctx: SyncContext, runId: string | null, out: PageOutcome): Promise<void> {
  await parkRecords(tx, ctx.pipeline.id, ctx.entity.id, runId, out.parked);
  for (const save of out.saves) await save(tx);
  if (!ctx.target.transactional) await saveHeld(tx, ctx.pipeline.id, out, runId);
  if (runId) await addRunRecords(tx, runId, out.records);
  // The engine's own actions in the audit trail: what this page created, updated or parked.
  const changed = out.records.filter((r) => r.outcome !== 'skipped');
  if (changed.length === 0) return;
  await recordAudit(tx, {
    entityId: ctx.entity.id,
    actor: ctx.actor,
    action: 'sync.page',
    objectType: 'run',
    objectId: runId,
    after: {
      pipeline: ctx.pipeline.name,
      counts: out.counts,
      records: changed.map((r) => ({
        kind: r.kind,
        sourceId: r.sourceId,
        outcome: r.outcome,
        targetId: r.targetId ?? null,
      })),
    },
  });
}
