import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route.ts';
import { DomainError } from '../../domain/errors.ts';
import { listExceptions, requireException, resolveException } from '../../sync/exceptions.ts';
import { findPipelineById } from '../../sync/pipelines.ts';
import { CanonicalRecord } from '../../sync/canonical.ts';
import { getRun } from '../../sync/runs.ts';
import { scopeOf } from './sync-shared.ts';
import { Page } from '../schemas.ts';

const ExceptionId = z.object({ id: z.coerce.number().int().positive('not an exception id') });

const listRoute = defineRoute({
  method: 'GET',
  path: '/v1/exceptions',
  operationId: 'listExceptions',
  summary: 'Parked records: what could not be posted, why, and the data that caused it',
  tags: ['exceptions'],
  auth: 'entityOrAdmin',
  query: Page.extend({ pipeline: z.string().optional(), status: z.enum(['open', 'resolved']).optional() }),
  success: {
    status: 200,
    description: 'A page of exceptions, oldest first.',
    schema: z.object({
      items: z.array(z.record(z.string(), z.unknown())),
      page: z.number(),
      pageSize: z.number(),
      total: z.number(),
    }),
  },
  handler: async (ctx) => {
    const { page, pageSize, pipeline, status } = ctx.query;
    const r = await listExceptions(ctx.db, {
      entityId: scopeOf(ctx),
      pipeline,
      status,
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
    schema: z.record(z.string(), z.unknown()),
  },
  errors: ['NOT_FOUND'],
  handler: async (ctx) => {
    const sync = ctx.services.sync;
    const x = await requireException(ctx.db, ctx.params.id, scopeOf(ctx));
    if (x.status !== 'open')
      throw new DomainError('VALIDATION_ERROR', `Exception ${x.id} is already resolved`, [
        { field: 'params.id', message: 'already resolved' },
      ]);
    const pipeline = (await findPipelineById(ctx.db, sync.box, x.pipelineId))!;
    const stored = (x.payload as { record?: unknown; raw?: unknown }) ?? {};
    const parsed = CanonicalRecord.safeParse(stored.record);
    if (!parsed.success) {
      throw new DomainError(
        'VALIDATION_ERROR',
        `Exception ${x.id} holds no record that can be retried (${x.reasonCode}); fix it at the source and run the pipeline again`,
        [{ field: 'params.id', message: 'nothing to retry' }],
      );
    }
    const runId = await sync.processRecords(
      pipeline,
      'retry',
      ctx.principal.actor,
      [{ record: parsed.data, raw: stored.raw }],
      { exceptionId: x.id },
    );
    const after = await requireException(ctx.db, x.id);
    const run = await getRun(ctx.db, runId);
    return { exception: after, runId, runStatus: run?.status };
  },
});

const resolveRoute = defineRoute({
  method: 'POST',
  path: '/v1/exceptions/{id}/resolve',
  operationId: 'resolveException',
  summary: 'Close an exception by hand, with a note (for example: posted manually, or not to be booked)',
  tags: ['exceptions'],
  auth: 'entityOrAdmin',
  params: ExceptionId,
  body: z.strictObject({ note: z.string().min(1, 'say why').max(1000) }),
  example: { note: 'Cancelled in the ticketing system; nothing to book.' },
  success: { status: 200, description: 'The resolved exception.', schema: z.record(z.string(), z.unknown()) },
  errors: ['NOT_FOUND'],
  handler: async (ctx) => {
    const x = await requireException(ctx.db, ctx.params.id, scopeOf(ctx));
    if (x.status !== 'open')
      throw new DomainError('VALIDATION_ERROR', `Exception ${x.id} is already resolved`, [
        { field: 'params.id', message: 'already resolved' },
      ]);
    await resolveException(ctx.db, x.id, ctx.body.note, ctx.principal.actor);
    const after = await requireException(ctx.db, x.id);
    await ctx.audit({
      entityId: x.entityId,
      action: 'exception.resolved',
      objectType: 'exception',
      objectId: x.id,
      before: x,
      after,
    });
    return after;
  },
});

export const exceptionRoutes: AnyRoute[] = [listRoute, retryRoute, resolveRoute];
