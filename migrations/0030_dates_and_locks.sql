-- Dates in order. An entity may lock its books up to a date: nothing is posted, allocated or
-- reversed on or before it. Every business date lies in 1900-01-01..2999-12-31. An allocation is
-- never dated before either of its documents, and a reversal never before the allocation it
-- reverses. The operations check all of it first (with field names); these triggers are the
-- backstop, raising SQLSTATEs the HTTP edge turns into the same error codes
-- (src/ledger/periods.ts): LLDOR date out of range, LLPLK period locked, LLADB allocation dated
-- before a document, LLUDB unallocation dated before its allocation.
ALTER TABLE entities ADD COLUMN lock_date date
  CHECK (lock_date BETWEEN DATE '1900-01-01' AND DATE '2999-12-31');

-- Reads the lock date FOR SHARE: changing it waits for postings in flight, and a posting that
-- starts after the change sees the new date.
CREATE FUNCTION ll_check_open_date(entity uuid, d date, what text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  locked date;
BEGIN
  IF d < DATE '1900-01-01' OR d > DATE '2999-12-31' THEN
    RAISE EXCEPTION '% date % is outside 1900-01-01..2999-12-31', what, d USING ERRCODE = 'LLDOR';
  END IF;
  SELECT e.lock_date INTO locked FROM entities e WHERE e.id = entity FOR SHARE;
  IF locked IS NOT NULL AND d <= locked THEN
    RAISE EXCEPTION 'cannot post a % on %: the period is locked up to and including %', what, d, locked
      USING ERRCODE = 'LLPLK';
  END IF;
END $$;

CREATE FUNCTION ll_check_transaction_date() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ll_check_open_date(NEW.entity_id, NEW.transaction_date, 'transaction');
  RETURN NEW;
END $$;
CREATE TRIGGER transactions_dates BEFORE INSERT ON transactions
  FOR EACH ROW EXECUTE FUNCTION ll_check_transaction_date();

-- AFTER ROW, like the allocation limit: it runs at the end of the statement, so it sees documents
-- inserted by the same statement (post-pay-allocate writes documents and allocation together).
CREATE FUNCTION ll_check_allocation_date() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  latest date;
BEGIN
  PERFORM ll_check_open_date(NEW.entity_id, NEW.allocation_date, 'allocation');
  SELECT max(t.transaction_date) INTO latest
    FROM transactions t WHERE t.id IN (NEW.debit_transaction_id, NEW.credit_transaction_id);
  IF NEW.allocation_date < latest THEN
    RAISE EXCEPTION 'allocation dated % is before its document dated %', NEW.allocation_date, latest
      USING ERRCODE = 'LLADB';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER allocations_dates AFTER INSERT ON allocations
  FOR EACH ROW EXECUTE FUNCTION ll_check_allocation_date();

CREATE FUNCTION ll_check_reversal_date() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  allocated date;
BEGIN
  PERFORM ll_check_open_date(NEW.entity_id, NEW.reversal_date, 'reversal');
  SELECT a.allocation_date INTO allocated FROM allocations a WHERE a.id = NEW.allocation_id;
  IF NEW.reversal_date < allocated THEN
    RAISE EXCEPTION 'unallocation dated % is before the allocation it reverses, dated %', NEW.reversal_date, allocated
      USING ERRCODE = 'LLUDB';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER allocation_reversals_dates BEFORE INSERT ON allocation_reversals
  FOR EACH ROW EXECUTE FUNCTION ll_check_reversal_date();
