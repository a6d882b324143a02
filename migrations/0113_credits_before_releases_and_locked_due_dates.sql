-- Two rules about dates that the ledger checks first (with the field at fault) and the database
-- keeps as a backstop.

-- 1. A credit note dated before deferral releases that were already posted (a back-dated credit
-- note, docs/ledger.md "Credit notes against a deferred invoice"). As at its date those releases
-- had not happened, so the credit note takes their amount off the deferred account, and each
-- release, which stays posted, is reversed by a general journal of its own date. This records
-- which credit note reversed which posted release and by what journal. A release is reversed at
-- most once (the primary key), and only one that was released, not one a credit note cancelled
-- before it was posted (the foreign key on the kind).
ALTER TABLE deferral_release_postings ADD CONSTRAINT deferral_release_postings_kind UNIQUE (release_id, kind);

CREATE TABLE deferral_release_reversals (
  release_id bigint PRIMARY KEY,
  kind text NOT NULL DEFAULT 'released' CHECK (kind = 'released'),
  entity_id uuid NOT NULL REFERENCES entities (id),
  -- The credit note that took the release's amount off the deferred account, dated before the release.
  credit_note_id bigint NOT NULL REFERENCES transactions (id),
  -- The general journal reversing the release's, on the release's date.
  transaction_id bigint NOT NULL REFERENCES transactions (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (release_id, kind) REFERENCES deferral_release_postings (release_id, kind)
);
CREATE INDEX deferral_release_reversals_credit_note ON deferral_release_reversals (credit_note_id);

CREATE TRIGGER deferral_release_reversals_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON deferral_release_reversals
  FOR EACH STATEMENT EXECUTE FUNCTION ll_refuse_change();

-- 2. The due date of a document dated on or before the lock date does not move: the statements
-- and aged reports of the locked period would age the document from the new date. The lock date
-- is read FOR SHARE, as posting reads it (migration 0030), and the refusal is LLPLK, which the
-- HTTP edge answers as PERIOD_LOCKED.
CREATE FUNCTION ll_check_due_date_open() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  locked date;
BEGIN
  SELECT e.lock_date INTO locked FROM entities e WHERE e.id = OLD.entity_id FOR SHARE;
  IF locked IS NOT NULL AND OLD.transaction_date <= locked THEN
    RAISE EXCEPTION 'transaction %: cannot move the due date of a document dated %: the period is locked up to and including %',
      OLD.id, OLD.transaction_date, locked USING ERRCODE = 'LLPLK';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER transactions_due_date_open BEFORE UPDATE OF due_date ON transactions
  FOR EACH ROW WHEN (NEW.due_date IS DISTINCT FROM OLD.due_date) EXECUTE FUNCTION ll_check_due_date_open();
