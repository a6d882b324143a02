import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { type Pipeline, assertPipelineTypes, assertSecretsReadable, requirePipeline } from './pipelines.ts';
import { type RunStatus, getRun } from './runs.ts';
import type { SyncService } from './service.ts';

/**
 * A disabled pipeline runs nothing (`pipeline disable --help`): refused with PIPELINE_DISABLED and
 * what turns it back on. Asked by every start of a run by hand and by `ledgerlink import`; `field`
 * names the pipeline in the refusal (`params.name`, `NAME`, `--pipeline`).
 */
export function assertPipelineEnabled(pipeline: Pipeline, field: string): void {
  if (pipeline.enabled) return;
  throw new DomainError(
    'PIPELINE_DISABLED',
    `Pipeline ${pipeline.name} is disabled: nothing runs until it is enabled again ` +
      `(\`ledgerlink pipeline enable ${pipeline.name}\`, or PUT /v1/pipelines/${pipeline.name} with "enabled": true)`,
    [{ field, message: 'disabled' }],
  );
}

/**
 * What a run started by hand is refused for, rather than queued to fail: a disabled pipeline, one
 * whose secrets cannot be read, or whose source or target is not known. Shared by
 * `startManualRun` and `ledgerlink sync run`, which works the run itself.
 */
export function assertManualRunAllowed(pipeline: Pipeline, field: string): void {
  assertPipelineEnabled(pipeline, field);
  // Unreadable secrets first: they are left out of the settings, which would read as merely missing.
  assertSecretsReadable(pipeline);
  assertPipelineTypes(pipeline);
}

/**
 * Starts a run of a pipeline by hand (trigger `manual`): the one implementation behind
 * `POST /v1/pipelines/{name}/runs` and the dashboard's "Run now" (`ledgerlink sync run` makes the
 * same checks). A pipeline `assertManualRunAllowed` refuses is not queued.
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
  assertManualRunAllowed(pipeline, field);
  const runId = (await sync.trigger(pipeline, 'manual', actor))!;
  const run = await getRun(db, runId);
  return { runId, status: run?.status ?? 'queued' };
}
