import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import type { Audit } from './pipelines.ts';
import { type Run, getRun, waitingOf } from './runs.ts';

/*
 * Cancelling a run. A run nobody works (queued, or left by a worker that died) ends `cancelled` at
 * once. A run a worker works is asked to stop (`cancel_requested_at`): the worker finishes the page
 * in hand, which is committed with what it posted, and ends the run `cancelled` instead of reading
 * on. Nothing posted is taken back (posted transactions never change), and documents already
 * handed to a remote target keep going until it takes or refuses them: a document sent without an
 * answer is never dropped half-way. A later run of the pipeline takes up what this one did not read.
 *
 * `cancelled` is final: every status the engine writes afterwards checks it (`claimRun`,
 * setRunStatus, the settling of waiting runs), so a worker that raced the cancel cannot write over it.
 */

export interface CancelOutcome {
  run: Run;
  /** True when the run was still working: it stops at its next page boundary. */
  requested: boolean;
}

/**
 * Cancels a run (see above). A finished run is refused (RUN_ALREADY_FINISHED), a cancelled one
 * answered as it is; a live exception retry is refused (RUN_NOT_CANCELLABLE): it works one record
 * for its request and ends with it. An import working is asked to stop like any run: its request
 * ends after the page in hand, answering which rows were not posted. `entityId` scopes the lookup
 * (NOT_FOUND otherwise).
 */
export async function cancelRun(
  db: Queryable,
  runId: string,
  opts: { entityId?: string | undefined; actor: string; leaseSeconds: number; audit: Audit },
): Promise<CancelOutcome> {
  const { rows } = await db.query<{
    entity_id: string;
    status: string;
    trigger: string;
    working: boolean;
    requested: boolean;
  }>(
    `SELECT r.entity_id, r.status, r.trigger,
            EXISTS (SELECT 1 FROM pipeline_leases l WHERE l.run_id = r.id AND l.expires_at > now())
              OR coalesce(r.heartbeat_at > now() - make_interval(secs => $3), false) AS working,
            r.cancel_requested_at IS NOT NULL AS requested
       FROM runs r
      WHERE r.id = $1 AND ($2::uuid IS NULL OR r.entity_id = $2)
      FOR UPDATE OF r`,
    [runId, opts.entityId ?? null, opts.leaseSeconds],
  );
  const found = rows[0];
  if (!found) throw new DomainError('NOT_FOUND', `No run ${runId}`);
  const current = async () => (await getRun(db, runId))!;
  if (found.status === 'cancelled') return { run: await current(), requested: false };
  if (!['queued', 'running'].includes(found.status))
    throw new DomainError('RUN_ALREADY_FINISHED', `Run ${runId} has finished (${found.status}): nothing to cancel`, [
      { field: 'runId', message: found.status },
    ]);
  // A retry works one parked record for its request: there is no page boundary to stop at.
  if (found.trigger === 'retry' && found.working)
    throw new DomainError(
      'RUN_NOT_CANCELLABLE',
      `Run ${runId} retries one parked record for its request, and ends with it: there is nothing to stop between`,
      [{ field: 'runId', message: found.trigger }],
    );
  const audit = (action: string, after: Record<string, unknown>): Promise<void> =>
    opts.audit({
      entityId: found.entity_id,
      action,
      objectType: 'run',
      objectId: runId,
      before: { status: found.status },
      after,
    });
  // Being worked (a live lease of its own): asked to stop at the next page. A queued run waiting for
  // the lease, or for its job, is cancelled outright: the worker's claim (`claimRun`) then finds it so.
  if (found.status === 'running' && found.working) {
    if (!found.requested) {
      await db.query(`UPDATE runs SET cancel_requested_at = now(), cancelled_by = $2 WHERE id = $1`, [
        runId,
        opts.actor,
      ]);
      await audit('run.cancel-requested', { status: 'running', cancelRequested: true });
    }
    return { run: await current(), requested: true };
  }
  await endCancelled(db, runId, opts.actor);
  await audit('run.cancelled', { status: 'cancelled' });
  return { run: await current(), requested: false };
}

/**
 * Ends a run `cancelled`, with what of it still waits for the target, and a message saying who
 * cancelled it (`actor`; the requester's when the run was asked to stop).
 */
export async function endCancelled(db: Queryable, runId: string, actor?: string): Promise<void> {
  const waiting = (await waitingOf(db, [runId])).get(runId) ?? 0;
  await db.query(
    `UPDATE runs
        SET status = 'cancelled', finished_at = now(), waiting = $2,
            cancel_requested_at = coalesce(cancel_requested_at, now()),
            cancelled_by = coalesce(cancelled_by, $3),
            error = 'Cancelled by ' || coalesce(cancelled_by, $3) ||
                    CASE WHEN started_at IS NULL THEN ' before it started'
                         ELSE ': what it posted is kept; the next run of the pipeline reads on' END ||
                    CASE WHEN $2 > 0 THEN '; ' || $2 || ' document(s) already sent still go to the target' ELSE '' END
      WHERE id = $1 AND status IN ('queued', 'running')`,
    [runId, waiting, actor ?? null],
  );
}

/**
 * A worker's claim of a run it is about to work, under the pipeline's lease: `running`, counting
 * the attempt, unless it has ended meanwhile (cancelled, or finished by another execution). One
 * statement, so a cancel that commits first is seen, and one that comes after finds it running.
 * A run asked to stop before this (its worker died after the request) is ended here. Returns
 * whether to go on.
 */
export async function claimRun(db: Queryable, runId: string): Promise<boolean> {
  const { rows } = await db.query<{ requested: boolean }>(
    `UPDATE runs SET status = 'running', error = NULL, finished_at = NULL,
            started_at = coalesce(started_at, now()), attempts = attempts + 1
      WHERE id = $1 AND status IN ('queued', 'running')
      RETURNING cancel_requested_at IS NOT NULL AS requested`,
    [runId],
  );
  const claimed = rows[0];
  if (!claimed) return false;
  if (claimed.requested) {
    await endCancelled(db, runId);
    return false;
  }
  return true;
}
