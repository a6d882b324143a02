import type { Queryable } from '../../db/database.ts';
import { type CanonicalInvoice, canonicalGross, unparsedLineAmount } from '../canonical.ts';
import { idempotencyKey } from '../outbound.ts';
import type { TargetInvoice } from '../target.ts';
import { changesSinceBooked, parkChanged } from './changed.ts';
import { type PageOutcome, type SourceDocumentRow, type SyncContext, mappedIds, queueWriteBack } from './context.ts';
import { type Delivered, type Delivery, type Outgoing, deliver, saveDelivered } from './deliver.ts';
import { type Unavailable, lacking } from './waiting.ts';

/**
 * The gross of a document the target took, for source_documents: its amounts were screened before
 * it was sent (parked, or refused by the target, when they do not parse), so one that does not
 * parse here is a bug, never recorded as a stand-in 0.
 */
export function deliveredGross(inv: CanonicalInvoice, what: string): bigint {
  const gross = canonicalGross(inv);
  if (gross === null) throw new Error(`${what}: its amounts were delivered without parsing`);
  return gross;
}

const invoiceRow = (doc: TargetInvoice): SourceDocumentRow => ({
  kind: 'invoice',
  sourceId: doc.sourceId,
  externalReference: doc.record.externalReference,
  customerSourceId: doc.record.customerSourceId,
  customerCode: doc.customerTargetId,
  date: doc.record.invoiceDate,
  currency: doc.record.currency,
  gross: deliveredGross(doc.record, `invoice ${doc.sourceId}`),
  location: doc.record.location,
  payload: {},
});

/**
 * What is saved with booked invoices: the map (as `invoice`, or `draft` for drafts), the
 * write-back the source wants, the closing of earlier exceptions, the source side of
 * reconciliation. Shared by posted invoices and drafts (a draft request the target answers with
 * an invoice it already had is mapped as that invoice).
 */
export async function commitInvoices(
  ctx: SyncContext,
  tx: Queryable,
  done: Delivered<TargetInvoice>[],
  out: PageOutcome,
): Promise<void> {
  const draft = (d: Delivered<TargetInvoice>) => d.result.documentKind === 'draft';
  await saveDelivered(ctx, tx, 'invoice', done, out, {
    record: (d) => ({
      outcome: d.result.outcome === 'linked' ? 'skipped' : 'created',
      targetId: draft(d) ? `draft:${d.result.targetId}` : d.result.targetId,
      message: d.result.message ?? null,
    }),
    map: (d) => ({ kind: draft(d) ? 'draft' : 'invoice', number: d.result.number ?? null }),
    sourceDocument: (d) => invoiceRow(d.item.doc),
  });
  if (ctx.source.writeBackKinds?.includes('invoice'))
    await queueWriteBack(
      tx,
      ctx.pipeline.id,
      done.map(({ item, result }) => ({
        kind: 'invoice',
        sourceId: item.sourceId,
        // Number and due date as booked, for targets that cannot be asked later (documents()).
        payload:
          result.documentKind === 'draft'
            ? { draftId: result.targetId }
            : { targetId: result.targetId, number: result.number ?? null, dueDate: item.doc.record.dueDate ?? null },
      })),
    );
}

const invoiceDelivery: Delivery<TargetInvoice> = {
  kind: 'invoice',
  targetKind: 'invoice',
  send: (target, ctx, batch) => target.createInvoices(ctx, batch),
  reference: (doc) => doc.record.externalReference,
  customerTargetId: (doc) => doc.customerTargetId,
  commit: commitInvoices,
};

const draftDelivery: Delivery<TargetInvoice> = {
  ...invoiceDelivery,
  kind: 'draft',
  recordKind: 'invoice',
  send: (target, ctx, batch) => target.createDraftInvoices!(ctx, batch),
};

export interface InvoiceInput {
  record: CanonicalInvoice;
  raw: unknown;
}

/**
 * Books a page's invoices, exactly once. An invoice already in the map (as an invoice, or as a
 * draft: a mode switch never books twice) is skipped, and its write-back queued again if it was
 * never sent. The rest go to the target with what they refer to resolved to its ids; one the
 * target already has by reference is linked, not booked again.
 */
export async function syncInvoices(
  ctx: SyncContext,
  invoices: InvoiceInput[],
  customers: Map<string, string>,
  products: Map<string, string>,
  unavailable: Unavailable,
  out: PageOutcome,
): Promise<void> {
  if (invoices.length === 0) return;
  const p = ctx.pipeline;
  const ids = invoices.map((i) => i.record.sourceId);
  const mapped = await mappedIds(ctx.db, p.id, 'invoice', ids);
  const drafted = await mappedIds(ctx.db, p.id, 'draft', ids);
  const changes = await changesSinceBooked(
    ctx.db,
    p.id,
    invoices
      .filter((i) => mapped.has(i.record.sourceId))
      .map(({ record: r }) => ({
        kind: 'invoice' as const,
        sourceId: r.sourceId,
        date: r.invoiceDate,
        currency: r.currency,
        gross: canonicalGross(r),
      })),
    out,
  );
  const wantsWriteBack = ctx.source.writeBackKinds?.includes('invoice') ?? false;
  const requeue: { kind: string; sourceId: string; payload: Record<string, unknown> }[] = [];
  const outgoing: Outgoing<TargetInvoice>[] = [];
  const seen = new Set<string>();
  for (const input of invoices) {
    const inv = input.record;
    const park = out.parker('invoice', input);
    if (seen.has(inv.sourceId)) {
      out.record({ kind: 'invoice', sourceId: inv.sourceId, outcome: 'skipped', message: 'repeated in the same page' });
      continue;
    }
    seen.add(inv.sourceId);
    const already = mapped.get(inv.sourceId);
    if (already) {
      const change = changes.get(inv.sourceId);
      if (change) parkChanged(out, 'invoice', input, already.targetId, change);
      else
        out.record({
          kind: 'invoice',
          sourceId: inv.sourceId,
          outcome: 'skipped',
          targetId: already.targetId,
          message: 'already posted',
        });
      if (wantsWriteBack && already.writtenBack === null)
        requeue.push({
          kind: 'invoice',
          sourceId: inv.sourceId,
          payload: { targetId: already.targetId, number: already.number },
        });
      continue;
    }
    const draft = drafted.get(inv.sourceId);
    if (draft) {
      out.record({
        kind: 'invoice',
        sourceId: inv.sourceId,
        outcome: 'skipped',
        targetId: `draft:${draft.targetId}`,
        message: 'already drafted',
      });
      if (wantsWriteBack && draft.writtenBack === null)
        requeue.push({ kind: 'invoice', sourceId: inv.sourceId, payload: { draftId: draft.targetId } });
      continue;
    }
    const customerTargetId = customers.get(inv.customerSourceId);
    if (!customerTargetId) {
      const why = lacking(ctx, unavailable, 'customer', inv.customerSourceId);
      park(why.reasonCode, why.message, 'customerSourceId', why);
      continue;
    }
    const unparsed = unparsedLineAmount(inv);
    if (unparsed) {
      park(unparsed.reasonCode, unparsed.message, unparsed.field);
      continue;
    }
    const badProduct = inv.lines.find((l) => l.productSourceId && unavailable.has(`product:${l.productSourceId}`));
    if (badProduct?.productSourceId) {
      const why = lacking(ctx, unavailable, 'product', badProduct.productSourceId);
      park(why.reasonCode, why.message, 'productSourceId', why);
      continue;
    }
    const productTargetIds: Record<string, string> = {};
    for (const l of inv.lines) {
      const id = l.productSourceId ? products.get(l.productSourceId) : undefined;
      if (l.productSourceId && id) productTargetIds[l.productSourceId] = id;
    }
    outgoing.push({
      sourceId: inv.sourceId,
      raw: input.raw,
      doc: {
        sourceId: inv.sourceId,
        record: inv,
        customerTargetId,
        productTargetIds,
        idempotencyKey: idempotencyKey(p.id, 'invoice', inv.sourceId),
      },
    });
  }
  if (requeue.length) await queueWriteBack(ctx.db, p.id, requeue);
  if (outgoing.length === 0) return;
  if (p.options.invoiceMode === 'draft') {
    // iXpole's draft mode: drafts instead of invoices, "D" + draft number written back (drafts.ts).
    if (!ctx.target.capabilities.drafts || !ctx.target.createDraftInvoices) {
      for (const o of outgoing)
        out.park({
          kind: 'invoice',
          sourceId: o.sourceId,
          reasonCode: 'TARGET_CAPABILITY_MISSING',
          message: `The ${ctx.target.type} target has no draft invoices; set options.invoiceMode to final`,
          payload: { record: o.doc.record, raw: o.raw },
        });
      return;
    }
    await deliver(ctx, draftDelivery, outgoing, out);
    return;
  }
  await deliver(ctx, invoiceDelivery, outgoing, out);
}

export const invoiceDeliveries = [invoiceDelivery, draftDelivery];
