import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route.ts';
import { listExceptions, resolveOpenException, retryException } from '../../sync/exceptions.ts';
import { scopeOf } from './sync-shared.ts';
import { checkPipelineFilter } from '../../sync/pipelines.ts';
import { BooleanFlag, Page, paged } from '../schemas.ts';
import { RunStatus } from './runs.ts';

export const ExceptionView = z
  .object({
    id: z.number().int(),
    pipeline: z.string().meta({ description: 'The pipeline name.' }),
    runId: z.string().nullable().meta({ description: 'The run that parked it last.' }),
    kind: z.string().meta({ description: 'customer, invoice, payment, …' }),
    sourceId: z.string().meta({ description: "The record's id in the source." }),
    reasonCode: z.string().meta({ description: 'Why it was parked: a stable UPPER_SNAKE code (see errors.md).' }),
    message: z.string(),
    field: z.string().nullable().meta({ description: 'The field at fault, when there is one.' }),
    needs: z
      .object({
        kind: z.enum(['customer', 'product', 'invoice', 'creditNote', 'payment']),
        sourceId: z.string().optional().meta({ description: 'A customer or product: its id in the source.' }),
        customerTargetId: z.string().optional().meta({ description: "A document: the target's id of its customer." }),
        reference: z.string().optional().meta({ description: 'A document: its external reference.' }),
      })
      .nullable()
      .meta({
        description:
          'What it was parked for want of: once the pipeline books that, the record runs again by itself ' +
          '(docs/sync.md, "Parked dependants run again once what they need is booked"). null when it names nothing.',
      }),
    runsByItself: z.boolean().meta({
      description:
        'true when it goes by itself, nobody acting: it names what it needs, and that can come without a person. ' +
        'false when a person must act: it names nothing, or the source answered that it has no such customer or ' +
        'product (restore it there, then retry one of the exceptions; the others that need it go with that one).',
    }),
    payload: z
      .unknown()
      .meta({ description: 'What was parked: `record` (canonical) and `raw` (as the source sent it).' }),
    status: z.enum(['open', 'resolved']),
    attempts: z.number().int().meta({ description: 'Times the record was parked while this exception was open.' }),
    note: z.string().nullable().meta({ description: 'Why it was resolved.' }),
    resolvedBy: z.string().nullable(),
    createdAt: z.string().meta({ description: 'ISO 8601 timestamp.' }),
    updatedAt: z.string(),
    resolvedAt: z.string().nullable(),
  })
  .meta({ id: 'Exception', description: 'A parked record: what could not be booked, why, and its data.' });

/** One exception as answered on its own, with the ids of its pipeline and entity. */
export const ExceptionDetail = ExceptionView.extend({
  pipelineId: z.string(),
  entityId: z.string(),
}).meta({ id: 'ExceptionDetail', description: 'A parked record, with the ids of its pipeline and entity.' });

const ExceptionPage = paged(ExceptionView);

const RetryOutcomeView = z
  .object({
    exception: ExceptionDetail,
    runId: z.string().meta({ description: 'The run of trigger `retry` that processed the record.' }),
    runStatus: RunStatus.optional(),
  })
  .meta({ id: 'ExceptionRetry' });

/** Exception ids are whole numbers; `abc` is refused as such, here and on the command line. */
export const ExceptionId = z.object({
  id: z.coerce
    .number({ error: 'exception ids are numbers, such as 12' })
    .int('exception ids are whole numbers, such as 12')
    .positive('exception ids are positive numbers, such as 12'),
});

/** The filters of GET /v1/exceptions, also those of `ledgerlink exceptions list`. */
export const ExceptionListQuery = Page.extend({
  pipeline: z.string().optional().meta({ description: 'Only this pipeline; a name that is not one is refused.' }),
  status: z
    .enum(['open', 'resolved'])
    .optional()
    .meta({
      description:
        'Only exceptions of this status; without it, both (resolved ones stay listed for their history). ' +
        '`ledgerlink exceptions list` and the dashboard ask for `open` unless told otherwise.',
    }),
  runsByItself: BooleanFlag.optional().meta({
    description:
      'true: only the exceptions that go by themselves once what they need is booked (`runsByItself`); ' +
      'false: only those a person must act on (with `status=open`: those waiting for a person now).',
  }),
});

const listRoute = defineRoute({
  method: 'GET',
  path: '/v1/exceptions',
  operationId: 'listExceptions',
  summary: 'Parked records: what could not be posted, why, and the data that caused it',
  tags: ['exceptions'],
  auth: 'entityOrAdmin',
  query: ExceptionListQuery,
  success: {
    status: 200,
    description: 'A page of exceptions, oldest first.',
    schema: ExceptionPage,
  },
  errors: ['PIPELINE_NOT_FOUND'],
  handler: async (ctx): Promise<z.output<typeof ExceptionPage>> => {
    const { page, pageSize, pipeline, status, runsByItself } = ctx.query;
    await checkPipelineFilter(ctx.db, pipeline, scopeOf(ctx), 'query.pipeline');
    const r = await listExceptions(ctx.db, {
      entityId: scopeOf(ctx),
      pipeline,
      status,
      runsByItself,
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    return { items: r.items, page, pageSize, total: r.total };
  },
});

const retryRoute = defineRoute({
  method: 'POST',
  path: '/v1/exceptions/{id}/retry',
  operationId: 'retryException',
  summary: 'Process a parked record again, once its cause is fixed',
  description:
    'Runs the parked record through the pipeline again (a run of trigger "retry"), with the same external reference, so it is posted at most once. ' +
    'Answers the exception afterwards: resolved when it went through, still open with the new reason when not.',
  tags: ['exceptions'],
  auth: 'entityOrAdmin',
  params: ExceptionId,
  write: false,
  success: {
    status: 200,
    description: 'The exception after the retry, and the run that made it.',
    schema: RetryOutcomeView,
  },
  errors: ['NOT_FOUND', 'EXCEPTION_ALREADY_RESOLVED'],
  handler: async (ctx): Promise<z.output<typeof RetryOutcomeView>> =>
    retryException(ctx.db, ctx.services.sync, ctx.params.id, ctx.principal.actor, {
      entityId: scopeOf(ctx),
      field: 'params.id',
    }),
});

/** What resolving takes, over HTTP and on the command line (`--note`). */
export const ResolveBody = z.strictObject({ note: z.string().min(1, 'say why').max(1000) });

const resolveRoute = defineRoute({
  method: 'POST',
  path: '/v1/exceptions/{id}/resolve',
  operationId: 'resolveException',
  summary: 'Close an exception by hand, with a note (for example: posted manually, or not to be booked)',
  tags: ['exceptions'],
  auth: 'entityOrAdmin',
  params: ExceptionId,
  body: ResolveBody,
  example: { note: 'Cancelled in the ticketing system; nothing to book.' },
  success: { status: 200, description: 'The resolved exception.', schema: ExceptionDetail },
  errors: ['NOT_FOUND', 'EXCEPTION_ALREADY_RESOLVED'],
  handler: async (ctx): Promise<z.output<typeof ExceptionDetail>> =>
    resolveOpenException(ctx.db, ctx.params.id, ctx.body.note, {
      actor: ctx.principal.actor,
      entityId: scopeOf(ctx),
      field: 'params.id',
      audit: ctx.audit,
    }),
});

export const exceptionRoutes: AnyRoute[] = [listRoute, retryRoute, resolveRoute];
