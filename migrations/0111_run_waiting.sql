-- A run that ends with documents still on their way to a remote target (sent and waiting for a
-- retry, or held behind such a document) is `partial`, "N document(s) wait for the target". They
-- go through later, on the workers' timer or at the end of another run of the pipeline; until now
-- their outcome was written only to the audit trail, and the run said for ever that they waited.
--
-- Each outbox item of a target and each held record now names the run that last sent it
-- (`run_id`), and what becomes of it later is reported to that run: its run records, its counts,
-- the exceptions it parks. `runs.waiting` is how many of the run's documents still wait; when the
-- last has gone through or been parked the run settles: `succeeded`, or `partial` when it parked
-- something (src/sync/engine/run.ts, `settleWaitingRuns`).
ALTER TABLE outbox ADD COLUMN run_id uuid REFERENCES runs (id) ON DELETE SET NULL;
ALTER TABLE held_records ADD COLUMN run_id uuid REFERENCES runs (id) ON DELETE SET NULL;
ALTER TABLE runs ADD COLUMN waiting integer NOT NULL DEFAULT 0 CHECK (waiting >= 0);

CREATE INDEX outbox_run_pending ON outbox (run_id) WHERE status = 'pending' AND run_id IS NOT NULL;
CREATE INDEX held_records_run ON held_records (run_id) WHERE run_id IS NOT NULL;
-- The runs a flush looks at: those of the pipeline that still wait for something.
CREATE INDEX runs_waiting ON runs (pipeline_id) WHERE waiting > 0;
