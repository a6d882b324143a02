import type { TargetCallContext } from '../../sync/target.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { type BatchOperation, type QboEntity, type QuickBooksApi, describeFault, faultCode, quote } from './api.ts';
import { currencyOf } from './documents.ts';
import { type Company, findAccount, minorUnits, scalar } from './map.ts';
import { readByIds } from './names.ts';
import type { JournalLine } from './refund-cash.ts';
import { SYSTEM } from './settings.ts';

/*
 * Each customer's open balance as QuickBooks holds it on Accounts Receivable, as at a day: summed
 * from the documents that post there, dated (TxnDate) up to that day:
 *   invoices (TotalAmt less a Deposit taken on the invoice), less credit memos (TotalAmt), less
 *   payments (TotalAmt: applied or not, for QuickBooks credits A/R with the whole payment and keeps
 *   what is unapplied as the customer's credit), plus what journal entries charge the customer's
 *   receivable (its A/R debits less credits: a refund out of the customer's credit, refund-cash.ts).
 * A RefundReceipt reverses a sale in cash and never touches A/R: it counts nothing, as documents()
 * says of it (balanceEffect: only its journal entry's part). A voided document has its amounts
 * zeroed and a deleted one is no longer answered, so neither counts. Journal entries cannot be
 * queried by customer (their customer is on a line): those counted are the ones the customers'
 * payments link (Line.LinkedTxn TxnType JournalEntry), which is how every refund of a credit is
 * booked, by ledgerlink or by a person following Intuit's help.
 *
 * Why not the Reports API (CustomerBalance with report_date and customer=): its amounts are the
 * company's home currency, where a foreign customer's documents are in theirs, and a report's
 * cells are formatted text rather than the documents' amounts.
 *
 * Requests for N customers: a query per entity type (Invoice, CreditMemo, Payment) per 100
 * customers, 30 queries a batch call: ⌈3·⌈N/100⌉/30⌉ batch calls (one per 1,000 customers); a
 * query that fills its page of 1,000 is read on from STARTPOSITION 1001, 30 such pages a batch
 * call; then the journal entries the payments link, 3,000 ids a batch call.
 */

const ENTITIES = ['Invoice', 'CreditMemo', 'Payment'] as const;
type Entity = (typeof ENTITIES)[number];

/** QuickBooks' ids are digits: anything else cannot be one of its customers. */
const QBO_ID = /^\d+$/;
const PAGE = 1000;
const IN_LIST = 100;
const BATCH = 30;

interface Query {
  entity: Entity;
  where: string;
  start: number;
}

/** Each customer's open balance by currency, minor units, positive when the customer owes. */
export async function openBalances(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  company: Company,
  customerTargetIds: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(asAt))
    throw new ConnectorError(SYSTEM, `open balances as at "${asAt}": not a date (YYYY-MM-DD)`, { retryable: false });
  const ids = [...new Set(customerTargetIds.filter((id) => QBO_ID.test(id)))];
  if (ids.length === 0) return [];
  const scope = new Set(ids);
  const sums = new Map<string, bigint>();
  const add = (customer: string, currency: string, v: bigint) => {
    const k = `${customer}\u0000${currency}`;
    sums.set(k, (sums.get(k) ?? 0n) + v);
  };

  const queries: Query[] = [];
  for (const entity of ENTITIES)
    for (let i = 0; i < ids.length; i += IN_LIST)
      queries.push({
        entity,
        where: `CustomerRef IN (${ids
          .slice(i, i + IN_LIST)
          .map(quote)
          .join(', ')}) AND TxnDate <= ${quote(asAt)}`,
        start: 1,
      });
  const journalIds = new Set<string>();
  // Pages are read by position: a document a person saves meanwhile may push another onto the next page.
  const seen = new Set<string>();
  for (const [entity, e] of await readPaged(api, ctx, queries)) {
    if (seen.has(`${entity}:${e.Id}`)) continue;
    seen.add(`${entity}:${e.Id}`);
    const customer = (e.CustomerRef as { value?: string } | undefined)?.value ?? '';
    const currency = currencyOf(e, company);
    const total = amountOf(e, 'TotalAmt', currency, entity);
    if (entity === 'Invoice') add(customer, currency, total - amountOf(e, 'Deposit', currency, entity, 0n));
    else add(customer, currency, -total);
    if (entity === 'Payment')
      for (const l of (e.Line as { LinkedTxn?: { TxnId?: string; TxnType?: string }[] }[] | undefined) ?? [])
        for (const t of l.LinkedTxn ?? []) if (t.TxnType === 'JournalEntry' && t.TxnId) journalIds.add(t.TxnId);
  }

  const journals = await readByIds(api, ctx, 'JournalEntry', [...journalIds]);
  for (const je of journals.values()) {
    // Found through the payments, not by a query of the date: a refund after the day counts nothing yet.
    if (scalar(je.TxnDate) > asAt) continue;
    const currency = currencyOf(je, company);
    for (const l of (je.Line as JournalLine[] | undefined) ?? []) {
      const d = l.JournalEntryLineDetail;
      const customer = d?.Entity?.EntityRef?.value ?? '';
      if (!scope.has(customer) || !onReceivable(company, d?.AccountRef?.value)) continue;
      const v = amountOf({ Amount: l.Amount }, 'Amount', currency, `JournalEntry ${je.Id} line`);
      add(customer, currency, d?.PostingType === 'Credit' ? -v : v);
    }
  }

  return [...sums]
    .map(([k, balance]) => {
      const [customerTargetId, currency] = k.split('\u0000') as [string, string];
      return { customerTargetId, currency, balance };
    })
    .sort(
      (a, b) =>
        Number(a.customerTargetId) - Number(b.customerTargetId) ||
        a.customerTargetId.localeCompare(b.customerTargetId) ||
        a.currency.localeCompare(b.currency),
    );
}

/**
 * Whether a journal line is on Accounts Receivable: its account's type, as the company's accounts
 * (read when the session opened) say. An account not among them (a company of more than 1,000
 * accounts) is taken to be A/R when the line names a customer, as QuickBooks requires of an A/R
 * line and as documents() reads a refund's journal entry.
 */
function onReceivable(company: Company, accountId: string | undefined): boolean {
  const account = findAccount(company, accountId ?? '');
  return account ? account.AccountType === 'Accounts Receivable' : true;
}

/** An amount of a document, exactly: one that does not parse is refused, never summed as 0. */
function amountOf(e: Record<string, unknown>, field: string, currency: string, what: string, absent?: bigint): bigint {
  if ((e[field] === undefined || e[field] === null) && absent !== undefined) return absent;
  const v = minorUnits(e[field], currency);
  if (v === null)
    throw new ConnectorError(
      SYSTEM,
      `reading open balances: ${what}${typeof e.Id === 'string' ? ` ${e.Id}` : ''} has ${field} ${JSON.stringify(scalar(e[field]))}, not an amount in ${currency}`,
      { retryable: false },
    );
  return v;
}

/**
 * Every row the queries match: 30 queries a batch call, each a page of 1,000; a full page is read
 * on from the next STARTPOSITION in a later batch call, until a page comes back short.
 */
async function readPaged(api: QuickBooksApi, ctx: TargetCallContext, queries: Query[]): Promise<[Entity, QboEntity][]> {
  const out: [Entity, QboEntity][] = [];
  let pending = queries;
  while (pending.length > 0) {
    const next: Query[] = [];
    for (let i = 0; i < pending.length; i += BATCH) {
      const chunk = pending.slice(i, i + BATCH);
      const ops: BatchOperation[] = chunk.map((q) => ({
        query: `SELECT * FROM ${q.entity} WHERE ${q.where} STARTPOSITION ${q.start} MAXRESULTS ${PAGE}`,
      }));
      const answers = await api.batch(ops, null, ctx.signal);
      for (const [k, a] of answers.entries()) {
        const q = chunk[k]!;
        if (!a.ok)
          throw new ConnectorError(SYSTEM, `reading ${q.entity} for open balances: ${describeFault(a.fault)}`, {
            // A system fault inside a 200 is QuickBooks' own: the read may be made again.
            retryable: faultCode(a.fault) === '10000' || /SystemFault/i.test(a.fault.type ?? ''),
          });
        const rows = (a.query?.[q.entity] as QboEntity[] | undefined) ?? [];
        for (const e of rows) out.push([q.entity, e]);
        if (rows.length === PAGE) next.push({ ...q, start: q.start + PAGE });
      }
    }
    pending = next;
  }
  return out;
}
