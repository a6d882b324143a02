-- Retention of operational history (src/sync/retention.ts, docs/sync.md "How long history is kept"):
-- every worker removes, a batch at a time, stored reconciliation reports finished longer ago than
-- LEDGERLINK_RECONCILIATION_RETENTION_DAYS (each pipeline's newest finished and newest succeeded
-- are kept whatever their age), and the per-document records of runs finished longer ago than
-- LEDGERLINK_RUN_RECORDS_RETENTION_DAYS. Nothing else is removed: the ledger, the audit trail, the
-- source map, the outbox and the exceptions keep everything.

-- A run keeps its row and its counts; this says when its per-document records (run_records) were
-- removed, so that the API and the dashboard say so rather than show an empty list.
ALTER TABLE runs ADD COLUMN records_removed_at timestamptz;
-- The runs whose records are kept, by when they finished: what the purge walks from the oldest.
-- Small in steady state, since a run leaves it once its records are removed.
CREATE INDEX runs_records_kept ON runs (finished_at, id) WHERE records_removed_at IS NULL;
-- A run with an exception still open keeps its records (what becomes of the parked record later is
-- reported to that run): the purge asks, for each run, whether it has one.
CREATE INDEX exceptions_open_run ON exceptions (run_id) WHERE status = 'open' AND run_id IS NOT NULL;
-- Finished reconciliations by when they finished: the purge's candidates. Whether a newer one of the
-- pipeline exists is answered by reconciliations_pipeline_created (migration 0115).
CREATE INDEX reconciliations_finished ON reconciliations (finished_at) WHERE status IN ('succeeded', 'failed');
