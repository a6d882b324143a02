import { formatAmount, parseAmount } from '../../domain/money.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import type { FoundDocument, ItemResult, TargetRefund } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type ZohoObject, describe, entity, text } from './api.ts';
import { type DocumentContext, listAll } from './documents.ts';
import { minor, num } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Refunds as Zoho Books refunds of a customer payment's unused amount
 * (POST /customerpayments/{id}/refunds), our reference in their `reference_number`. A refund
 * returns money the customer paid in excess, so it must name the payment it returns and that
 * payment must hold at least the refund unused (not applied to invoices, not refunded before):
 * otherwise it is refused before anything is written, saying why, and never booked elsewhere.
 * Zoho takes no idempotency key: a lost answer is found again by listing refunds and matching
 * our reference exactly (lookUpRefund). Refunds of credit notes (POST /creditnotes/{id}/refunds)
 * are not sent: the canonical refund names a payment, never a credit note.
 */

/** The refund endpoints of one payment. */
const refundsPath = (paymentId: string) => `/customerpayments/${encodeURIComponent(paymentId)}/refunds`;

export async function createRefunds(c: DocumentContext, items: TargetRefund[]): Promise<ItemResult[]> {
  // One request a refund: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    if (r.currency !== c.org.currency) {
      return failed({
        code: 'CURRENCY_MISMATCH',
        message: `Refund ${r.externalReference} is in ${r.currency}; this target books only the organisation's base currency (${c.org.currency})`,
        retryable: false,
        field: 'currency',
      });
    }
    const wanted = parseAmount(r.amount, r.currency);
    if (!wanted.ok || wanted.value <= 0n) {
      return failed({
        code: 'AMOUNT_INVALID',
        message: `Refund ${r.externalReference}: ${r.amount} is not an amount ${SYSTEM} takes (more than zero)`,
        retryable: false,
        field: 'amount',
      });
    }
    if (!d.paymentTargetId) {
      return failed({
        code: 'TARGET_REFUSED',
        message: `Refund ${r.externalReference}: ${SYSTEM} refunds the unused amount of a customer payment, so the refund must name the payment it returns (paymentExternalReference) and that payment must be booked`,
        retryable: false,
        field: 'paymentExternalReference',
      });
    }
    const pay = await c.api.byId(`/customerpayments/${encodeURIComponent(d.paymentTargetId)}`, 'payment', c.signal);
    const paymentName = r.paymentExternalReference ?? d.paymentTargetId;
    if (!pay) {
      return failed({
        code: 'TARGET_REFUSED',
        message: `Refund ${r.externalReference}: payment ${paymentName} is no longer in ${SYSTEM}`,
        retryable: false,
        field: 'paymentExternalReference',
      });
    }
    const unused = minor(pay.unused_amount, r.currency) ?? 0n;
    if (unused < wanted.value) {
      return failed({
        code: 'TARGET_REFUSED',
        message: `Refund ${r.externalReference}: payment ${paymentName} has ${formatAmount(unused, r.currency)} ${r.currency} unused in ${SYSTEM}, less than the ${r.amount} refunded; unapply it from its invoices in ${SYSTEM} first, then retry`,
        retryable: false,
        field: 'amount',
      });
    }
    const account = c.depositAccountId ?? (text(pay.account_id) || undefined);
    if (!account) {
      return failed({
        code: 'TARGET_REFUSED',
        message: `Refund ${r.externalReference}: ${SYSTEM} needs the account the refund is paid from; set accounts.bank in the target settings`,
        retryable: false,
      });
    }
    const a = await c.api.call(
      {
        method: 'POST',
        path: refundsPath(d.paymentTargetId),
        json: {
          date: r.date,
          refund_mode: c.paymentMode,
          reference_number: r.externalReference,
          amount: num(formatAmount(wanted.value, r.currency)),
          from_account_id: account,
          ...(r.description ? { description: r.description } : {}),
        },
      },
      c.signal,
    );
    if (!a.ok) {
      return failed({
        code: 'TARGET_REFUSED',
        message: `${SYSTEM} refused refund ${r.externalReference} of payment ${paymentName} (${describe(a)})`,
        retryable: false,
      });
    }
    const refund = entity(a.body, 'payment_refund', `POST ${refundsPath(':id')}`);
    return ok(text(refund.payment_refund_id), { number: r.externalReference, outcome: 'created' });
  });
}

/** The refunds of one payment (GET /customerpayments/{id}/refunds), page after page. */
const refundsOf = (c: DocumentContext, paymentId: string): Promise<ZohoObject[]> =>
  listAll(c.api, refundsPath(paymentId), 'payment_refunds', {}, c.signal);

/**
 * The refund Zoho holds under our reference. The engine's lookup names the customer, not the
 * payment, so every payment of the customer is listed and each one's refunds are matched on
 * `reference_number` exactly: one list, then one call per payment, and only after an answer
 * was lost. Without a customer there is nothing to narrow the search by, and nothing is found.
 */
export async function lookUpRefund(
  c: DocumentContext,
  reference: string,
  customerTargetId: string | null | undefined,
): Promise<FoundDocument | null> {
  if (!customerTargetId) return null;
  const payments = await listAll(
    c.api,
    '/customerpayments',
    'customerpayments',
    { customer_id: customerTargetId },
    c.signal,
  );
  for (const p of payments) {
    if (text(p.customer_id) !== customerTargetId) continue;
    const found = (await refundsOf(c, text(p.payment_id)))
      .filter((x) => text(x.reference_number) === reference)
      .sort((x, y) => text(x.payment_refund_id).localeCompare(text(y.payment_refund_id)))[0];
    if (found) return { targetId: text(found.payment_refund_id), number: reference, customerTargetId };
  }
  return null;
}
