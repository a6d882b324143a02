import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext } from '../../sync/target.ts';
import { type BcEntity, type BusinessCentralApi } from './api.ts';
import { markOf } from './fees.ts';
import { minor, text } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Each customer's open balance as at a date (docs/connectors/businesscentral.md, "Reconciliation").
 * API v2.0 has no balance as at a date: `customers`' balance and `customerFinancialDetails` are
 * today's, and `agedAccountsReceivables` ages by due date what is open today (its `agedAsOfDate`
 * is where the aging periods start, not a posting-date cut-off: a payment posted after it still
 * counts), in the local currency. The customer ledger entries are not on API v2.0. So the balance
 * is summed from the documents, each read for 20 customers a request, dated (posting date) up to
 * the day:
 *
 * - salesInvoices `Open` or `Paid`, less salesCreditMemos `Open` or `Paid`, each in its currency:
 *   a posted document's other statuses are `Canceled` and `Corrective` (the credit memo or invoice
 *   that cancelled it), which net each other to nothing, so neither counts; a draft is not posted.
 * - less payments: G/L entries of type Payment marked with the customer ("(ledgerlink customer
 *   <id>)" in the description, which the G/L entries keep: they name no customer), what reached the
 *   bank netted of any reversal dated up to the day, in the local currency, as `documents()` reads a
 *   payment. Applied or not, it counts. A payment keyed in Business Central without the mark names
 *   no customer to the API, and is not counted.
 * - no refunds: API v2.0 has none, the target parks them.
 *
 * Requests for N customers: 3 × ⌈N / 20⌉ (one more per 20,000 rows of a set for 20 customers,
 * which Business Central pages), plus the company's local currency, read once per target.
 */

/** Customers a request: 20 `customerId eq` (three nodes each, one an `or`) and the rest stay under 100 nodes. */
export const CUSTOMERS_PER_REQUEST = 20;

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A posted document's statuses that are in the books: `Canceled` and `Corrective` net each other out, a draft is not posted. */
const POSTED_STATUSES = ['Open', 'Paid'];
const POSTED = "(status eq 'Open' or status eq 'Paid')";

/** Whether a sales invoice or credit memo is posted and in the books (Open or Paid). */
export const inBooks = (d: BcEntity): boolean => POSTED_STATUSES.includes(text(d.status));

/**
 * These customer ids, lower-cased (as Business Central answers them) to the caller's spelling:
 * ids that are not Business Central's (GUIDs) left out.
 */
export function customerIds(ids: string[]): Map<string, string> {
  const asked = new Map<string, string>();
  for (const id of ids) if (GUID.test(id)) asked.set(id.toLowerCase(), id);
  return asked;
}

/** The customers in groups of {@link CUSTOMERS_PER_REQUEST}, one a request. */
export function* customerGroups(ids: string[]): Generator<string[]> {
  for (let at = 0; at < ids.length; at += CUSTOMERS_PER_REQUEST) yield ids.slice(at, at + CUSTOMERS_PER_REQUEST);
}

/**
 * The posted (Open or Paid) invoices or credit memos of these customers (one group) that `dated`
 * keeps, every page; `more`: other query options (`$expand`).
 */
export function postedDocuments(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  set: 'salesInvoices' | 'salesCreditMemos',
  group: string[],
  dated: string,
  more: Record<string, string> = {},
): Promise<BcEntity[]> {
  const customers = `(${group.map((id) => `customerId eq ${id}`).join(' or ')})`;
  return api.listAll(set, `${customers} and ${dated} and ${POSTED}`, ctx.signal, more);
}

/**
 * The G/L entries of type Payment that `dated` keeps whose description names one of these
 * customers (one group), every page. Marks name the customer as ledgerlink mapped it; `contains`
 * on the GUID alone keeps the filter free of the characters AL filters treat as operators (the
 * mark's parentheses). The caller checks the mark itself.
 */
export function paymentEntries(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  group: string[],
  dated: string,
): Promise<BcEntity[]> {
  return api.listAll(
    'generalLedgerEntries',
    `documentType eq 'Payment' and ${dated} and (${group.map((id) => `contains(description,'${id}')`).join(' or ')})`,
    ctx.signal,
  );
}

/** An amount Business Central answered, in minor units; one that is not an amount stops the read. */
function amount(value: unknown, currency: string, what: string): bigint {
  if (!/^[A-Z]{3}$/.test(currency))
    throw new ConnectorError(SYSTEM, `${what} answered a document without its currency`, { retryable: false });
  const v = minor(value, currency);
  if (v === null)
    throw new ConnectorError(SYSTEM, `${what} answered an amount that is not one: ${String(value)}`, {
      retryable: false,
    });
  return v;
}

/**
 * Each customer's balance in Business Central as at `asAt`, per currency, in minor units: posted
 * invoices less posted credit memos, less payments, each posted up to then.
 */
export async function openBalances(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  customers: string[],
  asAt: string,
  localCurrency: () => Promise<string>,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(asAt)) throw new Error(`${SYSTEM}: "${asAt}" is not a date`);
  // Business Central answers ids lower-cased; the caller's spelling is the answer's.
  const asked = customerIds(customers);
  if (asked.size === 0) return [];
  const sums = new Map<string, bigint>();
  const add = (customer: string, currency: string, v: bigint) => {
    const k = `${customer}\u0000${currency}`;
    sums.set(k, (sums.get(k) ?? 0n) + v);
  };
  const upTo = `postingDate le ${asAt}`;
  for (const group of customerGroups([...asked.keys()])) {
    for (const [set, sign] of [
      ['salesInvoices', 1n],
      ['salesCreditMemos', -1n],
    ] as const) {
      for (const d of await postedDocuments(api, ctx, set, group, upTo)) {
        const customer = text(d.customerId).toLowerCase();
        // What the filter asked, checked again: a row outside it is never counted.
        if (!asked.has(customer) || text(d.postingDate) > asAt || !inBooks(d)) continue;
        const currency = text(d.currencyCode);
        add(customer, currency, sign * amount(d.totalAmountIncludingTax, currency, `GET ${set} (${text(d.number)})`));
      }
    }
    const entries = await paymentEntries(api, ctx, group, upTo);
    if (entries.length === 0) continue;
    const lcy = await localCurrency();
    for (const [customer, paid] of paymentsOf(entries, asAt, lcy)) if (asked.has(customer)) add(customer, lcy, -paid);
  }
  return [...sums]
    .map(([k, balance]) => {
      const [customer, currency] = k.split('\u0000') as [string, string];
      return { customerTargetId: asked.get(customer)!, currency, balance };
    })
    .sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId) || a.currency.localeCompare(b.currency));
}

/**
 * What each customer paid, from payment G/L entries: per Document No., the customer's mark and
 * account, debits less credits (a reversal nets its original), and of those what reached the
 * bank (the debit side), as `documents()` reads a payment's gross.
 */
function paymentsOf(entries: BcEntity[], asAt: string, currency: string): Map<string, bigint> {
  const nets = new Map<string, { customer: string; net: bigint }>();
  for (const e of entries) {
    if (text(e.documentType) !== 'Payment' || text(e.postingDate) > asAt) continue;
    const mark = markOf({ description: text(e.description) });
    if (mark === null) continue;
    const what = `GET generalLedgerEntries (entry ${text(e.entryNumber)})`;
    const net = amount(e.debitAmount, currency, what) - amount(e.creditAmount, currency, what);
    const k = `${text(e.documentNumber).toUpperCase()}\u0000${mark.toLowerCase()}\u0000${text(e.accountNumber)}`;
    const n = nets.get(k) ?? { customer: mark.toLowerCase(), net: 0n };
    n.net += net;
    nets.set(k, n);
  }
  const paid = new Map<string, bigint>();
  for (const { customer, net } of nets.values()) if (net > 0n) paid.set(customer, (paid.get(customer) ?? 0n) + net);
  return paid;
}
