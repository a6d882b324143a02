-- A run can be cancelled (POST /v1/runs/{runId}/cancel, `ledgerlink runs cancel`, the dashboard):
-- one nobody works ends `cancelled` at once; one a worker works is asked to stop, and ends
-- `cancelled` at its next page boundary, keeping what it posted (src/sync/run-cancel.ts).
-- `cancelled` is final: no status is written over it (the engine's updates check it).
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs
  ADD CONSTRAINT runs_status_check CHECK (status IN ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled'));
ALTER TABLE runs ADD COLUMN cancel_requested_at timestamptz;
ALTER TABLE runs ADD COLUMN cancelled_by text;
ALTER TABLE runs
  ADD CONSTRAINT runs_cancel_has_actor CHECK ((cancel_requested_at IS NULL) = (cancelled_by IS NULL));
