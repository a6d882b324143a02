-- The order in which ledger documents and allocations became visible, for the ledger source
-- (src/connectors/ledger/source.ts), which mirrors an entity's ledger into a platform. Identity
-- ids are handed out when a row is inserted, not when its transaction commits, so a reader that
-- pages by id can pass over a row whose transaction commits late. The writing transaction's id
-- (xid8, never wrapping) is recorded instead: rows below the oldest transaction still running
-- (pg_snapshot_xmin) can no longer be joined by another, so a cursor over (xid, id) below that
-- horizon misses nothing. Rows that exist already take this migration's transaction id.
ALTER TABLE transactions ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE allocations ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE allocation_reversals ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX transactions_entity_xid ON transactions (entity_id, xid, id);
CREATE INDEX allocations_entity_xid ON allocations (entity_id, xid, id);
CREATE INDEX allocation_reversals_entity_xid ON allocation_reversals (entity_id, xid, allocation_id);
