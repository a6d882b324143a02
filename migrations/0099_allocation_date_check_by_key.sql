-- The allocation date check read its two documents with `t.id IN (debit, credit)`. PL/pgSQL keeps
-- a trigger's plans for the life of the connection, and after five calls settles on a generic plan
-- when it costs no more than the custom ones: planned while `transactions` was small (a new
-- database, a new schema, before autovacuum's first ANALYZE), that generic plan scanned the whole
-- table, and kept doing so as it grew. Every allocation then read every document: on PostgreSQL a
-- batch of 100 allocations took 240 ms at 7,000 documents and 575 ms at 20,000 (4 ms in a new
-- session), and posting got slower as the ledger grew, until something invalidated the plan.
-- Two lookups by primary key have no such plan: an equality on a unique key is read by the index
-- whatever the statistics say. Same check, same errors.
CREATE OR REPLACE FUNCTION ll_check_allocation_date() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  latest date;
BEGIN
  PERFORM ll_check_open_date(NEW.entity_id, NEW.allocation_date, 'allocation');
  latest := greatest((SELECT t.transaction_date FROM transactions t WHERE t.id = NEW.debit_transaction_id),
                     (SELECT t.transaction_date FROM transactions t WHERE t.id = NEW.credit_transaction_id));
  IF NEW.allocation_date < latest THEN
    RAISE EXCEPTION 'allocation dated % is before its document dated %', NEW.allocation_date, latest
      USING ERRCODE = 'LLADB';
  END IF;
  RETURN NULL;
END $$;
