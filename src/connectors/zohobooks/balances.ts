import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext } from '../../sync/target.ts';
import { type ZohoObject, text } from './api.ts';
import { type DocumentContext, OUT_OF_BOOKS, listAll, refundsPath } from './documents.ts';
import { minor } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Each customer's open balance in Zoho Books as at a day, read from its documents. Zoho's API has
 * no receivables report as at a date (its reports are the web app's), and its contact's
 * `outstanding_receivable_amount` is as of now, so the customer's documents are listed and
 * summed: the list endpoints filter by one `customer_id` and by date (`date_before`, and the
 * variants date_start, date_end and date_after; zoho.com/books/api/v3 "List invoices", "List
 * credit notes", "List customer payments"), 200 a page (`page_context.has_more_page`).
 */

/** The day after a YYYY-MM-DD day. */
function dayAfter(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/**
 * Each customer's balance in Zoho Books as at `asAt` (inclusive), in minor units: its invoices
 * dated up to then, less its credit notes and its customer payments (applied or unused: money on
 * account counts) dated up to then, plus the refunds of those payments and of its credit notes
 * dated up to then. Drafts and voided invoices and credit notes count nothing; a deleted document
 * is not listed. Applications move money between a customer's own documents and change nothing.
 *
 * Zoho's lists take one customer a request, so for N customers it is 4N requests (invoices,
 * credit notes, payments, credit note refunds) and one more for each further page of 200, plus one
 * for each payment that has refunded something (Zoho lists a payment's refunds only under it).
 * `date_before` is given the day after `asAt` and every row's date is checked again here, so the
 * day itself counts whether Zoho reads the bound as inclusive or not.
 */
export async function openBalances(
  c: DocumentContext,
  ctx: TargetCallContext,
  customerIds: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  // Zoho's ids are digits: anything else cannot be one of its contacts.
  const ids = [...new Set(customerIds.filter((id) => /^\d+$/.test(id)))].sort();
  const out: { customerTargetId: string; currency: string; balance: bigint }[] = [];
  const signal = ctx.signal ?? c.signal;
  for (const id of ids) {
    const sums = new Map<string, bigint>();
    const add = (currency: string, v: bigint) => sums.set(currency, (sums.get(currency) ?? 0n) + v);
    const query = { customer_id: id, date_before: dayAfter(asAt) };
    // A row counts when it is this customer's (the filter is checked again), dated up to the day.
    const held = (e: ZohoObject) => text(e.customer_id) === id && text(e.date) !== '' && text(e.date) <= asAt;
    const currencyOf = (e: ZohoObject) => text(e.currency_code) || c.org.currency;
    const amount = (e: ZohoObject, field: string, currency: string, path: string) => {
      const v = minor(e[field], currency);
      if (v === null) throw unreadable(`GET ${path}`, field, e[field]);
      return v;
    };

    for (const [path, key, sign] of [
      ['/invoices', 'invoices', 1n],
      ['/creditnotes', 'creditnotes', -1n],
    ] as const) {
      for (const d of await listAll(c.api, path, key, query, signal)) {
        if (!held(d) || OUT_OF_BOOKS.has(text(d.status))) continue;
        add(currencyOf(d), sign * amount(d, 'total', currencyOf(d), path));
      }
    }

    for (const p of await listAll(c.api, '/customerpayments', 'customerpayments', query, signal)) {
      if (!held(p)) continue;
      const currency = currencyOf(p);
      add(currency, -amount(p, 'amount', currency, '/customerpayments'));
      // A payment's refunds are dated on or after it. A row that says it has refunded nothing is
      // not read further; one that does not say is.
      const refunded = p.amount_refunded === undefined ? null : minor(p.amount_refunded, currency);
      if (refunded !== null && refunded <= 0n) continue;
      const path = refundsPath(text(p.payment_id));
      for (const r of await listAll(c.api, path, 'payment_refunds', {}, signal)) {
        if (text(r.date) === '' || text(r.date) > asAt) continue;
        add(currency, amount(r, 'amount', currency, path));
      }
    }

    // Money paid back of a credit note: Zoho's list filters by customer but documents no date
    // filter, and a row names no customer and no currency (its `amount_bcy` is in the
    // organisation's currency, the only one this target books).
    for (const r of await listAll(c.api, '/creditnotes/refunds', 'creditnote_refunds', { customer_id: id }, signal)) {
      if (text(r.date) === '' || text(r.date) > asAt) continue;
      add(c.org.currency, amount(r, 'amount_bcy', c.org.currency, '/creditnotes/refunds'));
    }

    for (const [currency, balance] of [...sums].sort(([a], [b]) => a.localeCompare(b)))
      out.push({ customerTargetId: id, currency, balance });
  }
  return out;
}

function unreadable(what: string, field: string, v: unknown): ConnectorError {
  return new ConnectorError(SYSTEM, `${what} answered ${field} ${JSON.stringify(text(v))}, which is not an amount`, {
    retryable: false,
  });
}
