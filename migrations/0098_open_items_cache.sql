-- What each document has had allocated, kept on the read side so that open items (the overview's
-- aging, the customers list, statements) read the few open documents instead of working out the
-- whole ledger: a million transactions took 4 s to age (docs/performance.md).
--
-- Nothing on the write path maintains it. Readers bring it up to date from the change order of
-- migration 0068: the documents, allocations and reversals whose writing transaction is below
-- `open_items_cursors.xid` are all in it, and rows at or above it are few and read directly
-- (src/ledger/reports/open-items.ts). It is derived data: deleting an entity's cursor rebuilds it.
--
-- A due date moved (the one amendment that changes what aging reads) takes its place in the same
-- change order: the amending transaction stamps its id in amended_xid.
ALTER TABLE transactions ADD COLUMN amended_xid xid8;
CREATE INDEX transactions_entity_amended_xid ON transactions (entity_id, amended_xid) WHERE amended_xid IS NOT NULL;

CREATE OR REPLACE FUNCTION ll_transactions_amend() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  amendable CONSTANT text[] := ARRAY['due_date', 'disputed', 'dispute_reason', 'amended_at', 'amended_xid'];
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
CREATE TABLE open_items_cursors (
  entity_id uuid PRIMARY KEY,
  -- Every change written by a transaction below this one is in open_items_cache.
  xid xid8 NOT NULL,
  refreshed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE open_items_cache (
  transaction_id bigint PRIMARY KEY,
  entity_id uuid NOT NULL,
  customer_code text,
  side text NOT NULL,
  transaction_date date NOT NULL,
  due_date date,
  -- Gross less the allocations of the document not reversed, whatever their dates.
  outstanding bigint NOT NULL,
  -- From this date on, what is open as at a date is outstanding: the document's date, and the
  -- latest date of its allocations and of its reversals. Before it, the ledger is read.
  as_of date NOT NULL
);

-- The open documents of an entity or a customer: a few per cent of all of them. A column compared
-- with a constant, so that the planner's statistics (most outstanding amounts are 0) say so.
CREATE INDEX open_items_cache_open ON open_items_cache (entity_id, customer_code)
  INCLUDE (transaction_id, outstanding, as_of, side, transaction_date, due_date) WHERE outstanding > 0;
-- Documents whose allocations or reversals are dated after an as-at date, read from the ledger.
CREATE INDEX open_items_cache_as_of ON open_items_cache (entity_id, as_of, customer_code);
