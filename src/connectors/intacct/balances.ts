import { parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { IN_PAGE } from './api.ts';
import type { DocumentContext } from './documents.ts';
import { SYSTEM } from './settings.ts';
import { type Xml, quote, text, usDate } from './xml.ts';

/*
 * Each customer's balance as Intacct holds it at a date (docs/connectors/intacct.md,
 * "Reconciliation"). The XML API has no balance of many customers as at a date: get_araging ages
 * open invoices one customer (or the whole company) a call, without what a customer paid on
 * account. So the AR records themselves are summed, read with readByQuery by CUSTOMERID IN (…) and
 * their date up to the day asked, a thousand customers a query, pages of a thousand rows followed
 * with readMore: invoices (TOTALENTERED, positive) and adjustments (negative for a credit) by
 * WHENCREATED, less received payments (TOTALENTERED, applied or kept as an overpayment) by
 * PAYMENTDATE. A reversed record and its reversal count nothing (STATE Reversed, Reversal), nor a
 * draft; a deleted one is not there. Applications move money between a customer's own records.
 */

/** The AR records summed: each one's object, date field and sign on the balance. */
const SOURCES = [
  { object: 'ARINVOICE', date: 'WHENCREATED', sign: 1n },
  { object: 'ARADJUSTMENT', date: 'WHENCREATED', sign: 1n },
  { object: 'ARPYMT', date: 'PAYMENTDATE', sign: -1n },
] as const;

/** States of a record that is out of the books, or not yet in them. */
export const NOT_COUNTED = ['Reversed', 'Reversal', 'Draft'];

/** The query term that leaves out what is not in the books (NOT_COUNTED). */
export const IN_THE_BOOKS = `STATE NOT IN (${NOT_COUNTED.map(quote).join(', ')})`;

/** A CUSTOMERID as it can go into a query: not empty, no surrounding spaces, at most 100 characters. */
const CUSTOMER_ID = /^\S(?:.{0,98}\S)?$/;

/** The CUSTOMERIDs of these that can go into a query, each once. */
export const customerIds = (ids: string[]): string[] => [...new Set(ids.filter((id) => CUSTOMER_ID.test(id)))];

/** `FIELD IN ('a', 'b', …)` for each thousand of these values (IN_PAGE a query). */
export function inGroups(field: string, values: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; i += IN_PAGE)
    out.push(
      `${field} IN (${values
        .slice(i, i + IN_PAGE)
        .map(quote)
        .join(', ')})`,
    );
  return out;
}

/**
 * Each customer's balance in Intacct as at `asAt` (positive: the customer owes), by currency, in
 * minor units. For N customers: 3 × ceil(N / 1000) readByQuery requests, and one readMore per
 * further thousand rows of a query.
 */
export async function openBalances(
  c: DocumentContext,
  wanted: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  const ids = customerIds(wanted);
  const scope = new Set(ids);
  const sums = new Map<string, bigint>();
  for (const group of inGroups('CUSTOMERID', ids)) {
    for (const s of SOURCES) {
      const query = [group, `${s.date} <= ${quote(usDate(asAt))}`, IN_THE_BOOKS].join(' AND ');
      for (const row of await allRows(
        c,
        s.object,
        query,
        `RECORDNO,CUSTOMERID,CURRENCY,TOTALENTERED,STATE,${s.date}`,
      )) {
        const customer = text(row.CUSTOMERID);
        // The filter is Intacct's: a row outside it is not counted (nor one of a state it should have left out).
        if (!scope.has(customer) || NOT_COUNTED.includes(text(row.STATE))) continue;
        const currency = text(row.CURRENCY) || c.settings.currency;
        const raw = text(row.TOTALENTERED);
        const total = parseAmount(raw, currency);
        // An amount that does not parse stops the read: never counted as zero.
        if (!total.ok)
          throw new ConnectorError(
            SYSTEM,
            `${s.object} ${text(row.RECORDNO)} answered a total that is not an amount of ${currency}: ${raw.slice(0, 40)}`,
            { status: 200, retryable: false },
          );
        const key = `${customer}\u0000${currency}`;
        sums.set(key, (sums.get(key) ?? 0n) + s.sign * total.value);
      }
    }
  }
  return [...sums]
    .map(([key, balance]) => {
      const [customerTargetId, currency] = key.split('\u0000') as [string, string];
      return { customerTargetId, currency, balance };
    })
    .sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId) || a.currency.localeCompare(b.currency));
}

/** Every row of a readByQuery: its first page of 1,000, then readMore with its resultId until none remain. */
export async function allRows(
  c: DocumentContext,
  object: string,
  query: string,
  fields: string,
): Promise<Record<string, Xml>[]> {
  const out: Record<string, Xml>[] = [];
  let r = await c.api.read('readByQuery', { object, fields, query, pagesize: String(IN_PAGE) }, c.signal);
  for (;;) {
    const rows = r.data?.[object];
    out.push(
      ...(Array.isArray(rows) ? rows : rows === undefined ? [] : [rows]).filter(
        (x): x is Record<string, Xml> => typeof x === 'object' && x !== null,
      ),
    );
    if (Number(text(r.data?.['@_numremaining']) || '0') <= 0) return out;
    const resultId = text(r.data?.['@_resultId']);
    if (!resultId)
      throw new ConnectorError(SYSTEM, `readByQuery ${object} left rows to read and gave no resultId`, {
        status: 200,
        retryable: false,
      });
    r = await c.api.read('readMore', { resultId }, c.signal);
  }
}
