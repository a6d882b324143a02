import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.ts';
import { recordAudit } from '../ledger/audit.ts';
import { findEntityById } from '../ledger/entities.ts';
import { createRun, type RunTrigger } from './runs.ts';
import { listPipelines, type Pipeline } from './pipelines.ts';
import type { SecretBox } from './secrets.ts';
import { JOBS, type JobQueue, type RunJob } from './queue.ts';
import {
  type EngineDeps,
  PipelineBusyError,
  afterPages,
  createTarget,
  executeRun,
  releaseLease,
  runSource,
  syncContext,
  takeLease,
} from './engine/run.ts';
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
  readonly engine: EngineDeps;

  constructor(o: SyncServiceOptions) {
    this.db = o.db;
    this.box = o.box;
    this.log = o.log;
    this.queue = o.queue ?? null;
    this.engine = { db: o.db, box: o.box, log: o.log, pdfs: o.pdfs, ...o.engine };
  }

  get queued(): boolean {
    return this.queue !== null;
  }

  /** Creates a run and enqueues it in the same transaction (or, without a queue, runs it now). */
  async trigger(
    pipeline: Pipeline,
    trigger: RunTrigger,
    actor: string,
    params: Record<string, unknown> = {},
    options: { slot?: string; tx?: Queryable; inline?: boolean } = {},
  ): Promise<string | null> {
    const create = async (tx: Queryable) => {
      const runId = await createRun(tx, {
        pipelineId: pipeline.id,
        entityId: pipeline.entityId,
        trigger,
        createdBy: actor,
        slot: options.slot ?? null,
        params,
      });
      if (!runId) return null;
      await recordAudit(tx, {
        entityId: pipeline.entityId,
        actor,
        action: 'run.queued',
        objectType: 'run',
        objectId: runId,
        after: { pipeline: pipeline.name, trigger, slot: options.slot ?? null },
      });
      if (this.queue && !options.inline) await this.queue.enqueueRun(tx, runId);
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
  ): Promise<string> {
    const runId = (await this.db.transaction((tx) =>
      createRun(tx, { pipelineId: pipeline.id, entityId: pipeline.entityId, trigger, createdBy: actor, params }),
    ))!;
    const entity = (await findEntityById(this.db, pipeline.entityId))!;
    // Records in hand go through the same one-run-per-pipeline lease as queued runs, so two
    // imports (or an import and a scheduled run) of one pipeline take turns instead of colliding.
    const started = Date.now();
    while (!(await takeLease(this.db, pipeline.id, runId))) {
      if (Date.now() - started > 10 * 60_000) {
        await this.db.query(`UPDATE runs SET status = 'failed', finished_at = now(), error = $2 WHERE id = $1`, [
          runId,
          'The pipeline stayed busy for 10 minutes',
        ]);
        throw new PipelineBusyError(pipeline.name);
      }
      await new Promise((r) => setTimeout(r, 200));
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
        runSource(this.engine, pipeline, target, params, runId),
        target,
      );
    } finally {
      await releaseLease(this.db, pipeline.id, runId);
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
      try {
        const entity = await findEntityById(this.db, p.entityId);
        if (!entity) continue;
        const target = await createTarget(this.engine, p);
        const source = runSource(this.engine, p, target, {}, null);
        if (!source.writeBack && target.transactional) continue;
        // Not while a run holds the pipeline: the run sends its own.
        const { rows } = await this.db.query(
          `SELECT 1 FROM pipeline_leases WHERE pipeline_id = $1 AND expires_at > now()`,
          [p.id],
        );
        if (rows.length) continue;
        await afterPages(syncContext(this.engine, p, entity, source, target, null), null);
      } catch (err) {
        // One misconfigured pipeline must not hold up the others' write-back.
        this.log.warn({ err, pipeline: p.name }, 'write-back flush failed');
      }
    }
  }

  /** Worker side: executes queued runs and ticks the schedules every `tickSeconds`. */
  async startWorker(tickSeconds = 30): Promise<void> {
    if (!this.queue) throw new Error('startWorker needs a job queue');
    await this.queue.work<RunJob>(JOBS.run, (job) => executeRun(this.engine, job.runId));
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
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.queue?.stop();
  }
}
