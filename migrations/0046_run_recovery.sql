-- Crash recovery: workers sweep every few seconds for unfinished runs whose heartbeat has gone
-- quiet (src/sync/recovery.ts), and a webhook looks for its pipeline's run that has not started yet.
CREATE INDEX runs_unfinished ON runs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX runs_waiting_webhook ON runs (pipeline_id, created_at) WHERE status = 'queued' AND trigger = 'webhook';
