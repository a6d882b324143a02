import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.ts';
import { findEntityById } from '../../ledger/entities.ts';
import { createSource } from '../registry.ts';
import type { SourceConnector } from '../connector.ts';
import { ConnectorError } from '../connector.ts';
import { findPipelineById, type Pipeline } from '../pipelines.ts';
import type { SecretBox } from '../secrets.ts';
import { addCounts, getRun, setRunStatus } from '../runs.ts';
import type { PdfRenderer, SyncContext } from './context.ts';
import { processPage } from './page.ts';
import { flushWriteBack, queuePaidInvoices } from './writeback.ts';
import { dailySummarySource } from '../daily-summary.ts';

export interface EngineDeps {
  db: Database;
  box: SecretBox;
  log: Logger;
  pdf?: PdfRenderer | undefined;
  /** Replaces the source a pipeline's config names (tests, the CLI's progress wrapper). */
  sourceFor?: ((pipeline: Pipeline, params: Record<string, unknown>) => SourceConnector | undefined) | undefined;
  onPage?: ((runId: string, counts: { fetched: number; created: number; parked: number }) => void) | undefined;
}

/** Thrown when another run holds the pipeline; the queue retries the job later. */
export class PipelineBusyError extends Error {
  constructor(pipeline: string) {
    super(`Pipeline ${pipeline} is being run by another worker; will retry`);
    this.name = 'PipelineBusyError';
  }
}

const LEASE_SECONDS = 120;
const HOLDER = `${hostname()}:${process.pid}`;

/** Takes (or renews) a pipeline's lease for a run; false while another run holds it. */
export async function takeLease(db: Database, pipelineId: string, runId: string): Promise<boolean> {
  const { rows } = await db.query(
    `INSERT INTO pipeline_leases (pipeline_id, run_id, holder, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))
     ON CONFLICT (pipeline_id) DO UPDATE SET run_id = EXCLUDED.run_id, holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE pipeline_leases.expires_at < now() OR pipeline_leases.run_id = EXCLUDED.run_id
     RETURNING run_id`,
    [pipelineId, runId, HOLDER, LEASE_SECONDS],
  );
  return rows.length > 0;
}

export function syncContext(
  deps: EngineDeps,
  pipeline: Pipeline,
  entity: SyncContext['entity'],
  source: SourceConnector,
  runId: string | null,
): SyncContext {
  return {
    db: deps.db,
    log: deps.log.child({ pipeline: pipeline.name, runId }),
    pipeline,
    entity,
    source,
    runId,
    actor: `pipeline:${pipeline.name}`,
    pdf: deps.pdf,
    customerLookups: new Map(),
    productLookups: new Map(),
  };
}

/**
 * Works one run to its end: takes the pipeline's lease (one run per pipeline at a time), pages
 * through the source from where an interrupted attempt stopped, processes each page, writes back,
 * and sets the final status: succeeded, partial (something was parked) or failed. A retryable
 * source failure is rethrown so the queue retries the run with backoff; anything else fails it.
 */
export async function executeRun(deps: EngineDeps, runId: string): Promise<void> {
  const { db } = deps;
  const run = await getRun(db, runId);
  if (!run || run.status === 'succeeded' || run.status === 'partial' || run.status === 'failed') return;
  const pipeline = await findPipelineById(db, deps.box, run.pipelineId);
  const entity = await findEntityById(db, run.entityId);
  if (!pipeline || !entity) {
    await setRunStatus(db, runId, 'failed', 'The pipeline or its entity no longer exists');
    return;
  }
  if (!(await takeLease(db, pipeline.id, runId))) throw new PipelineBusyError(pipeline.name);
  const log = deps.log.child({ pipeline: pipeline.name, runId });
  try {
    await setRunStatus(db, runId, 'running');
    const sourceDeps = { db, log, params: run.params, runId };
    // A daily-summary run reads the sales the pipeline recorded, whatever its source type.
    const source =
      deps.sourceFor?.(pipeline, run.params) ??
      (run.trigger === 'daily-summary' ? dailySummarySource(pipeline, sourceDeps) : createSource(pipeline, sourceDeps));
    const ctx = syncContext(deps, pipeline, entity, source, runId);
    for await (const page of source.pages({ log }, run.cursor)) {
      const out = await processPage(ctx, page.items);
      await addCounts(db, runId, out.counts, page.cursor ?? null);
      const written = await flushWriteBack(ctx);
      if (written) await addCounts(db, runId, { writtenBack: written });
      // A page slower than the lease lets another worker take the pipeline: stop rather than run twice.
      if (!(await takeLease(db, pipeline.id, runId))) throw new PipelineBusyError(pipeline.name);
      deps.onPage?.(runId, out.counts);
    }
    await queuePaidInvoices(ctx);
    const written = await flushWriteBack(ctx);
    if (written) await addCounts(db, runId, { writtenBack: written });
    const after = await getRun(db, runId);
    await setRunStatus(db, runId, after && after.counts.parked > 0 ? 'partial' : 'succeeded');
    log.info({ counts: after?.counts }, 'run finished');
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof PipelineBusyError) {
      await db.query(`UPDATE runs SET status = 'queued', error = $2 WHERE id = $1`, [runId, message]);
      throw err;
    }
    if (err instanceof ConnectorError && err.retryable) {
      log.warn({ err: message }, 'run interrupted by a retryable source failure; the queue will retry it');
      await db.query(`UPDATE runs SET status = 'queued', error = $2 WHERE id = $1`, [runId, message]);
      throw err;
    }
    log.error({ err }, 'run failed');
    await setRunStatus(db, runId, 'failed', message);
  } finally {
    await releaseLease(db, pipeline.id, runId);
  }
}

export async function releaseLease(db: Database, pipelineId: string, runId: string): Promise<void> {
  await db.query(`DELETE FROM pipeline_leases WHERE pipeline_id = $1 AND run_id = $2`, [pipelineId, runId]);
}
