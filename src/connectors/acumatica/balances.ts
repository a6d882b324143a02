import { addDays } from '../../domain/dates.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext } from '../../sync/target.ts';
import { type AcumaticaApi, type Entity, literal, val } from './api.ts';
import { dateOf, dateTime, minorOf } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Each customer's open balance in Acumatica as at a day, from its AR documents: the Default
 * endpoint has no customer balance or aging inquiry, so the customers' documents dated up to then
 * are listed, a batch of customers a request, paged, and summed by type as Acumatica signs each on
 * the customer's balance (ARDocType.SignBalance): invoices, debit memos, overdue charges and credit
 * write-offs add; credit memos, payments, prepayments and balance write-offs take away; a refund
 * adds (money paid back is owed again, as documents() reports it: its gross). Applications move
 * money between one customer's documents and change nothing, so an unapplied payment counts whole.
 *
 * Only released documents count (Status Open or Closed): a saved one (Balanced, On Hold, Pending
 * Print/Email, Credit Hold…) is not posted, and a Voided or Canceled one is out of the books. A
 * voided payment or refund keeps its number, Voided, beside a `Voided Payment` (`Voided Refund`) of
 * the negative amount that reverses it: both are left out, so the pair counts nothing. A credit
 * memo is listed by both entities (it applies like a payment): counted from Invoice only.
 */

/** Customers in one `$filter`: at most about 52 encoded characters each (CustomerID is 30), under IIS's default 2,048. */
export const CUSTOMERS_PER_REQUEST = 25;
/** Rows a request (`$top`); the next page is asked with `$skip` while a page comes back full. */
export const BALANCE_PAGE = 500;

/** Statuses of a released document (ARDocStatus Open, Closed). */
export const POSTED = new Set(['Open', 'Closed']);

/** The sign of each document type on the customer's balance, by the entity it is counted from; null: never counted there. */
const SIGNS: Record<'Invoice' | 'Payment', Record<string, bigint | null>> = {
  Invoice: {
    Invoice: 1n,
    'Debit Memo': 1n,
    'Overdue Charge': 1n,
    'Credit WO': 1n,
    'Credit Memo': -1n,
    // Paid on the spot: nothing owed (SignBalance 0).
    'Cash Sale': null,
    'Cash Return': null,
  },
  Payment: {
    Payment: -1n,
    Prepayment: -1n,
    'Balance WO': -1n,
    'Small Balance WO': -1n,
    Refund: 1n,
    // Counted from Invoice.
    'Credit Memo': null,
    // The reversal of a voided payment or refund, itself left out.
    'Voided Payment': null,
    'Voided Refund': null,
  },
};

export const FIELDS = {
  Invoice: { customer: 'Customer', date: 'Date', amount: 'Amount', currency: null },
  Payment: { customer: 'CustomerID', date: 'ApplicationDate', amount: 'PaymentAmount', currency: 'CurrencyID' },
} as const;

/** A CustomerID Acumatica can hold: 1 to 30 characters (BAccount.AcctCD), no control characters, no edge spaces. */
export const isCustomerId = (id: string) =>
  id.length >= 1 && id.length <= 30 && id === id.trim() && !/\p{Cc}/u.test(id);

/**
 * The documents of these customers an entity lists that `dated` (a condition on its date field)
 * keeps, with the fields `select` names: {@link CUSTOMERS_PER_REQUEST} customers a request, each
 * paged by {@link BALANCE_PAGE} (`$top`, `$skip` while a page comes back full) to the end.
 */
export async function customerDocuments(
  api: AcumaticaApi,
  ctx: TargetCallContext,
  entity: 'Invoice' | 'Payment',
  ids: string[],
  dated: string,
  select: string[],
  each: (row: Entity) => void,
): Promise<void> {
  const f = FIELDS[entity];
  for (let at = 0; at < ids.length; at += CUSTOMERS_PER_REQUEST) {
    const batch = ids.slice(at, at + CUSTOMERS_PER_REQUEST);
    const who = batch.map((id) => `${f.customer} eq ${literal(id)}`).join(' or ');
    const filter = `(${who}) and ${dated}`;
    for (let skip = 0; ; skip += BALANCE_PAGE) {
      const rows = await api.list(
        entity,
        { $filter: filter, $select: select.join(','), $top: String(BALANCE_PAGE), $skip: String(skip) },
        ctx.signal,
      );
      for (const row of rows) each(row);
      if (rows.length < BALANCE_PAGE) break;
    }
  }
}

/**
 * Each customer's balance as at `asAt`, per currency, minor units. Requests: for N customers,
 * ⌈N / 25⌉ batches on each of Invoice and Payment, each one request per 500 documents (at least
 * one): 2 × ⌈N / 25⌉ for customers with fewer than 500 of either, plus the session's sign-in and out.
 */
export async function readOpenBalances(
  api: AcumaticaApi,
  ctx: TargetCallContext,
  customerIds: string[],
  asAt: string,
  fallbackCurrency: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  const ids = [...new Set(customerIds.filter(isCustomerId))];
  // Keys compare as the database does, ignoring case: a row is the customer asked for under its id as asked.
  const scope = new Map(ids.map((id) => [id.toUpperCase(), id]));
  const sums = new Map<string, bigint>();
  // A date is compared in the instance's time zone: ask up to the next midnight UTC, and keep the day by the date read.
  const before = `datetimeoffset'${dateTime(addDays(asAt, 1))}'`;
  for (const entity of ['Invoice', 'Payment'] as const) {
    const f = FIELDS[entity];
    const select = [
      'Type',
      'ReferenceNbr',
      'Status',
      f.customer,
      f.date,
      f.amount,
      ...(f.currency ? [f.currency] : []),
    ];
    await customerDocuments(api, ctx, entity, ids, `${f.date} lt ${before}`, select, (row) => add(entity, row));
  }

  function add(entity: 'Invoice' | 'Payment', row: Entity) {
    const f = FIELDS[entity];
    const customer = scope.get(val(row, f.customer).toUpperCase());
    if (customer === undefined || dateOf(row, f.date) > asAt || !POSTED.has(val(row, 'Status'))) return;
    const type = val(row, 'Type');
    const sign = SIGNS[entity][type];
    const what = `${type} ${val(row, 'ReferenceNbr')}`;
    if (sign === undefined)
      throw new ConnectorError(SYSTEM, `${what} of ${customer} is a document type the balance read does not know`, {
        retryable: false,
      });
    if (sign === null) return;
    const currency = (f.currency && val(row, f.currency)) || fallbackCurrency;
    const amount = minorOf(row, f.amount, currency);
    if (amount === null)
      throw new ConnectorError(SYSTEM, `${what} has an amount that is not one of ${currency}`, { retryable: false });
    const k = `${customer}\u0000${currency}`;
    sums.set(k, (sums.get(k) ?? 0n) + sign * amount);
  }

  return [...sums]
    .map(([k, balance]) => {
      const [customerTargetId, currency] = k.split('\u0000') as [string, string];
      return { customerTargetId, currency, balance };
    })
    .sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId) || a.currency.localeCompare(b.currency));
}
