-- The backstop of the date rules for transactions (0030) once per statement instead of once per
-- row: a set-based posting of 500 documents read the entity's lock date FOR SHARE 500 times, which
-- on PostgreSQL turned the entity row into a multixact and cost a third of the bulk rate. The
-- same check, on the earliest and latest date of each entity the statement wrote: the range on
-- both, the lock date (still read FOR SHARE) on the earliest.
DROP TRIGGER transactions_dates ON transactions;

CREATE FUNCTION ll_check_transaction_dates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT n.entity_id, min(n.transaction_date) AS first, max(n.transaction_date) AS last
             FROM new_transactions n GROUP BY n.entity_id LOOP
    PERFORM ll_check_open_date(r.entity_id, r.first, 'transaction');
    IF r.last > DATE '2999-12-31' THEN
      PERFORM ll_check_open_date(r.entity_id, r.last, 'transaction');
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

CREATE TRIGGER transactions_dates AFTER INSERT ON transactions
  REFERENCING NEW TABLE AS new_transactions FOR EACH STATEMENT EXECUTE FUNCTION ll_check_transaction_dates();
