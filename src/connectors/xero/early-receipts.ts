import { Dec } from '../../domain/money.ts';
import { appliedEarly, invoiceMissing, nothingToApply, paymentGone } from '../../sync/remote/early.ts';
import {
  type EarlyPayment,
  type FoundDocument,
  type ItemResult,
  type TargetCallContext,
  failed,
} from '../../sync/target.ts';
import { type Json, OVERPAYMENT, type XeroApi, batchIdempotencyKey, lit, refused, str } from './api.ts';
import { amount, xeroDate } from './map.ts';

/*
 * Receipts Xero holds as overpayments because they came before their invoice: the target books
 * such a receipt as an overpayment (RECEIVE-OVERPAYMENT) whose result says it waits for its invoice
 * (`awaitsInvoice`), the engine notes it (src/sync/engine/early-payments.ts), and once the invoice
 * is booked this allocates the one to the other (docs/connectors/xero.md, "Payments").
 */

/** What the allocation needs of the target: its API, invoices read by id, and lookups by reference. */
export interface EarlyReceiptsIO {
  api(): Promise<XeroApi>;
  invoicesById(ctx: TargetCallContext, ids: string[]): Promise<Json[]>;
  findByReference(
    ctx: TargetCallContext,
    kind: string,
    reference: string,
    customerTargetId?: string | null,
  ): Promise<FoundDocument | null>;
}

/**
 * Receipts booked as overpayments before their invoice (the engine's note,
 * src/sync/engine/early-payments.ts), allocated to it now that it is booked: as much as the
 * overpayment has left (`RemainingCredit`) and the invoice owes (`AmountDue`), both read just
 * before, so that running it again after a lost answer allocates nothing twice (and the request
 * carries an idempotency key of what it allocates); dated the later of the two. The invoice
 * handed over must be the contact's under the named reference, else that invoice is looked up by it.
 */
export async function applyEarlyReceipts(
  io: EarlyReceiptsIO,
  ctx: TargetCallContext,
  items: EarlyPayment[],
): Promise<ItemResult[]> {
  const x = await io.api();
  const overpayments = new Map<string, Json>();
  const early = items.filter((e) => e.paymentTargetId.startsWith(OVERPAYMENT));
  const ids = [...new Set(early.map((e) => e.paymentTargetId.slice(OVERPAYMENT.length)))];
  for (let i = 0; i < ids.length; i += 25) {
    const part = ids.slice(i, i + 25);
    const where = part.map((id) => `OverpaymentID==Guid(${lit(id)})`).join(' OR ');
    const body = await x.get('/Overpayments', { where }, ctx.signal);
    for (const o of (body.Overpayments as Json[] | undefined) ?? []) overpayments.set(str(o.OverpaymentID), o);
  }
  const invoices = new Map(
    (
      await io.invoicesById(
        ctx,
        items.map((e) => e.invoiceTargetId),
      )
    ).map((d) => [str(d.InvoiceID), d]),
  );
  const contactOf = (d: Json | undefined) => str((d?.Contact as Json | undefined)?.ContactID);
  // What this call has allocated, taken off what was read (two receipts, one invoice).
  const taken = new Map<string, Dec>();
  const open = (id: string, v: unknown) => new Dec(str(v) || '0').sub(taken.get(id) ?? new Dec(0));
  const results: ItemResult[] = [];
  for (const e of items) {
    const o = overpayments.get(e.paymentTargetId.slice(OVERPAYMENT.length));
    if (!e.paymentTargetId.startsWith(OVERPAYMENT) || !o || str(o.Status) === 'VOIDED') {
      results.push(paymentGone(e, 'Xero'));
      continue;
    }
    const contact = contactOf(o);
    const named = (d: Json | undefined) =>
      d && str(d.Reference) === e.invoiceReference && contactOf(d) === contact && str(d.Type) === 'ACCREC'
        ? d
        : undefined;
    let inv = named(invoices.get(e.invoiceTargetId));
    if (!inv) {
      // Booked by another pipeline of the entity into another organisation: this one's, by reference.
      const found = await io.findByReference(ctx, 'invoice', e.invoiceReference, contact);
      if (found) inv = named((await io.invoicesById(ctx, [found.targetId]))[0]);
    }
    if (!inv) {
      results.push(invoiceMissing(e, 'Xero', contact));
      continue;
    }
    if (str(inv.Status) === 'VOIDED' || str(inv.Status) === 'DELETED') {
      results.push(
        failed({
          code: 'TARGET_REFUSED',
          message: `invoice ${e.invoiceReference} is ${str(inv.Status)} in Xero: the overpayment stays on the contact`,
          retryable: false,
        }),
      );
      continue;
    }
    if (str(inv.Status) === 'DRAFT' || str(inv.Status) === 'SUBMITTED') {
      // The target's `mode: draft`: a person approves the invoice in Xero, and allocates then.
      results.push(
        failed({
          code: 'TARGET_REFUSED',
          message: `invoice ${e.invoiceReference} is ${str(inv.Status)} in Xero: allocate the overpayment to it once it is approved`,
          retryable: false,
        }),
      );
      continue;
    }
    const opId = str(o.OverpaymentID);
    const invId = str(inv.InvoiceID);
    const left = open(opId, o.RemainingCredit);
    const due = str(inv.Status) === 'AUTHORISED' ? open(invId, inv.AmountDue) : new Dec(0);
    const take = Dec.min(left, due);
    const where = `Xero ${str(inv.InvoiceNumber) || e.invoiceReference}`;
    if (take.lte(0)) {
      results.push(nothingToApply(e, where, left.lte(0), 'allocate'));
      continue;
    }
    const paid = xeroDate(o.DateString ?? o.Date) ?? '';
    const invoiced = xeroDate(inv.DateString ?? inv.Date) ?? '';
    const [answer] = await x.write(
      'PUT',
      `/Overpayments/${encodeURIComponent(opId)}/Allocations`,
      'Allocations',
      [{ Invoice: { InvoiceID: invId }, Amount: amount(take.toFixed(2)), Date: paid > invoiced ? paid : invoiced }],
      batchIdempotencyKey('allocate', [opId, invId, take.toFixed(2)]),
      {},
      ctx.signal,
    );
    if (!answer?.ok) {
      results.push(failed(refused(answer ? answer.messages : ['no answer for the allocation'])));
      continue;
    }
    taken.set(opId, (taken.get(opId) ?? new Dec(0)).add(take));
    taken.set(invId, (taken.get(invId) ?? new Dec(0)).add(take));
    const rest = left.gt(take) ? 'the rest stays an overpayment on the contact' : null;
    results.push(appliedEarly(e, where, take.toFixed(2), rest, 'allocate'));
  }
  return results;
}
