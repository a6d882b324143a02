-- Transactions modified since an instant, with what happened to each (AccountsIQ
-- GetTransactionsModifiedBy): created (created_at), updated (one of the two amendments a posted
-- document accepts, stamped in amended_at), or reversed (by the documents that point at it through
-- related_transaction_id: a credit note crediting an invoice in full, the reversal of a discount, an
-- exchange difference or a journal). amended_at joins the columns an UPDATE may touch.
ALTER TABLE transactions ADD COLUMN amended_at timestamptz;

CREATE OR REPLACE FUNCTION ll_transactions_amend() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  amendable CONSTANT text[] := ARRAY['due_date', 'disputed', 'dispute_reason', 'amended_at'];
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

CREATE INDEX transactions_entity_created ON transactions (entity_id, created_at);
CREATE INDEX transactions_entity_amended ON transactions (entity_id, amended_at) WHERE amended_at IS NOT NULL;
