-- The control-account rule on journal lines (0031) once per statement instead of once per line:
-- a set-based posting writes thousands of lines in one statement, and one join of them with the
-- GL accounts costs far less than a trigger call and a lookup per line. Same rule, same error.
DROP TRIGGER journal_lines_control_account ON journal_lines;

CREATE FUNCTION ll_check_control_account_lines() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT n.gl_account_code, g.is_control INTO bad
    FROM new_lines n JOIN gl_accounts g ON g.entity_id = n.entity_id AND g.code = n.gl_account_code
   WHERE g.is_control <> (n.role = 'control')
   LIMIT 1;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF bad.is_control THEN
    RAISE EXCEPTION 'GL account % is a control account; only the control side of a customer document can post to it',
      bad.gl_account_code USING ERRCODE = '23514', CONSTRAINT = 'journal_lines_control_account';
  END IF;
  RAISE EXCEPTION 'GL account % is not a control account', bad.gl_account_code
    USING ERRCODE = '23514', CONSTRAINT = 'journal_lines_control_account';
END $$;

CREATE TRIGGER journal_lines_control_account AFTER INSERT ON journal_lines
  REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION ll_check_control_account_lines();
