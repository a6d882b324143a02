import { z } from 'zod';
import { PipelineName } from './pipelines.ts';
import { ReconciliationView } from './reconciliation.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { IsoDate, Page, paged } from '../schemas.ts';
import { DomainError, type FieldProblem } from '../../domain/errors.ts';
import { assertPipelineTypes, assertSecretsReadable, requirePipeline } from '../../sync/pipelines.ts';
import { reconcileWindow } from '../../sync/reconcile.ts';
import {
  RECONCILIATION_FAILURES,
  type StoredReconciliation,
  getReconciliation,
  listReconciliations,
} from '../../sync/reconciliations.ts';
import { scopeOf } from './sync-shared.ts';

const Status = z.enum(['queued', 'running', 'succeeded', 'failed']).meta({
  description:
    '`queued` until a worker takes it, `running` while it works, then `succeeded` (with its `report`) or `failed` (with its `error`).',
});

const Progress = z
  .object({
    phase: z.enum(['source', 'target', 'unlinked', 'comparing', 'balances']).meta({
      description:
        "`source`: what the source sent, read from this database; `target`: the pipeline's documents read from the target, page by page (the long part with a remote target); `unlinked`: the target's documents of the window that no pipeline booked; `comparing`; `balances`: each customer's open balance on both sides.",
    }),
    sourceDocuments: z
      .number()
      .int()
      .meta({ description: 'Documents the source sent in the window, parked ones included.' }),
    fetched: z.number().int().meta({ description: "Of `toFetch`, the target's documents read so far." }),
    toFetch: z.number().int().meta({ description: 'The documents the pipeline booked that are read from the target.' }),
  })
  .meta({ id: 'ReconciliationProgress', description: 'Where a worker has got to in a reconciliation.' })
  .nullable()
  .meta({ description: 'Where the worker has got to, written every second; null until a worker starts it.' });

const Failure = z
  .object({
    code: z.string().meta({
      description: `A stable code: ${Object.keys(RECONCILIATION_FAILURES)
        .map((c) => `\`${c}\``)
        .join(
          ', ',
        )} (docs/errors.md), or the API error code of what refused it (\`NOT_FOUND\`: the pipeline was deleted; \`SECRET_UNREADABLE\`, …).`,
    }),
    message: z.string().meta({ description: 'What failed, for people; never a database message.' }),
  })
  .meta({ id: 'ReconciliationFailure', description: 'Why a reconciliation failed.' })
  .nullable()
  .meta({ description: 'Why it failed, when it did.' });

const fields = {
  reconciliationId: z.string().meta({ description: 'The reconciliation id (a UUID).' }),
  pipeline: z.string(),
  from: z.string().meta({ description: 'The first document date of the window (YYYY-MM-DD).' }),
  to: z.string().meta({ description: 'The last document date of the window, and the date of the open balances.' }),
  status: Status,
  progress: Progress,
  error: Failure,
  createdBy: z.string().meta({ description: 'Who asked for it: `credential:<id>`, `user:<id>`, `admin`.' }),
  createdAt: z.string().meta({ description: 'When it was asked for (ISO 8601 timestamp).' }),
  startedAt: z.string().nullable().meta({ description: 'When a worker first started it.' }),
  finishedAt: z.string().nullable(),
};

const StoredView = z
  .object({
    ...fields,
    report: ReconciliationView.nullable().meta({
      description: 'Once `succeeded`: the reconciliation, as GET /v1/pipelines/{name}/reconciliation answers it.',
    }),
  })
  .meta({ id: 'StoredReconciliation', description: 'A reconciliation worked by a worker, and its report.' });
type StoredView = z.output<typeof StoredView>;

const ListedView = z
  .object({
    ...fields,
    summary: ReconciliationView.shape.summary
      .nullable()
      .meta({ description: "Once `succeeded`: the report's summary." }),
  })
  .meta({
    id: 'ListedReconciliation',
    description: 'A reconciliation in a list: its report left out, its summary kept.',
  });
type ListedView = z.output<typeof ListedView>;

function common(r: StoredReconciliation) {
  return {
    reconciliationId: r.reconciliationId,
    pipeline: r.pipeline,
    from: r.from,
    to: r.to,
    status: r.status,
    progress: r.progress,
    error: r.error,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}

const WindowQuery = z.object({ from: IsoDate.optional(), to: IsoDate.optional() });
const WindowBody = z.strictObject(WindowQuery.shape);
type Window = z.output<typeof WindowQuery>;

/** The window from the body or the query string; a date given in both must be the same. */
function windowOf(body: Window | undefined, query: Window) {
  const problems: FieldProblem[] = [];
  for (const k of ['from', 'to'] as const)
    if (body?.[k] !== undefined && query[k] !== undefined && body[k] !== query[k])
      problems.push({ field: `body.${k}`, message: `differs from query.${k}` });
  if (problems.length)
    throw new DomainError('VALIDATION_ERROR', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
  const from = body?.from ?? query.from;
  const window = reconcileWindow(from, body?.to ?? query.to);
  if (!window) {
    const field = body?.from !== undefined ? 'body.from' : 'query.from';
    throw new DomainError('VALIDATION_ERROR', `${field}: must not be after to`, [{ field, message: 'after to' }]);
  }
  return window;
}

const startRoute = defineRoute({
  method: 'POST',
  path: '/v1/pipelines/{name}/reconciliations',
  operationId: 'startReconciliation',
  summary: 'Start a reconciliation that a worker does; follow it and read its report later',
  description:
    'The reconciliation of GET /v1/pipelines/{name}/reconciliation, for windows and targets where it takes too long for one request (a remote ' +
    'target read page by page under its rate limits): stored and queued durably, worked by a worker, its progress, then its report or why it ' +
    'failed, at `GET /v1/reconciliations/{id}` (the `Location` header and `location`). `from` and `to` in the body or the query string, with the ' +
    'same defaults: `to` today (UTC), `from` 30 days before `to`. A worker that dies while it works is replaced: another starts it again.',
  tags: ['reconciliation'],
  auth: 'entityOrAdmin',
  // It only reads the books and the target, as the synchronous GET does, which a viewer may ask for.
  role: 'viewer',
  params: PipelineName,
  query: WindowQuery,
  body: WindowBody.optional(),
  example: { from: '2026-11-01', to: '2026-11-30' },
  // Not one request transaction: the reconciliation is stored and queued in its own, and without a
  // queue it is worked right here, which must not sit inside an open transaction.
  write: false,
  success: {
    status: 202,
    description: 'Queued (or, on a server without a queue, already worked).',
    schema: z
      .object({
        reconciliationId: z.string(),
        status: Status,
        location: z.string().meta({ description: 'Where to follow it: `/v1/reconciliations/{id}`.' }),
      })
      .meta({ id: 'ReconciliationStarted' }),
  },
  errors: [
    'PIPELINE_NOT_FOUND',
    'PIPELINE_UNKNOWN_TARGET_TYPE',
    'PIPELINE_TARGET_SETTINGS_INVALID',
    'SECRET_UNREADABLE',
  ],
  handler: async (ctx) => {
    const window = windowOf(ctx.body, ctx.query);
    const sync = ctx.services.sync;
    const pipeline = await requirePipeline(ctx.db, sync.box, ctx.params.name, scopeOf(ctx), 'params.name');
    // What would only make it fail in the worker is refused now, as the synchronous GET would refuse it.
    assertSecretsReadable(pipeline);
    assertPipelineTypes(pipeline, 'target');
    const id = await sync.reconciliations.start(pipeline, window, ctx.principal.actor);
    const stored = await getReconciliation(ctx.db, id);
    const location = `/v1/reconciliations/${id}`;
    ctx.reply.header('location', location);
    return { reconciliationId: id, status: stored?.status ?? 'queued', location };
  },
});

const getRoute = defineRoute({
  method: 'GET',
  path: '/v1/reconciliations/{id}',
  operationId: 'getReconciliation',
  summary: 'A stored reconciliation: status, progress, times, and its report once done',
  tags: ['reconciliation'],
  auth: 'entityOrAdmin',
  params: z.object({ id: z.string().uuid('not a reconciliation id') }),
  success: { status: 200, description: 'The reconciliation.', schema: StoredView },
  errors: ['NOT_FOUND'],
  handler: async (ctx): Promise<StoredView> => {
    const r = await getReconciliation(ctx.db, ctx.params.id, scopeOf(ctx));
    if (!r) throw new DomainError('NOT_FOUND', `No reconciliation ${ctx.params.id}`);
    return { ...common(r), report: r.report };
  },
});

const ReconciliationPage = paged(ListedView);

const listRoute = defineRoute({
  method: 'GET',
  path: '/v1/pipelines/{name}/reconciliations',
  operationId: 'listReconciliations',
  summary: "A pipeline's stored reconciliations, newest first",
  tags: ['reconciliation'],
  auth: 'entityOrAdmin',
  params: PipelineName,
  query: Page,
  success: {
    status: 200,
    description: 'A page of reconciliations, without their reports.',
    schema: ReconciliationPage,
  },
  errors: ['PIPELINE_NOT_FOUND'],
  handler: async (ctx): Promise<z.output<typeof ReconciliationPage>> => {
    const pipeline = await requirePipeline(ctx.db, ctx.services.sync.box, ctx.params.name, scopeOf(ctx), 'params.name');
    const { page, pageSize } = ctx.query;
    const r = await listReconciliations(ctx.db, pipeline.id, pageSize, (page - 1) * pageSize);
    const items: ListedView[] = r.items.map((x) => ({ ...common(x), summary: x.summary }));
    return { items, page, pageSize, total: r.total };
  },
});

export const reconciliationJobRoutes: AnyRoute[] = [startRoute, getRoute, listRoute];
