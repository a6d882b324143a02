import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { type Database, isDatabaseUnavailable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { recordAudit } from '../ledger/audit.ts';
import { type Pipeline, findPipelineById } from './pipelines.ts';
import { JOBS, type JobQueue } from './queue.ts';
import { type ReconcileProgress, reconcile } from './reconcile.ts';
import {
  RECONCILIATION_ATTEMPTS,
  RECONCILIATION_FAILURES,
  createReconciliation,
  failureOf,
} from './reconciliations.ts';
import type { SecretBox } from './secrets.ts';

export interface ReconciliationWorkerDeps {
  db: Database;
  box: SecretBox;
  log: Logger;
  /** Without a queue (tests, one-off commands) a reconciliation is worked by the process that asks for it. */
  queue: JobQueue | null;
  /** A reconciliation whose heartbeat is older than this is its dead worker's: the sweep takes it over. */
  leaseSeconds: number;
  /**
   * Aborted when the process begins to stop (SIGTERM, `Liveness.stopSignal`): a wait for the target
   * ends at once, and what it works is handed back to the queue.
   */
  stopSignal: AbortSignal;
}

/** How often a running reconciliation's progress and heartbeat are written. */
const BEAT_MS = 1000;
/** How soon one interrupted by a database outage is offered again. */
const OUTAGE_RETRY_SECONDS = 5;
const JOB_KEY = 'reconciliationId';

/** Thrown from the progress callback to stop at the next phase or page when the process is stopping. */
class StoppingError extends Error {}
/** Thrown from the progress callback once another execution has taken the reconciliation over. */
class TakenOverError extends Error {}

/**
 * Works stored reconciliations (src/sync/reconciliations.ts): each job claims its reconciliation,
 * runs `reconcile()` over the stored window, writes its progress and heartbeat every second, and
 * stores the report or the failure. A reconciliation only reads, so one whose worker died starts
 * again from the beginning: the recovery sweep queues it again (`recover`), and fails it once it
 * has had RECONCILIATION_ATTEMPTS executions, so that none is left `running` for ever.
 */
export class ReconciliationWorker {
  /** Reconciliations this process works now: never its own recovery sweep's orphans. */
  private readonly local = new Set<string>();
  private readonly prefix = `${hostname()}:${process.pid}:`;

  constructor(private readonly deps: ReconciliationWorkerDeps) {}

  /**
   * Stores a reconciliation of the pipeline's window and queues it in the same transaction; without
   * a queue it is worked before this returns. Returns its id: that of the one of the same window
   * already queued or running, when there is one (nothing more is queued).
   */
  async start(pipeline: Pipeline, window: { from: string; to: string }, actor: string): Promise<string> {
    const { db, queue } = this.deps;
    const { id, created } = await db.transaction(async (tx) => {
      const { id, created } = await createReconciliation(tx, {
        pipelineId: pipeline.id,
        entityId: pipeline.entityId,
        ...window,
        createdBy: actor,
      });
      if (!created) return { id, created };
      await recordAudit(tx, {
        entityId: pipeline.entityId,
        actor,
        action: 'reconciliation.queued',
        objectType: 'reconciliation',
        objectId: id,
        after: { pipeline: pipeline.name, ...window },
      });
      if (queue) await queue.enqueueReconciliation(tx, id);
      return { id, created };
    });
    if (!queue && created) await this.work(id);
    return id;
  }

  /** One execution of a reconciliation; does nothing when it is not queued (done, or another execution holds it). */
  async work(id: string): Promise<void> {
    const { db, box, log } = this.deps;
    const worker = this.prefix + randomUUID();
    const { rows } = await db.query<{ pipeline_id: string; date_from: string; date_to: string }>(
      `UPDATE reconciliations
          SET status = 'running', worker = $2, attempts = attempts + 1, heartbeat_at = now(),
              started_at = coalesce(started_at, now()), progress = NULL
        WHERE id = $1 AND status = 'queued'
       RETURNING pipeline_id, date_from::text AS date_from, date_to::text AS date_to`,
      [id, worker],
    );
    const claimed = rows[0];
    if (!claimed) return;
    this.local.add(id);
    let progress: ReconcileProgress | null = null;
    const progressJson = () => (progress ? JSON.stringify(progress) : null);
    let beating: Promise<void> | null = null;
    // Set when the sweep took it over (this process looked dead for a lease): this execution stops.
    let takenOver = false;
    const timer = setInterval(() => {
      if (beating) return; // the last one is still waiting for the database
      beating = db
        .query(
          `UPDATE reconciliations SET heartbeat_at = now(), progress = coalesce($3::jsonb, progress) WHERE id = $1 AND worker = $2`,
          [id, worker, progressJson()],
        )
        .then((r) => {
          if (r.rowCount === 0) takenOver = true;
        })
        .catch((err: unknown) => log.warn({ err, reconciliationId: id }, 'reconciliation heartbeat failed'))
        .finally(() => (beating = null));
    }, BEAT_MS);
    timer.unref();
    const quiet = async () => {
      clearInterval(timer);
      await beating;
    };
    try {
      const pipeline = await findPipelineById(db, box, claimed.pipeline_id);
      if (!pipeline)
        throw new DomainError('NOT_FOUND', 'The pipeline was deleted before its reconciliation could be worked');
      const report = await reconcile(db, pipeline, claimed.date_from, claimed.date_to, log, box, {
        onProgress: (p) => {
          if (this.deps.stopSignal.aborted) throw new StoppingError('the worker is stopping');
          if (takenOver) throw new TakenOverError('another execution took the reconciliation over');
          progress = p;
        },
        signal: this.deps.stopSignal,
      });
      await quiet();
      const done = await db.query(
        `UPDATE reconciliations
            SET status = 'succeeded', report = $3, progress = coalesce($4::jsonb, progress), finished_at = now(), worker = NULL
          WHERE id = $1 AND worker = $2`,
        [id, worker, JSON.stringify(report), progressJson()],
      );
      if (done.rowCount === 0)
        log.info({ reconciliationId: id }, 'reconciliation taken over meanwhile; its report kept');
    } catch (err) {
      await quiet();
      if (err instanceof TakenOverError) {
        log.info({ reconciliationId: id }, 'reconciliation taken over by another execution; this one stops');
        return;
      }
      const queue = this.deps.queue;
      if (queue && (err instanceof StoppingError || this.deps.stopSignal.aborted || isDatabaseUnavailable(err))) {
        // Not the reconciliation's failure: offered again (from the start: it only reads). When even
        // that cannot be written, its heartbeat goes quiet and the recovery sweep queues it.
        const later = isDatabaseUnavailable(err) ? OUTAGE_RETRY_SECONDS : 0;
        await this.handBack(id, worker, later).catch((e: unknown) =>
          log.warn({ err: e, reconciliationId: id }, 'could not hand the reconciliation back; the recovery sweep will'),
        );
        return;
      }
      const failure = failureOf(err, id);
      if (failure.unexpected) log.error({ err, reconciliationId: id }, 'reconciliation failed unexpectedly');
      else log.warn({ reconciliationId: id, code: failure.code }, `reconciliation failed: ${failure.message}`);
      await db.query(
        `UPDATE reconciliations
            SET status = 'failed', error_code = $3, error_message = $4, progress = coalesce($5::jsonb, progress),
                finished_at = now(), worker = NULL
          WHERE id = $1 AND worker = $2`,
        [id, worker, failure.code, failure.message, progressJson()],
      );
    } finally {
      clearInterval(timer);
      this.local.delete(id);
    }
  }

  /** Puts a reconciliation this execution holds back in the queue; a hand-back is not counted as an attempt. */
  private async handBack(id: string, worker: string, startAfterSeconds: number): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `UPDATE reconciliations SET status = 'queued', worker = NULL, heartbeat_at = NULL, attempts = greatest(attempts - 1, 0)
          WHERE id = $1 AND worker = $2 RETURNING id`,
        [id, worker],
      );
      if (rows.length) await this.deps.queue!.enqueueReconciliation(tx, id, startAfterSeconds);
    });
    this.deps.log.info({ reconciliationId: id }, 'reconciliation handed back to the queue');
  }

  /**
   * The recovery sweep for reconciliations, as src/sync/recovery.ts does it for runs: those nobody
   * works (running with a heartbeat older than a lease, or queued with no job left to start them;
   * with `takeOverAll`, at the start of the only process of a PGlite folder, every unfinished one)
   * are queued again, or failed RECONCILIATION_INTERRUPTED once they have had their attempts.
   */
  async recover(takeOverAll: boolean): Promise<{ requeued: string[]; failed: string[] }> {
    const { db, queue, log, leaseSeconds } = this.deps;
    if (!queue) return { requeued: [], failed: [] };
    const result = await db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string; entity_id: string; status: string; attempts: number }>(
        `SELECT id, entity_id, status, attempts FROM reconciliations
          WHERE status IN ('queued', 'running')
            AND ($1 OR coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $2))
            AND NOT (id = ANY($3::uuid[]))
          ORDER BY created_at, id
          LIMIT 100
          FOR UPDATE SKIP LOCKED`,
        [takeOverAll, leaseSeconds, [...this.local]],
      );
      const ids = rows.map((r) => r.id);
      const live = await queue.withLiveJobs(tx, JOBS.reconcile, JOB_KEY, ids, takeOverAll ? null : leaseSeconds);
      const orphans = rows.filter((r) => !live.has(r.id));
      await queue.abandonJobsOf(
        tx,
        JOBS.reconcile,
        JOB_KEY,
        orphans.map((r) => r.id),
      );
      const out = { requeued: [] as string[], failed: [] as string[] };
      for (const r of orphans) {
        const exhausted = r.attempts >= RECONCILIATION_ATTEMPTS;
        if (exhausted) {
          await tx.query(
            `UPDATE reconciliations SET status = 'failed', error_code = 'RECONCILIATION_INTERRUPTED', error_message = $2,
                    finished_at = now(), worker = NULL
              WHERE id = $1`,
            [r.id, RECONCILIATION_FAILURES.RECONCILIATION_INTERRUPTED],
          );
          out.failed.push(r.id);
        } else {
          await tx.query(
            `UPDATE reconciliations SET status = 'queued', worker = NULL, heartbeat_at = NULL WHERE id = $1`,
            [r.id],
          );
          await queue.enqueueReconciliation(tx, r.id);
          out.requeued.push(r.id);
        }
        await recordAudit(tx, {
          entityId: r.entity_id,
          actor: 'recovery',
          action: exhausted ? 'reconciliation.failed' : 'reconciliation.resumed',
          objectType: 'reconciliation',
          objectId: r.id,
          before: { status: r.status, attempts: r.attempts },
          after: { reason: 'its worker stopped without finishing it' },
        });
      }
      return out;
    });
    if (result.requeued.length || result.failed.length)
      log.warn(result, 'reconciliations left by a stopped worker taken over');
    return result;
  }
}
