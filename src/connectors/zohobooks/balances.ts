import { addDays } from '../../domain/dates.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext } from '../../sync/target.ts';
import { type ZohoObject, text } from './api.ts';
import { type DocumentContext, OUT_OF_BOOKS, listAll, pages, refundsPath } from './documents.ts';
import { minor } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Each customer's open balance in Zoho Books as at a day, read from its documents. Zoho's API has
 * no receivables report as at a date (its reports are the web app's), and its contact's
 * `outstanding_receivable_amount` is as of now, so the customer's documents are listed and
 * summed: the list endpoints filter by one `customer_id` and by date (`date_before`, and the
 * variants date_start, date_end and date_after; zoho.com/books/api/v3 "List invoices", "List
 * credit notes", "List customer payments"), 200 a page (`page_context.has_more_page`).
 *
 * Zoho counts every request against 100 a minute and a daily quota per organisation (1,000 on
 * the free plan), so each list is read the cheaper of two ways, as Xero's readList does: the
 * organisation's whole list, kept to the asked customers here, when it ends within as many pages
 * as the customer-by-customer way would need requests at the least (one a customer), else
 * customer by customer.
 */

/** A row of one of the asked customers' lists, and the customer it was asked for (null: the whole list's). */
export interface Row {
  e: ZohoObject;
  asked: string | null;
}

/** Zoho's ids are digits: anything else cannot be one of its contacts. The asked ids, once each, sorted. */
export const contactIds = (customerIds: string[]): string[] =>
  [...new Set(customerIds.filter((id) => /^\d+$/.test(id)))].sort();

/**
 * The rows of one list (`query` its filters but the customer) of these customers (`ids`, from
 * contactIds): for more than one, the organisation's whole list when it ends within as many pages
 * as there are customers, else customer by customer (`customer_id`), each to its last page. Rows
 * of the whole list are every customer's: ownerOfRow keeps the asked ones'.
 */
export async function customerRows(
  c: DocumentContext,
  ids: string[],
  path: string,
  key: string,
  query: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<Row[]> {
  const budget = ids.length > 1 ? ids.length : 0;
  const whole = budget > 0 ? await pages(c.api, path, key, query, budget, signal) : null;
  if (whole) return whole.map((e) => ({ e, asked: null }));
  const out: Row[] = [];
  for (const id of ids)
    for (const e of (await pages(c.api, path, key, { ...query, customer_id: id }, Infinity, signal))!)
      out.push({ e, asked: id });
  return out;
}

/** A row's customer, re-checked: one asked for, and the one its request asked for when it asked for one; else null. */
export function ownerOfRow(asked: ReadonlySet<string>, { e, asked: one }: Row): string | null {
  const id = text(e.customer_id);
  return asked.has(id) && (one === null || id === one) ? id : null;
}

/**
 * Each customer's balance in Zoho Books as at `asAt` (inclusive), in minor units: its invoices
 * dated up to then, less its credit notes and its customer payments (applied or unused: money on
 * account counts) dated up to then, plus the refunds of those payments and of its credit notes
 * dated up to then. Drafts and voided invoices and credit notes count nothing; a deleted document
 * is not listed. Applications move money between a customer's own documents and change nothing.
 *
 * Four lists are read: invoices, credit notes, payments (`date_before`) and credit note refunds
 * (no date filter). For N customers (N > 1) each is first read whole for the organisation, up to N
 * pages of 200; a list that ends within them is used, one that does not is read again customer by
 * customer, one request each and one more a further page. So a small organisation costs a few
 * requests however many customers are asked (400 customers and 3,000 invoices: 15 pages of
 * invoices, not 400 requests), and a large one at most N wasted pages a list more than the
 * customer-by-customer way: never more than twice its cost. One customer is read by its own
 * filter at once (the whole list can never be cheaper). Each payment that has refunded something
 * costs one more request either way (Zoho lists a payment's refunds only under it).
 * `date_before` is given the day after `asAt` and every row's date is checked again here, so the
 * day itself counts whether Zoho reads the bound as inclusive or not.
 */
export async function openBalances(
  c: DocumentContext,
  ctx: TargetCallContext,
  customerIds: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  const ids = contactIds(customerIds);
  if (ids.length === 0) return [];
  const asked = new Set(ids);
  const signal = ctx.signal ?? c.signal;
  const upTo = { date_before: addDays(asAt, 1) };

  const read = (path: string, key: string, query: Record<string, string>) =>
    customerRows(c, ids, path, key, query, signal);
  const ownerOf = (r: Row) => ownerOfRow(asked, r);
  const dated = (e: ZohoObject) => text(e.date) !== '' && text(e.date) <= asAt;
  const currencyOf = (e: ZohoObject) => text(e.currency_code) || c.org.currency;
  const amount = (e: ZohoObject, field: string, currency: string, path: string) => {
    const v = minor(e[field], currency);
    if (v === null) throw unreadable(`GET ${path}`, field, e[field]);
    return v;
  };
  const sums = new Map<string, Map<string, bigint>>();
  const add = (customer: string, currency: string, v: bigint) => {
    const mine = sums.get(customer) ?? new Map<string, bigint>();
    sums.set(customer, mine.set(currency, (mine.get(currency) ?? 0n) + v));
  };

  for (const r of await read('/invoices', 'invoices', upTo)) {
    const owner = ownerOf(r);
    if (owner === null || !dated(r.e) || OUT_OF_BOOKS.has(text(r.e.status))) continue;
    add(owner, currencyOf(r.e), amount(r.e, 'total', currencyOf(r.e), '/invoices'));
  }

  // Each asked customer's credit notes dated up to the day, whatever their status: a refund is
  // dated on or after its credit note, so every refund that counts is of one of these.
  const noteOwner = new Map<string, string>();
  for (const r of await read('/creditnotes', 'creditnotes', upTo)) {
    const owner = ownerOf(r);
    if (owner === null || !dated(r.e)) continue;
    noteOwner.set(text(r.e.creditnote_id), owner);
    if (OUT_OF_BOOKS.has(text(r.e.status))) continue;
    add(owner, currencyOf(r.e), -amount(r.e, 'total', currencyOf(r.e), '/creditnotes'));
  }

  for (const r of await read('/customerpayments', 'customerpayments', upTo)) {
    const owner = ownerOf(r);
    if (owner === null || !dated(r.e)) continue;
    const p = r.e;
    const currency = currencyOf(p);
    add(owner, currency, -amount(p, 'amount', currency, '/customerpayments'));
    // A payment's refunds are dated on or after it. A row that says it has refunded nothing is
    // not read further; one that does not say is.
    const refunded = p.amount_refunded === undefined ? null : minor(p.amount_refunded, currency);
    if (refunded !== null && refunded <= 0n) continue;
    const path = refundsPath(text(p.payment_id));
    for (const x of await listAll(c.api, path, 'payment_refunds', {}, signal)) {
      if (!dated(x)) continue;
      add(owner, currency, amount(x, 'amount', currency, path));
    }
  }

  // Money paid back of a credit note: Zoho's list filters by customer but documents no date
  // filter, and a row names no customer and no currency (its `amount_bcy` is in the
  // organisation's currency, the only one this target books). Read whole, a row is its credit
  // note's customer's (`creditnote_id`: zoho/books-java-wrappers CreditNoteParser.getRefunds);
  // one of a credit note not read is another customer's.
  for (const r of await read('/creditnotes/refunds', 'creditnote_refunds', {})) {
    if (!dated(r.e)) continue;
    const note = text(r.e.creditnote_id);
    if (r.asked === null && note === '')
      throw new ConnectorError(SYSTEM, 'GET /creditnotes/refunds answered a refund without its creditnote_id', {
        retryable: false,
      });
    const owner = r.asked ?? noteOwner.get(note);
    if (owner === undefined) continue;
    add(owner, c.org.currency, amount(r.e, 'amount_bcy', c.org.currency, '/creditnotes/refunds'));
  }

  return ids.flatMap((id) =>
    [...(sums.get(id) ?? [])]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([currency, balance]) => ({ customerTargetId: id, currency, balance })),
  );
}

function unreadable(what: string, field: string, v: unknown): ConnectorError {
  return new ConnectorError(SYSTEM, `${what} answered ${field} ${JSON.stringify(text(v))}, which is not an amount`, {
    retryable: false,
  });
}
