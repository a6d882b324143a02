-- Analysis codes and general journals (issue 11).
--
-- 1. Up to six analysis dimensions per entity (AccountsIQ's analysis / BI codes), each with its list
-- of codes. A department carries one code per dimension (departments.analysis_codes, position i for
-- dimension i); invoice, credit-note and journal lines carry the codes they were posted with.
CREATE TABLE analysis_dimensions (
  entity_id uuid NOT NULL REFERENCES entities (id),
  dimension smallint NOT NULL CHECK (dimension BETWEEN 1 AND 6),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (entity_id, dimension)
);

-- A code is never deleted once a department or a posted line uses it (the API refuses to drop it
-- from the list); it is deactivated instead, so reports can still name it.
CREATE TABLE analysis_codes (
  entity_id uuid NOT NULL,
  dimension smallint NOT NULL,
  code text NOT NULL CHECK (code = upper(code) AND length(code) BETWEEN 1 AND 50),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  is_active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (entity_id, dimension, code),
  FOREIGN KEY (entity_id, dimension) REFERENCES analysis_dimensions (entity_id, dimension)
);

-- The codes a line was posted with, as an object from dimension ("1".."6") to code; NULL when none.
-- Stored on the line (not looked up through its department later) because a department's codes
-- may change while posted lines never do.
ALTER TABLE transaction_items ADD COLUMN analysis jsonb
  CONSTRAINT transaction_items_analysis_shape CHECK (jsonb_typeof(analysis) = 'object');
ALTER TABLE journal_lines ADD COLUMN analysis jsonb
  CONSTRAINT journal_lines_analysis_shape CHECK (jsonb_typeof(analysis) = 'object');

-- A line's codes default from its department, dimension by dimension: the codes the poster gave
-- win, a JSON null given for a dimension means "no code" there, the department fills the rest.
-- Done here so that every posting path (batch invoices, drafts, imports, pipelines, journals)
-- stores the same thing without each having to remember it.
CREATE FUNCTION ll_line_analysis() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  from_department jsonb := '{}';
BEGIN
  IF NEW.department_id IS NOT NULL THEN
    SELECT coalesce(jsonb_object_agg(c.n::text, c.code) FILTER (WHERE c.code <> ''), '{}') INTO from_department
      FROM departments d, unnest(d.analysis_codes) WITH ORDINALITY AS c(code, n)
     WHERE d.entity_id = NEW.entity_id AND d.id = NEW.department_id;
  END IF;
  NEW.analysis := jsonb_strip_nulls(coalesce(from_department, '{}') || coalesce(NEW.analysis, '{}'));
  IF NEW.analysis = '{}'::jsonb THEN
    NEW.analysis := NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER transaction_items_analysis BEFORE INSERT ON transaction_items
  FOR EACH ROW WHEN (NEW.department_id IS NOT NULL OR NEW.analysis IS NOT NULL)
  EXECUTE FUNCTION ll_line_analysis();
CREATE TRIGGER journal_lines_analysis BEFORE INSERT ON journal_lines
  FOR EACH ROW WHEN (NEW.department_id IS NOT NULL OR NEW.analysis IS NOT NULL)
  EXECUTE FUNCTION ll_line_analysis();

-- 2. General journals (type GJ, no customer) posted through POST /v1/journals may be reversed
-- automatically: the reversal is a GJ of its own whose details name the journal it reverses
-- ({"reverses": id}, with related_transaction_id pointing at it too). A journal is reversed at most once.
CREATE UNIQUE INDEX transactions_journal_reversed_once ON transactions (entity_id, (details->>'reverses'))
  WHERE type = 'GJ' AND details ? 'reverses';
