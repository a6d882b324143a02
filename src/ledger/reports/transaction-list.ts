import type { Queryable, SqlParam } from '../../db/database.ts';
import { type AllocationStatus, type Side, allocationStatus } from '../../domain/aging.ts';
import { formatAmount } from '../../domain/money.ts';

/*
 * The transactions list (AccountsIQ GetTransactionsBy, GetTransactionsByExternalReference and
 * GetTransactionsModifiedBy; the API's `GET /v1/transactions` and the dashboard's Transactions
 * page): filters, keyset or offset paging, and what last happened to each document.
 */

export interface TransactionFilter {
  customerCode?: string | undefined;
  externalReference?: string | undefined;
  /** The external reference starts with this, ignoring case (`INV-2026` finds `inv-2026-0042`). */
  referenceStartsWith?: string | undefined;
  /** The document number (unique per type, so one per type at most). */
  number?: number | undefined;
  type?: string | undefined;
  fromDate?: string | undefined;
  toDate?: string | undefined;
  /** Created, amended or reversed at or after this instant (ISO 8601 with an offset). */
  modifiedSince?: string | undefined;
  /**
   * By transaction id, oldest first (`asc`, the default) or newest first (`desc`); or newest
   * document date first, then id (`dateDesc`, the dashboard's order: a date range is then read off
   * the date index in order, however old the range).
   */
  order?: 'asc' | 'desc' | 'dateDesc' | undefined;
  /**
   * Keyset paging: only the transactions after this id in the order (the `nextCursor` of the page
   * before). With a cursor, `page` is not used and no rows are skipped by OFFSET.
   */
  after?: number | undefined;
  /** With `order: 'dateDesc'` and `after`: the document date of that last transaction. */
  afterDate?: string | undefined;
  page: number;
  pageSize: number;
  /** Count every match for `total` (default true). A million-row count is what the cursor spares. */
  count?: boolean | undefined;
}

export interface TransactionPage {
  items: TransactionSummary[];
  page: number;
  pageSize: number;
  /** Every match, or null when `count: false` was asked. */
  total: number | null;
  /** The id to pass as `after` for the next page, or null on the last page. */
  nextCursor: number | null;
}

/** `%` and `_` of a LIKE pattern taken literally. */
function likePrefix(text: string): string {
  return `${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * What last happened to a document: posted, amended (due date or dispute flag), or reversed in full
 * by the documents that point at it (credit notes crediting an invoice in full, the reversal of a
 * discount, an exchange difference or a journal).
 */
export type TransactionChange = 'created' | 'updated' | 'reversed';

export interface TransactionSummary {
  transactionId: number;
  type: string;
  number: number;
  customerCode: string | null;
  transactionDate: string;
  dueDate: string | null;
  externalReference: string;
  currency: string;
  gross: string;
  outstanding: string;
  status: AllocationStatus;
  change: TransactionChange;
  /** When `change` happened (ISO 8601, UTC, microseconds). */
  modifiedAt: string;
}

interface SummaryRow {
  id: string;
  type: string;
  side: Side;
  number: string;
  customer_code: string | null;
  transaction_date: string;
  due_date: string | null;
  external_reference: string;
  currency: string;
  gross: string;
  allocated: string;
  change: TransactionChange;
  modified_at: string;
}

/**
 * The documents reversing `t`: of its own type (a reversing journal, the opposite exchange
 * difference), a discount reversal (DX) of a discount, or credit notes of an invoice; `reversed_at`
 * is set only once they reverse it in full.
 */
const REVERSAL = `LEFT JOIN LATERAL (
    SELECT max(r.created_at) AS at, sum(r.gross) AS total, bool_or(r.type = t.type) AS same_type
      FROM transactions r
     WHERE r.related_transaction_id = t.id
       AND (r.type = t.type OR (t.type = 'SI' AND r.type = 'SN') OR (t.type = 'DS' AND r.type = 'DX'))
  ) rev ON true`;
const REVERSED_AT = `CASE WHEN rev.same_type OR rev.total >= t.gross THEN rev.at END`;

/**
 * Up to this many matches, a page is read between the matches' lowest and highest id. The planner
 * takes a filter's matches to be spread evenly over the ids, so for a few thousand invoices of one
 * month it walks the primary key from the first id, expecting a page within a few hundred rows, and
 * reads most of the ledger first: 283 ms hot, 2.2 s cold at a million (the month's ids lie near the
 * end). Bounded, it reads the matches by the index of their filter and sorts them (2 ms). The
 * bounds cost one index-only read of the matches, cheap only while they are few; above this the
 * matches are a large share of the ledger and the walk finds a page soon.
 */
const BOUNDED_MATCHES = 20_000;

/**
 * A page of the entity's transactions, by id, filtered by customer, external reference (exact or
 * its start), number, type, date range (inclusive) and modified-since (AccountsIQ
 * GetTransactionsModifiedBy). Outstanding is as of now. Paged by OFFSET (`page`) or by keyset
 * (`after`, newest first with `order: 'desc'`); the count is a second query, skipped with
 * `count: false`. Indexes serving each filter with the id order: migrations/0097.
 */
export async function listTransactions(
  db: Queryable,
  entityId: string,
  filter: TransactionFilter,
): Promise<TransactionPage> {
  const params: SqlParam[] = [entityId];
  const where = ['t.entity_id = $1'];
  const add = (condition: string, value: SqlParam) => {
    params.push(value);
    where.push(condition.replaceAll('?', `$${params.length}`));
  };
  if (filter.customerCode !== undefined) add('t.customer_code = ?', filter.customerCode);
  if (filter.externalReference !== undefined) add('t.external_reference = ?', filter.externalReference);
  if (filter.referenceStartsWith !== undefined) {
    add(`lower(t.external_reference) LIKE ? ESCAPE '\\'`, likePrefix(filter.referenceStartsWith));
  }
  if (filter.number !== undefined) add('t.number = ?', filter.number);
  if (filter.type !== undefined) add('t.type = ?', filter.type);
  if (filter.fromDate !== undefined) add('t.transaction_date >= ?::date', filter.fromDate);
  if (filter.toDate !== undefined) add('t.transaction_date <= ?::date', filter.toDate);
  const since = filter.modifiedSince;
  let sinceParam = 0;
  if (since !== undefined) {
    params.push(since);
    sinceParam = params.length;
  }
  const desc = filter.order === 'desc';
  const byDate = filter.order === 'dateDesc';
  const order = byDate ? 'transaction_date DESC, id DESC' : desc ? 'id DESC' : 'id';
  /**
   * The matches' ids (with `top`, and their dates for the date order). Modified since is three
   * disjoint sets, each read off its own index: posted since, amended since (posted before), and
   * reversed since (neither, pointed at by a document posted since, and reversed by it). Written as
   * one OR the planner can use no index for it and reads the whole ledger (400 ms at a million when
   * nothing changed). `top` keeps each set's first rows in the page's order, so a page needs no more
   * than that of each.
   */
  const matchingIds = (whereSql: string, top?: string) => {
    const head = `SELECT t.id${top === undefined ? '' : ', t.transaction_date'} FROM transactions t`;
    const tail = top === undefined ? '' : ` ORDER BY ${order} LIMIT ${top}`;
    if (since === undefined) return `${head} WHERE ${whereSql}${tail}`;
    const s = `$${sinceParam}::timestamptz`;
    return [
      `${head} WHERE ${whereSql} AND t.created_at >= ${s}`,
      `${head} WHERE ${whereSql} AND t.amended_at >= ${s} AND t.created_at < ${s}`,
      `${head} ${REVERSAL}
        WHERE ${whereSql} AND t.created_at < ${s} AND (t.amended_at IS NULL OR t.amended_at < ${s})
          AND t.id IN (SELECT c.related_transaction_id FROM transactions c
                        WHERE c.entity_id = $1 AND c.created_at >= ${s} AND c.related_transaction_id IS NOT NULL)
          AND ${REVERSED_AT} >= ${s}`,
    ]
      .map((branch) => `(${branch}${tail})`)
      .join(' UNION ALL ');
  };

  // The count is of every match; the cursor narrows the page's query only.
  const countWhere = where.join(' AND ');
  const countParams = [...params];
  let total: number | null = null;
  if (filter.count !== false) {
    // Every match counted, and with `bounds` its lowest and highest id (count(*) beside them keeps
    // min and max read from the matches: alone, each would be planned as that same walk of the
    // primary key). With modified-since the bounds come along, however many: the three sets are read
    // whole anyway, and the posted-since ones are the newest ids, far from where the walk starts.
    const tally = async (bounds: boolean) =>
      (
        await db.query<{ total: string; lo?: string | null; hi?: string | null }>(
          `SELECT count(*) AS total${bounds ? ', min(c.id) AS lo, max(c.id) AS hi' : ''}
             FROM (${matchingIds(countWhere)}) c`,
          countParams,
        )
      ).rows[0];
    const filtered = where.length > 1;
    let counted = await tally(since !== undefined);
    total = Number(counted?.total ?? '0');
    if (counted?.lo === undefined && filtered && total > 0 && total <= BOUNDED_MATCHES) counted = await tally(true);
    if ((since !== undefined || total <= BOUNDED_MATCHES) && counted?.lo && counted.hi) {
      params.push(counted.lo, counted.hi);
      where.push(`t.id BETWEEN $${params.length - 1} AND $${params.length}`);
    }
  }
  const offset = filter.after === undefined ? (filter.page - 1) * filter.pageSize : 0;
  if (total !== null && total <= offset) {
    return { items: [], page: filter.page, pageSize: filter.pageSize, total, nextCursor: null };
  }

  if (byDate && filter.after !== undefined && filter.afterDate !== undefined) {
    params.push(filter.afterDate, filter.after);
    where.push(`(t.transaction_date, t.id) < ($${params.length - 1}::date, $${params.length})`);
  } else if (filter.after !== undefined) {
    add(desc || byDate ? 't.id < ?' : 't.id > ?', filter.after);
  }
  const limit = `$${params.length + 1}`;
  const skip = `$${params.length + 2}`;
  const columns = `t.id, t.type, t.side, t.number, t.customer_code, t.transaction_date, t.due_date,
                   t.external_reference, t.currency, t.gross, t.created_at, t.amended_at, ${REVERSED_AT} AS reversed_at`;
  const whereSql = where.join(' AND ');
  // Without modified-since, one query walks the index of its filter in the page's order. With it,
  // each set gives its first offset + limit rows, and the page is taken from those.
  const page =
    since === undefined
      ? `SELECT ${columns} FROM transactions t ${REVERSAL} WHERE ${whereSql} ORDER BY ${order} LIMIT ${limit} OFFSET ${skip}`
      : `SELECT ${columns}
           FROM (SELECT id, transaction_date FROM (${matchingIds(whereSql, `${limit}::bigint + ${skip}::bigint`)}) m
                  ORDER BY ${order} LIMIT ${limit} OFFSET ${skip}) m
           JOIN transactions t ON t.id = m.id ${REVERSAL}`;

  // One row more than the page says whether there is a next one. Allocations are summed for the
  // page's rows only, after the limit.
  const { rows: fetched } = await db.query<SummaryRow>(
    `WITH page AS (${page})
     SELECT p.id, p.type, p.side, p.number, p.customer_code, p.transaction_date::text AS transaction_date,
            p.due_date::text AS due_date, p.external_reference, p.currency, p.gross,
            CASE greatest(p.created_at, p.amended_at, p.reversed_at)
              WHEN p.reversed_at THEN 'reversed' WHEN p.amended_at THEN 'updated' ELSE 'created' END AS change,
            to_char(greatest(p.created_at, p.amended_at, p.reversed_at) AT TIME ZONE 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS modified_at,
            COALESCE((
              SELECT sum(a.amount) FROM allocations a
               WHERE (a.debit_transaction_id = p.id OR a.credit_transaction_id = p.id)
                 AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)), 0) AS allocated
       FROM page p
      ORDER BY ${byDate ? 'p.transaction_date DESC, p.id DESC' : desc ? 'p.id DESC' : 'p.id'}`,
    [...params, filter.pageSize + 1, offset],
  );
  const rows = fetched.slice(0, filter.pageSize);
  const last = rows.at(-1);
  const nextCursor = fetched.length > filter.pageSize && last ? Number(last.id) : null;
  const items = rows.map((r) => {
    const currency = r.currency.trim();
    const gross = BigInt(r.gross);
    const outstanding = r.side === 'none' ? 0n : gross - BigInt(r.allocated);
    return {
      transactionId: Number(r.id),
      type: r.type,
      number: Number(r.number),
      customerCode: r.customer_code,
      transactionDate: r.transaction_date,
      dueDate: r.due_date,
      externalReference: r.external_reference,
      currency,
      gross: formatAmount(gross, currency),
      outstanding: formatAmount(outstanding, currency),
      status: allocationStatus(r.side, gross, outstanding),
      change: r.change,
      modifiedAt: r.modified_at,
    };
  });
  return { items, page: filter.page, pageSize: filter.pageSize, total, nextCursor };
}

export interface TransactionHead {
  type: string;
  number: number;
  side: Side;
}

/**
 * The type, number and side (debit, credit or none) of each of the entity's transactions named, by
 * id; another entity's ids are left out. How the dashboard labels a document it knows by id ("Sales
 * invoice 12", a run's records) and signs a list's amounts as the customer's account reads them
 * (the API's summaries stay unsigned, as AccountsIQ's are).
 */
export async function transactionHeads(
  db: Queryable,
  entityId: string,
  ids: readonly number[],
): Promise<Map<number, TransactionHead>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; type: string; number: string; side: Side }>(
    'SELECT id, type, number, side FROM transactions WHERE entity_id = $1 AND id = ANY($2::bigint[])',
    [entityId, [...ids]],
  );
  return new Map(rows.map((r) => [Number(r.id), { type: r.type, number: Number(r.number), side: r.side }]));
}
