-- Reconciliations asked for with POST /v1/pipelines/{name}/reconciliations and worked by a worker
-- through the job queue (src/sync/reconciliation-worker.ts). Against a remote target a large window
-- takes minutes, longer than an HTTP client or proxy waits for an answer: the request now only
-- queues one, and its status, progress and report are read here later. The report is the document
-- GET /v1/pipelines/{name}/reconciliation answers. A worker that dies leaves its heartbeat to go
-- quiet, and the recovery sweep queues the reconciliation again, or fails it after three tries.
CREATE TABLE reconciliations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  entity_id uuid NOT NULL REFERENCES entities (id),
  pipeline_id uuid NOT NULL REFERENCES pipelines (id),
  date_from date NOT NULL,
  date_to date NOT NULL,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  -- Where the worker has got to (src/sync/reconcile.ts, ReconcileProgress); null until it starts.
  progress jsonb,
  report jsonb,
  -- A stable code (the failure codes of src/sync/reconciliations.ts, or an API error code) and a
  -- message for people; never a raw database message.
  error_code text,
  error_message text,
  -- Executions started; one that dies is tried again up to three in all.
  attempts integer NOT NULL DEFAULT 0,
  -- The execution that holds it while running (host, process, a token of its own).
  worker text,
  heartbeat_at timestamptz,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  CHECK (date_from <= date_to),
  CHECK ((status = 'succeeded') = (report IS NOT NULL)),
  CHECK ((status = 'failed') = (error_code IS NOT NULL AND error_message IS NOT NULL)),
  CHECK ((status IN ('succeeded', 'failed')) = (finished_at IS NOT NULL)),
  CHECK ((status = 'running') = (worker IS NOT NULL))
);
CREATE INDEX reconciliations_pipeline_created ON reconciliations (pipeline_id, created_at DESC, id);
-- The recovery sweep looks for unfinished ones every few seconds.
CREATE INDEX reconciliations_unfinished ON reconciliations (created_at) WHERE status IN ('queued', 'running');
-- One unfinished reconciliation of a pipeline's period at a time: asked for again (a second click, a
-- client's retry without an Idempotency-Key) while it is queued or running, that one is answered.
CREATE UNIQUE INDEX reconciliations_one_unfinished ON reconciliations (pipeline_id, date_from, date_to)
  WHERE status IN ('queued', 'running');
