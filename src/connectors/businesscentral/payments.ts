import { ConnectorError } from '../../sync/connector.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import {
  type FoundDocument,
  type ItemResult,
  type TargetCallContext,
  type TargetPayment,
  failed,
  ok,
} from '../../sync/target.ts';
import { type BcEntity, type BusinessCentralApi, Refused, key, literal } from './api.ts';
import { type BusinessCentralFees, feeMark, markOf } from './fees.ts';
import { externalOf, num, paymentDocumentNumber, paymentTargetId, text } from './map.ts';

/*
 * Customer payments: a line of ledgerlink's cash receipt journal (customerPaymentJournals →
 * customerPayments) naming the invoice it pays (appliesToInvoiceId), then the journal posted
 * (journals({id})/Microsoft.NAV.post), one payment at a time so that a refused post names one
 * payment. A payment's target id is its Document No. and its customer (`paymentTargetId`), which
 * it keeps whether it waits in the journal or is posted; posted, it is found among the G/L entries
 * by the Document No. and the customer's mark in their description. A payment provider's fee
 * is a journal line entered before the payment's and posted with it (fees.ts).
 */

export const refusal = (r: Refused, what: string): ItemResult =>
  failed({ code: 'TARGET_REFUSED', message: `Business Central refused ${what}: ${r.detail}`, retryable: false });

/** Enters and posts each payment (its fee line first); one result per payment, in order. */
export async function createPayments(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  journal: BcEntity,
  items: TargetPayment[],
  fees: BusinessCentralFees,
): Promise<ItemResult[]> {
  const jid = journal.id;
  const lines = `/customerPaymentJournals${key(jid)}/customerPayments`;
  // One request a payment: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, async (p) => {
    const ext = externalOf(p.record.externalReference);
    if (typeof ext !== 'string') return failed(ext);
    const documentNumber = paymentDocumentNumber(p.record.externalReference);
    const fee = await fees.prepare(ctx, journal, p, items);
    if (fee && 'code' in fee) return failed(fee);
    const booked = () =>
      ok(paymentTargetId(documentNumber, p.customerTargetId), {
        number: documentNumber,
        outcome: 'created',
        ...(fee ? { message: fee.note } : {}),
      });
    let line: BcEntity;
    try {
      line = await api.create(
        lines,
        {
          customerId: p.customerTargetId,
          postingDate: p.record.date,
          documentNumber,
          externalDocumentNumber: ext,
          // A payment credits the customer's account: a negative amount in a cash receipt journal.
          amount: num(p.record.amount.startsWith('-') ? p.record.amount.slice(1) : `-${p.record.amount}`),
          ...(p.invoiceTargetId ? { appliesToInvoiceId: p.invoiceTargetId } : {}),
          description: paymentDescription(
            p.record.description || `Payment ${p.record.externalReference}`,
            p.customerTargetId,
          ),
        },
        ctx.signal,
      );
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      // Its fee line (entered now, or found waiting) is not left to be posted alone by the next post.
      if (fee?.lineId) await fees.withdraw(ctx, jid, fee.lineId);
      return refusal(err, `payment ${p.record.externalReference}`);
    }
    try {
      await api.action(`/journals${key(jid)}/Microsoft.NAV.post`, ctx.signal);
    } catch (err) {
      if (err instanceof ConnectorError && err.retryable) {
        // The answer is unknown: a line still in the journal was not posted.
        if (await api.get(`${lines}${key(line.id)}`, ctx.signal)) throw err;
        return booked();
      }
      if (!(err instanceof Refused)) throw err;
      // Posted by another worker's post meanwhile (the line is gone): booked. Else take it out, its fee line too.
      if (await api.get(`${lines}${key(line.id)}`, ctx.signal)) {
        await api.delete(`${lines}${key(line.id)}`, ctx.signal);
        if (fee?.lineId) await fees.withdraw(ctx, jid, fee.lineId);
        return refusal(err, `to post payment ${p.record.externalReference}`);
      }
    }
    return booked();
  });
}

/**
 * A payment line's description, ending with the mark of its customer (as a fee's does): a
 * reference is unique per customer only, and the G/L entries a posted payment leaves carry no
 * customer but its description, so the mark is how a lookup tells whose payment it is.
 */
export function paymentDescription(description: string, customerId: string): string {
  const mark = feeMark(customerId);
  return `${description.slice(0, 100 - mark.length - 1)} ${mark}`;
}

/**
 * A payment by our reference: waiting in the journal (then posted now, as the lost call meant to), or posted.
 * With the customer (the engine's lookup after a lost answer gives it), only that customer's: two
 * customers' payments may share a reference, and so a Document No.; a posted payment is told by
 * the customer mark its G/L entries' description carries (`paymentDescription`). Entries without
 * a mark (posted before payments were marked) are no proof that this customer's payment is in.
 */
export async function findPayment(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  jid: string,
  reference: string,
  customerTargetId: string | null | undefined,
  fees: BusinessCentralFees,
): Promise<FoundDocument | null> {
  const ext = externalOf(reference);
  if (typeof ext !== 'string') return null;
  const documentNumber = paymentDocumentNumber(reference);
  const whose = (rows: BcEntity[]) =>
    customerTargetId ? rows.filter((w) => text(w.customerId) === customerTargetId) : rows;
  const waiting = whose(
    await api.list(
      `customerPaymentJournals${key(jid)}/customerPayments`,
      `externalDocumentNumber eq ${literal(ext)}`,
      ctx.signal,
    ),
  );
  if (waiting[0]) {
    // Entered, and its answer (or the post's) lost: post it now, as the call meant to.
    try {
      await api.action(`/journals${key(jid)}/Microsoft.NAV.post`, ctx.signal);
    } catch (err) {
      const still = async () =>
        whose(
          await api.list(
            `customerPaymentJournals${key(jid)}/customerPayments`,
            `externalDocumentNumber eq ${literal(ext)}`,
            ctx.signal,
          ),
        ).length > 0;
      // The answer is unknown: posted when the line has left the journal.
      if (err instanceof ConnectorError && err.retryable && !(await still()))
        return {
          targetId: paymentTargetId(documentNumber, text(waiting[0].customerId)),
          number: documentNumber,
          customerTargetId: text(waiting[0].customerId),
        };
      if (!(err instanceof Refused)) throw err;
      // Refused: take the line out, so that it blocks no later post, and say it is not booked: the
      // engine sends it again and the refusal is then the payment's own, parked with its words.
      for (const w of waiting)
        await api.delete(`/customerPaymentJournals${key(jid)}/customerPayments${key(w.id)}`, ctx.signal);
      // Their fee lines too: entered again with the payment, never posted alone.
      await fees.withdrawWaiting(ctx, jid, ext, new Set(waiting.map((w) => text(w.customerId))));
      return null;
    }
    const customer = text(waiting[0].customerId);
    return { targetId: paymentTargetId(documentNumber, customer), number: documentNumber, customerTargetId: customer };
  }
  const posted = await api.list(
    'generalLedgerEntries',
    `documentNumber eq ${literal(documentNumber)} and documentType eq 'Payment'`,
    ctx.signal,
  );
  const ours = customerTargetId
    ? posted.filter((e) => markOf({ description: text(e.description) }) === customerTargetId)
    : posted;
  if (!ours[0]) return null;
  // Whose it is: the customer asked for, else the mark of the first found (an unmarked one, posted
  // before payments were marked, keeps the old, bare id).
  const customer = customerTargetId || markOf({ description: text(ours[0].description) });
  return customer
    ? { targetId: paymentTargetId(documentNumber, customer), number: documentNumber, customerTargetId: customer }
    : { targetId: documentNumber, number: documentNumber };
}
