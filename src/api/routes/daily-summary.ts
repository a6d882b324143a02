import { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';
import { requirePipeline } from '../../sync/pipelines.ts';
import { getRun } from '../../sync/runs.ts';
import { IsoDate } from '../schemas.ts';
import { PipelineName } from './pipelines.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { scopeOf } from './sync-shared.ts';

const summaryRoute = defineRoute({
  method: 'POST',
  path: '/v1/pipelines/{name}/daily-summary',
  operationId: 'startDailySummary',
  summary: 'Post the end-of-day summary of a daily-summary pipeline now',
  description:
    'Starts a run of trigger "daily-summary": with `date`, that day; without, every complete day (UTC) not yet summarised. Per day it posts one ' +
    'invoice per customer and location (`DS-<date>-<location>`) and one receipt per customer, location and payment method, allocated to it. ' +
    'Safe to repeat: what was summarised is never posted again; sales that arrived later form a further summary of their day.',
  tags: ['runs'],
  auth: 'entityOrAdmin',
  params: PipelineName,
  body: z.strictObject({ date: IsoDate.optional() }).optional(),
  example: { date: '2026-11-21' },
  write: false,
  success: {
    status: 202,
    description: 'The run was queued (or, without a queue, worked).',
    schema: z.object({ runId: z.string(), status: z.string() }),
  },
  errors: ['PIPELINE_NOT_FOUND'],
  handler: async (ctx) => {
    const sync = ctx.services.sync;
    const pipeline = await requirePipeline(ctx.db, sync.box, ctx.params.name, scopeOf(ctx), 'params.name');
    if (pipeline.mode !== 'daily-summary') {
      throw new DomainError('VALIDATION_ERROR', `Pipeline ${pipeline.name} is not in daily-summary mode`, [
        { field: 'params.name', message: 'not a daily-summary pipeline' },
      ]);
    }
    const runId = await sync.trigger(
      pipeline,
      'daily-summary',
      ctx.principal.actor,
      ctx.body?.date ? { date: ctx.body.date } : {},
    );
    const run = await getRun(ctx.db, runId!);
    return { runId: runId!, status: run?.status ?? 'queued' };
  },
});

export const dailySummaryRoutes: AnyRoute[] = [summaryRoute];
