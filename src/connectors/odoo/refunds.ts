import { parseAmount } from '../../domain/money.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import type { ItemError, ItemResult, TargetRefund } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import {
  type DocumentContext,
  PAYMENT_PREFIX,
  currencyMismatch,
  discardDraft,
  findPayment,
  posted,
  refused,
} from './documents.ts';
import { badAmount, createPosted } from './payments.ts';
import { type OdooObject, int, m2o, text } from './rpc.ts';
import { SYSTEM } from './settings.ts';
import { type Returned, reconcileRefund } from './refund-reconcile.ts';

/*
 * Refunds: money sent back to a customer, booked as an outbound customer `account.payment` (our
 * reference in `ref`, `memo` on 18), posted, then reconciled with the inbound payment it returns
 * by `js_assign_outstanding_line` on the refund's journal entry with the payment's open receivable
 * line: the same call the invoices' outstanding-credits widget makes (payments.ts). On 16.0–18.0
 * that method of `account.move` takes the given line and the move's own lines on the same account
 * not yet reconciled and reconciles them, whatever the move's type; for a refund that is its
 * receivable debit against the payment's credit, for as much as both have open. Its answer is
 * never relied on: what Odoo holds is read back.
 *
 * A refund of money the payment has applied to invoices takes it off them first, as the NetSuite
 * and Zoho Books targets do; how, and what Odoo does on the way: refund-reconcile.ts.
 *
 * Exactly once: the refund is looked up by reference before it is created (an attempt whose
 * answer was lost may have created or posted it), never made again; its reconciliation is chosen
 * from what Odoo holds (refund-reconcile.ts).
 *
 * The payment named must be the customer's and posted in Odoo, or the refund is refused before
 * anything is written (TARGET_REFUSED on paymentExternalReference), as the NetSuite and Zoho Books
 * targets refuse a refund they cannot set against its payment; one this pipeline has not booked
 * waits for it in the engine (`refundsNeedPayment`). A refund naming no payment is booked on its
 * own: Odoo holds it as money paid out to the customer, open on the customer.
 */

type Named = { payment: Returned } | { refusal: ItemError } | { none: string };

/** Payment states of 16–18 (`cancel` up to 17, `canceled` and `rejected` on 18) that hold no money. */
const GONE = new Set(['cancel', 'canceled', 'rejected']);

/**
 * The payment the refund names: by the target id the pipeline booked it under, else (a payment
 * another pipeline of the entity booked) by its reference among the customer's payments in Odoo.
 */
async function returnedPayment(c: DocumentContext, d: TargetRefund): Promise<Named> {
  const r = d.record;
  const reference = r.paymentExternalReference ?? null;
  const refuse = (why: string): Named => ({
    refusal: {
      code: 'TARGET_REFUSED',
      message: `Refund ${r.externalReference}: payment ${reference ?? d.paymentTargetId} ${why}; check the payment at the source and in ${SYSTEM}, then retry`,
      retryable: false,
      field: 'paymentExternalReference',
    },
  });
  if (d.paymentTargetId) {
    const id = d.paymentTargetId.startsWith(PAYMENT_PREFIX)
      ? Number(d.paymentTargetId.slice(PAYMENT_PREFIX.length))
      : null;
    const [pay] =
      id === null
        ? []
        : await c.rpc.searchRead(
            'account.payment',
            [['id', '=', id]],
            ['name', 'state', 'partner_id', 'payment_type'],
            c.signal,
            1,
          );
    if (!pay || GONE.has(text(pay.state)))
      return refuse(`(${SYSTEM} id ${d.paymentTargetId}) is no longer in ${SYSTEM}`);
    // Odoo reconciles lines of any partners and directions together: the target checks.
    if (String(m2o(pay.partner_id) ?? '') !== d.customerTargetId || text(pay.payment_type) !== 'inbound')
      return refuse(`(${SYSTEM} ${text(pay.name)}) is no longer a payment from this customer in ${SYSTEM}`);
    if (text(pay.state) === 'draft')
      return refuse(`(${SYSTEM} ${text(pay.name)}) is a draft in ${SYSTEM}, which reconciles posted entries only`);
    return { payment: { id: int(pay.id)!, label: labelOf(reference, pay) } };
  }
  if (!reference) return { none: 'it names no payment; it stays open on the customer' };
  const found = await findPayment(c, 'payment', reference, d.customerTargetId);
  if (!found || text(found.state) === 'draft')
    return { none: `${SYSTEM} holds no posted payment ${reference} of this customer; it stays open on the customer` };
  return { payment: { id: int(found.id)!, label: labelOf(reference, found) } };
}

const labelOf = (reference: string | null, pay: OdooObject) =>
  reference ? `payment ${reference} (${SYSTEM} ${text(pay.name)})` : `payment ${SYSTEM} ${text(pay.name)}`;

/**
 * Books refunds one by one, each reconciled with the payment it returns. A refund an earlier
 * attempt left behind (found by reference) is posted if still a draft and finished, never made
 * again; what is wrong with its payment is then said, not refused, since the refund is booked.
 */
export async function createRefunds(c: DocumentContext, items: TargetRefund[]): Promise<ItemResult[]> {
  // One request a refund: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const parsed = parseAmount(r.amount, r.currency);
    if (r.currency !== c.company.currency)
      return failed(currencyMismatch(`Refund ${r.externalReference}`, r.currency, c.company));
    if (!parsed.ok || parsed.value <= 0n) return badAmount('Refund', r.externalReference, r.amount);
    const named = await returnedPayment(c, d);
    const found = await findPayment(c, 'refund', r.externalReference, d.customerTargetId);
    let refund: { id: number; name: string };
    if (found) {
      const id = int(found.id)!;
      const done = await posted(c, 'account.payment', id);
      if ('fault' in done) {
        await discardDraft(c, 'account.payment', id);
        return failed(refused('to post refund', r.externalReference, done.fault));
      }
      refund = { id, name: done.name || r.externalReference };
    } else {
      if ('refusal' in named) return failed(named.refusal);
      const made = await createPosted(c, 'outbound', d.customerTargetId, parsed.value, r);
      if ('error' in made) return failed(made.error);
      refund = made;
    }
    const done =
      'payment' in named
        ? await reconcileRefund(c, r.externalReference, refund.id, named.payment, parsed.value)
        : { message: `not reconciled: ${'none' in named ? named.none : named.refusal.message}` };
    if ('error' in done) return failed(done.error);
    return ok(`${PAYMENT_PREFIX}${refund.id}`, {
      number: refund.name,
      outcome: found ? 'linked' : 'created',
      message: done.message,
    });
  });
}
