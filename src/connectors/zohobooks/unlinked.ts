import { addDays } from '../../domain/dates.ts';
import type { TargetCallContext, TargetDocument, UnlinkedScope } from '../../sync/target.ts';
import { text } from './api.ts';
import { contactIds, customerRows, ownerOfRow } from './balances.ts';
import {
  type DocKind,
  type DocumentContext,
  OUT_OF_BOOKS,
  documentOf,
  listAll,
  refundDocument,
  refundTargetId,
  refundsPath,
} from './documents.ts';
import { minor } from './map.ts';

/*
 * Documents of the pipeline's customers that no pipeline booked (keyed in Zoho Books by hand),
 * for reconciliation: read from the same lists, by customer and date, as the open balances
 * (balances.ts), whole or customer by customer, whichever costs fewer requests.
 */

/**
 * Invoices, credit notes, customer payments and refunds of payments dated in [from, to] of these
 * customers that no pipeline booked, each as `documents()` reads it. Three lists are read as
 * balances.ts reads them (for N > 1 customers the organisation's whole list when it ends within N
 * pages of 200, else customer by customer, one request each and one more a further page): invoices
 * and credit notes with `date_start` and `date_end`, customer payments with `date_before` the day
 * after `to`, since a refund in the window may be of an earlier payment. Each payment that has
 * refunded something (`amount_refunded`; a row without the field too) costs one more request, its
 * refunds (Zoho lists them only under it). Every row's customer and date are checked again here.
 * Left out: invoices and credit notes voided or a draft (not in the books), a document of another
 * customer under one of the pipeline's references (Zoho's `reference_number` filter takes one
 * value, so reading by reference would cost three requests a reference), and refunds of credit
 * notes (`documents()` reads none: the pipeline books none). A linked refund is named by
 * `<payment_id>:<payment_refund_id>`, or by Zoho's refund id alone when booked before that form.
 */
export async function unlinkedDocuments(
  c: DocumentContext,
  ctx: TargetCallContext,
  scope: UnlinkedScope,
  from: string,
  to: string,
): Promise<TargetDocument[]> {
  const ids = contactIds(scope.customerTargetIds);
  if (ids.length === 0 || from > to) return [];
  const asked = new Set(ids);
  const linked = new Set(scope.linkedTargetIds);
  const signal = ctx.signal ?? c.signal;
  const inWindow = (date: string) => date !== '' && date >= from && date <= to;
  const out = new Map<string, TargetDocument>();
  const put = (d: TargetDocument) => {
    if (!linked.has(d.targetId) && !out.has(d.targetId)) out.set(d.targetId, d);
  };

  const lists: [DocKind, string, string][] = [
    ['invoice', '/invoices', 'invoices'],
    ['creditNote', '/creditnotes', 'creditnotes'],
  ];
  for (const [kind, path, key] of lists)
    for (const r of await customerRows(c, ids, path, key, { date_start: from, date_end: to }, signal)) {
      if (ownerOfRow(asked, r) === null || !inWindow(text(r.e.date)) || OUT_OF_BOOKS.has(text(r.e.status))) continue;
      put(documentOf(kind, r.e, c.org.currency));
    }

  const upTo = { date_before: addDays(to, 1) };
  for (const r of await customerRows(c, ids, '/customerpayments', 'customerpayments', upTo, signal)) {
    const p = r.e;
    if (ownerOfRow(asked, r) === null || text(p.date) === '' || text(p.date) > to) continue;
    if (inWindow(text(p.date))) put(documentOf('payment', p, c.org.currency));
    // A payment's refunds are dated on or after it. A row that says it has refunded nothing is
    // not read further; one that does not say is.
    const currency = text(p.currency_code) || c.org.currency;
    const refunded = p.amount_refunded === undefined ? null : minor(p.amount_refunded, currency);
    if (refunded !== null && refunded <= 0n) continue;
    const paymentId = text(p.payment_id);
    for (const x of await listAll(c.api, refundsPath(paymentId), 'payment_refunds', {}, signal)) {
      if (!inWindow(text(x.date)) || linked.has(text(x.payment_refund_id))) continue;
      const id = refundTargetId(paymentId, text(x.payment_refund_id));
      put(refundDocument(id, x, p, c.org.currency));
    }
  }
  return [...out.values()];
}
