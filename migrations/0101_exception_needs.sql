-- What a parked record needs booked before it can go: the customer or product it names
-- (`needs_kind`, `needs_source_id`), or the document it allocates, by its customer in the target
-- and its reference (`needs_kind`, `needs_customer`, `needs_reference`). Once the pipeline has
-- booked that, the engine runs the record again at the end of a run or on the workers' timer, as a
-- person's retry would (`releaseNeeded`, src/sync/engine/deliveries.ts): no one has to retry the
-- dependants of a document they fixed.
ALTER TABLE exceptions
  ADD COLUMN needs_kind text,
  ADD COLUMN needs_source_id text,
  ADD COLUMN needs_customer text,
  ADD COLUMN needs_reference text,
  ADD CONSTRAINT exceptions_needs_shape CHECK (
    needs_kind IS NULL
    OR (needs_kind IN ('customer', 'product') AND needs_source_id IS NOT NULL AND needs_reference IS NULL)
    OR (needs_kind IN ('invoice', 'creditNote', 'payment') AND needs_source_id IS NULL
        AND needs_customer IS NOT NULL AND needs_reference IS NOT NULL));
CREATE INDEX exceptions_open_needs ON exceptions (pipeline_id) WHERE status = 'open' AND needs_kind IS NOT NULL;

-- The documents a pipeline booked, by customer and reference: how payments, credit notes and
-- allocations find the document they name (a scan of every document of the kind before).
CREATE INDEX source_documents_reference ON source_documents (pipeline_id, kind, customer_code, external_reference);
