import { z } from 'zod';
import { PipelineName } from './pipelines.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { DomainError } from '../../domain/errors.ts';
import { getRun, listRunRecords, listRuns, publicCounts } from '../../sync/runs.ts';
import { checkPipelineFilter } from '../../sync/pipelines.ts';
import { startManualRun } from '../../sync/manual-run.ts';
import { cancelRun } from '../../sync/run-cancel.ts';
import { scopeOf } from './sync-shared.ts';
import { Page, paged } from '../schemas.ts';

export const RunStatus = z.enum(['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled']).meta({
  description:
    '`partial`: the run finished with records parked as exceptions, or with documents still waiting for the target (`waiting`); once none waits it settles as `succeeded`, or stays `partial` if something was parked. ' +
    '`cancelled`: someone cancelled it (`POST /v1/runs/{runId}/cancel`); what it posted before is kept, and the next run of the pipeline reads on.',
});

/** A run's counts by outcome, with `created` split by kind (also in import results). */
export const RunCountsView = z
  .object({
    fetched: z.number().int(),
    created: z.number().int(),
    updated: z.number().int(),
    skipped: z.number().int(),
    parked: z.number().int(),
    writtenBack: z.number().int(),
    createdByKind: z
      .object({
        invoices: z.number().int(),
        receipts: z.number().int(),
        customers: z.number().int(),
        products: z.number().int(),
        other: z.number().int(),
      })
      .meta({
        description:
          '`created` by kind: documents (invoices, receipts for payments) apart from the customers and products they brought along.',
      }),
  })
  .meta({ description: 'Records of the run by outcome.' });

const RecordsRemovedAt = z.string().nullable().meta({
  description:
    "When the retention policy removed the run's per-document records (ISO 8601 timestamp; `LEDGERLINK_RUN_RECORDS_RETENTION_DAYS`, default 90 days after it finished): `GET /v1/runs/{runId}/records` then has none. The run and its counts stay; what it created, updated or parked stays in the audit trail (`GET /v1/audit?objectType=run&objectId=…`). Null while they are kept.",
});

export const RunView = z
  .object({
    runId: z.string().meta({ description: 'The run id (a UUID).' }),
    pipeline: z.string().meta({ description: 'The pipeline name.' }),
    trigger: z.enum(['manual', 'schedule', 'webhook', 'import', 'daily-summary', 'retry']),
    status: RunStatus,
    createdAt: z.string().meta({ description: 'When it was queued (ISO 8601 timestamp).' }),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    counts: RunCountsView,
    waiting: z.number().int().meta({
      description:
        "Documents of the run still on their way to a remote target, retried automatically. What becomes of them is added to the run's counts and records as it happens; 0 once all are booked or parked.",
    }),
    error: z
      .string()
      .nullable()
      .meta({ description: 'Why the run failed, when it did; or how many of its documents still wait.' }),
    createdBy: z
      .string()
      .meta({ description: 'Who started it: `credential:<id>`, `admin`, `scheduler`, `webhook:<pipeline>`, `cli`, …' }),
    recordsRemovedAt: RecordsRemovedAt,
    cancelRequestedAt: z.string().nullable().meta({
      description:
        'When someone asked to cancel the run (ISO 8601 timestamp): a run still `running` stops at its next page boundary and ends `cancelled`. Null when nobody did.',
    }),
    cancelledBy: z.string().nullable().meta({ description: 'Who cancelled it, or asked to (as `createdBy`).' }),
  })
  .meta({ id: 'Run', description: 'A run of a pipeline.' });
type RunView = z.output<typeof RunView>;

export const RunRecordView = z
  .object({
    kind: z.string().meta({ description: 'customer, invoice, payment, …' }),
    sourceId: z.string().meta({ description: "The record's id in the source." }),
    outcome: z.enum(['created', 'updated', 'skipped', 'parked', 'writtenBack', 'failed']),
    targetId: z.string().nullable().meta({ description: "The target's id for it, when it was booked." }),
    message: z.string().nullable(),
    at: z.string().meta({ description: 'ISO 8601 timestamp.' }),
  })
  .meta({ id: 'RunRecord', description: 'What a run did with one record.' });
type RunRecordView = z.output<typeof RunRecordView>;

const RunPage = paged(RunView);

/** A run's id in a path (also `ledgerlink runs cancel RUNID`). */
export const RunId = z.object({ runId: z.string().uuid('not a run id') });

/** The filters of GET /v1/runs, also those of `ledgerlink runs list`. */
export const RunListQuery = Page.extend({
  pipeline: z.string().optional().meta({ description: 'Only this pipeline; a name that is not one is refused.' }),
  status: RunStatus.optional(),
});

export function runView(r: NonNullable<Awaited<ReturnType<typeof getRun>>>): RunView {
  return {
    runId: r.runId,
    pipeline: r.pipeline,
    trigger: r.trigger,
    status: r.status,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    counts: publicCounts(r.counts),
    waiting: r.waiting,
    error: r.error,
    createdBy: r.createdBy,
    recordsRemovedAt: r.recordsRemovedAt,
    cancelRequestedAt: r.cancelRequestedAt,
    cancelledBy: r.cancelledBy,
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
    schema: z.object({ runId: z.string(), status: RunStatus }).meta({ id: 'RunStarted' }),
  },
  errors: [
    'PIPELINE_NOT_FOUND',
    'PIPELINE_DISABLED',
    'PIPELINE_UNKNOWN_SOURCE_TYPE',
    'PIPELINE_UNKNOWN_TARGET_TYPE',
    'PIPELINE_TARGET_SETTINGS_INVALID',
    'SECRET_UNREADABLE',
  ],
  // Not one request transaction: the run is created and queued in its own, and without a queue
  // (tests) it is worked right here, which must not sit inside an open transaction.
  write: false,
  handler: async (ctx): Promise<{ runId: string; status: z.output<typeof RunStatus> }> =>
    startManualRun(ctx.db, ctx.services.sync, ctx.params.name, scopeOf(ctx), ctx.principal.actor, 'params.name'),
});

const getRoute = defineRoute({
  method: 'GET',
  path: '/v1/runs/{runId}',
  operationId: 'getRun',
  summary: 'A run: status, times and counts',
  tags: ['runs'],
  auth: 'entityOrAdmin',
  params: RunId,
  success: { status: 200, description: 'The run.', schema: RunView },
  errors: ['NOT_FOUND'],
  handler: async (ctx): Promise<RunView> => {
    const run = await getRun(ctx.db, ctx.params.runId, scopeOf(ctx));
    if (!run) throw new DomainError('NOT_FOUND', `No run ${ctx.params.runId}`);
    return runView(run);
  },
});

const recordsRoute = defineRoute({
  method: 'GET',
  path: '/v1/runs/{runId}/records',
  operationId: 'getRunRecords',
  summary: 'The result of every record of a run',
  tags: ['runs'],
  auth: 'entityOrAdmin',
  params: RunId,
  query: Page,
  success: {
    status: 200,
    description: 'Records in order; none once the retention policy has removed them (`recordsRemovedAt` says when).',
    schema: z.object({
      items: z.array(RunRecordView),
      page: z.number().int(),
      pageSize: z.number().int(),
      recordsRemovedAt: RecordsRemovedAt,
    }),
  },
  errors: ['NOT_FOUND'],
  handler: async (
    ctx,
  ): Promise<{ items: RunRecordView[]; page: number; pageSize: number; recordsRemovedAt: string | null }> => {
    const run = await getRun(ctx.db, ctx.params.runId, scopeOf(ctx));
    if (!run) throw new DomainError('NOT_FOUND', `No run ${ctx.params.runId}`);
    const { page, pageSize } = ctx.query;
    const items = await listRunRecords(ctx.db, run.runId, pageSize, (page - 1) * pageSize);
    return { items, page, pageSize, recordsRemovedAt: run.recordsRemovedAt };
  },
});

const listRoute = defineRoute({
  method: 'GET',
  path: '/v1/runs',
  operationId: 'listRuns',
  summary: 'Runs, newest first',
  tags: ['runs'],
  auth: 'entityOrAdmin',
  query: RunListQuery,
  success: {
    status: 200,
    description: 'A page of runs.',
    schema: RunPage,
  },
  errors: ['PIPELINE_NOT_FOUND'],
  handler: async (ctx): Promise<z.output<typeof RunPage>> => {
    const { page, pageSize, pipeline, status } = ctx.query;
    await checkPipelineFilter(ctx.db, pipeline, scopeOf(ctx), 'query.pipeline');
    const r = await listRuns(ctx.db, {
      entityId: scopeOf(ctx),
      pipeline,
      status,
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    return { items: r.items.map(runView), page, pageSize, total: r.total };
  },
});

const cancelRoute = defineRoute({
  method: 'POST',
  path: '/v1/runs/{runId}/cancel',
  operationId: 'cancelRun',
  summary: 'Cancel a run',
  description:
    'A run nobody works (queued, or left by a worker that stopped) ends `cancelled` at once (200). A run a worker works is asked to stop (202, ' +
    '`cancelRequestedAt` set): it finishes the page in hand and ends `cancelled`, within a page of documents; follow it with `GET /v1/runs/{runId}`. ' +
    'Nothing it posted is taken back (posted documents never change; correct them with new ones), documents already sent to a remote target still go ' +
    'until the target takes or refuses them, and the next run of the pipeline reads on from the source. Cancelling a cancelled run answers it again (200). ' +
    'An import working is asked to stop the same way: its request answers after the page in hand, its rows not posted marked so (import the file ' +
    'again to post them; rows posted are not posted twice). A finished run is refused (409 RUN_ALREADY_FINISHED), and so is an exception retry while ' +
    'it works (409 RUN_NOT_CANCELLABLE): it retries one record for its request and ends with it.',
  tags: ['runs'],
  auth: 'entityOrAdmin',
  params: RunId,
  success: {
    status: 200,
    description: 'The run, `cancelled`; or, answered 202, still `running` with `cancelRequestedAt` set.',
    schema: RunView,
  },
  errors: ['NOT_FOUND', 'RUN_ALREADY_FINISHED', 'RUN_NOT_CANCELLABLE'],
  handler: async (ctx): Promise<RunView> => {
    const { run, requested } = await cancelRun(ctx.db, ctx.params.runId, {
      entityId: scopeOf(ctx),
      actor: ctx.principal.actor,
      leaseSeconds: ctx.services.sync.liveness.leaseSeconds,
      audit: ctx.audit,
    });
    if (requested) ctx.setStatus(202);
    return runView(run);
  },
});

export const runRoutes: AnyRoute[] = [startRoute, getRoute, recordsRoute, listRoute, cancelRoute];
