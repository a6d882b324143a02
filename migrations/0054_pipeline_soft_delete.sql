-- A deleted pipeline keeps its history (runs, source map, exceptions, audit) and frees its name:
-- deleted_at marks it, and the uniqueness of names holds among live pipelines only.
ALTER TABLE pipelines ADD COLUMN deleted_at timestamptz;

-- Every unique constraint or index on pipelines that covers its name (global, or per entity since
-- 0048) becomes the same index over the rows not deleted, whatever it was called.
DO $$
DECLARE
  u record;
BEGIN
  FOR u IN
    SELECT i.indexrelid::regclass::text AS index_name, c.conname AS constraint_name,
           (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
              FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS columns,
           (SELECT relname FROM pg_class WHERE oid = i.indexrelid) AS relname
      FROM pg_index i
      LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
     WHERE i.indrelid = 'pipelines'::regclass AND i.indisunique AND NOT i.indisprimary AND i.indpred IS NULL
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attname = 'name'
                      AND a.attnum = ANY (i.indkey::int2[]))
  LOOP
    IF u.constraint_name IS NOT NULL THEN
      EXECUTE format('ALTER TABLE pipelines DROP CONSTRAINT %I', u.constraint_name);
    ELSE
      EXECUTE format('DROP INDEX %s', u.index_name);
    END IF;
    EXECUTE format('CREATE UNIQUE INDEX %I ON pipelines (%s) WHERE deleted_at IS NULL', u.relname || '_live', u.columns);
  END LOOP;
END
$$;
