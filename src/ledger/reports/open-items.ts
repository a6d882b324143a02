import type { Queryable } from '../../db/database.ts';
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

/**
 * The open items of one customer (or, without `customerCode`, of every customer of the entity)
 * as at `asAt`, ordered by customer, date and id. One query, whatever the number of items.
 */
export async function listOpenItems(
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

/** Open items as at `asAt` of the customers named, ordered by customer code, date and id. */
export async function listOpenItemsOf(
  db: Queryable,
  entityId: string,
  asAt: string,
  customerCodes: readonly string[],
): Promise<OpenItem[]> {
  const { rows } = await db.query<{ items: string | null }>(OPEN_ITEMS_SOME, [entityId, asAt, customerCodes]);
  return splitItems(rows[0]?.items);
}

function splitItems(text: string | null | undefined): OpenItem[] {
  if (!text) return [];
  const fields = text.split(SEPARATOR);
  const items: OpenItem[] = [];
  for (let i = 0; i < fields.length; i += FIELDS_PER_ITEM) items.push(toOpenItem(fields, i));
  return items;
}
