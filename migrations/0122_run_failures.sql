-- A run's failed attempts in a row, counted on the run itself (src/sync/service.ts workJob): a
-- queued run that had to wait behind another run of its pipeline between two attempts is offered
-- again by a new job, which starts a job's own retry count afresh, so the job's count could never
-- reach its limit and a run whose source stayed unreachable was tried forever. Reset whenever a
-- page is committed: it counts attempts without progress.
ALTER TABLE runs ADD COLUMN failures integer NOT NULL DEFAULT 0;
