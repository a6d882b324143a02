import { parseAmount } from '../../domain/money.ts';
import type { CanonicalAllocation } from '../canonical.ts';
import { idempotencyKey } from '../outbound.ts';
import type { TargetAllocation } from '../target.ts';
import { type Booked, allocationAsBooked, changedFrom, keepBooked, keepChanged, parkChanged } from './changed.ts';
import { type PageOutcome, type SyncContext, callContext, mappedIds } from './context.ts';
import { type Delivery, type Outgoing, deliver, saveDelivered } from './deliver.ts';
import { namedDocuments, parkedForCurrency } from './payments.ts';
import { type Unavailable, documentKey, lacking } from './waiting.ts';

/** The allocations this pipeline has mapped to these target ids: none of them is a match for another. */
async function takenAllocations(ctx: SyncContext): Promise<Set<string>> {
  const { rows } = await ctx.db.query<{ target_id: string }>(
    `SELECT target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'allocation'`,
    [ctx.pipeline.id],
  );
  return new Set(rows.map((r) => r.target_id));
}

const allocationDelivery: Delivery<TargetAllocation> = {
  kind: 'allocation',
  targetKind: 'allocation',
  // A remote target must be able to find an allocation again, or a lost answer would allocate twice.
  available: (target) =>
    target.createAllocations !== undefined && (target.transactional || target.findAllocation !== undefined),
  send: (target, ctx, batch) => target.createAllocations!(ctx, batch),
  reference: (doc) =>
    `${doc.record.from} ${doc.record.fromExternalReference} to ${doc.record.invoiceExternalReference}`,
  customerTargetId: (doc) => doc.customerTargetId,
  async find(ctx, doc) {
    if (!ctx.target.findAllocation) return null;
    return ctx.target.findAllocation(callContext(ctx), doc, await takenAllocations(ctx));
  },
  async commit(ctx, tx, done, out) {
    await saveDelivered(ctx, tx, 'allocation', done, out, {
      // What it was made as, to tell a changed copy sent later (changed.ts).
      map: ({ item }) => ({ fingerprint: keepBooked(allocationAsBooked(item.doc.record)) }),
    });
  },
};

/**
 * Sends a page's allocations once both of their documents are in the target: the invoice, and
 * the payment or credit note set against it, each found by the reference this pipeline booked it
 * under. One whose document is still on its way (waiting for a retry in the target, or held
 * itself) waits for it (src/sync/engine/waiting.ts). One whose document is not there (parked, or
 * never sent) is parked with ALLOCATION_DOCUMENT_NOT_SYNCED, and runs again by itself once that
 * document is booked (`releaseNeeded`, src/sync/engine/deliveries.ts).
 */
export async function syncAllocations(
  ctx: SyncContext,
  allocations: { record: CanonicalAllocation; raw: unknown }[],
  customers: Map<string, string>,
  unavailable: Unavailable,
  out: PageOutcome,
): Promise<void> {
  if (allocations.length === 0) return;
  const p = ctx.pipeline;
  const mapped = await mappedIds(
    ctx.db,
    p.id,
    'allocation',
    allocations.map((a) => a.record.sourceId),
  );
  const ready: { input: (typeof allocations)[number]; customerTargetId: string }[] = [];
  const seen = new Set<string>();
  const changedNow: { sourceId: string; booked: Booked }[] = [];
  for (const input of allocations) {
    const a = input.record;
    const park = out.parker('allocation', input);
    const already = mapped.get(a.sourceId);
    if (already || seen.has(a.sourceId)) {
      const change = already ? changedFrom(already.fingerprint, allocationAsBooked(a)) : null;
      if (already && change) {
        parkChanged(out, 'allocation', input, already.targetId, change);
        changedNow.push({ sourceId: a.sourceId, booked: allocationAsBooked(a) });
      } else
        out.record({
          kind: 'allocation',
          sourceId: a.sourceId,
          outcome: 'skipped',
          targetId: already?.targetId,
          message: already ? 'already allocated' : 'repeated in the same page',
        });
      continue;
    }
    seen.add(a.sourceId);
    const customerTargetId = customers.get(a.customerSourceId);
    if (!customerTargetId) {
      const why = lacking(ctx, unavailable, 'customer', a.customerSourceId);
      park(why.reasonCode, why.message, 'customerSourceId', why);
      continue;
    }
    const amount = parseAmount(a.amount, a.currency);
    if (!amount.ok || amount.value <= 0n) {
      park('AMOUNT_INVALID', `amount "${a.amount}" is not an amount in ${a.currency} above zero`, 'amount');
      continue;
    }
    ready.push({ input, customerTargetId });
  }
  keepChanged(out, p.id, 'allocation', changedNow);
  /** Each document the allocations name: its target id when booked, what to wait for when on its way. */
  const resolve = async (
    kind: 'invoice' | 'creditNote' | 'payment',
    pick: (a: CanonicalAllocation) => string | null,
  ) => {
    const named = ready.flatMap((r) => {
      const reference = pick(r.input.record);
      return reference
        ? [{ customerTargetId: r.customerTargetId, customerSourceId: r.input.record.customerSourceId, reference }]
        : [];
    });
    return namedDocuments(ctx, out, kind, named);
  };
  const invoices = await resolve('invoice', (a) => a.invoiceExternalReference);
  const payments = await resolve('payment', (a) => (a.from === 'payment' ? a.fromExternalReference : null));
  const notes = await resolve('creditNote', (a) => (a.from === 'creditNote' ? a.fromExternalReference : null));
  const outgoing: Outgoing<TargetAllocation>[] = [];
  for (const { input, customerTargetId } of ready) {
    const a = input.record;
    const invoiceKey = documentKey(customerTargetId, a.invoiceExternalReference);
    const fromKey = documentKey(customerTargetId, a.fromExternalReference);
    const from = a.from === 'payment' ? payments : notes;
    const invoiceTargetId = invoices.booked.get(invoiceKey);
    const fromTargetId = from.booked.get(fromKey);
    const missing = !invoiceTargetId
      ? {
          field: 'invoiceExternalReference',
          what: `invoice ${a.invoiceExternalReference}`,
          waitsFor: invoices.coming.get(invoiceKey),
          needs: { kind: 'invoice' as const, customerTargetId, reference: a.invoiceExternalReference },
        }
      : !fromTargetId
        ? {
            field: 'fromExternalReference',
            what: `${a.from === 'payment' ? 'payment' : 'credit note'} ${a.fromExternalReference}`,
            waitsFor: from.coming.get(fromKey),
            needs: { kind: a.from, customerTargetId, reference: a.fromExternalReference },
          }
        : null;
    if (
      parkedForCurrency(out, 'allocation', input, {
        what: 'invoice',
        reference: a.invoiceExternalReference,
        currency: invoices.currencies.get(invoiceKey),
      }) ||
      parkedForCurrency(out, 'allocation', input, {
        what: a.from === 'payment' ? 'payment' : 'credit note',
        reference: a.fromExternalReference,
        currency: from.currencies.get(fromKey),
      })
    )
      continue;
    if (missing) {
      out.park({
        kind: 'allocation',
        sourceId: a.sourceId,
        reasonCode: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
        message: missing.waitsFor
          ? `The ${missing.what} of customer ${a.customerSourceId} is on its way to the ${ctx.target.type} target; this is sent once it is booked`
          : `The ${missing.what} of customer ${a.customerSourceId} is not booked in the ${ctx.target.type} target by this pipeline`,
        field: missing.field,
        payload: { record: a, raw: input.raw },
        waitsFor: missing.waitsFor,
        needs: missing.needs,
      });
      continue;
    }
    outgoing.push({
      sourceId: a.sourceId,
      raw: input.raw,
      doc: {
        sourceId: a.sourceId,
        record: a,
        customerTargetId,
        invoiceTargetId: invoiceTargetId!,
        fromTargetId: fromTargetId!,
        idempotencyKey: idempotencyKey(p.id, 'allocation', a.sourceId),
      },
    });
  }
  await deliver(ctx, allocationDelivery, outgoing, out);
}

export const allocationDeliveries = [allocationDelivery];
