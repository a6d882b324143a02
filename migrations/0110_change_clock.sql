-- The change order of migration 0068 is the id of the transaction that wrote each document,
-- allocation and reversal, and its horizon the oldest id still running. A database restored from a
-- dump (pg_dump, docs/deploy.md) into another PostgreSQL cluster keeps the ids its rows had, but
-- the new cluster hands out ids from its own counter, usually far lower: everything written after
-- the restore would sort before what was written before it, and the readers that follow the
-- change order would take it for something they had seen already. The open items and GL
-- balances caches would leave the new documents out of statements and the trial balance, and the
-- ledger as a source would never send them to its platform.
--
-- So the change order is the transaction id plus an offset, which these two functions carry as a
-- constant (0 until a restore: the functions then cost what the ids alone did). Every process start
-- (src/db/change-clock.ts, run by migrate) moves the offset on when what is stored is ahead of the
-- clock, which only a restore into another cluster does, before anything new is written.
CREATE TABLE change_clock (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  -- Added to the cluster's transaction ids; grows, never shrinks.
  id_offset numeric NOT NULL DEFAULT 0 CHECK (id_offset >= 0),
  moved_at timestamptz
);
INSERT INTO change_clock DEFAULT VALUES;

CREATE FUNCTION ll_change_id() RETURNS xid8 LANGUAGE sql VOLATILE AS $$ SELECT pg_current_xact_id() $$;
CREATE FUNCTION ll_change_horizon() RETURNS xid8 LANGUAGE sql VOLATILE AS $$ SELECT pg_snapshot_xmin(pg_current_snapshot()) $$;

ALTER TABLE transactions ALTER COLUMN xid SET DEFAULT ll_change_id();
ALTER TABLE allocations ALTER COLUMN xid SET DEFAULT ll_change_id();
ALTER TABLE allocation_reversals ALTER COLUMN xid SET DEFAULT ll_change_id();
