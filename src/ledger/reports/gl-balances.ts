import type { Queryable } from '../../db/database.ts';

/*
 * The GL balances cache (migration 0109): every account's journal lines summed per day, for the
 * lines of every transaction of the entity written below the cursor `gl_balances_cursors.xid`.
 * A balance as at a date is then the account's daily sums up to that date, plus the lines of the
 * transactions at or above the cursor dated up to it (read from the ledger by the change order
 * index of migration 0068: a handful, since readers move the cursor just before). Unlike the open
 * items cache's rows, the sums are added to, not worked out again, so a query must read the sums
 * of the cursor it reads the lines above (glBalances).
 *
 * Readers move the cursor up to pg_snapshot_xmin, below which no running transaction can still
 * write, adding the lines of the transactions written since. Journal lines are never changed or
 * deleted and are written in their transaction's database transaction, so each is added once.
 */

/** The entity's cursor (null before the first refresh) and the horizon it could move to. */
async function cursorOf(db: Queryable, entityId: string): Promise<{ cursor: string | null; horizon: string }> {
  const { rows } = await db.query<{ cursor: string | null; horizon: string }>(
    `SELECT (SELECT xid::text FROM gl_balances_cursors WHERE entity_id = $1) AS cursor,
            ll_change_horizon()::text AS horizon`,
    [entityId],
  );
  return rows[0]!;
}

/** Adds the lines of the entity's transactions written from $3 up to $2 to the daily sums. */
const ADD_SQL = `
  INSERT INTO gl_daily_balances (entity_id, gl_account_code, balance_date, base_amount)
  SELECT $1, j.gl_account_code, t.transaction_date, sum(j.base_amount)
    FROM transactions t JOIN journal_lines j ON j.transaction_id = t.id
   WHERE t.entity_id = $1 AND t.xid >= $3::xid8 AND t.xid < $2::xid8
   GROUP BY j.gl_account_code, t.transaction_date
  ON CONFLICT (entity_id, balance_date, gl_account_code)
    DO UPDATE SET base_amount = gl_daily_balances.base_amount + EXCLUDED.base_amount`;

/**
 * Brings the entity's GL balances cache up to what every finished transaction wrote, and answers
 * the cursor as this call last saw it (null: none yet). Writes only when something was posted
 * since; when another reader is at it already, leaves the work to that one: balances read what the
 * cache lacks from the ledger either way.
 */
export async function refreshGlBalances(db: Queryable, entityId: string): Promise<string | null> {
  const seen = await cursorOf(db, entityId);
  if (seen.cursor !== null) {
    const { rows } = await db.query<{ changed: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM transactions WHERE entity_id = $1 AND xid >= $2::xid8 AND xid < $3::xid8) AS changed`,
      [entityId, seen.cursor, seen.horizon],
    );
    if (!rows[0]!.changed) return seen.cursor;
  }
  const moved = await db.transaction(async (tx) => {
    let cursor: string;
    if (seen.cursor === null) {
      const created = await tx.query<{ xid: string }>(
        `INSERT INTO gl_balances_cursors (entity_id, xid) VALUES ($1, '0') ON CONFLICT (entity_id) DO NOTHING
         RETURNING xid::text`,
        [entityId],
      );
      if (!created.rows[0]) return null;
      // A cursor deleted to rebuild the cache: its sums go with it (they are read only beside a cursor).
      await tx.query(`DELETE FROM gl_daily_balances WHERE entity_id = $1`, [entityId]);
      cursor = '0';
    } else {
      const locked = await tx.query<{ xid: string }>(
        `SELECT xid::text FROM gl_balances_cursors WHERE entity_id = $1 FOR UPDATE SKIP LOCKED`,
        [entityId],
      );
      if (!locked.rows[0]) return null;
      cursor = locked.rows[0].xid;
    }
    // Taken now, inside the lock: nothing below it can still be written, whatever ran meanwhile.
    const { horizon } = await cursorOf(tx, entityId);
    await tx.query(ADD_SQL, [entityId, horizon, cursor]);
    // Never backwards (the sums hold everything below the cursor): an empty range adds nothing.
    const { rowCount } = await tx.query(
      `UPDATE gl_balances_cursors SET xid = $2::xid8, refreshed_at = now() WHERE entity_id = $1 AND xid < $2::xid8`,
      [entityId, horizon],
    );
    return rowCount > 0 ? horizon : cursor;
  });
  return moved ?? seen.cursor;
}

/** Every entity's GL balances cache brought up to date, one entity after the other (the server does it now and then). */
export async function refreshAllGlBalances(db: Queryable): Promise<void> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM entities ORDER BY id');
  for (const { id } of rows) await refreshGlBalances(db, id);
}

/** An account's net in base currency, minor units (debit positive). */
export interface GlBalance {
  code: string;
  name: string;
  type: string;
  balance: bigint;
}

/** The `totals` of a query (account code, amount) per account of the entity ($1), named, in code order, zeros left out. */
const BY_ACCOUNT = `
  SELECT g.code, g.name, g.type, sum(s.balance)::text AS balance
    FROM totals s JOIN gl_accounts g ON g.entity_id = $1 AND g.code = s.gl_account_code
   GROUP BY g.code, g.name, g.type
  HAVING sum(s.balance) <> 0
   ORDER BY g.code`;

interface AccountRow {
  code: string;
  name: string;
  type: string;
  balance: string;
}

const toBalance = (r: AccountRow): GlBalance => ({
  code: r.code,
  name: r.name,
  type: r.type,
  balance: BigInt(r.balance),
});

/**
 * Every GL account's net as at `at` that is not zero, by code: the daily sums up to `at` and the
 * lines of the transactions at or above the cursor dated up to it, which the change order index
 * finds (the cursor is a parameter, so that the planner sees how few rows are above it). The sums
 * are added to as the cursor moves, so both must be of one cursor: the query counts the sums only
 * while the cursor is the one it was handed, and is asked again if the cursor is another after it
 * (another reader's refresh committed meanwhile; it only moves forward).
 */
export async function glBalances(db: Queryable, entityId: string, at: string): Promise<GlBalance[]> {
  let before = await refreshGlBalances(db, entityId);
  for (;;) {
    const { rows } = await db.query<AccountRow>(
      `WITH totals AS (
         SELECT gl_account_code, sum(base_amount) AS balance
           FROM gl_daily_balances
          WHERE entity_id = $1 AND balance_date <= $2::date
            AND EXISTS (SELECT 1 FROM gl_balances_cursors WHERE entity_id = $1 AND xid = $3::xid8)
          GROUP BY gl_account_code
         UNION ALL
         SELECT j.gl_account_code, sum(j.base_amount)
           FROM transactions t JOIN journal_lines j ON j.transaction_id = t.id
          WHERE t.entity_id = $1 AND t.xid >= $3::xid8 AND t.transaction_date <= $2::date
          GROUP BY j.gl_account_code
       )
       ${BY_ACCOUNT}`,
      // No cursor (never refreshed, or rebuilding): every line, and no sums.
      [entityId, at, before ?? '0'],
    );
    const after = (await cursorOf(db, entityId)).cursor;
    if (after === before) return rows.map(toBalance);
    before = after;
  }
}

/**
 * The same from the journal lines alone (`ledgerlink verify` holds the cache to it): every line of
 * the entity summed per account, less the lines of documents dated after `at` (usually none). Not
 * every document dated up to `at` joined to its lines: that join's plan depended on statistics,
 * and with stale ones intersected the entity's whole line index once per document
 * (docs/performance.md, "Trial balance").
 */
export async function glBalancesFromLedger(db: Queryable, entityId: string, at: string): Promise<GlBalance[]> {
  const { rows } = await db.query<AccountRow>(
    `WITH totals AS (
       SELECT gl_account_code, sum(base_amount) AS balance
         FROM journal_lines WHERE entity_id = $1 GROUP BY gl_account_code
       UNION ALL
       SELECT j.gl_account_code, -sum(j.base_amount)
         FROM transactions t JOIN journal_lines j ON j.transaction_id = t.id
        WHERE t.entity_id = $1 AND t.transaction_date > $2::date
        GROUP BY j.gl_account_code
     )
     ${BY_ACCOUNT}`,
    [entityId, at],
  );
  return rows.map(toBalance);
}
