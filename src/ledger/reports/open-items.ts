import type { Queryable, SqlParam } from '../../db/database.ts';
import type { Side } from '../../domain/aging.ts';

/** A document with something left to allocate as at a date, amounts in minor units of its currency. */
export interface OpenItem {
  transactionId: number;
  customerCode: string;
  type: string;
  side: Side;
  number: number;
  externalReference: string;
  description: string;
  transactionDate: string;
  dueDate: string | null;
  gross: bigint;
  outstanding: bigint;
}

// The ASCII unit separator, between fields and between items alike: see openItemsSql.
const SEPARATOR = '\x1f';
const SEPARATOR_SQL = `E'\\x1f'`;
const FIELDS_PER_ITEM = 11;

/**
 * Open items as at $2 for entity $1, optionally one customer ($3 text) or several ($3 text[]): documents dated on or before
 * $2 less their allocations dated on or before $2 and not reversed on or before $2.
 *
 * Three choices keep a 10,000-item statement fast on PGlite, where the cost is per row, and a
 * customer with 50,000 documents fast on PostgreSQL:
 * - What is open is worked out from ids, sides and amounts only, which the customer/date indexes of
 *   documents and allocations carry (0092): index-only scans. The documents' other columns are read
 *   by primary key for the open ones alone.
 * - The allocated sums are joined to the documents with a FULL JOIN, which PostgreSQL can only
 *   run as a hash or merge join. PGlite has no autovacuum, so without statistics the planner
 *   estimates one row everywhere and would otherwise nest-loop the sums against every document
 *   (quadratic). OFFSET 0 keeps the filter above the join from turning it back into a LEFT JOIN.
 * - The items come back as one text of fields separated by the ASCII unit separator, eleven per
 *   item, instead of one row each: PGlite hands rows to JavaScript far slower than one string,
 *   and one split of it is far cheaper than one per item. Free text is JSON-quoted, which
 *   escapes every control character, so the separator cannot occur inside a field; amounts stay
 *   digits and never meet a float.
 */
function openItemsSql(customers: 'all' | 'one' | 'some'): string {
  const match = { all: '', one: '= $3', some: '= ANY($3::text[])' }[customers];
  const customer = (alias: string) => (match ? `AND ${alias}.customer_code ${match}` : '');
  return `
    WITH live AS (
      SELECT a.debit_transaction_id, a.credit_transaction_id, a.amount
        FROM allocations a
       WHERE a.entity_id = $1 ${customer('a')}
         AND a.allocation_date <= $2::date
         AND NOT EXISTS (
           SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id AND r.reversal_date <= $2::date
         )
    ), allocated AS (
      SELECT id, sum(amount)::bigint AS amount
        FROM (SELECT debit_transaction_id AS id, amount FROM live
              UNION ALL
              SELECT credit_transaction_id, amount FROM live) s
       GROUP BY id
    ), docs AS (
      SELECT t.id, t.gross
        FROM transactions t
       WHERE t.entity_id = $1 ${customer('t')}
         AND t.transaction_date <= $2::date
         AND t.side <> 'none'
    ), balances AS (
      SELECT d.id, d.gross - COALESCE(x.amount, 0) AS outstanding
        FROM docs d FULL JOIN allocated x ON x.id = d.id
      OFFSET 0
    )
    SELECT string_agg(
             concat_ws(${SEPARATOR_SQL}, b.id, t.number, t.type, t.side, t.transaction_date, COALESCE(t.due_date::text, ''),
                       t.gross, b.outstanding, to_json(t.customer_code), to_json(t.external_reference),
                       to_json(t.description)),
             ${SEPARATOR_SQL} ORDER BY ${customers === 'one' ? '' : 't.customer_code, '}t.transaction_date, b.id) AS items
      FROM balances b JOIN transactions t ON t.id = b.id
     WHERE b.outstanding > 0`;
}

const OPEN_ITEMS_ONE = openItemsSql('one');
const OPEN_ITEMS_ALL = openItemsSql('all');
const OPEN_ITEMS_SOME = openItemsSql('some');

/*
 * The cache (migration 0098). `open_items_cache` holds, for every document of an entity written by
 * a transaction below the cursor `open_items_cursors.xid`, its gross less its allocations not
 * reversed (whatever their dates), and `as_of`: the latest of its date, its allocations' dates and
 * its reversals' dates. As at any date on or after `as_of` that amount is what is open of it;
 * before, it depends on which allocations were dated by then. So an as-at query reads:
 * - from the cache, the documents with something open whose `as_of` is on or before the date (a
 *   partial index holds the open ones: a few per cent of the ledger);
 * - from the ledger, the rest that may differ: documents whose `as_of` is after the date, and those
 *   written or touched (by an allocation, a reversal or a due date moved) by a transaction at or above the cursor,
 *   which the cache may not know about yet. The change order indexes of migration 0068 find those.
 * The cursor is read before the query: if a refresh moves it meanwhile, the query reads more from
 * the ledger than it needed to, never less.
 *
 * Readers move the cursor (refreshOpenItems) up to pg_snapshot_xmin, below which no running
 * transaction can still write, working out again from the ledger every document written or touched
 * since. Nothing on the write path changes.
 */

/** More documents than this dated or allocated after the as-at date, and the ledger is read directly. */
const CACHE_EXACT_LIMIT = 2000;

/**
 * The open items through the cache: $1 entity, $2 as at, $3 the cursor, $4 the customer(s). `full`
 * answers OpenItem fields (reading each open document's row); otherwise only what aging needs,
 * from the cache's partial index alone for all but the few documents read from the ledger.
 */
function cachedOpenItemsSql(customers: 'all' | 'one' | 'some', full: boolean): string {
  const match = { all: '', one: '= $4', some: '= ANY($4::text[])' }[customers];
  const customer = (alias: string) => (match ? `AND ${alias}.customer_code ${match}` : '');
  const order = `${customers === 'one' ? '' : 'b.customer_code, '}b.transaction_date, b.id`;
  // `recent` is not narrowed to the customers: with that filter a planner without statistics on
  // the new rows (PGlite never analyzes) walks the customer's every document on the customer index
  // to find none above the cursor, three times over (a third of a 10,000-item statement). Readers
  // move the cursor just before, so the entity's own change order indexes find a handful of rows;
  // other customers' documents among them are dropped by exact_docs and `cached` alike.
  // exact_docs reads each document by primary key from its id (OFFSET 0 keeps the subquery a
  // nested loop on the ids) rather than let that planner scan the customer's documents for them.
  // The documents' rows joined at the end are the customers' own (which the balances are): named,
  // they come off the customer index instead of a scan of every entity's documents.
  return `
    WITH recent AS (
      SELECT t.id FROM transactions t WHERE t.entity_id = $1 AND t.xid >= $3::xid8
      UNION
      SELECT t.id FROM transactions t WHERE t.entity_id = $1 AND t.amended_xid >= $3::xid8
      UNION
      SELECT unnest(ARRAY[a.debit_transaction_id, a.credit_transaction_id]) FROM allocations a
       WHERE a.entity_id = $1 AND a.xid >= $3::xid8
      UNION
      SELECT unnest(ARRAY[a.debit_transaction_id, a.credit_transaction_id])
        FROM allocation_reversals r JOIN allocations a ON a.id = r.allocation_id
       WHERE r.entity_id = $1 AND r.xid >= $3::xid8
    ), exact_ids AS (
      SELECT id FROM recent
      UNION
      SELECT o.transaction_id FROM open_items_cache o
       WHERE o.entity_id = $1 AND o.as_of > $2::date AND o.transaction_date <= $2::date ${customer('o')}
    ), exact_docs AS (
      SELECT t.id, t.gross, t.customer_code, t.side, t.transaction_date, t.due_date
        FROM exact_ids e, LATERAL (SELECT * FROM transactions t WHERE t.id = e.id OFFSET 0) t
       WHERE t.entity_id = $1 AND t.transaction_date <= $2::date AND t.side <> 'none' ${customer('t')}
    ), live AS (
      SELECT d.id, a.amount FROM exact_docs d JOIN allocations a ON a.debit_transaction_id = d.id
       WHERE a.allocation_date <= $2::date
         AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id AND r.reversal_date <= $2::date)
      UNION ALL
      SELECT d.id, a.amount FROM exact_docs d JOIN allocations a ON a.credit_transaction_id = d.id
       WHERE a.allocation_date <= $2::date
         AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id AND r.reversal_date <= $2::date)
    ), exact AS (
      SELECT d.id, d.gross - COALESCE(x.amount, 0) AS outstanding, d.customer_code, d.side, d.transaction_date, d.due_date
        FROM exact_docs d LEFT JOIN (SELECT id, sum(amount)::bigint AS amount FROM live GROUP BY id) x ON x.id = d.id
    ), cached AS (
      SELECT o.transaction_id AS id, o.outstanding, o.customer_code, o.side, o.transaction_date, o.due_date
        FROM open_items_cache o
       WHERE o.entity_id = $1 AND o.outstanding > 0 ${customer('o')}
         -- Not \`o.as_of <= $2\`: the open ones are read off the partial index, never off the as_of one.
         AND o.as_of - $2::date <= 0
         AND NOT EXISTS (SELECT 1 FROM exact_ids e WHERE e.id = o.transaction_id)
    ), balances AS (
      SELECT * FROM exact WHERE outstanding > 0 UNION ALL SELECT * FROM cached
    )
    ${
      full
        ? `SELECT string_agg(
             concat_ws(${SEPARATOR_SQL}, b.id, t.number, t.type, t.side, t.transaction_date, COALESCE(t.due_date::text, ''),
                       t.gross, b.outstanding, to_json(t.customer_code), to_json(t.external_reference),
                       to_json(t.description)),
             ${SEPARATOR_SQL} ORDER BY ${order}) AS items
      FROM balances b JOIN transactions t ON t.id = b.id AND t.entity_id = $1 ${customer('t')}`
        : `SELECT string_agg(
             concat_ws(${SEPARATOR_SQL}, b.side, b.transaction_date, COALESCE(b.due_date::text, ''), b.outstanding,
                       to_json(b.customer_code)),
             ${SEPARATOR_SQL}) AS items
      FROM balances b`
    }`;
}

const CACHED = {
  all: cachedOpenItemsSql('all', true),
  one: cachedOpenItemsSql('one', true),
  some: cachedOpenItemsSql('some', true),
};
const CACHED_BALANCES = cachedOpenItemsSql('all', false);

/**
 * Works out again, from the ledger as written by transactions below $2 (an xid8), the cache rows of
 * the documents `docs` picks (a condition on `transactions t`): the outstanding amount and as_of
 * from scratch, so a document is right however its changes were spread over refreshes, and in
 * whichever order they were committed.
 */
function recomputeSql(docs: string): string {
  return `
    WITH docs AS (
      SELECT t.id, t.customer_code, t.side, t.transaction_date, t.due_date, t.gross FROM transactions t
       WHERE ${docs} AND t.entity_id = $1 AND t.xid < $2::xid8 AND t.side <> 'none'
    ), touching AS (
      SELECT d.id, a.amount, a.allocation_date, r.allocation_id IS NOT NULL AS reversed, r.reversal_date
        FROM docs d JOIN allocations a ON a.debit_transaction_id = d.id
        LEFT JOIN allocation_reversals r ON r.allocation_id = a.id AND r.xid < $2::xid8
       WHERE a.xid < $2::xid8
      UNION ALL
      SELECT d.id, a.amount, a.allocation_date, r.allocation_id IS NOT NULL, r.reversal_date
        FROM docs d JOIN allocations a ON a.credit_transaction_id = d.id
        LEFT JOIN allocation_reversals r ON r.allocation_id = a.id AND r.xid < $2::xid8
       WHERE a.xid < $2::xid8
    ), sums AS (
      SELECT id, COALESCE(sum(amount) FILTER (WHERE NOT reversed), 0)::bigint AS allocated,
             max(allocation_date) FILTER (WHERE NOT reversed) AS allocated_on, max(reversal_date) AS reversed_on
        FROM touching GROUP BY id
    )
    INSERT INTO open_items_cache (transaction_id, entity_id, customer_code, side, transaction_date, due_date, outstanding, as_of)
    SELECT d.id, $1, d.customer_code, d.side, d.transaction_date, d.due_date, d.gross - COALESCE(s.allocated, 0),
           GREATEST(d.transaction_date, s.allocated_on, s.reversed_on)
      FROM docs d LEFT JOIN sums s ON s.id = d.id
    ON CONFLICT (transaction_id) DO UPDATE SET outstanding = EXCLUDED.outstanding, as_of = EXCLUDED.as_of,
      due_date = EXCLUDED.due_date`;
}

/** Every document of the entity: the first refresh. */
const BUILD_SQL = recomputeSql('true');
/** The documents written or touched from the cursor $3 up to $2. */
const REFRESH_SQL = recomputeSql(`t.id IN (
  SELECT id FROM transactions WHERE entity_id = $1 AND xid >= $3::xid8 AND xid < $2::xid8
  UNION ALL
  SELECT id FROM transactions WHERE entity_id = $1 AND amended_xid >= $3::xid8 AND amended_xid < $2::xid8
  UNION ALL
  SELECT unnest(ARRAY[debit_transaction_id, credit_transaction_id]) FROM allocations
   WHERE entity_id = $1 AND xid >= $3::xid8 AND xid < $2::xid8
  UNION ALL
  SELECT unnest(ARRAY[a.debit_transaction_id, a.credit_transaction_id])
    FROM allocation_reversals r JOIN allocations a ON a.id = r.allocation_id
   WHERE r.entity_id = $1 AND r.xid >= $3::xid8 AND r.xid < $2::xid8)`);

/** The entity's cursor (null before the first refresh) and the horizon it could move to. */
async function cursorOf(db: Queryable, entityId: string): Promise<{ cursor: string | null; horizon: string }> {
  const { rows } = await db.query<{ cursor: string | null; horizon: string }>(
    `SELECT (SELECT xid::text FROM open_items_cursors WHERE entity_id = $1) AS cursor,
            ll_change_horizon()::text AS horizon`,
    [entityId],
  );
  return rows[0]!;
}

/** Whether anything was written between the cursor and the horizon. */
async function changedBetween(db: Queryable, entityId: string, cursor: string, horizon: string): Promise<boolean> {
  const { rows } = await db.query<{ changed: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM transactions WHERE entity_id = $1 AND xid >= $2::xid8 AND xid < $3::xid8)
         OR EXISTS (SELECT 1 FROM transactions WHERE entity_id = $1 AND amended_xid >= $2::xid8 AND amended_xid < $3::xid8)
         OR EXISTS (SELECT 1 FROM allocations WHERE entity_id = $1 AND xid >= $2::xid8 AND xid < $3::xid8)
         OR EXISTS (SELECT 1 FROM allocation_reversals WHERE entity_id = $1 AND xid >= $2::xid8 AND xid < $3::xid8)
         AS changed`,
    [entityId, cursor, horizon],
  );
  return rows[0]!.changed;
}

/**
 * Brings the entity's open items cache up to what every finished transaction wrote, and answers
 * the cursor it is at (null when it has none yet). Readers call it; it writes only when something
 * changed, and when another reader is at it already it leaves the work to that one: queries read
 * what the cache lacks from the ledger either way.
 */
export async function refreshOpenItems(db: Queryable, entityId: string): Promise<string | null> {
  const seen = await cursorOf(db, entityId);
  if (seen.cursor !== null && !(await changedBetween(db, entityId, seen.cursor, seen.horizon))) return seen.cursor;
  const moved = await db.transaction(async (tx) => {
    let cursor: string;
    if (seen.cursor === null) {
      const created = await tx.query<{ xid: string }>(
        `INSERT INTO open_items_cursors (entity_id, xid) VALUES ($1, '0') ON CONFLICT (entity_id) DO NOTHING
         RETURNING xid::text`,
        [entityId],
      );
      if (!created.rows[0]) return null;
      cursor = '0';
    } else {
      const locked = await tx.query<{ xid: string }>(
        `SELECT xid::text FROM open_items_cursors WHERE entity_id = $1 FOR UPDATE SKIP LOCKED`,
        [entityId],
      );
      if (!locked.rows[0]) return null;
      cursor = locked.rows[0].xid;
    }
    // Taken now, inside the lock: nothing below it can still be written, whatever ran meanwhile.
    const { horizon } = await cursorOf(tx, entityId);
    if (cursor === '0') {
      await tx.query(BUILD_SQL, [entityId, horizon]);
      // Statistics now, not when autovacuum comes by (PGlite has none): the plans count on them.
      await tx.query('ANALYZE open_items_cache');
    } else await tx.query(REFRESH_SQL, [entityId, horizon, cursor]);
    await tx.query(`UPDATE open_items_cursors SET xid = $2::xid8, refreshed_at = now() WHERE entity_id = $1`, [
      entityId,
      horizon,
    ]);
    return horizon;
  });
  return moved ?? seen.cursor;
}

/** Every entity's cache brought up to date, one entity after the other (the server does it now and then). */
export async function refreshAllOpenItems(db: Queryable): Promise<void> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM entities ORDER BY id');
  for (const { id } of rows) await refreshOpenItems(db, id);
}

/** Whether the cache answers as at `asAt`: not too many documents dated or allocated after it to read from the ledger. */
async function cacheServes(db: Queryable, entityId: string, asAt: string): Promise<boolean> {
  const { rows } = await db.query<{ later: string }>(
    `SELECT count(*)::text AS later FROM (
       SELECT 1 FROM open_items_cache WHERE entity_id = $1 AND as_of > $2::date LIMIT ${CACHE_EXACT_LIMIT + 1}) x`,
    [entityId, asAt],
  );
  return Number(rows[0]!.later) <= CACHE_EXACT_LIMIT;
}

/** Undoes to_json on a text; most texts have nothing escaped and need no parsing. */
function jsonText(quoted: string | undefined): string {
  if (quoted === undefined) return '';
  return quoted.includes('\\') ? (JSON.parse(quoted) as string) : quoted.slice(1, -1);
}

function toOpenItem(f: string[], i: number): OpenItem {
  const due = f[i + 5];
  return {
    transactionId: Number(f[i]),
    number: Number(f[i + 1]),
    type: f[i + 2]!,
    side: f[i + 3] as Side,
    transactionDate: f[i + 4]!,
    dueDate: due === '' || due === undefined ? null : due,
    gross: BigInt(f[i + 6]!),
    outstanding: BigInt(f[i + 7]!),
    customerCode: jsonText(f[i + 8]),
    externalReference: jsonText(f[i + 9]),
    description: jsonText(f[i + 10]),
  };
}

/** The open items query for `customers`, through the cache when it serves the date: its text (see openItemsSql). */
async function openItemsText(
  db: Queryable,
  entityId: string,
  asAt: string,
  customers: 'all' | 'one' | 'some',
  params: SqlParam[],
): Promise<string | null | undefined> {
  const cursor = await refreshOpenItems(db, entityId);
  const { rows } =
    cursor !== null && (await cacheServes(db, entityId, asAt))
      ? await db.query<{ items: string | null }>(CACHED[customers], [entityId, asAt, cursor, ...params])
      : await db.query<{ items: string | null }>(
          { all: OPEN_ITEMS_ALL, one: OPEN_ITEMS_ONE, some: OPEN_ITEMS_SOME }[customers],
          [entityId, asAt, ...params],
        );
  return rows[0]?.items;
}

async function openItems(
  db: Queryable,
  entityId: string,
  asAt: string,
  customers: 'all' | 'one' | 'some',
  params: SqlParam[],
): Promise<OpenItem[]> {
  return splitItems(await openItemsText(db, entityId, asAt, customers, params));
}

/**
 * Where each field of an open item sits in what listOpenItemFields answers, `OPEN_ITEM_FIELDS`
 * to an item. Amounts are digits in minor units; customerCode, externalReference and description
 * are JSON string literals (to_json), ready to be written into JSON as they are.
 */
export const OPEN_ITEM_FIELD = {
  transactionId: 0,
  number: 1,
  type: 2,
  side: 3,
  transactionDate: 4,
  /** Empty when there is none. */
  dueDate: 5,
  gross: 6,
  outstanding: 7,
  customerCode: 8,
  externalReference: 9,
  description: 10,
} as const;
export const OPEN_ITEM_FIELDS = FIELDS_PER_ITEM;

/**
 * The open items of one customer as at `asAt`, as listOpenItems orders them, left as the query's
 * text fields (OPEN_ITEM_FIELD): for a caller that writes them out as text, which then parses
 * and builds nothing per item.
 */
export async function listOpenItemFields(
  db: Queryable,
  entityId: string,
  asAt: string,
  customerCode: string,
): Promise<string[]> {
  const text = await openItemsText(db, entityId, asAt, 'one', [customerCode]);
  return text ? text.split(SEPARATOR) : [];
}

/**
 * The open items worked out from the ledger alone, without the cache: what the cache must always
 * agree with (the tests hold it to that), and the plan for dates long past.
 */
export async function listOpenItemsFromLedger(
  db: Queryable,
  entityId: string,
  asAt: string,
  customerCode?: string,
): Promise<OpenItem[]> {
  const { rows } =
    customerCode === undefined
      ? await db.query<{ items: string | null }>(OPEN_ITEMS_ALL, [entityId, asAt])
      : await db.query<{ items: string | null }>(OPEN_ITEMS_ONE, [entityId, asAt, customerCode]);
  return splitItems(rows[0]?.items);
}

/**
 * The open items of one customer (or, without `customerCode`, of every customer of the entity)
 * as at `asAt`, ordered by customer, date and id. Through the cache when it serves the date.
 */
export async function listOpenItems(
  db: Queryable,
  entityId: string,
  asAt: string,
  customerCode?: string,
): Promise<OpenItem[]> {
  return customerCode === undefined
    ? openItems(db, entityId, asAt, 'all', [])
    : openItems(db, entityId, asAt, 'one', [customerCode]);
}

/** Open items as at `asAt` of the customers named, ordered by customer code, date and id. */
export async function listOpenItemsOf(
  db: Queryable,
  entityId: string,
  asAt: string,
  customerCodes: readonly string[],
): Promise<OpenItem[]> {
  return openItems(db, entityId, asAt, 'some', [customerCodes]);
}

function splitItems(text: string | null | undefined): OpenItem[] {
  if (!text) return [];
  const fields = text.split(SEPARATOR);
  const items: OpenItem[] = [];
  for (let i = 0; i < fields.length; i += FIELDS_PER_ITEM) items.push(toOpenItem(fields, i));
  return items;
}

/** What aging needs of an open item: amounts in minor units of the customer's currency. */
export type OpenBalance = Pick<OpenItem, 'customerCode' | 'side' | 'transactionDate' | 'dueDate' | 'outstanding'>;

/**
 * The entity's open items as at `asAt` with only what aging needs, in no particular order (sorting
 * thousands of items by customer code took half the time). Through the cache these come off one
 * index without reading the documents' rows: what lets the overview age the ledger of a million
 * transactions in a page's time.
 */
export async function listOpenBalances(db: Queryable, entityId: string, asAt: string): Promise<OpenBalance[]> {
  const cursor = await refreshOpenItems(db, entityId);
  if (cursor === null || !(await cacheServes(db, entityId, asAt))) return listOpenItems(db, entityId, asAt);
  const { rows } = await db.query<{ items: string | null }>(CACHED_BALANCES, [entityId, asAt, cursor]);
  const text = rows[0]?.items;
  if (!text) return [];
  const f = text.split(SEPARATOR);
  const out: OpenBalance[] = [];
  for (let i = 0; i < f.length; i += 5) {
    const due = f[i + 2];
    out.push({
      side: f[i] as Side,
      transactionDate: f[i + 1]!,
      dueDate: due === '' || due === undefined ? null : due,
      outstanding: BigInt(f[i + 3]!),
      customerCode: jsonText(f[i + 4]),
    });
  }
  return out;
}
