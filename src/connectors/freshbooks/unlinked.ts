import { addDays } from '../../domain/dates.ts';
import type { TargetCallContext, TargetDocument, UnlinkedScope } from '../../sync/target.ts';
import { text } from './api.ts';
import { clientIds, clientLists } from './balances.ts';
import type { DocumentContext } from './documents.ts';
import {
  type Candidate,
  creditNoteOf,
  deleted,
  invoiceOf,
  isCredit,
  isDraft,
  isOverpayment,
  paymentOf,
} from './reads.ts';

/*
 * Documents of the pipeline's clients that no pipeline booked (keyed in FreshBooks by hand), for
 * reconciliation: read from the same lists, by client and date, as the open balances (balances.ts).
 */

/**
 * Invoices, credit notes and payments dated in [from, to] of these clients that no pipeline
 * booked, each as `documents()` reads it (reads.ts). Invoices are searched by an In search of
 * clients (`search[customerids][]`, 100 a request), credit notes and payments client by client
 * (`search[clientid]`), all with `search[date_min]` the first day and `search[date_max]` the day
 * after the last (a `_max` search matches what is below it): ⌈N/100⌉ + 2N requests for N clients,
 * one more a further page of 100. Every row's client and date are checked again here.
 *
 * FreshBooks numbers invoices, credit notes and payments each in a sequence of its own, and the
 * booked ids come without their kinds: invoice 7 and payment 7 may both be in the account, and
 * "7" booked names one of them. The connector writes our reference on everything it books (an
 * invoice's `po_number`, the `ledgerlink-ref` line of a credit note's or payment's note), so a
 * booked id leaves out only a document of that id carrying such a reference, as `documents()`
 * takes it for that id: a payment keyed by hand (no reference line) is named though an invoice of
 * the pipeline has its number. An invoice keyed by hand with a PO number, whose id is the id of a
 * credit note or payment a pipeline booked, cannot be told from one booked, and is left out.
 *
 * Left out, as not in the books or not documents: drafts, deleted documents (`vis_state` 1, not
 * listed), payments of type Credit (a client's credit set against an invoice) and overpayment
 * credit notes (the part of a payment above its invoice, counted with the payment). FreshBooks has
 * no refund document the target reads. A document of another client under one of the pipeline's
 * references is not read: FreshBooks documents no In search of `po_number` or of notes.
 */
export async function unlinkedDocuments(
  c: DocumentContext,
  ctx: TargetCallContext,
  scope: UnlinkedScope,
  from: string,
  to: string,
): Promise<TargetDocument[]> {
  const ids = clientIds(scope.customerTargetIds);
  if (ids.length === 0 || from > to) return [];
  const asked = new Set(ids);
  const linked = new Set(scope.linkedTargetIds);
  const signal = ctx.signal ?? c.signal;
  const inWindow = (date: string) => date !== '' && date >= from && date <= to;
  const out = new Map<string, TargetDocument>();
  const put = (x: Candidate) => {
    if (x.ours && linked.has(x.doc.targetId)) return;
    // Ids are unique within a kind only.
    const key = `${x.doc.kind}:${x.doc.targetId}`;
    if (!out.has(key)) out.set(key, x.doc);
  };

  const lists = await clientLists(c, ids, { date_min: from, date_max: addDays(to, 1) }, signal, ['lines']);
  for (const e of lists.invoices) {
    if (!asked.has(text(e.customerid)) || !inWindow(text(e.create_date)) || isDraft(e) || deleted(e)) continue;
    put(invoiceOf(e));
  }
  for (const { e, asked: id } of lists.creditNotes) {
    if (text(e.clientid) !== id || !inWindow(text(e.create_date)) || deleted(e) || isOverpayment(e)) continue;
    put(creditNoteOf(e));
  }
  for (const { e, asked: id } of lists.payments) {
    if (text(e.clientid) !== id || !inWindow(text(e.date)) || deleted(e) || isCredit(e)) continue;
    put(paymentOf(e));
  }
  return [...out.values()];
}
