import { ConnectorError } from '../../sync/connector.ts';
import type { TargetDocument } from '../../sync/target.ts';
import { type NsObject, text } from './api.ts';
import type { DocumentContext } from './documents.ts';
import { referenceIn } from './documents.ts';
import { readFees } from './fees.ts';
import { minor } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Documents as NetSuite holds them now, for write-back and reconciliation: read with SuiteQL
 * (`POST /query/v1/suiteql`), a thousand internal ids a query (Oracle's limit on an IN list), not
 * one GET a record a type. A document deleted in NetSuite is simply not there (its record answers
 * 404, its row is gone). One voided with "Void Transactions Using Reversing Journals" off, the
 * account's default, keeps its record with its total and lines set to zero and `voided` 'T'
 * (N/transaction Module, "When you void a transaction, the total and all the line items for the
 * transaction are set to zero. The transaction is not removed from the system."): it is read as
 * `voided`, which reconciliation counts as not there. That preference does not reach invoices,
 * credit memos or payments (NetSuite then offers no void for the first two, and voids payments
 * directly); a customer refund voided by a reversing journal keeps its amounts and is marked voided
 * too, and the journal is another transaction, not read here (open balances count it, balances.ts).
 */

/** Ids a SuiteQL query names at once: NetSuite runs it on Oracle, which takes at most 1,000 in an IN list. */
export const IDS_PER_QUERY = 1000;

/** The kind of each transaction record type ledgerlink books (SuiteQL's `recordtype`). */
const KIND_OF: Record<string, TargetDocument['kind']> = {
  invoice: 'invoice',
  creditmemo: 'creditNote',
  customerpayment: 'payment',
  customerrefund: 'refund',
};

/** The columns `documentOf` reads, with item lines counted, of transactions `WHERE` this. */
const transactionsWhere = (where: string): string =>
  `SELECT t.id, t.recordtype, t.tranid, t.externalid, t.entity, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, ` +
  `TO_CHAR(t.duedate, 'YYYY-MM-DD') AS duedate, t.foreigntotal, t.voided, COUNT(l.id) AS lines ` +
  `FROM transaction t LEFT JOIN transactionline l ON l.transaction = t.id AND l.mainline = 'F' AND l.taxline = 'F' AND (l.iscogs = 'F' OR l.iscogs IS NULL) ` +
  `WHERE ${where} ` +
  `GROUP BY t.id, t.recordtype, t.tranid, t.externalid, t.entity, t.trandate, t.duedate, t.foreigntotal, t.voided`;

/**
 * The transactions of these internal ids with their item lines counted (neither the summary line,
 * tax lines nor cost-of-goods lines), dates as YYYY-MM-DD whatever the user's date preference.
 * `foreigntotal` is in the transaction's currency; credit memos carry it negative.
 */
export const transactionsQuery = (ids: readonly string[]): string => transactionsWhere(`t.id IN (${ids.join(', ')})`);

/** A day (YYYY-MM-DD) as SuiteQL compares it with `trandate`. */
export const sqlDay = (day: string): string => `TO_DATE('${day}', 'YYYY-MM-DD')`;

/** The day, checked: anything but YYYY-MM-DD never goes into a query. */
export function checkedDay(what: string, day: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day))
    throw new ConnectorError(SYSTEM, `${what} "${day}", not a date (YYYY-MM-DD)`, { retryable: false });
  return day;
}

/** Of these ids, the distinct ones that can be internal ids: anything else is none of the account's, and never goes into a query. */
export const internalIds = (ids: readonly string[]): string[] => [
  ...new Set(ids.filter((id) => /^\d{1,18}$/.test(id))),
];

/**
 * Transactions of the kinds ledgerlink books (invoices, credit memos, customer payments, customer
 * refunds), not voided, dated from..to inclusive, whose `field` is one of these values (customers'
 * internal ids, or external ids quoted), in internal id order so that pages follow one another.
 */
export const windowQuery = (field: 'entity' | 'externalid', values: readonly string[], from: string, to: string) =>
  transactionsWhere(
    `t.${field} IN (${values.join(', ')}) AND t.trandate >= ${sqlDay(from)} AND t.trandate <= ${sqlDay(to)} ` +
      `AND t.voided = 'F' AND t.recordtype IN ('invoice', 'creditmemo', 'customerpayment', 'customerrefund')`,
  ) + ' ORDER BY t.id';

/** In slices of `size`. */
export function slices<T>(all: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < all.length; i += size) out.push(all.slice(i, i + size));
  return out;
}

/** SuiteQL writes a decimal below one without its leading zero (".5"). */
export const decimal = (v: unknown): string => text(v).replace(/^(-?)\./, '$10.');

/**
 * Documents by internal id, as NetSuite holds them now (`TargetDocument`): one SuiteQL request per
 * 1,000 ids, and with `fees` one more per 1,000 payments for their fees (fees.ts). An id that is
 * no invoice, credit memo, payment or refund of the account (deleted there) is left out.
 */
export async function readDocuments(
  c: DocumentContext,
  ids: string[],
  lines: boolean,
  fees = false,
): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  for (const slice of slices(internalIds(ids), IDS_PER_QUERY)) {
    for (const r of await c.api.query(transactionsQuery(slice), c.signal)) {
      const d = documentOf(c, r, lines);
      if (d) out.set(d.targetId, d);
    }
  }
  // Reconciliation: each payment's fee, the journal entry under its fee's external id (fees.ts).
  if (fees)
    await readFees(
      c,
      [...out.values()].filter((d) => d.kind === 'payment' && !d.voided),
    );
  return out;
}

/** A row of `transactionsQuery` as a document; null for a record type ledgerlink does not book. */
function documentOf(c: DocumentContext, r: NsObject, lines: boolean): TargetDocument | null {
  const kind = KIND_OF[text(r.recordtype).toLowerCase()];
  if (!kind) return null;
  const customer = text(r.entity);
  const externalId = text(r.externalid);
  const total = minor(decimal(r.foreigntotal), c.currency) ?? 0n;
  const sales = kind === 'invoice' || kind === 'creditNote';
  const d: TargetDocument = {
    targetId: text(r.id),
    kind,
    number: text(r.tranid) || externalId,
    customerTargetId: customer,
    externalReference: referenceIn(externalId, customer),
    date: text(r.trandate),
    dueDate: text(r.duedate) || null,
    currency: c.currency,
    // NetSuite keeps an invoice's total positive and a credit memo's negative; a payment and a
    // refund are amounts of money, positive.
    gross: kind === 'invoice' || kind === 'creditNote' ? total : total < 0n ? -total : total,
    lines: lines && sales ? Number(text(r.lines) || '0') : 0,
  };
  if (text(r.voided) === 'T') d.voided = true;
  return d;
}

/**
 * Invoices, credit memos, customer payments and customer refunds dated from..to inclusive of these
 * customers, or under one of these references as external id (any customer's), not voided, that no
 * pipeline booked (`linkedTargetIds`): typed into NetSuite by hand, or brought in some other way.
 * One SuiteQL query per 1,000 customers and one per 1,000 references (Oracle's IN list), each
 * paged to the end; each document as `readDocuments` reads it.
 */
export async function unlinkedDocuments(
  c: DocumentContext,
  scope: { customerTargetIds: string[]; references: string[]; linkedTargetIds: string[] },
  from: string,
  to: string,
): Promise<TargetDocument[]> {
  checkedDay('documents no pipeline booked asked from', from);
  checkedDay('documents no pipeline booked asked to', to);
  const linked = new Set(scope.linkedTargetIds);
  // A reference that cannot be an external id (letters, digits, `_`, `-`) is on no document.
  const references = [...new Set(scope.references.filter((r) => /^[A-Za-z0-9_-]+$/.test(r)))].map((r) => `'${r}'`);
  const queries = [
    ...slices(internalIds(scope.customerTargetIds), IDS_PER_QUERY).map((s) => windowQuery('entity', s, from, to)),
    ...slices(references, IDS_PER_QUERY).map((s) => windowQuery('externalid', s, from, to)),
  ];
  const out = new Map<string, TargetDocument>();
  for (const q of queries)
    for (const r of await c.api.query(q, c.signal)) {
      const d = documentOf(c, r, true);
      if (d && !d.voided && !linked.has(d.targetId) && !out.has(d.targetId)) out.set(d.targetId, d);
    }
  return [...out.values()];
}
