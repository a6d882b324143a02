-- The allocation limit as a row-level AFTER trigger. The statement-level version read a transition
-- table, which PL/pgSQL must plan afresh on every statement (several milliseconds per posting on
-- PGlite); a row trigger keeps its plans cached and checks each touched transaction through its
-- primary key and the allocation indexes. AFTER ROW triggers run at the end of the statement, so
-- each check sees every allocation the statement inserted.
DROP TRIGGER allocations_limit ON allocations;

CREATE OR REPLACE FUNCTION ll_check_allocation_limit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tx bigint;
BEGIN
  FOREACH tx IN ARRAY ARRAY[NEW.debit_transaction_id, NEW.credit_transaction_id] LOOP
    IF (SELECT t.gross FROM transactions t WHERE t.id = tx)
       < coalesce((SELECT sum(a.amount) FROM allocations a
                    WHERE a.debit_transaction_id = tx
                      AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)), 0)
       + coalesce((SELECT sum(a.amount) FROM allocations a
                    WHERE a.credit_transaction_id = tx
                      AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)), 0) THEN
      RAISE EXCEPTION 'transaction % would be allocated beyond its amount', tx USING ERRCODE = '23514';
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

CREATE TRIGGER allocations_limit AFTER INSERT ON allocations
  FOR EACH ROW EXECUTE FUNCTION ll_check_allocation_limit_row();
