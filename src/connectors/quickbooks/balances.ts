import type { TargetCallContext } from '../../sync/target.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { type BatchOperation, type QboEntity, type QuickBooksApi, describeFault, faultCode, quote } from './api.ts';
import { currencyOf } from './documents.ts';
import { type Company, minorUnits, scalar } from './map.ts';
import { receivableLines } from './receivable-journals.ts';
import { SYSTEM } from './settings.ts';

/*
 * Each customer's open balance as QuickBooks holds it on Accounts Receivable, as at a day: summed
 * from the documents that post there, dated (TxnDate) up to that day:
 *   invoices (TotalAmt less a Deposit taken on the invoice), less credit memos (TotalAmt), less
 *   payments (TotalAmt: applied or not, for QuickBooks credits A/R with the whole payment and keeps
 *   what is unapplied as the customer's credit), plus what journal entries charge the customer's
 *   receivable: their A/R lines naming the customer, debits less credits (receivable-journals.ts),
 *   whether a payment links the entry (a refund out of the customer's credit, refund-cash.ts; a
 *   charge keyed by hand and paid) or not (a write-off, a balance moved between customers).
 * A RefundReceipt reverses a sale in cash and never touches A/R: it counts nothing, as documents()
 * says of it (balanceEffect: only its journal entry's part). A voided document has its amounts
 * zeroed and a deleted one is no longer answered, so neither counts. Journal entries cannot be
 * queried by customer (their customer is on a line): the company's own, dated up to the day, are
 * read whole, each counted once however many of its lines name the customers.
 *
 * Why not the Reports API (CustomerBalance with report_date and customer=): its amounts are the
 * company's home currency, where a foreign customer's documents are in theirs, and a report's
 * cells are formatted text rather than the documents' amounts.
 *
 * Requests for N customers, the company holding J journal entries dated up to the day: a query per
 * entity type (Invoice, CreditMemo, Payment) per 100 customers, and the journal entries' COUNT(*)
 * and first page, 30 queries a batch call: ⌈(3·⌈N/100⌉ + 2)/30⌉ batch calls; then the journal
 * entries' other ⌈J/1000⌉ − 1 pages, all at once as the count says, with any customer query's page
 * beyond its first 1,000 rows, 30 pages a batch call (a last page that comes back full is read on
 * from the next STARTPOSITION). The journal entries cost ⌈J/1000⌉ page queries and one count
 * whatever N is, and ⌈(⌈J/1000⌉ − 1)/30⌉ batch calls beyond the first (30,000 entries: one). An
 * account a journal line names that the session does not know is read by id (receivable-journals.ts).
 */

const ENTITIES = ['Invoice', 'CreditMemo', 'Payment'] as const;
type Entity = (typeof ENTITIES)[number] | 'JournalEntry';

/** QuickBooks' ids are digits: anything else cannot be one of its customers. */
const QBO_ID = /^\d+$/;
const PAGE = 1000;
const IN_LIST = 100;
const BATCH = 30;

interface Query {
  entity: Entity;
  where: string;
  start: number;
  /** `SELECT COUNT(*)`: the pages after the one at `start` are then asked at once, as many as it answers. */
  count?: true;
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

  // The company's journal entries: their count, which asks their further pages at once, and their first page.
  const journals = `TxnDate <= ${quote(asAt)}`;
  const queries: Query[] = [
    { entity: 'JournalEntry', where: journals, start: 1, count: true },
    { entity: 'JournalEntry', where: journals, start: 1 },
  ];
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
  // Pages are read by position: a document a person saves meanwhile may push another onto the next page.
  const seen = new Set<string>();
  const entries = new Map<string, QboEntity>();
  for (const [entity, e] of await readPaged(api, ctx, queries)) {
    if (seen.has(`${entity}:${e.Id}`)) continue;
    seen.add(`${entity}:${e.Id}`);
    if (entity === 'JournalEntry') {
      entries.set(e.Id, e);
      continue;
    }
    const customer = (e.CustomerRef as { value?: string } | undefined)?.value ?? '';
    const currency = currencyOf(e, company);
    const total = amountOf(e, 'TotalAmt', currency, entity);
    if (entity === 'Invoice') add(customer, currency, total - amountOf(e, 'Deposit', currency, entity, 0n));
    else add(customer, currency, -total);
  }

  for (const l of await receivableLines(api, ctx, company, entries.values(), scope)) {
    const v = amountOf({ Amount: l.amount }, 'Amount', l.currency, `JournalEntry ${l.journalId} line`);
    add(l.customer, l.currency, l.posting === 'Credit' ? -v : v);
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
 * Every row the queries match: 30 queries a batch call, each a page of 1,000. A count's answer asks
 * the pages it covers at once, in the next round; a full page is read on from the next
 * STARTPOSITION unless that page is asked already, until a page comes back short: each page is
 * asked once, whether its count or the full page before it asked for it first.
 */
async function readPaged(api: QuickBooksApi, ctx: TargetCallContext, queries: Query[]): Promise<[Entity, QboEntity][]> {
  const out: [Entity, QboEntity][] = [];
  const asked = new Set(queries.filter((q) => !q.count).map(pageKey));
  const ask = (q: Query, next: Query[]) => {
    if (asked.has(pageKey(q))) return;
    asked.add(pageKey(q));
    next.push(q);
  };
  let pending = queries;
  while (pending.length > 0) {
    const next: Query[] = [];
    for (let i = 0; i < pending.length; i += BATCH) {
      const chunk = pending.slice(i, i + BATCH);
      const ops: BatchOperation[] = chunk.map((q) => ({
        query: `SELECT ${q.count ? 'COUNT(*)' : '*'} FROM ${q.entity} WHERE ${q.where}${q.count ? '' : ` STARTPOSITION ${q.start} MAXRESULTS ${PAGE}`}`,
      }));
      const answers = await api.batch(ops, null, ctx.signal);
      for (const [k, a] of answers.entries()) {
        const q = chunk[k]!;
        if (!a.ok)
          throw new ConnectorError(SYSTEM, `reading ${q.entity} for open balances: ${describeFault(a.fault)}`, {
            // A system fault inside a 200 is QuickBooks' own: the read may be made again.
            retryable: faultCode(a.fault) === '10000' || /SystemFault/i.test(a.fault.type ?? ''),
          });
        if (q.count) {
          const total = scalar(a.query?.totalCount);
          if (!/^\d+$/.test(total))
            throw new ConnectorError(
              SYSTEM,
              `reading ${q.entity} for open balances: QuickBooks answered the count with ${JSON.stringify(total)}, not a number`,
              { retryable: false },
            );
          for (let start = q.start + PAGE; start <= Number(total); start += PAGE)
            ask({ entity: q.entity, where: q.where, start }, next);
          continue;
        }
        const rows = (a.query?.[q.entity] as QboEntity[] | undefined) ?? [];
        for (const e of rows) out.push([q.entity, e]);
        if (rows.length === PAGE) ask({ ...q, start: q.start + PAGE }, next);
      }
    }
    pending = next;
  }
  return out;
}

const pageKey = (q: Query) => `${q.entity}\u0000${q.where}\u0000${q.start}`;
