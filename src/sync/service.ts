import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type Database, type Queryable, isDatabaseUnavailable } from '../db/database.ts';
import { recordAudit } from '../ledger/audit.ts';
import { findEntityById } from '../ledger/entities.ts';
import { createRun, joinWebhookRun, type RunTrigger } from './runs.ts';
import { listPipelines, type Pipeline } from './pipelines.ts';
import type { SecretBox } from './secrets.ts';
import { JOBS, type JobQueue, type ReconciliationJob, type RunJob, type WorkedJob } from './queue.ts';
import {
  type EngineDeps,
  LeaseLostError,
  PipelineBusyError,
  WorkerStoppingError,
  handBackRun,
  afterPages,
  createTarget,
  executeRun,
  runSource,
  syncContext,
} from './engine/run.ts';
import { Liveness, leaseSecondsFromEnv } from './engine/liveness.ts';
import { recoverOrphanedRuns } from './recovery.ts';
import { ReconciliationWorker } from './reconciliation-worker.ts';
import { HistoryRetention, type RetentionPolicy, retentionFromEnv } from './retention.ts';
import { currentSlot } from './schedule.ts';
import type { SourceItem } from './connector.ts';

export interface SyncServiceOptions {
  db: Database;
  box: SecretBox;
  log: Logger;
  /** Render invoice PDFs for write-back when the target can. */
  pdfs?: boolean | undefined;
  /** Without a queue (tests, one-off CLI runs) runs execute in the calling process. */
  queue?: JobQueue | null;
  engine?: Partial<EngineDeps>;
  /** Seconds a lease and a heartbeat stay good (env LEDGERLINK_LEASE_SECONDS, default 15). */
  leaseSeconds?: number;
  /** How a queued run whose source or target keeps failing is tried again (tests shorten it). */
  runRetries?: RunRetries;
}

/**
 * A queued run interrupted by a retryable failure (its source or target unreachable, timing out,
 * answering 5xx) is offered again after `baseSeconds`, doubling with each failure in a row, up to
 * `maxSeconds`; after `limit` retries without a page committed in between it fails, saying so.
 */
export interface RunRetries {
  limit: number;
  baseSeconds: number;
  maxSeconds: number;
}

/** 8 retries 2, 4, … 256 s apart: a run whose source stays unreachable fails after about 8.5 minutes. */
export const RUN_RETRIES: RunRetries = { limit: 8, baseSeconds: 2, maxSeconds: 600 };

/** How a worker works the queue. */
export interface WorkerOptions {
  /** How often schedules are ticked and waiting write-back is flushed. */
  tickSeconds?: number;
  /** Runs worked at once in this process, each of another pipeline (env LEDGERLINK_WORKER_CONCURRENCY, default 4). */
  concurrency?: number;
  /** How long finished reconciliations and run records are kept (default: from the environment, src/sync/retention.ts). */
  retention?: RetentionPolicy;
}

/** A busy pipeline's run is offered again after this long (not with the growing backoff of failures). */
const BUSY_RETRY_SECONDS = 2;
/** How soon a run interrupted by a database outage is offered again. */
const OUTAGE_RETRY_SECONDS = 5;
/** Reconciliations worked at once in a worker process, beside its runs: each may read a remote target for minutes. */
const RECONCILIATION_CONCURRENCY = 2;

/** `LEDGERLINK_WORKER_CONCURRENCY`: a whole number from 1 to 64; anything else is refused. */
export function concurrencyFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return parseConcurrency(env.LEDGERLINK_WORKER_CONCURRENCY ?? '4', 'LEDGERLINK_WORKER_CONCURRENCY');
}

export function parseConcurrency(text: string, name: string): number {
  const n = /^\d{1,2}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 64)) throw new Error(`${name} must be a whole number from 1 to 64, not ${JSON.stringify(text)}`);
  return n;
}

/**
 * The sync engine's front door: creates runs for every trigger (manual, schedule, webhook,
 * import, daily summary, retry) and hands them to the durable queue, or runs them inline when
 * there is no queue; the worker side executes queued runs and ticks the schedules.
 */
export class SyncService {
  readonly db: Database;
  readonly box: SecretBox;
  readonly log: Logger;
  private queue: JobQueue | null;
  private timer: NodeJS.Timeout | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private retention: HistoryRetention | null = null;
  readonly engine: EngineDeps;
  readonly liveness: Liveness;
  /** Stored reconciliations (POST /v1/pipelines/{name}/reconciliations), worked through the same queue. */
  readonly reconciliations: ReconciliationWorker;
  private readonly retries: RunRetries;

  constructor(o: SyncServiceOptions) {
    this.db = o.db;
    this.box = o.box;
    this.log = o.log;
    this.queue = o.queue ?? null;
    this.retries = o.runRetries ?? RUN_RETRIES;
    this.liveness = o.engine?.liveness ?? new Liveness(o.db, o.log, o.leaseSeconds ?? leaseSecondsFromEnv());
    this.engine = { db: o.db, box: o.box, log: o.log, pdfs: o.pdfs, ...o.engine, liveness: this.liveness };
    this.reconciliations = new ReconciliationWorker({
      db: o.db,
      box: o.box,
      log: o.log,
      queue: this.queue,
      leaseSeconds: this.liveness.leaseSeconds,
      stopSignal: this.liveness.stopSignal,
    });
  }

  get queued(): boolean {
    return this.queue !== null;
  }

  /** The durable queue's state, for readiness: `none` when this service runs without one. */
  get queueState(): 'none' | 'running' | 'stopped' {
    if (!this.queue) return 'none';
    return this.queue.running ? 'running' : 'stopped';
  }

  /** Creates a run and enqueues it in the same transaction (or, without a queue, runs it now). */
  async trigger(
    pipeline: Pipeline,
    trigger: RunTrigger,
    actor: string,
    params: Record<string, unknown> = {},
    options: { slot?: string; tx?: Queryable; inline?: boolean } = {},
  ): Promise<string | null> {
    const queued = this.queue !== null && !options.inline;
    const create = async (tx: Queryable) => {
      const fields = { pipelineId: pipeline.id, entityId: pipeline.entityId, createdBy: actor, params };
      let runId: string | null;
      if (trigger === 'webhook') {
        // A delivery joins the pipeline's run that has not started: queued already, or, without a
        // queue, about to be worked by the request that created it.
        const joined = await joinWebhookRun(tx, fields);
        if (!joined.created) return joined.runId;
        runId = joined.runId;
      } else {
        runId = await createRun(tx, { ...fields, trigger, slot: options.slot ?? null });
        if (!runId) return null;
      }
      await recordAudit(tx, {
        entityId: pipeline.entityId,
        actor,
        action: 'run.queued',
        objectType: 'run',
        objectId: runId,
        after: { pipeline: pipeline.name, trigger, slot: options.slot ?? null },
      });
      if (queued) await this.queue!.enqueueRun(tx, runId);
      return runId;
    };
    const runId = options.tx ? await create(options.tx) : await this.db.transaction(create);
    if (runId && (!this.queue || options.inline) && !options.tx) await this.runNow(runId);
    return runId;
  }

  /** Executes a run in this process, retrying a busy pipeline or a retryable source failure a few times. */
  async runNow(runId: string): Promise<void> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await executeRun(this.engine, runId);
        return;
      } catch (err) {
        if (err instanceof LeaseLostError) return; // another worker took the run over
        if (err instanceof WorkerStoppingError) {
          // This process is stopping: the run stays queued for the next start, or another worker.
          await handBackRun(this.db, runId);
          return;
        }
        // A busy pipeline is worth waiting for (another run of it may take minutes); a failing
        // source is retried a few times with backoff.
        const busy = err instanceof PipelineBusyError;
        if (busy ? Date.now() - started > 30 * 60_000 : attempt >= 5) {
          if (!busy)
            this.log.warn(
              { runId, attempts: attempt },
              `run failed: the source still failed after ${attempt} attempts`,
            );
          await this.db.query(
            `UPDATE runs SET status = 'failed', finished_at = now(), error = $2 WHERE id = $1 AND status IN ('queued', 'running')`,
            [runId, err instanceof Error ? err.message : String(err)],
          );
          return;
        }
        if (!busy)
          this.log.warn(
            { runId },
            `trying the run again in ${(250 * 2 ** attempt) / 1000}s (attempt ${attempt + 1} of 5)`,
          );
        await new Promise((r) => setTimeout(r, busy ? 1000 : 250 * 2 ** attempt));
      }
    }
  }

  /**
   * Processes records already in hand (an import, a retried exception) synchronously, as a run of
   * their own, and returns its id. Used where the caller wants the per-record result at once.
   */
  async processRecords(
    pipeline: Pipeline,
    trigger: RunTrigger,
    actor: string,
    items: SourceItem[],
    params: Record<string, unknown> = {},
    /** `sourceParams`: given to the run's source beside `params`, never stored (ImportedFile.sourceParams). */
    options: { onRun?: (runId: string) => void; sourceParams?: Record<string, unknown> } = {},
  ): Promise<string> {
    const runId = (await this.db.transaction((tx) =>
      createRun(tx, { pipelineId: pipeline.id, entityId: pipeline.entityId, trigger, createdBy: actor, params }),
    ))!;
    // The caller learns the run before it can fail, to report what it did do (an import's rows).
    options.onRun?.(runId);
    const entity = (await findEntityById(this.db, pipeline.entityId))!;
    // Records in hand go through the same one-run-per-pipeline lease as queued runs, so two
    // imports (or an import and a scheduled run) of one pipeline take turns instead of colliding.
    // The run's heartbeat, kept while it waits and works, tells workers' recovery it is alive.
    const unhold = (await this.liveness.hold(runId))!;
    try {
      const started = Date.now();
      let lease = await this.liveness.takeLease(pipeline.id, runId);
      while (!lease) {
        if (Date.now() - started > 10 * 60_000) {
          await this.db.query(`UPDATE runs SET status = 'failed', finished_at = now(), error = $2 WHERE id = $1`, [
            runId,
            'The pipeline stayed busy for 10 minutes',
          ]);
          throw new PipelineBusyError(pipeline.name);
        }
        await new Promise((r) => setTimeout(r, 200));
        lease = await this.liveness.takeLease(pipeline.id, runId);
      }
      try {
        const { executeInline } = await import('./engine/inline.ts');
        const target = await createTarget(this.engine, pipeline);
        await executeInline(
          this.engine,
          pipeline,
          entity,
          runId,
          items,
          runSource(this.engine, pipeline, target, { ...params, ...options.sourceParams }, runId),
          target,
        );
      } finally {
        await lease.release();
      }
    } finally {
      unhold();
    }
    return runId;
  }

  /** Starts scheduled runs whose slot has come; safe on several workers at once. */
  async tick(now = new Date()): Promise<number> {
    let started = 0;
    for (const p of await listPipelines(this.db, this.box)) {
      if (!p.enabled || !p.schedule) continue;
      let slot: string;
      try {
        slot = currentSlot(p.schedule, now);
      } catch {
        continue;
      }
      const trigger: RunTrigger = p.mode === 'daily-summary' ? 'daily-summary' : 'schedule';
      const runId = await this.trigger(p, trigger, 'scheduler', { slot }, { slot });
      if (runId) started++;
    }
    return started;
  }

  /**
   * Sends what every pipeline has waiting: documents a remote target has not taken yet, and
   * write-back to sources (called on a timer by workers).
   */
  async flushAll(): Promise<void> {
    for (const p of await listPipelines(this.db, this.box)) {
      // A disabled pipeline is paused whole: what waits for its target or its source stays queued
      // until it is enabled again, rather than calling a target or source someone switched off.
      if (!p.enabled) continue;
      try {
        const entity = await findEntityById(this.db, p.entityId);
        if (!entity) continue;
        const target = await createTarget(this.engine, p);
        const source = runSource(this.engine, p, target, {}, null);
        if (!source.writeBack && target.transactional) continue;
        // Under the pipeline's lease, as a run: not while a run holds it (the run sends its own),
        // and no run starts while this sends, so that one document is never sent by both at once
        // (a target that keeps no idempotency keys would book it twice). The lease is held under
        // an id of the flush's own.
        const lease = await this.liveness.takeLease(p.id, randomUUID());
        if (!lease) continue;
        try {
          await afterPages(syncContext(this.engine, p, entity, source, target, null), null);
        } finally {
          await lease.release();
        }
      } catch (err) {
        // One misconfigured pipeline must not hold up the others' write-back.
        this.log.warn({ err, pipeline: p.name }, 'write-back flush failed');
      }
    }
  }

  /**
   * Worker side: takes over what a dead process left (at once on PGlite, whose folder only this
   * process may open; on PostgreSQL, runs whose heartbeat is older than a lease), then works
   * queued runs with `concurrency` handlers, ticks the schedules every `tickSeconds`, sweeps
   * for runs of dead workers every third of a lease, and removes history older than its retention
   * at start and every 10 minutes. Every worker process does that last part (there may be no API
   * process, and a `serve` has a worker unless `--no-worker`); several at once are safe.
   */
  async startWorker(options: WorkerOptions = {}): Promise<void> {
    const queue = this.queue;
    if (!queue) throw new Error('startWorker needs a job queue');
    const { tickSeconds = 30, concurrency = 4 } = options;
    const policy = options.retention ?? retentionFromEnv();
    await this.recover(this.db.kind === 'pglite');
    await queue.work<RunJob>(JOBS.run, (job) => this.workJob(job), { concurrency });
    await queue.work<ReconciliationJob>(JOBS.reconcile, (job) => this.reconciliations.work(job.data.reconciliationId), {
      concurrency: Math.min(concurrency, RECONCILIATION_CONCURRENCY),
    });
    const loop = async () => {
      try {
        await this.tick();
        await this.flushAll();
      } catch (err) {
        this.log.error({ err }, 'scheduler tick failed');
      }
    };
    await loop();
    this.timer = setInterval(() => void loop(), tickSeconds * 1000);
    this.timer.unref();
    let sweeping = false;
    this.sweeper = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      this.recover(false)
        .catch((err: unknown) => this.log.warn({ err }, 'recovery sweep failed; tried again shortly'))
        .finally(() => (sweeping = false));
    }, this.liveness.heartbeatMs);
    this.sweeper.unref();
    this.retention = new HistoryRetention({ db: this.db, log: this.log, policy, signal: this.liveness.stopSignal });
    this.retention.start();
  }

  /**
   * One recovery sweep (src/sync/recovery.ts), and the same for stored reconciliations; `takeOverAll`
   * only where no other process can be alive. Returns what became of the runs.
   */
  async recover(takeOverAll: boolean) {
    if (!this.queue) throw new Error('recover needs a job queue');
    const runs = await recoverOrphanedRuns(
      { db: this.db, queue: this.queue, log: this.log },
      { leaseSeconds: this.liveness.leaseSeconds, localRuns: this.liveness.localRuns(), takeOverAll },
    );
    await this.reconciliations.recover(takeOverAll);
    return runs;
  }

  /** One job of the run queue. */
  private async workJob(job: WorkedJob<RunJob>): Promise<void> {
    const { runId } = job.data;
    try {
      await executeRun(this.engine, runId);
    } catch (err) {
      // Waiting for a busy pipeline is not a failure: offered again shortly, behind other work.
      if (err instanceof PipelineBusyError) {
        await this.db.transaction((tx) => this.queue!.enqueueRun(tx, runId, BUSY_RETRY_SECONDS));
        return;
      }
      if (err instanceof LeaseLostError) return; // the worker that took over owns the run now
      if (err instanceof WorkerStoppingError) {
        // Stopped at a page boundary, its lease released: a new job lets another worker go on
        // from that page within its polling interval, instead of waiting out a lease.
        await this.db.transaction(async (tx) => {
          await handBackRun(tx, runId);
          await this.queue!.enqueueRun(tx, runId);
        });
        this.log.info({ runId }, 'run handed back to the queue: another worker goes on from its last page');
        return;
      }
      if (isDatabaseUnavailable(err)) {
        // An outage is not the run's failure, however long it lasts: offered again shortly whatever
        // the job's retry count. If the queue cannot be written either, the job is retried or
        // expires, and the recovery sweep queues the run again once the database is back.
        await this.db.transaction((tx) => this.queue!.enqueueRun(tx, runId, OUTAGE_RETRY_SECONDS));
        return;
      }
      await this.retryLater(runId, err);
    }
  }

  /**
   * A retryable failure of a queued run: counted on the run (its failures in a row), and the run
   * offered again by a new job after the backoff, or failed once it has had its retries. Counted on
   * the run, not by the job's own retries: a run that waits behind another run of its pipeline is
   * offered again by a new job, whose count starts afresh, so a job's count never reached its limit
   * and a run whose source stayed unreachable was tried forever (until 2026-12-07).
   */
  private async retryLater(runId: string, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    const { limit, baseSeconds, maxSeconds } = this.retries;
    const delay = (n: number) => Math.min(baseSeconds * 2 ** (n - 1), maxSeconds);
    const failures = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ failures: number }>(
        `UPDATE runs SET failures = failures + 1 WHERE id = $1 AND status IN ('queued', 'running') RETURNING failures`,
        [runId],
      );
      const n = rows[0]?.failures;
      if (n === undefined) return null; // finished or cancelled meanwhile
      if (n > limit)
        await tx.query(
          `UPDATE runs SET status = 'failed', finished_at = now(), error = $2 WHERE id = $1 AND status IN ('queued', 'running')`,
          [runId, `Gave up after ${n} attempts in a row: ${message}`],
        );
      else await this.queue!.enqueueRun(tx, runId, delay(n));
      return n;
    });
    if (failures === null) return;
    if (failures > limit)
      this.log.warn({ runId, attempts: failures }, `run failed: gave up after ${failures} attempts`);
    else
      this.log.warn(
        { runId, err: message },
        `run interrupted; trying again in ${delay(failures)} s (retry ${failures} of ${limit})`,
      );
  }

  /**
   * Stops working: runs in hand stop at their next page boundary and are handed back to the queue
   * (another worker goes on with them at once); the queue waits up to 10 s for that, then stops.
   */
  async stop(): Promise<void> {
    this.liveness.beginStopping();
    if (this.timer) clearInterval(this.timer);
    if (this.sweeper) clearInterval(this.sweeper);
    this.timer = null;
    this.sweeper = null;
    // The stop signal ends a retention pass after its current statement.
    await this.retention?.stop();
    this.retention = null;
    await this.queue?.stop();
    this.liveness.stop();
  }
}
