import { formatAmount, minBig, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import type { FoundDocument, ItemResult, TargetRefund } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type ZohoAnswer, type ZohoObject, describe, entity, text } from './api.ts';
import {
  type Application,
  type DocumentContext,
  applicationsOf,
  listAll,
  putApplications,
  refundTargetId,
  refundsPath,
} from './documents.ts';
import { minor, num } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Refunds as Zoho Books refunds of a customer payment's unused amount
 * (POST /customerpayments/{id}/refunds), our reference in their `reference_number`. A refund
 * must name the payment it returns, and that payment must still hold the refund, unused or
 * applied to invoices (not refunded before): otherwise it is refused before anything is written,
 * saying why, and never booked elsewhere. Zoho refunds only a payment's unused amount, so what the
 * payment has applied to invoices beyond that is unapplied first (PUT /customerpayments/{id}), as
 * Zoho's own help has a person do ("Clear Applied Amount", then refund the excess payment): those
 * invoices owe it again. The books are then the same in either order: a refund of a payment booked
 * before its invoice takes the payment's unused money at once, and the invoice gets what is left.
 * Zoho takes no idempotency key: a lost answer is found again by listing refunds and matching
 * our reference exactly (lookUpRefund). An attempt that ends without the refund booked (refused,
 * or no answer) gives the invoices their money back before it ends; one cut short (a crash) leaves
 * the payment unapplied, which the next attempt reads as unused and does not unapply twice, since
 * the payment is read again before each attempt. Refunds of credit notes
 * (POST /creditnotes/{id}/refunds) are not sent: the canonical refund names a payment, never a
 * credit note.
 */

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
    const applied = applicationsOf(pay, r.currency);
    const appliedSum = applied.reduce((s, x) => s + x.amount_applied, 0n);
    const cur = (v: bigint) => `${formatAmount(v, r.currency)} ${r.currency}`;
    if (unused + appliedSum < wanted.value) {
      return failed({
        code: 'TARGET_REFUSED',
        message: `Refund ${r.externalReference}: payment ${paymentName} has ${cur(unused + appliedSum)} left to refund in ${SYSTEM} (${cur(unused)} unused, ${cur(appliedSum)} applied to invoices), less than the ${r.amount} refunded; check the amount and the payment it names at the source, then retry`,
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
    // What the payment lacks unused is taken back from its invoices first, the last applied first.
    const short = wanted.value - unused;
    const freed = short > 0n ? unapply(applied, short) : null;
    const unappliedFrom = (f: { from: string[] }) =>
      `${cur(short)} of payment ${paymentName} unapplied first from ${f.from.length === 1 ? 'invoice' : 'invoices'} ${f.from.map((id) => numberOf(pay, id)).join(', ')}`;
    let a: ZohoAnswer;
    try {
      if (freed) {
        const u = await putApplications(c, pay, freed.left, r.currency);
        if (!u.ok) {
          return failed({
            code: 'TARGET_REFUSED',
            message: `${SYSTEM} refused to unapply ${cur(short)} of payment ${paymentName} from its invoices, to refund it as refund ${r.externalReference} (${describe(u)})`,
            retryable: false,
          });
        }
      }
      a = await c.api.call(
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
    } catch (err) {
      // No answer (a timeout, a reset, a 5xx) after the payment was unapplied for the refund: booked
      // after all, or its invoices are given the money back now, not left owing it until a retry
      // that may come hours later, or never if the refund is given up. Not put back (or not known
      // to be booked), the refund is parked saying which invoices owe it again.
      if (!freed || !(err instanceof ConnectorError)) throw err;
      const held = await refundsOf(c, d.paymentTargetId)
        .then((list) => list.find((x) => text(x.reference_number) === r.externalReference) ?? null)
        .catch(() => undefined);
      if (held) {
        return ok(refundTargetId(d.paymentTargetId, text(held.payment_refund_id)), {
          number: r.externalReference,
          outcome: 'created',
          message: `${unappliedFrom(freed)}: Zoho Books refunds only a payment's unused amount`,
        });
      }
      const restored = held === null && (await reapply(c, pay, applied, r.currency));
      if (restored) throw err;
      // Parked for a person at once: a later attempt, finding the money unused, would not know it
      // was unapplied from an invoice, and its own failure would be all the exception said. What
      // to fix first: a reason is cut to a few hundred characters where it is shown.
      return failed({
        code: 'TARGET_UNAVAILABLE',
        message: `Refund ${r.externalReference} ${held === null ? 'was not booked' : 'is not known to be booked'} and ${unappliedFrom(freed)} for it stays unapplied, which the ${freed.from.length === 1 ? 'invoice owes' : 'invoices owe'} again: retry the refund once ${SYSTEM} answers, or apply the payment again in ${SYSTEM} (the refund: ${err.message}${held === undefined ? '; whether it was booked could not be read' : ''})`,
        retryable: false,
      });
    }
    if (!a.ok) {
      // Refused after the payment was unapplied for it: its invoices are given that money back.
      const restored = freed ? await reapply(c, pay, applied, r.currency) : true;
      const left = restored
        ? ''
        : `; ${cur(short)} of the payment was unapplied from its invoices for it and could not be applied again: check the payment's applications in ${SYSTEM}`;
      return failed({
        code: 'TARGET_REFUSED',
        message: `${SYSTEM} refused refund ${r.externalReference} of payment ${paymentName} (${describe(a)})${left}`,
        retryable: false,
      });
    }
    const refund = entity(a.body, 'payment_refund', `POST ${refundsPath(':id')}`);
    return ok(refundTargetId(d.paymentTargetId, text(refund.payment_refund_id)), {
      number: r.externalReference,
      outcome: 'created',
      ...(freed ? { message: `${unappliedFrom(freed)}: Zoho Books refunds only a payment's unused amount` } : {}),
    });
  });
}

/**
 * The applications left once `short` is taken back from them, the last applied first, and the
 * invoices it is taken from; the caller has checked that they hold at least `short`.
 */
function unapply(applied: Application[], short: bigint): { left: Application[]; from: string[] } {
  const left = applied.map((x) => ({ ...x }));
  const from: string[] = [];
  let rest = short;
  for (const x of [...left].reverse()) {
    if (rest === 0n) break;
    const take = minBig(rest, x.amount_applied);
    if (take === 0n) continue;
    x.amount_applied -= take;
    rest -= take;
    from.push(x.invoice_id);
  }
  return { left, from };
}

/**
 * The payment's applications put back as they were read; false when that could not be done. The
 * update sets them whole, so a lost answer is settled by reading the payment again.
 */
async function reapply(c: DocumentContext, pay: ZohoObject, applied: Application[], currency: string) {
  try {
    return (await putApplications(c, pay, applied, currency)).ok;
  } catch (err) {
    if (!(err instanceof ConnectorError)) throw err;
    const now = await c.api
      .byId(`/customerpayments/${encodeURIComponent(text(pay.payment_id))}`, 'payment', c.signal)
      .catch(() => null);
    const after = now ? applicationsOf(now, currency) : null;
    const amountOn = (list: Application[], id: string) =>
      list.filter((x) => x.invoice_id === id).reduce((s, x) => s + x.amount_applied, 0n);
    return after !== null && applied.every((x) => amountOn(after, x.invoice_id) === amountOn(applied, x.invoice_id));
  }
}

/** The number of an invoice a payment, as read, is applied to (its id when Zoho gives none). */
const numberOf = (pay: ZohoObject, invoiceId: string) =>
  text(
    ((pay.invoices as ZohoObject[] | undefined) ?? []).find((x) => text(x.invoice_id) === invoiceId)?.invoice_number,
  ) || invoiceId;

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
    if (found)
      return {
        targetId: refundTargetId(text(p.payment_id), text(found.payment_refund_id)),
        number: reference,
        customerTargetId,
      };
  }
  return null;
}
