-- At most one webhook run per pipeline that no execution has started (queued, never attempted): a
-- webhook delivery joins it (src/sync/runs.ts, joinWebhookRun). Looking for it was not enough on
-- PostgreSQL: two deliveries racing past an empty queue found none and each created one. With this
-- index the second one's insert waits for the first's and then joins its run. Runs that have started
-- (attempts > 0, also when queued again after a failure) are outside it, so a delivery during a run
-- still makes the next one; manual, scheduled, daily-summary, import and retry runs are untouched.

-- Runs that race already doubled are folded into the pipeline's oldest waiting one, which reads every
-- pending event (and payment status) when it starts: nothing of theirs is lost. Their queued jobs
-- find them finished and do nothing.
UPDATE runs r
   SET status = 'failed',
       finished_at = now(),
       error = 'Not run: joined into the earlier waiting webhook run of its pipeline, which processes its events '
               || '(one waiting webhook run per pipeline, migration 0062)'
 WHERE r.trigger = 'webhook' AND r.status = 'queued' AND r.attempts = 0
   AND EXISTS (
     SELECT 1 FROM runs o
      WHERE o.pipeline_id = r.pipeline_id AND o.trigger = 'webhook' AND o.status = 'queued' AND o.attempts = 0
        AND (o.created_at, o.id) < (r.created_at, r.id)
   );

CREATE UNIQUE INDEX runs_one_waiting_webhook ON runs (pipeline_id)
  WHERE trigger = 'webhook' AND status = 'queued' AND attempts = 0;

-- The unique index finds a pipeline's waiting run by itself.
DROP INDEX runs_waiting_webhook;
