import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route.ts';
import { DomainError } from '../../domain/errors.ts';
import { findEntityByCode } from '../../ledger/entities.ts';
import {
  PipelineDefinition,
  listPipelines,
  publicPipeline,
  requirePipeline,
  savePipeline,
} from '../../sync/pipelines.ts';
import { validCron } from '../../sync/schedule.ts';
import { sourceTypes } from '../../sync/registry.ts';
import { scopeOf } from './sync-shared.ts';

export const PipelineName = z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'not a pipeline name') });

const listRoute = defineRoute({
  method: 'GET',
  path: '/v1/pipelines',
  operationId: 'listPipelines',
  summary: 'List pipelines',
  description: 'An entity token sees its own pipelines; the admin token sees all. Secrets are never returned.',
  tags: ['pipelines'],
  auth: 'entityOrAdmin',
  success: {
    status: 200,
    description: 'The pipelines.',
    schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }),
  },
  handler: async (ctx) => ({
    items: (await listPipelines(ctx.db, ctx.services.sync.box, scopeOf(ctx))).map(publicPipeline),
  }),
});

const getRoute = defineRoute({
  method: 'GET',
  path: '/v1/pipelines/{name}',
  operationId: 'getPipeline',
  summary: 'Read a pipeline',
  tags: ['pipelines'],
  auth: 'entityOrAdmin',
  params: PipelineName,
  success: { status: 200, description: 'The pipeline, secrets redacted.', schema: z.record(z.string(), z.unknown()) },
  errors: ['NOT_FOUND'],
  handler: async (ctx) =>
    publicPipeline(await requirePipeline(ctx.db, ctx.services.sync.box, ctx.params.name, scopeOf(ctx))),
});

const putRoute = defineRoute({
  method: 'PUT',
  path: '/v1/pipelines/{name}',
  operationId: 'putPipeline',
  summary: 'Create or replace a pipeline',
  description:
    'The same shape as a pipeline in ledgerlink.yaml. Secrets (apiKey, webhookSecret, …) are encrypted at rest and never returned. ' +
    'An entity token may only save pipelines of its own entity.',
  tags: ['pipelines'],
  auth: 'entityOrAdmin',
  params: PipelineName,
  body: PipelineDefinition.omit({ name: true, entity: true }).extend({
    entity: z.string().optional().meta({ description: 'Entity code; defaults to the token’s entity.' }),
  }),
  example: {
    source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey: '…' },
    schedule: '*/15 * * * *',
    options: { invoiceMode: 'final' },
  },
  success: {
    status: 200,
    description: 'The saved pipeline (201 when created).',
    schema: z.record(z.string(), z.unknown()),
  },
  errors: ['ENTITY_DOES_NOT_EXIST'],
  handler: async (ctx) => {
    const box = ctx.services.sync.box;
    let entityId: string;
    let entityCode: string;
    if (ctx.principal.kind === 'entity') {
      entityId = ctx.principal.entity.id;
      entityCode = ctx.principal.entity.code;
      if (ctx.body.entity && ctx.body.entity !== entityCode)
        throw new DomainError('NOT_FOUND', `No entity ${ctx.body.entity} for this token`);
    } else {
      if (!ctx.body.entity)
        throw new DomainError('VALIDATION_ERROR', 'entity: required with the admin token', [
          { field: 'body.entity', message: 'required' },
        ]);
      const e = await findEntityByCode(ctx.db, ctx.body.entity);
      if (!e)
        throw new DomainError('ENTITY_DOES_NOT_EXIST', `No entity ${ctx.body.entity}`, [
          { field: 'body.entity', message: 'unknown entity' },
        ]);
      entityId = e.id;
      entityCode = e.code;
    }
    if (!sourceTypes().includes(ctx.body.source.type)) {
      throw new DomainError('VALIDATION_ERROR', `source.type: one of ${sourceTypes().join(', ')}`, [
        { field: 'body.source.type', message: `one of ${sourceTypes().join(', ')}` },
      ]);
    }
    if (ctx.body.schedule && !validCron(ctx.body.schedule)) {
      throw new DomainError('VALIDATION_ERROR', 'schedule: not a cron expression', [
        { field: 'body.schedule', message: 'not a cron expression' },
      ]);
    }
    const existing = await listPipelines(ctx.db, box);
    const clash = existing.find((p) => p.name === ctx.params.name && p.entityId !== entityId);
    if (clash)
      throw new DomainError('VALIDATION_ERROR', `Pipeline ${ctx.params.name} belongs to another entity`, [
        { field: 'params.name', message: 'taken' },
      ]);
    const before = existing.find((p) => p.name === ctx.params.name);
    const { pipeline, created } = await savePipeline(
      ctx.db,
      box,
      entityId,
      { ...ctx.body, name: ctx.params.name, entity: entityCode },
      'api',
    );
    await ctx.audit({
      entityId,
      action: created ? 'pipeline.created' : 'pipeline.updated',
      objectType: 'pipeline',
      objectId: pipeline.name,
      before: before ? publicPipeline(before) : null,
      after: publicPipeline(pipeline),
    });
    ctx.setStatus(created ? 201 : 200);
    return publicPipeline(pipeline);
  },
});

export const pipelineRoutes: AnyRoute[] = [listRoute, getRoute, putRoute];
