import { type CanonicalCreditNote, canonicalGross, creditNoteAsInvoice, unparsedLineAmount } from '../canonical.ts';
import { idempotencyKey } from '../outbound.ts';
import type { TargetCreditNote } from '../target.ts';
import { changesSinceBooked, parkChanged } from './changed.ts';
import { type PageOutcome, type SyncContext, mappedIds } from './context.ts';
import { type Delivery, type Outgoing, deliver, saveDelivered } from './deliver.ts';
import { deliveredGross } from './invoices.ts';
import { namedDocuments } from './payments.ts';
import { type Unavailable, documentKey, lacking } from './waiting.ts';

const creditNoteDelivery: Delivery<TargetCreditNote> = {
  kind: 'creditNote',
  targetKind: 'creditNote',
  available: (target) => target.createCreditNotes !== undefined,
  send: (target, ctx, batch) => target.createCreditNotes!(ctx, batch),
  reference: (doc) => doc.record.externalReference,
  customerTargetId: (doc) => doc.customerTargetId,
  async commit(ctx, tx, done, out) {
    await saveDelivered(ctx, tx, 'creditNote', done, out, {
      map: ({ result }) => ({ number: result.number }),
      // Recorded like invoices and payments: what allocations find their credit note by.
      sourceDocument: ({ item }) => {
        const note = item.doc.record;
        return {
          kind: 'creditNote',
          sourceId: note.sourceId,
          externalReference: note.externalReference,
          customerSourceId: note.customerSourceId,
          customerCode: item.doc.customerTargetId,
          date: note.date,
          currency: note.currency,
          gross: deliveredGross(creditNoteAsInvoice(note), `credit note ${note.sourceId}`),
          payload: {},
        };
      },
    });
  },
};

/**
 * Books a page's credit notes, exactly once, like invoices: one already in the map is skipped;
 * the rest go with their customer, products and the invoice they credit resolved to the target's
 * ids. What a credit note settles is not decided here: that is an allocation of its own.
 */
export async function syncCreditNotes(
  ctx: SyncContext,
  notes: { record: CanonicalCreditNote; raw: unknown }[],
  customers: Map<string, string>,
  products: Map<string, string>,
  unavailable: Unavailable,
  out: PageOutcome,
): Promise<void> {
  if (notes.length === 0) return;
  const p = ctx.pipeline;
  const mapped = await mappedIds(
    ctx.db,
    p.id,
    'creditNote',
    notes.map((n) => n.record.sourceId),
  );
  const changes = await changesSinceBooked(
    ctx.db,
    p.id,
    notes
      .filter((n) => mapped.has(n.record.sourceId))
      .map(({ record: n }) => ({
        kind: 'creditNote' as const,
        sourceId: n.sourceId,
        date: n.date,
        currency: n.currency,
        gross: canonicalGross(creditNoteAsInvoice(n)),
      })),
    out,
  );
  const ready: { input: (typeof notes)[number]; customerTargetId: string; productTargetIds: Record<string, string> }[] =
    [];
  const seen = new Set<string>();
  for (const input of notes) {
    const note = input.record;
    const park = out.parker('creditNote', input);
    const already = mapped.get(note.sourceId);
    if (already || seen.has(note.sourceId)) {
      const change = already ? changes.get(note.sourceId) : undefined;
      if (already && change) parkChanged(out, 'creditNote', input, already.targetId, change);
      else
        out.record({
          kind: 'creditNote',
          sourceId: note.sourceId,
          outcome: 'skipped',
          targetId: already?.targetId,
          message: already ? 'already posted' : 'repeated in the same page',
        });
      continue;
    }
    seen.add(note.sourceId);
    const customerTargetId = customers.get(note.customerSourceId);
    if (!customerTargetId) {
      const why = lacking(ctx, unavailable, 'customer', note.customerSourceId);
      park(why.reasonCode, why.message, 'customerSourceId', why);
      continue;
    }
    const badProduct = note.lines.find((l) => l.productSourceId && unavailable.has(`product:${l.productSourceId}`));
    if (badProduct?.productSourceId) {
      const why = lacking(ctx, unavailable, 'product', badProduct.productSourceId);
      park(why.reasonCode, why.message, 'productSourceId', why);
      continue;
    }
    const unparsed = unparsedLineAmount(creditNoteAsInvoice(note));
    if (unparsed) {
      park(unparsed.reasonCode, unparsed.message, unparsed.field);
      continue;
    }
    const productTargetIds: Record<string, string> = {};
    for (const l of note.lines) {
      const id = l.productSourceId ? products.get(l.productSourceId) : undefined;
      if (l.productSourceId && id) productTargetIds[l.productSourceId] = id;
    }
    ready.push({ input, customerTargetId, productTargetIds });
  }
  const credited = ready.flatMap((r) =>
    r.input.record.invoiceExternalReference
      ? [
          {
            customerTargetId: r.customerTargetId,
            customerSourceId: r.input.record.customerSourceId,
            reference: r.input.record.invoiceExternalReference,
          },
        ]
      : [],
  );
  // A credit note goes with the invoice it credits: one still on its way is waited for. One parked
  // here is not: the link is informative (what it settles is an allocation of its own), and a
  // target that needs the invoice (Business Central) refuses the note naming it, as ItemError.needs.
  const { booked: invoices, coming } = await namedDocuments(ctx, out, 'invoice', credited);
  const outgoing: Outgoing<TargetCreditNote>[] = [];
  for (const { input, customerTargetId, productTargetIds } of ready) {
    const note = input.record;
    const key = documentKey(customerTargetId, note.invoiceExternalReference ?? '');
    const waitsFor = note.invoiceExternalReference ? coming.get(key) : undefined;
    if (waitsFor) {
      out.park({
        kind: 'creditNote',
        sourceId: note.sourceId,
        reasonCode: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
        message: `The invoice ${note.invoiceExternalReference} it credits is on its way to the ${ctx.target.type} target; this is sent once it is booked`,
        field: 'invoiceExternalReference',
        payload: { record: note, raw: input.raw },
        waitsFor,
      });
      continue;
    }
    outgoing.push({
      sourceId: note.sourceId,
      raw: input.raw,
      doc: {
        sourceId: note.sourceId,
        record: note,
        customerTargetId,
        productTargetIds,
        invoiceTargetId: note.invoiceExternalReference ? (invoices.get(key) ?? null) : null,
        idempotencyKey: idempotencyKey(p.id, 'creditNote', note.sourceId),
      },
    });
  }
  await deliver(ctx, creditNoteDelivery, outgoing, out);
}

export const creditNoteDeliveries = [creditNoteDelivery];
