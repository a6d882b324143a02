-- Retention of stored webhook events (src/sync/retention.ts, docs/sync.md "How long history is
-- kept"): every worker removes, a batch at a time, the events processed longer ago than
-- LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS. Unprocessed events are never removed.

-- Processed events by when they were processed: the purge's candidates, oldest first. The pending
-- ones have their own index (webhook_events_pending, migration 0010).
CREATE INDEX webhook_events_processed ON webhook_events (processed_at) WHERE processed_at IS NOT NULL;

-- A reconciliation whose id an unexpired Idempotency-Key record still answers with (its
-- `Location`, migration 0116) is kept until that record expires, so that a replay never sends a
-- client to a removed report: the reconciliation purge asks, for each candidate, whether such a
-- record exists. Only answers with a Location are in it (202s of POST …/reconciliations).
CREATE INDEX idempotency_keys_location ON idempotency_keys (response_location) WHERE response_location IS NOT NULL;
