-- One outbox for everything that leaves ledgerlink: write-back to the source (direction `source`,
-- as before) and documents to a remote target (direction `target`). Each item has an idempotency
-- key unique per pipeline, derived from the document and the operation; its attempts, its next
-- attempt time and the target's answer (`result`) are kept with it.
ALTER TABLE outbox ADD COLUMN direction text NOT NULL DEFAULT 'source' CHECK (direction IN ('source', 'target'));
ALTER TABLE outbox ADD COLUMN idempotency_key text;
ALTER TABLE outbox ADD COLUMN result jsonb;
UPDATE outbox SET idempotency_key = 'source:' || kind || ':' || source_id;
ALTER TABLE outbox ALTER COLUMN idempotency_key SET NOT NULL;
ALTER TABLE outbox DROP CONSTRAINT outbox_pipeline_id_kind_source_id_key;
ALTER TABLE outbox ADD CONSTRAINT outbox_item UNIQUE (pipeline_id, direction, kind, source_id);
-- Unique per pipeline. A write-back key is made of its kind and source id, which outbox_item
-- already keeps unique; the index covers the keys sent to targets, where the operation is part of it.
CREATE UNIQUE INDEX outbox_idempotency_key ON outbox (pipeline_id, idempotency_key) WHERE direction = 'target';
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (pipeline_id, direction, next_attempt_at) WHERE status = 'pending';
