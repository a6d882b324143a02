import { parseAmount } from '../../domain/money.ts';
import type { ItemResult, TargetRefund } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type NsObject, describe, text } from './api.ts';
import { type DocumentContext, badReference, written } from './documents.ts';
import { amount, minor, ref } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Refunds as NetSuite customer refunds (`customerRefund`), upserted by our reference as external
 * id like every other document, their `apply` sublist naming the customer payment they return:
 * a refund takes what the payment holds unapplied. A payment already applied in full to invoices
 * cannot be refunded this way (NetSuite offers it no credit to refund): the refund is refused
 * before anything is written, and parked TARGET_REFUSED, saying so.
 */

export const REFUND_RECORD = 'customerRefund';

export async function createRefunds(c: DocumentContext, items: TargetRefund[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  for (const d of items) {
    const r = d.record;
    if (r.currency !== c.currency) {
      out.push(
        failed({
          code: 'CURRENCY_MISMATCH',
          message: `Refund ${r.externalReference} is in ${r.currency}; this target books in ${c.currency} only (target.currency)`,
          retryable: false,
          field: 'currency',
        }),
      );
      continue;
    }
    const bad = badReference(r.externalReference);
    if (bad) {
      out.push(failed(bad));
      continue;
    }
    const wanted = parseAmount(r.amount, r.currency);
    if (!wanted.ok || wanted.value <= 0n) {
      out.push(
        failed({
          code: 'AMOUNT_INVALID',
          message: `Refund ${r.externalReference}: ${r.amount} is not an amount ${SYSTEM} takes (more than zero)`,
          retryable: false,
          field: 'amount',
        }),
      );
      continue;
    }
    if (!d.paymentTargetId) {
      out.push(
        failed({
          code: 'TARGET_REFUSED',
          message: `Refund ${r.externalReference}: ${SYSTEM} refunds a customer's credit, so the refund must name the payment it returns (paymentExternalReference) and that payment must be booked`,
          retryable: false,
          field: 'paymentExternalReference',
        }),
      );
      continue;
    }
    const pay = await c.api.get(`/customerPayment/${encodeURIComponent(d.paymentTargetId)}`, c.signal);
    const unapplied = pay ? (minor(pay.unapplied, r.currency) ?? 0n) : 0n;
    if (unapplied < wanted.value) {
      out.push(
        failed({
          code: 'TARGET_REFUSED',
          message: `Refund ${r.externalReference}: payment ${r.paymentExternalReference ?? d.paymentTargetId} holds ${text(pay?.unapplied) || '0'} unapplied in ${SYSTEM}, less than the ${r.amount} refunded; unapply it from its invoices in ${SYSTEM} first, then retry`,
          retryable: false,
          field: 'amount',
        }),
      );
      continue;
    }
    const body: NsObject = {
      customer: ref(d.customerTargetId),
      tranDate: r.date,
      ...(r.description ? { memo: r.description.slice(0, 999) } : {}),
      ...(c.refundAccountId ? { account: ref(c.refundAccountId) } : {}),
      apply: { items: [{ doc: ref(d.paymentTargetId), apply: true, amount: amount(wanted.value, r.currency) }] },
    };
    const a = await c.api.upsert(REFUND_RECORD, r.externalReference, body, c.signal);
    if (!a.ok) {
      out.push(
        failed({
          code: 'TARGET_REFUSED',
          message: `${SYSTEM} refused refund ${r.externalReference} (${describe(a)})`,
          retryable: false,
        }),
      );
      continue;
    }
    const rec = await written(c, REFUND_RECORD, r.externalReference);
    out.push(ok(text(rec.id), { number: text(rec.tranId) || r.externalReference, outcome: 'created' }));
  }
  return out;
}
