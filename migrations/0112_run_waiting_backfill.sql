-- Runs that ended before migration 0111 with documents still waiting for a remote target: each
-- such document (outbox item still pending, or record still held) is given back to the last of
-- those runs that recorded it as waiting, and the runs their waiting count, so that they settle
-- like any later run once their documents have gone through. A document that went through before
-- the upgrade cannot be traced to its run any more: a run whose documents all did keeps what it
-- said. Safe to run again: it only fills what is empty.
WITH waiting_runs AS (
  SELECT id, pipeline_id FROM runs
   WHERE status = 'partial' AND waiting = 0 AND error LIKE '%document(s) wait for the % target%'
),
last_said AS (
  SELECT DISTINCT ON (w.pipeline_id, rr.kind, rr.source_id) w.pipeline_id, rr.kind, rr.source_id, rr.run_id
    FROM waiting_runs w
    JOIN run_records rr ON rr.run_id = w.id
   WHERE rr.outcome = 'failed' AND rr.message LIKE 'waiting%'
   ORDER BY w.pipeline_id, rr.kind, rr.source_id, rr.id DESC
),
outbox_given AS (
  UPDATE outbox o SET run_id = l.run_id
    FROM last_said l
   WHERE o.direction = 'target' AND o.status = 'pending' AND o.run_id IS NULL
     AND o.pipeline_id = l.pipeline_id AND o.source_id = l.source_id
     -- Drafts are sent as their own kind and recorded as invoices.
     AND l.kind = CASE WHEN o.kind = 'draft' THEN 'invoice' ELSE o.kind END
  RETURNING o.run_id
),
held_given AS (
  UPDATE held_records h SET run_id = l.run_id
    FROM last_said l
   WHERE h.run_id IS NULL AND h.pipeline_id = l.pipeline_id AND h.kind = l.kind AND h.source_id = l.source_id
  RETURNING h.run_id
)
UPDATE runs r SET waiting = n.n
  FROM (SELECT run_id, count(*) AS n
          FROM (SELECT run_id FROM outbox_given UNION ALL SELECT run_id FROM held_given) g
         GROUP BY run_id) n
 WHERE r.id = n.run_id;
