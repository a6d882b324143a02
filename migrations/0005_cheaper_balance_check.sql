-- Check the balance of the lines each statement inserts, per transaction, rather than re-reading the
-- whole journal: if every statement's lines balance per transaction, every journal balances, and the
-- check no longer joins the journal table for each posting.
CREATE OR REPLACE FUNCTION ll_check_journal_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  unbalanced bigint;
BEGIN
  SELECT n.transaction_id INTO unbalanced
    FROM new_lines n
   GROUP BY n.transaction_id
  HAVING sum(n.amount) <> 0 OR sum(n.base_amount) <> 0
   LIMIT 1;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'the journal of transaction % does not balance', unbalanced USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$;
