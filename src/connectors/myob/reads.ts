import { addDays } from '../../domain/dates.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { TargetDocument, UnlinkedScope } from '../../sync/target.ts';
import { type MyobObject, literal, orFilters, text } from './api.ts';
import type { DocumentContext } from './documents.ts';
import { PAYMENT, SALE } from './documents.ts';
import { readFees } from './fees.ts';
import { dateTime, minor } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Documents read back by UID, for write-back and reconciliation: the sales (invoices, and credit
 * notes as negative sales) and the customer payments MYOB holds now. MYOB voids nothing: a sale or
 * payment a person no longer wants is deleted (DELETE, or Delete in AccountRight), after which
 * MYOB answers 404 for its UID and leaves it out of its lists, so a deleted document is simply not
 * in the map and reconciliation counts it missing.
 *
 * MYOB's lists take an OData `$filter`, so UIDs are read many a request (`UID eq guid'…' or …`),
 * as many as fit in a query string of `FILTER_MAX` characters (api.ts): sales first, then the
 * payments among what was not a sale. Refunds (Sale/CreditRefund: a customer credit paid out) are
 * read only when asked for alone (`kind: 'refund'`): this target books none, so a refund id is one
 * a caller knows to be one.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The GUIDs among these ids, lower-cased (as MYOB answers them) → as given; others cannot be MYOB's. */
const guids = (ids: readonly string[]): Map<string, string> =>
  new Map(ids.filter((u) => GUID.test(u)).map((u) => [u.toLowerCase(), u]));

/** The records of a list with these UIDs, by UID as asked (MYOB answers UIDs in lower case). */
async function byUids(c: DocumentContext, path: string, uids: readonly string[]): Promise<Map<string, MyobObject>> {
  const asked = guids(uids);
  const out = new Map<string, MyobObject>();
  for (const filter of orFilters([...asked.keys()].map((u) => `UID eq guid${literal(u)}`)))
    for (const r of await c.api.list(path, filter, c.signal)) {
      const id = asked.get(text(r.UID).toLowerCase());
      if (id !== undefined) out.set(id, r);
    }
  return out;
}

const uidOf = (v: unknown): string => text((v as MyobObject | undefined)?.UID);

/** A sale as reconciliation counts it: an invoice, or a credit note when its total is negative (its gross positive). */
function saleDocument(id: string, sale: MyobObject, cur: string): TargetDocument {
  const total = minor(sale.TotalAmount, cur) ?? 0n;
  return {
    targetId: id,
    kind: total < 0n ? 'creditNote' : 'invoice',
    number: text(sale.Number),
    customerTargetId: uidOf(sale.Customer),
    externalReference: text(sale.CustomerPurchaseOrderNumber),
    date: text(sale.Date).slice(0, 10),
    dueDate: text((sale.Terms as MyobObject | undefined)?.DueDate).slice(0, 10) || null,
    currency: cur,
    gross: total < 0n ? -total : total,
    lines: Array.isArray(sale.Lines) ? sale.Lines.length : 0,
  };
}

/** A customer payment as reconciliation counts it: its `AmountReceived`. */
function paymentDocument(id: string, pay: MyobObject, cur: string): TargetDocument {
  return {
    targetId: id,
    kind: 'payment',
    number: text(pay.ReceiptNumber),
    customerTargetId: uidOf(pay.Customer),
    externalReference: text(pay.Memo),
    date: text(pay.Date).slice(0, 10),
    dueDate: null,
    currency: cur,
    gross: minor(pay.AmountReceived, cur) ?? 0n,
    lines: 0,
  };
}

/**
 * A credit refund as reconciliation counts it: its `Amount`, which raises the customer's balance by
 * as much as openBalances counts it (so no balanceEffect apart from the gross).
 */
function refundDocument(id: string, r: MyobObject, cur: string): TargetDocument {
  return {
    targetId: id,
    kind: 'refund',
    number: text(r.Number),
    customerTargetId: uidOf(r.Customer),
    externalReference: text(r.Memo),
    date: text(r.Date).slice(0, 10),
    dueDate: null,
    currency: cur,
    gross: amountOf(r, 'Amount', cur, REFUND),
    lines: 0,
  };
}

/**
 * Documents by UID, as MYOB holds them now: a sale (an invoice, or a credit note when negative,
 * its gross positive), else a customer payment; one that MYOB no longer holds (deleted) is left
 * out. With `fees`, each payment's provider fee (its spend money, fees.ts).
 */
export async function readDocuments(
  c: DocumentContext,
  ids: string[],
  options?: { fees?: boolean; kind?: TargetDocument['kind'] | undefined },
): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  const cur = c.company.currency;
  if (options?.kind === 'refund') {
    for (const [id, r] of await byUids(c, REFUND, ids)) out.set(id, refundDocument(id, r, cur));
    return out;
  }
  for (const [id, sale] of await byUids(c, SALE, ids)) out.set(id, saleDocument(id, sale, cur));
  const rest = ids.filter((id) => !out.has(id));
  for (const [id, pay] of rest.length > 0 ? await byUids(c, PAYMENT, rest) : [])
    out.set(id, paymentDocument(id, pay, cur));
  if (options?.fees)
    await readFees(
      c.api,
      [...out.values()].filter((d) => d.kind === 'payment'),
      c.signal,
    );
  return out;
}

/** Every layout of sale, invoices and (negative) credits alike; `InvoiceType` says which layout. */
export const SALES = 'Sale/Invoice';
/** A customer credit paid out to the customer (cheque or bank), from the credit it settles. */
export const REFUND = 'Sale/CreditRefund';

/** A money field of a record, exactly; one that does not parse is an error, never a zero. */
function amountOf(r: MyobObject, field: string, currency: string, path: string): bigint {
  const v = minor(r[field], currency);
  if (v === null)
    throw new ConnectorError(SYSTEM, `GET ${path} answered ${field} "${text(r[field])}" for ${text(r.UID)}`, {
      retryable: false,
    });
  return v;
}

/**
 * The records of a list of these customers (`asked`: lower-cased UID → the UID as asked) under a
 * date condition, each with its customer as asked. Many customers a request: `(Customer/UID eq
 * guid'…' or …) and {dated}`, as many as keep the query string within `FILTER_MAX` (api.ts), each
 * `$filter` read to its last page of 1,000. The customer is checked again on the answer; the date,
 * which the caller knows as a day, is the caller's to check.
 */
async function ofCustomers(
  c: DocumentContext,
  path: string,
  asked: ReadonlyMap<string, string>,
  dated: string,
): Promise<{ customer: string; record: MyobObject }[]> {
  const out: { customer: string; record: MyobObject }[] = [];
  for (const filter of orFilters(
    [...asked.keys()].map((u) => `Customer/UID eq guid${literal(u)}`),
    dated,
  ))
    for (const record of await c.api.list(path, filter, c.signal)) {
      const customer = asked.get(uidOf(record.Customer).toLowerCase());
      if (customer !== undefined) out.push({ customer, record });
    }
  return out;
}

/**
 * Each customer's open balance in the company file as at `asAt` (inclusive), in minor units,
 * positive when the customer owes: the sales of every layout dated up to then (`Sale/Invoice`:
 * invoices plus, as negative sales, credits), less the customer payments dated up to then (their
 * `AmountReceived`, whatever they were applied to), plus the credit refunds dated up to then (a
 * credit paid out, which no longer lowers what is owed). Credit settlements move a credit onto an
 * invoice and change no balance. MYOB offers no report of customer balances as at a date (its
 * API's reports are the balance sheet, profit and loss, tax code and payroll summaries) and
 * `Contact/Customer`'s `CurrentBalance` is today's, so the documents are listed and summed. A
 * deleted document is gone from the lists: it counts nothing.
 *
 * Each list is asked for many customers at once, `(Customer/UID eq guid'…' or …) and Date lt
 * datetime'{day after asAt}T00:00:00'` (a sale's `Date` may carry a time of day), as many
 * customers as keep the query string within `FILTER_MAX` (25 a request), 1,000 records a page. For N
 * customers: 3 × ⌈N / 25⌉ requests, and one more for each further 1,000 records of a list. Ids that
 * are no GUID cannot be MYOB's and are left out. The currency is the company file's, as in
 * `readDocuments`.
 */
export async function openBalances(
  c: DocumentContext,
  customerIds: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  const asked = guids(customerIds);
  if (asked.size === 0) return [];
  const cur = c.company.currency;
  const dated = `Date lt datetime${literal(dateTime(addDays(asAt, 1)))}`;
  const sums = new Map<string, bigint>();
  for (const [path, field, sign] of [
    [SALES, 'TotalAmount', 1n],
    [PAYMENT, 'AmountReceived', -1n],
    [REFUND, 'Amount', 1n],
  ] as const)
    for (const { customer, record: r } of await ofCustomers(c, path, asked, dated)) {
      // Checked again on the answer: only up to the day asked.
      if (text(r.Date).slice(0, 10) > asAt) continue;
      sums.set(customer, (sums.get(customer) ?? 0n) + sign * amountOf(r, field, cur, path));
    }
  return [...sums]
    .map(([customerTargetId, balance]) => ({ customerTargetId, currency: cur, balance }))
    .sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId));
}

/**
 * Sales (invoices, and credit notes as negative sales), customer payments and credit refunds dated
 * in [from, to] of these customers that no pipeline booked (keyed in AccountRight or MYOB Business
 * by hand, or brought in some other way), each as `readDocuments` describes it. The same lists and
 * filters as `openBalances`, the window `Date ge datetime'{from}T00:00:00' and Date lt
 * datetime'{day after to}T00:00:00'` (a `Date` may carry a time of day): 3 × ⌈N / 24⌉ requests for
 * N customers, one more for each further 1,000 records of a list. Sales are read at `Sale/Invoice`,
 * every layout, since a person may key an Item or Professional sale. MYOB voids nothing: a deleted
 * document is gone from the lists. Linked ids are compared without regard to case (MYOB answers
 * UIDs in lower case). References are not asked for: the references are every one the pipeline has
 * ever had, and MYOB takes about 25 clauses a request, so a document under one of them but another
 * customer's card is not named.
 */
export async function unlinkedDocuments(
  c: DocumentContext,
  scope: UnlinkedScope,
  from: string,
  to: string,
): Promise<TargetDocument[]> {
  const asked = guids(scope.customerTargetIds);
  if (asked.size === 0 || from > to) return [];
  const linked = new Set(scope.linkedTargetIds.map((id) => id.toLowerCase()));
  const cur = c.company.currency;
  const dated = `Date ge datetime${literal(dateTime(from))} and Date lt datetime${literal(dateTime(addDays(to, 1)))}`;
  const out = new Map<string, TargetDocument>();
  for (const [path, describe] of [
    [SALES, saleDocument],
    [PAYMENT, paymentDocument],
    [REFUND, refundDocument],
  ] as const)
    for (const { record } of await ofCustomers(c, path, asked, dated)) {
      const id = text(record.UID);
      const day = text(record.Date).slice(0, 10);
      // Checked again on the answer: only within the window.
      if (id === '' || day < from || day > to || linked.has(id.toLowerCase()) || out.has(id)) continue;
      out.set(id, describe(id, record, cur));
    }
  return [...out.values()];
}
