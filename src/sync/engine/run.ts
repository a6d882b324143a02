import type { Logger } from 'pino';
import { type Database, type Queryable, isDatabaseUnavailable } from '../../db/database.ts';
import { type EntityContext, findEntityById } from '../../ledger/entities.ts';
import { type SourceDeps, createSource, targetDefinition } from '../registry.ts';
import type { SourceConnector } from '../connector.ts';
import { ConnectorError } from '../connector.ts';
import { assertPipelineTypes, assertSecretsReadable, findPipelineById, type Pipeline } from '../pipelines.ts';
import { isDomainError } from '../../domain/errors.ts';
import { recordAudit } from '../../ledger/audit.ts';
import type { SecretBox } from '../secrets.ts';
import {
  addCounts,
  getRun,
  type Run,
  type RunCounts,
  setRunStatus,
  settleWaitingRuns,
  waitingMessage,
  waitingOf,
} from '../runs.ts';
import type { TargetConnector } from '../target.ts';
import { DEFAULT_RETRY, PageOutcome, type RetryPolicy, type SyncContext, mappedIds } from './context.ts';
import { processPage, saveOutcome } from './page.ts';
import { flushWriteBack, queuePaidInvoices } from './writeback.ts';
import { dailySummarySource } from '../daily-summary.ts';
import { bookedByRun, flushTargetDeliveries, releaseWaiting } from './deliveries.ts';
import type { Liveness } from './liveness.ts';
import { screenAmounts } from '../target-amounts.ts';
import { claimRun, endCancelled } from '../run-cancel.ts';

export interface EngineDeps {
  db: Database;
  box: SecretBox;
  log: Logger;
  /** Heartbeats and pipeline leases of this process (one per SyncService). */
  liveness: Liveness;
  /** Render invoice PDFs for write-back when the target can (the server and workers do; tests opt in). */
  pdfs?: boolean | undefined;
  /** How documents a remote target could not take yet are retried. */
  retry?: RetryPolicy | undefined;
  /** Replaces the source a pipeline's config names (tests, the CLI's progress wrapper). */
  sourceFor?: ((pipeline: Pipeline, params: Record<string, unknown>) => SourceConnector | undefined) | undefined;
  /** After each page is committed, awaited (the CLI's progress; tests acting at a page boundary). */
  onPage?:
    ((runId: string, counts: { fetched: number; created: number; parked: number }) => void | Promise<void>) | undefined;
}

/** Thrown when another run holds the pipeline; the queue retries the job later. */
export class PipelineBusyError extends Error {
  constructor(pipeline: string) {
    super(`Pipeline ${pipeline} is being run by another worker; will retry`);
    this.name = 'PipelineBusyError';
  }
}

/**
 * Thrown when another worker took over the pipeline from this execution (its heartbeats were
 * late enough for it to be thought dead): that worker now owns the run, this one stops quietly.
 */
export class LeaseLostError extends Error {
  constructor(pipeline: string) {
    super(`Another worker took over pipeline ${pipeline}; this execution stops`);
    this.name = 'LeaseLostError';
  }
}

/**
 * Thrown at a page boundary when this process is stopping (Liveness.stopping): what the run did is
 * committed with its cursor, and whoever worked it hands it back (`handBackRun`) so that another
 * worker goes on from that page at once.
 */
export class WorkerStoppingError extends Error {
  constructor(pipeline: string) {
    super(`This worker is stopping; the run of pipeline ${pipeline} goes on from its last page in another worker`);
    this.name = 'WorkerStoppingError';
  }
}

/**
 * A run this process stopped working (WorkerStoppingError) is queued again, its heartbeat cleared,
 * and the hand-off is in the audit trail (`run.handed-back`, actor `worker`). With a queue, the
 * caller enqueues a new job in the same transaction, so another worker takes it within its polling
 * interval; without one, the next start of the process takes it over.
 */
export async function handBackRun(tx: Queryable, runId: string): Promise<void> {
  const { rows } = await tx.query<{ entity_id: string; status: string }>(
    `SELECT entity_id, status FROM runs WHERE id = $1 AND status IN ('queued', 'running') FOR UPDATE`,
    [runId],
  );
  const run = rows[0];
  if (!run) return;
  await tx.query(`UPDATE runs SET status = 'queued', heartbeat_at = NULL WHERE id = $1`, [runId]);
  await recordAudit(tx, {
    entityId: run.entity_id,
    actor: 'worker',
    action: 'run.handed-back',
    objectType: 'run',
    objectId: runId,
    before: { status: run.status },
    after: { status: 'queued', reason: 'its worker stopped; another goes on from its last page' },
  });
}

/** The pipeline's target, created from its registered definition and settings. */
export async function createTarget(
  deps: { db: Queryable; log: Logger; box: SecretBox },
  pipeline: Pipeline,
): Promise<TargetConnector> {
  // A secret stored with another key is left out of the settings: the run fails saying so (before
  // the settings check, which would only see a missing setting), before anything is fetched or sent.
  assertSecretsReadable(pipeline);
  // Checked again here: a stored pipeline may name a type this build does not have. Never a substitute.
  // Only the target's side: its source is checked where it is created (runSource).
  assertPipelineTypes(pipeline, 'target');
  const def = targetDefinition(pipeline.targetType);
  const target = await def.create({
    db: deps.db,
    log: deps.log,
    mapping: pipeline.mapping,
    settings: { type: pipeline.targetType, ...pipeline.targetConfig },
    entityId: pipeline.entityId,
    pipelineId: pipeline.id,
    pipelineName: pipeline.name,
    box: deps.box,
  });
  // Every target outside the database refuses by itself a document whose amounts do not parse
  // (src/sync/target-amounts.ts), whoever registered it; the embedded ledger refuses them in its posting rules.
  return target.transactional ? target : screenAmounts(target);
}

/** What a source of this pipeline is given: its database, its run's parameters, lookups in the target. */
export function sourceDeps(
  deps: { db: Queryable; log: Logger },
  pipeline: Pipeline,
  target: TargetConnector,
  params: Record<string, unknown>,
  runId: string | null,
  actor = 'engine',
): SourceDeps {
  const tctx = { db: deps.db, log: deps.log, actor };
  return {
    db: deps.db,
    log: deps.log,
    params,
    runId,
    target: {
      customer: async (code, asSourceId) => (target.customer ? target.customer(tctx, code, asSourceId) : null),
      invoiceCustomer: async (reference) =>
        (await target.findByReference(tctx, 'invoice', reference, null))?.customerTargetId ?? null,
      product: async (code, asSourceId) => (target.product ? target.product(tctx, code, asSourceId) : null),
      mappedId: async (kind, sourceId) =>
        (await mappedIds(deps.db, pipeline.id, kind, [sourceId])).get(sourceId)?.targetId ?? null,
    },
  };
}

/** The source a run reads: the test's or CLI's replacement, the daily summary, or the pipeline's own. */
export function runSource(
  deps: EngineDeps,
  pipeline: Pipeline,
  target: TargetConnector,
  params: Record<string, unknown>,
  runId: string | null,
  trigger?: string,
): SourceConnector {
  // As createTarget does for the target: a stored type this build lacks, or a setting (an address)
  // no longer allowed, is refused before anything is fetched.
  assertPipelineTypes(pipeline, 'source');
  const sd = sourceDeps(deps, pipeline, target, params, runId, `pipeline:${pipeline.name}`);
  return (
    deps.sourceFor?.(pipeline, params) ??
    (trigger === 'daily-summary' ? dailySummarySource(pipeline, sd) : createSource(pipeline, sd))
  );
}

export function syncContext(
  deps: EngineDeps,
  pipeline: Pipeline,
  entity: EntityContext,
  source: SourceConnector,
  target: TargetConnector,
  runId: string | null,
): SyncContext {
  return {
    db: deps.db,
    log: deps.log.child({ pipeline: pipeline.name, runId }),
    pipeline,
    entity,
    source,
    target,
    runId,
    actor: `pipeline:${pipeline.name}`,
    pdfs: deps.pdfs ?? false,
    retry: deps.retry ?? DEFAULT_RETRY,
    customerLookups: new Map(),
    productLookups: new Map(),
    signal: deps.liveness.stopSignal,
  };
}

/**
 * A page is processed; what follows commits its counts, which answers whether the run was asked to
 * stop. First the event loop runs once. On PGlite every query resolves as a microtask, so a run
 * would otherwise never hand control back until it ended: a Ctrl-C handler (which asks the run to
 * stop, or begins stopping the process), heartbeats and timers would all wait for the whole run. A
 * cancellation asked for meanwhile in this process queues its transaction ahead of that commit, so
 * it is seen at this page. Every loop over pages calls this, in one place per page.
 */
export async function pageProcessed(ctx: SyncContext, counts: RunCounts): Promise<void> {
  ctx.log.debug({ counts }, 'page processed');
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The final status of a run: partial when something was parked or still waits for the target. */
export async function finish(ctx: SyncContext, runId: string, waiting: number): Promise<void> {
  const after = await getRun(ctx.db, runId);
  const parked = after ? after.counts.parked : 0;
  await setRunStatus(
    ctx.db,
    runId,
    parked > 0 || waiting > 0 ? 'partial' : 'succeeded',
    waiting > 0 ? waitingMessage(waiting, ctx.target.type) : undefined,
    waiting,
  );
  ctx.log.info({ counts: after?.counts, waiting }, 'run finished');
}

/**
 * Sends what a remote target has not taken yet and writes back what is due, counting both; what
 * becomes of documents earlier runs left waiting is reported to those runs, which settle once none
 * waits (`settleWaitingRuns`). Returns how many documents of this run still wait.
 */
export async function afterPages(ctx: SyncContext, runId: string | null): Promise<number> {
  const out = new PageOutcome();
  await flushTargetDeliveries(ctx, out);
  if (out.records.length || out.parked.length || out.others.size) {
    await saveOutcome(ctx, out);
    if (runId) await addCounts(ctx.db, runId, out.counts);
  }
  // Without a run of its own, what the flush delivered frees documents as the runs that sent it.
  const released = await releaseWaiting(ctx, runId ? new Map<string, string>() : bookedByRun(out));
  // Held records run again have saved their own records and exceptions; the run counts them.
  if (runId && Object.values(released).some((n) => n > 0)) await addCounts(ctx.db, runId, released);
  await queuePaidInvoices(ctx);
  const written = await flushWriteBack(ctx);
  if (written && runId) await addCounts(ctx.db, runId, { writtenBack: written });
  if (ctx.target.transactional) return 0;
  for (const settled of await settleWaitingRuns(ctx.db, ctx.pipeline.id, ctx.target.type, runId))
    ctx.log.info({ settled }, 'the documents a run left waiting have all gone through or been parked');
  return runId ? ((await waitingOf(ctx.db, [runId])).get(runId) ?? 0) : 0;
}

/**
 * Works one run to its end: takes the pipeline's lease (one run per pipeline at a time), pages
 * through the source from where an interrupted attempt stopped, processes each page, writes back,
 * and sets the final status: succeeded, partial (something was parked or waits for the target) or
 * failed. While it works, the run's heartbeat and the lease are renewed (src/sync/engine/liveness.ts),
 * so a run whose process died is resumed by the recovery sweep within a lease.
 * A retryable source failure is rethrown so the queue retries the run with backoff; a busy
 * pipeline throws PipelineBusyError (the caller tries again later); anything else fails the run.
 */
export async function executeRun(deps: EngineDeps, runId: string): Promise<void> {
  const { db } = deps;
  const run = await getRun(db, runId);
  if (!run || !['queued', 'running'].includes(run.status)) return;
  // A job taken just as the process began to stop: left to another worker.
  if (deps.liveness.stopping) throw new WorkerStoppingError(run.pipeline);
  // A second job of a run this process already works (the sweep replaced a job thought dead): the first finishes it.
  const unhold = await deps.liveness.hold(runId);
  if (!unhold) return;
  try {
    await workRun(deps, run);
  } finally {
    unhold();
  }
}

async function workRun(deps: EngineDeps, run: Run): Promise<void> {
  const { db } = deps;
  const { runId } = run;
  const pipeline = await findPipelineById(db, deps.box, run.pipelineId);
  const entity = await findEntityById(db, run.entityId);
  if (!pipeline || !entity) {
    await setRunStatus(db, runId, 'failed', 'The pipeline or its entity no longer exists');
    return;
  }
  const lease = await deps.liveness.takeLease(pipeline.id, runId);
  if (!lease) throw new PipelineBusyError(pipeline.name);
  const log = deps.log.child({ pipeline: pipeline.name, runId });
  try {
    // Read again under the lease: the execution that held it before may have finished the run
    // meanwhile, or it was cancelled; claimed in the same statement (src/sync/run-cancel.ts).
    const current = await getRun(db, runId);
    if (!current || !(await claimRun(db, runId))) return;
    const target = await createTarget(deps, pipeline);
    const source = runSource(deps, pipeline, target, current.params, runId, current.trigger);
    const ctx = syncContext(deps, pipeline, entity, source, target, runId);
    for await (const page of source.pages({ log, signal: ctx.signal }, current.cursor)) {
      const out = await processPage(ctx, page.items);
      await pageProcessed(ctx, out.counts);
      let counted = await addCounts(db, runId, out.counts, page.cursor ?? null);
      const written = await flushWriteBack(ctx);
      if (written) counted = await addCounts(db, runId, { writtenBack: written });
      // Another worker took the pipeline (this one looked dead): stop rather than run twice.
      if (!(await lease.renew())) throw new LeaseLostError(pipeline.name);
      await deps.onPage?.(runId, out.counts);
      // The page and its cursor are committed: a cancelled run ends here, keeping what it posted;
      // a stopping worker hands the rest to another.
      if (counted.cancelRequested) {
        await endCancelled(db, runId);
        log.info('run cancelled: stopped after the page in hand');
        return;
      }
      if (deps.liveness.stopping) throw new WorkerStoppingError(pipeline.name);
    }
    if (lease.lost) throw new LeaseLostError(pipeline.name);
    await finish(ctx, runId, await afterPages(ctx, runId));
  } catch (err) {
    // A business refusal keeps its stable code in the run's error (SECRET_UNREADABLE: …).
    const message = isDomainError(err)
      ? `${err.code}: ${err.message}`
      : err instanceof Error
        ? err.message
        : String(err);
    if (err instanceof LeaseLostError) {
      log.warn('another worker took over this run; stopping');
      throw err;
    }
    // A wait for the source cut short by the stop (`SyncContext.signal`) is the stop, not a failure:
    // the page was not processed, and the run goes on from the last one that was.
    const stopped =
      err instanceof WorkerStoppingError || (deps.liveness.stopping && err instanceof ConnectorError && err.retryable)
        ? new WorkerStoppingError(pipeline.name)
        : null;
    if (stopped) {
      log.info('this worker is stopping: the run goes on from its last page in another worker');
      throw stopped;
    }
    if (isDatabaseUnavailable(err)) {
      // Not the run's failure: PostgreSQL restarted or the connection dropped. The run stays queued
      // and goes on from its last committed page when the database answers (the queue retries the
      // job; if even that write fails, the recovery sweep finds the run).
      log.warn({ err: message }, 'run interrupted: the database is unavailable');
      await db
        .query(`UPDATE runs SET status = 'queued', error = $2 WHERE id = $1 AND status = 'running'`, [runId, message])
        .catch(() => undefined);
      throw err;
    }
    if (err instanceof ConnectorError && err.retryable) {
      // Who runs it says whether and when it is tried again (the queue, or SyncService.runNow in the foreground).
      log.warn({ err: message }, 'run interrupted by a retryable source failure');
      await db.query(`UPDATE runs SET status = 'queued', error = $2 WHERE id = $1 AND status = 'running'`, [
        runId,
        message,
      ]);
      throw err;
    }
    log.error({ err }, 'run failed');
    await setRunStatus(db, runId, 'failed', message);
  } finally {
    await lease.release();
  }
}
