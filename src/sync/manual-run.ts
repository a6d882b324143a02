import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { assertPipelineTypes, assertSecretsReadable, requirePipeline } from './pipelines.ts';
import { type RunStatus, getRun } from './runs.ts';
import type { SyncService } from './service.ts';

/**
 * Starts a run of a pipeline by hand (trigger `manual`): the one implementation behind
 * `POST /v1/pipelines/{name}/runs` and the dashboard's "Run now". A disabled pipeline, or one whose
 * secrets cannot be read or whose source or target is not known, is refused rather than queued to fail.
 * `field` names the pipeline in refusals. Without a queue the run is worked before this returns.
 */
export async function startManualRun(
  db: Queryable,
  sync: SyncService,
  name: string,
  entityId: string | undefined,
  actor: string,
  field: string,
): Promise<{ runId: string; status: RunStatus }> {
  const pipeline = await requirePipeline(db, sync.box, name, entityId, field);
  if (!pipeline.enabled)
    throw new DomainError('VALIDATION_ERROR', `Pipeline ${pipeline.name} is disabled`, [
      { field, message: 'disabled' },
    ]);
  // Unreadable secrets first: they are left out of the settings, which would read as merely missing.
  assertSecretsReadable(pipeline);
  assertPipelineTypes(pipeline);
  const runId = (await sync.trigger(pipeline, 'manual', actor))!;
  const run = await getRun(db, runId);
  return { runId, status: run?.status ?? 'queued' };
}
