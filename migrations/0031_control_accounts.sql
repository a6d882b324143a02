-- Control accounts, bounded credit notes, discount lines and case-insensitive references (issue 7).

-- 1. Control accounts. An account marked control (the debtors control account, and any account a
-- customer uses as its control account) takes only the control side of customer documents: an
-- invoice's sales line, a tax code or a journal line on it would make the control account stop
-- agreeing with what customers owe. Existing accounts in either use are marked.
ALTER TABLE gl_accounts ADD COLUMN is_control boolean NOT NULL DEFAULT false;
UPDATE gl_accounts g SET is_control = true
 WHERE g.code = (SELECT e.account_roles->>'debtorsControl' FROM entities e WHERE e.id = g.entity_id)
    OR EXISTS (SELECT 1 FROM customers c WHERE c.entity_id = g.entity_id AND c.control_gl_account_code = g.code);

-- A control line goes to a control account and every other line to an account that is not one.
-- A row trigger (cached plan, one primary-key lookup per line) rather than a statement trigger
-- over a transition table, which PL/pgSQL would plan afresh on every posting.
CREATE FUNCTION ll_check_control_account_line() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  control boolean;
BEGIN
  SELECT g.is_control INTO control FROM gl_accounts g WHERE g.entity_id = NEW.entity_id AND g.code = NEW.gl_account_code;
  IF control AND NEW.role <> 'control' THEN
    RAISE EXCEPTION 'GL account % is a control account; only the control side of a customer document can post to it',
      NEW.gl_account_code USING ERRCODE = '23514', CONSTRAINT = 'journal_lines_control_account';
  END IF;
  IF NOT control AND NEW.role = 'control' THEN
    RAISE EXCEPTION 'GL account % is not a control account', NEW.gl_account_code
      USING ERRCODE = '23514', CONSTRAINT = 'journal_lines_control_account';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER journal_lines_control_account AFTER INSERT ON journal_lines
  FOR EACH ROW EXECUTE FUNCTION ll_check_control_account_line();

-- Tax codes and bank accounts post through their GL account, so it cannot be a control account.
CREATE FUNCTION ll_refuse_control_account_reference() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT g.is_control FROM gl_accounts g WHERE g.entity_id = NEW.entity_id AND g.code = NEW.gl_account_code) THEN
    RAISE EXCEPTION 'GL account % is a control account and cannot be used by %', NEW.gl_account_code, TG_TABLE_NAME
      USING ERRCODE = '23514', CONSTRAINT = 'control_account_reference';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER tax_codes_not_control BEFORE INSERT OR UPDATE OF gl_account_code ON tax_codes
  FOR EACH ROW EXECUTE FUNCTION ll_refuse_control_account_reference();
CREATE TRIGGER bank_accounts_not_control BEFORE INSERT OR UPDATE OF gl_account_code ON bank_accounts
  FOR EACH ROW EXECUTE FUNCTION ll_refuse_control_account_reference();

-- A customer's control account is a control account, and it stays put once the customer has
-- postings: moving it would leave the old control account holding items nobody owes through it.
CREATE FUNCTION ll_check_customer_control_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.control_gl_account_code IS DISTINCT FROM OLD.control_gl_account_code
     AND EXISTS (SELECT 1 FROM transactions t WHERE t.entity_id = OLD.entity_id AND t.customer_code = OLD.code) THEN
    RAISE EXCEPTION 'customer % has postings; its control account cannot change', OLD.code
      USING ERRCODE = '23514', CONSTRAINT = 'customers_control_account_locked';
  END IF;
  IF NOT coalesce((SELECT g.is_control FROM gl_accounts g
                    WHERE g.entity_id = NEW.entity_id AND g.code = NEW.control_gl_account_code), false) THEN
    RAISE EXCEPTION 'GL account % is not a control account', NEW.control_gl_account_code
      USING ERRCODE = '23514', CONSTRAINT = 'customers_control_account';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER customers_control_account BEFORE INSERT OR UPDATE OF control_gl_account_code ON customers
  FOR EACH ROW EXECUTE FUNCTION ll_check_customer_control_account();

-- 2. Credit notes bounded: the credit notes raised from an invoice never credit more than its gross.
-- Posting checks this under the customer's row lock with a readable error; this is the backstop.
CREATE FUNCTION ll_check_credit_note_bound() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT i.gross FROM transactions i WHERE i.id = NEW.related_transaction_id AND i.type = 'SI')
     < (SELECT sum(n.gross) FROM transactions n WHERE n.related_transaction_id = NEW.related_transaction_id AND n.type = 'SN') THEN
    RAISE EXCEPTION 'credit notes of invoice % would credit more than its gross', NEW.related_transaction_id
      USING ERRCODE = '23514', CONSTRAINT = 'transactions_credit_note_bound';
  END IF;
  RETURN NULL;
END $$;
CREATE INDEX transactions_related ON transactions (related_transaction_id) WHERE related_transaction_id IS NOT NULL;
CREATE TRIGGER transactions_credit_note_bound AFTER INSERT ON transactions
  FOR EACH ROW WHEN (NEW.type = 'SN' AND NEW.related_transaction_id IS NOT NULL)
  EXECUTE FUNCTION ll_check_credit_note_bound();

-- 3. Discount lines: an invoice or credit note line may be negative (its document total may not,
-- which the transaction's own gross >= 0 check keeps).
ALTER TABLE transaction_items DROP CONSTRAINT transaction_items_net_check;
ALTER TABLE transaction_items DROP CONSTRAINT transaction_items_tax_check;

-- 4. Duplicate checks compare references trimmed and case-insensitively; the text is stored as sent.
CREATE FUNCTION ll_reference_key(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT lower(btrim($1, E' \t\r\n')) $$;
CREATE INDEX transactions_reference_key ON transactions (entity_id, customer_code, type, ll_reference_key(external_reference));
-- The unique index moves to the normalised key. Documents posted before this migration may already
-- differ only by case or spaces; they are immutable, so the index leaves out rows up to the last such
-- one (none on a clean ledger) and the posting check, which reads every row, covers them.
DROP INDEX transactions_external_reference_checked;
DO $$
DECLARE
  cutoff bigint;
BEGIN
  SELECT coalesce(max(id), 0) INTO cutoff FROM (
    SELECT max(t.id) AS id FROM transactions t
     WHERE t.duplicate_checked AND ll_reference_key(t.external_reference) <> ''
     GROUP BY t.entity_id, t.customer_code, t.type, ll_reference_key(t.external_reference)
    HAVING count(*) > 1) AS conflicts;
  EXECUTE format(
    'CREATE UNIQUE INDEX transactions_external_reference_checked
       ON transactions (entity_id, customer_code, type, ll_reference_key(external_reference))
       WHERE duplicate_checked AND ll_reference_key(external_reference) <> '''' AND id > %s', cutoff);
END $$;
