-- Indexes for the AccountsIQ-style queries: allocations between two dates (GetAllocationsBetween)
-- and customers by e-mail (GetCustomersByEmail, whole address, any case).
CREATE INDEX allocations_entity_date ON allocations (entity_id, allocation_date, id);
CREATE INDEX customers_email ON customers (entity_id, lower(email));

-- A posted document never changes, with two exceptions AccountsIQ integrators rely on: its due
-- date can be moved (a payment plan agreed with the customer) and it can be flagged as disputed.
-- Both are columns of the document, so everything that reads due_date (statements, aging, PDFs,
-- the ledger source) sees the change with no second source of truth. The statement-level trigger
-- that refused every UPDATE becomes a row-level one that refuses any UPDATE touching another column:
-- it compares the whole row less those three columns, so a column added later is protected too.
ALTER TABLE transactions ADD COLUMN disputed boolean NOT NULL DEFAULT false;
ALTER TABLE transactions ADD COLUMN dispute_reason text CHECK (length(dispute_reason) <= 500);

CREATE FUNCTION ll_transactions_amend() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  amendable CONSTANT text[] := ARRAY['due_date', 'disputed', 'dispute_reason'];
BEGIN
  IF to_jsonb(NEW) - amendable IS DISTINCT FROM to_jsonb(OLD) - amendable THEN
    RAISE EXCEPTION 'rows of transactions are posted and cannot be changed or deleted, except their due date and dispute flag; post a correcting document instead'
      USING ERRCODE = '55000';
  END IF;
  IF NEW.due_date IS DISTINCT FROM OLD.due_date THEN
    IF OLD.due_date IS NULL OR NEW.due_date IS NULL THEN
      RAISE EXCEPTION 'transaction %: a due date can be moved, not added or removed', NEW.id USING ERRCODE = '55000';
    END IF;
    IF NEW.due_date < NEW.transaction_date THEN
      RAISE EXCEPTION 'transaction %: the due date % is before the document date %', NEW.id, NEW.due_date, NEW.transaction_date
        USING ERRCODE = '23514';
    END IF;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER transactions_immutable ON transactions;
CREATE TRIGGER transactions_immutable BEFORE DELETE OR TRUNCATE ON transactions
  FOR EACH STATEMENT EXECUTE FUNCTION ll_refuse_change();
CREATE TRIGGER transactions_amend BEFORE UPDATE ON transactions
  FOR EACH ROW EXECUTE FUNCTION ll_transactions_amend();
