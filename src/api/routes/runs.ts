import { z } from 'zod';
import { PipelineName } from './pipelines.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { DomainError } from '../../domain/errors.ts';
import { getRun, listRunRecords, listRuns } from '../../sync/runs.ts';
import { requirePipeline } from '../../sync/pipelines.ts';
import { scopeOf } from './sync-shared.ts';
import { Page } from '../schemas.ts';

const RunView = z.object({
  runId: z.string(),
  pipeline: z.string(),
  trigger: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'partial', 'failed']),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  counts: z.object({
    fetched: z.number(),
    created: z.number(),
    updated: z.number(),
    skipped: z.number(),
    parked: z.number(),
    writtenBack: z.number(),
  }),
  error: z.string().nullable(),
});

function view(r: NonNullable<Awaited<ReturnType<typeof getRun>>>) {
  return {
    runId: r.runId,
    pipeline: r.pipeline,
    trigger: r.trigger,
    status: r.status,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    counts: r.counts,
    error: r.error,
    createdBy: r.createdBy,
  };
}

const startRoute = defineRoute({
  method: 'POST',
  path: '/v1/pipelines/{name}/runs',
  operationId: 'startRun',
  summary: 'Start a run of a pipeline now (manual trigger)',
  description: 'The run is queued durably and worked by a worker; follow it with GET /v1/runs/{runId}.',
  tags: ['runs'],
  auth: 'entityOrAdmin',
  params: PipelineName,
  success: {
    status: 202,
    description: 'The run was queued.',
    schema: z.object({ runId: z.string(), status: z.string() }),
  },
  errors: ['NOT_FOUND'],
  // Not one request transaction: the run is created and queued in its own, and without a queue
  // (tests) it is worked right here, which must not sit inside an open transaction.
  write: false,
  handler: async (ctx) => {
    const sync = ctx.services.sync;
    const pipeline = await requirePipeline(ctx.db, sync.box, ctx.params.name, scopeOf(ctx));
    if (!pipeline.enabled)
      throw new DomainError('VALIDATION_ERROR', `Pipeline ${pipeline.name} is disabled`, [
        { field: 'params.name', message: 'disabled' },
      ]);
    const runId = await sync.trigger(pipeline, 'manual', ctx.principal.actor);
    const run = await getRun(ctx.db, runId!);
    return { runId: runId!, status: run?.status ?? 'queued' };
  },
});

const getRoute = defineRoute({
  method: 'GET',
  path: '/v1/runs/{runId}',
  operationId: 'getRun',
  summary: 'A run: status, times and counts',
  tags: ['runs'],
  auth: 'entityOrAdmin',
  params: z.object({ runId: z.string().uuid('not a run id') }),
  success: { status: 200, description: 'The run.', schema: RunView },
  errors: ['NOT_FOUND'],
  handler: async (ctx) => {
    const run = await getRun(ctx.db, ctx.params.runId, scopeOf(ctx));
    if (!run) throw new DomainError('NOT_FOUND', `No run ${ctx.params.runId}`);
    return view(run);
  },
});

const recordsRoute = defineRoute({
  method: 'GET',
  path: '/v1/runs/{runId}/records',
  operationId: 'getRunRecords',
  summary: 'The result of every record of a run',
  tags: ['runs'],
  auth: 'entityOrAdmin',
  params: z.object({ runId: z.string().uuid('not a run id') }),
  query: Page,
  success: {
    status: 200,
    description: 'Records in order.',
    schema: z.object({ items: z.array(z.record(z.string(), z.unknown())), page: z.number(), pageSize: z.number() }),
  },
  errors: ['NOT_FOUND'],
  handler: async (ctx) => {
    const run = await getRun(ctx.db, ctx.params.runId, scopeOf(ctx));
    if (!run) throw new DomainError('NOT_FOUND', `No run ${ctx.params.runId}`);
    const { page, pageSize } = ctx.query;
    return { items: await listRunRecords(ctx.db, run.runId, pageSize, (page - 1) * pageSize), page, pageSize };
  },
});

const listRoute = defineRoute({
  method: 'GET',
  path: '/v1/runs',
  operationId: 'listRuns',
  summary: 'Runs, newest first',
  tags: ['runs'],
  auth: 'entityOrAdmin',
  query: Page.extend({
    pipeline: z.string().optional(),
    status: z.enum(['queued', 'running', 'succeeded', 'partial', 'failed']).optional(),
  }),
  success: {
    status: 200,
    description: 'A page of runs.',
    schema: z.object({ items: z.array(RunView), page: z.number(), pageSize: z.number(), total: z.number() }),
  },
  handler: async (ctx) => {
    const { page, pageSize, pipeline, status } = ctx.query;
    const r = await listRuns(ctx.db, {
      entityId: scopeOf(ctx),
      pipeline,
      status,
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    return { items: r.items.map(view), page, pageSize, total: r.total };
  },
});

export const runRoutes: AnyRoute[] = [startRoute, getRoute, recordsRoute, listRoute];
