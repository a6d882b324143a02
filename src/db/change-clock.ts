import type { Queryable } from './database.ts';

/*
 * The ledger's change order (migrations 0068, 0110): `ll_change_id()`, the writing transaction's id
 * plus an offset, stamped on every document, allocation, reversal and moved due date, and
 * `ll_change_horizon()`, the oldest id still running plus that offset. The open items and GL
 * balances caches and the ledger as a source follow it with cursors.
 *
 * A dump restored into another PostgreSQL cluster keeps its rows' ids while the new cluster counts
 * from its own, usually lower, counter. At every process start, under the migration lock and
 * before anything is written, the offset moves on so that the clock is past every id stored: what
 * is written after a restore comes after what was written before it, as it did.
 */

/** Room left above the highest id stored, for the ids the aligning transaction itself takes. */
const MARGIN = 1000n;

/** Where the clock would be read below what is stored: the highest change id any row or cursor holds. */
const HIGHEST_STORED = `
  SELECT x::text AS id FROM (
    (SELECT m.x FROM entities e CROSS JOIN LATERAL (
       SELECT t.xid AS x FROM transactions t WHERE t.entity_id = e.id ORDER BY t.xid DESC LIMIT 1) m)
    UNION ALL
    (SELECT m.x FROM entities e CROSS JOIN LATERAL (
       SELECT t.amended_xid AS x FROM transactions t
        WHERE t.entity_id = e.id AND t.amended_xid IS NOT NULL ORDER BY t.amended_xid DESC LIMIT 1) m)
    UNION ALL
    (SELECT m.x FROM entities e CROSS JOIN LATERAL (
       SELECT a.xid AS x FROM allocations a WHERE a.entity_id = e.id ORDER BY a.xid DESC LIMIT 1) m)
    UNION ALL
    (SELECT m.x FROM entities e CROSS JOIN LATERAL (
       SELECT r.xid AS x FROM allocation_reversals r WHERE r.entity_id = e.id ORDER BY r.xid DESC LIMIT 1) m)
    UNION ALL
    SELECT xid FROM open_items_cursors
    UNION ALL
    SELECT xid FROM gl_balances_cursors
  ) s ORDER BY x DESC LIMIT 1`;

/**
 * Moves the change clock past every change id stored, if it is not already (a database restored
 * into another cluster). Runs in the caller's transaction, which holds the migration lock.
 * Answers by how much it moved (0n: it was ahead, as always but after such a restore).
 */
export async function alignChangeClock(tx: Queryable): Promise<bigint> {
  const { rows: stored } = await tx.query<{ id: string }>(HIGHEST_STORED);
  if (!stored[0]) return 0n;
  // The next id the cluster hands out, on the clock: read without taking an id for this transaction.
  const { rows } = await tx.query<{ now: string; id_offset: string }>(
    `SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::numeric + id_offset)::text AS now,
            id_offset::text AS id_offset
       FROM change_clock`,
  );
  const now = BigInt(rows[0]!.now);
  const highest = BigInt(stored[0].id);
  if (now > highest) return 0n;
  const by = highest - now + MARGIN;
  const offset = BigInt(rows[0]!.id_offset) + by;
  await tx.query(`UPDATE change_clock SET id_offset = $1::numeric, moved_at = now()`, [offset.toString()]);
  // The offset as a constant in the functions' bodies: no table read for each row written.
  await tx.exec(`
    CREATE OR REPLACE FUNCTION ll_change_id() RETURNS xid8 LANGUAGE sql VOLATILE
      AS $$ SELECT (pg_current_xact_id()::text::numeric + ${offset})::text::xid8 $$;
    CREATE OR REPLACE FUNCTION ll_change_horizon() RETURNS xid8 LANGUAGE sql VOLATILE
      AS $$ SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::numeric + ${offset})::text::xid8 $$;`);
  return by;
}
