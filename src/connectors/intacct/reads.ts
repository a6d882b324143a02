import { parseAmount } from '../../domain/money.ts';
import type { TargetDocument, UnlinkedScope } from '../../sync/target.ts';
import { type DocKind, type DocumentContext, OBJECTS, numberOf, referenceOf } from './documents.ts';
import { IN_THE_BOOKS, NOT_COUNTED, allRows, customerIds, inGroups } from './balances.ts';
import { readFees } from './fees.ts';
import { type Xml, isoDate, quote, text, usDate } from './xml.ts';

/*
 * Documents as Intacct holds them now, for write-back and reconciliation: read with readByQuery
 * by RECORDNO IN (…), a thousand a request (api.ts `queryIn`), invoices first, then what is left
 * among credit adjustments, then among received payments (RECORDNOs are one sequence across AR
 * records, so an id is one of them at most). A document deleted in Intacct (the default for an
 * unpaid invoice: Posted and Draft transactions are deleted) is not there. One reversed (where AR is
 * configured to reverse rather than delete, or once it was paid) keeps its record with STATE
 * "Reversed", a second transaction in STATE "Reversal" zeroing it out (Sage Intacct help,
 * "Reverse an invoice", "Bill state descriptions"): it is read as `voided`, which reconciliation
 * counts as not there.
 */

/** The states of a record out of the books though it is kept. */
const REVERSED = new Set(['Reversed']);

/**
 * Documents by RECORDNO (`TargetDocument`): a request per 1,000 ids for invoices, and one per
 * 1,000 of those left for credit adjustments and for payments; with `fees`, the payments' bank
 * charges (fees.ts). Line counts are not read (`lines` 0): Intacct holds each line's amount and
 * each rate's tax as ledgerlink sent them, so a difference is never its rounding.
 */
export async function readDocuments(
  c: DocumentContext,
  ids: string[],
  fees = false,
): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  // RECORDNOs are numbers: anything else is none of the company's, and never goes into a query.
  let left = [...new Set(ids.filter((id) => /^\d{1,18}$/.test(id)))];
  for (const kind of ['invoice', 'creditNote', 'payment'] as const) {
    if (left.length === 0) break;
    const asked = new Set(left);
    for (const row of await c.api.queryIn(OBJECTS[kind].object, 'RECORDNO', left, c.signal)) {
      const d = documentOf(c, kind, row);
      if (asked.has(d.targetId)) out.set(d.targetId, d);
    }
    left = left.filter((id) => !out.has(id));
  }
  // Reconciliation: each payment's fee, the bank charge under its reference (fees.ts).
  if (fees)
    await readFees(
      c,
      [...out.values()].filter((d) => d.kind === 'payment' && !d.voided),
    );
  return out;
}

function documentOf(c: DocumentContext, kind: DocKind, row: Record<string, Xml>): TargetDocument {
  const currency = text(row.CURRENCY) || c.settings.currency;
  const total = parseAmount(text(row.TOTALENTERED) || '0', currency);
  const d: TargetDocument = {
    targetId: text(row.RECORDNO),
    kind,
    number: numberOf(kind, row),
    customerTargetId: text(row.CUSTOMERID),
    externalReference: referenceOf(kind, row),
    date: isoDate(text(kind === 'payment' ? row.PAYMENTDATE : row.WHENCREATED)),
    dueDate: kind === 'invoice' ? isoDate(text(row.WHENDUE)) || null : null,
    currency,
    // A credit adjustment's total is negative; reconciliation compares its size.
    gross: total.ok ? (total.value < 0n ? -total.value : total.value) : 0n,
    lines: 0,
  };
  if (REVERSED.has(text(row.STATE))) d.voided = true;
  return d;
}

/**
 * Invoices, credit adjustments and received payments dated in [from, to] of these customers, or
 * under one of these references (DOCNUMBER) whatever their customer, that no pipeline booked
 * (keyed in Intacct by hand), each as `readDocuments` reads it. readByQuery on each object by
 * `CUSTOMERID IN (…)`, a thousand customers a query, and by `DOCNUMBER IN (…)`, a thousand
 * references a query, each with its date (WHENCREATED, a payment's PAYMENTDATE) from `from` to
 * `to` and STATE not Reversed, Reversal or Draft (out of the books, or not yet in them; a deleted
 * one is not there); pages of a thousand rows followed with readMore. For N customers and R
 * references: 3 × (ceil(N / 1000) + ceil(R / 1000)) readByQuery requests, and one readMore per
 * further thousand rows of a query.
 */
export async function unlinkedDocuments(
  c: DocumentContext,
  scope: UnlinkedScope,
  from: string,
  to: string,
): Promise<TargetDocument[]> {
  const linked = new Set(scope.linkedTargetIds);
  const customers = customerIds(scope.customerTargetIds);
  const references = [...new Set(scope.references.filter((r) => r !== ''))];
  const [ofCustomer, ofReference] = [new Set(customers), new Set(references)];
  const out = new Map<string, TargetDocument>();
  if (from > to) return [];
  for (const kind of ['invoice', 'creditNote', 'payment'] as const) {
    const { object, ref } = OBJECTS[kind];
    const date = kind === 'payment' ? 'PAYMENTDATE' : 'WHENCREATED';
    const window = [`${date} >= ${quote(usDate(from))}`, `${date} <= ${quote(usDate(to))}`, IN_THE_BOOKS];
    for (const filter of [...inGroups('CUSTOMERID', customers), ...inGroups(ref, references)])
      for (const row of await allRows(c, object, [filter, ...window].join(' AND '), '*')) {
        const d = documentOf(c, kind, row);
        if (linked.has(d.targetId) || out.has(d.targetId) || NOT_COUNTED.includes(text(row.STATE))) continue;
        // The filter is Intacct's: a row outside it is not taken.
        if (!ofCustomer.has(d.customerTargetId) && !ofReference.has(text(row[ref]))) continue;
        out.set(d.targetId, d);
      }
  }
  return [...out.values()];
}
