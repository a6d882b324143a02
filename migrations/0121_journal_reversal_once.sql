-- A general journal reversed after it was posted (POST /v1/journals/{id}/reverse,
-- src/ledger/posting/journal-reversal.ts).
--
-- It is reversed at most once, whoever reverses it (a reversal posted with its journal, a request,
-- a deferral release reversed by a credit note): the reversal names the journal it reverses
-- (`related_transaction_id`, `details.reverses`). Two requests reversing one journal at once are
-- ordered by the journal's row lock; this is the backstop.
CREATE UNIQUE INDEX transactions_one_reversal ON transactions (related_transaction_id)
  WHERE type = 'GJ' AND details ? 'reverses';

-- A receipt's fee (migration 0114) stays as posted, except that the fee journal's reversal takes it
-- off its receipt, in the reversal's transaction: a fee reversed is no fee, and the receipt is free
-- for its payment's fee to be posted again (or a journal keyed by hand to be recorded). The
-- reversal journal names the fee journal, and the audit trail the receipt, so nothing is lost.
DROP TRIGGER receipt_fees_immutable ON receipt_fees;
CREATE TRIGGER receipt_fees_immutable BEFORE UPDATE OR TRUNCATE ON receipt_fees
  FOR EACH STATEMENT EXECUTE FUNCTION ll_refuse_change();

CREATE FUNCTION ll_receipt_fee_removable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM transactions r
                  WHERE r.related_transaction_id = OLD.fee_transaction_id AND r.type = 'GJ'
                    AND r.details ? 'reverses') THEN
    RAISE EXCEPTION 'rows of receipt_fees are posted and cannot be deleted until their fee journal is reversed'
      USING ERRCODE = '55000';
  END IF;
  RETURN OLD;
END $$;

CREATE TRIGGER receipt_fees_removed_by_reversal BEFORE DELETE ON receipt_fees
  FOR EACH ROW EXECUTE FUNCTION ll_receipt_fee_removable();
