import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route.ts';
import { DomainError } from '../../domain/errors.ts';
import { findEntityByCode } from '../../ledger/entities.ts';
import {
  PipelineDefinition,
  PipelineMapping,
  PipelineOptions,
  deletePipeline,
  findPipeline,
  listPipelines,
  pipelineAuditChange,
  publicPipeline,
  requirePipeline,
  savePipeline,
} from '../../sync/pipelines.ts';
import { scopeOf } from './sync-shared.ts';

export const PipelineName = z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'not a pipeline name') });

const ConnectorSettings = z.looseObject({ type: z.string() }).meta({
  description:
    'The type and its settings as saved; the secrets its connector declares (apiKey, headers, …) read `[secret]`. ' +
    'Sent back as `[secret]`, a secret keeps its stored value.',
});

export const PipelineView = z
  .object({
    id: z.string(),
    name: z.string(),
    entity: z.string().meta({ description: 'The entity code.' }),
    source: ConnectorSettings,
    target: ConnectorSettings,
    schedule: z.string().nullable().meta({ description: 'A cron expression (UTC), or null for no schedule.' }),
    mode: z.enum(['documents', 'daily-summary']),
    options: PipelineOptions,
    mapping: PipelineMapping,
    hasWebhookSecret: z.boolean().meta({ description: 'Whether a webhook secret is set (it is never returned).' }),
    enabled: z.boolean(),
    managedBy: z.enum(['api', 'config']).meta({ description: 'Saved through the API, or from ledgerlink.yaml.' }),
    unreadableSecrets: z.array(z.string()).meta({
      description:
        'Secrets stored with another encryption key (`source.apiKey`, `webhookSecret`), shown as `[unreadable]`: the pipeline cannot run (SECRET_UNREADABLE) until they are entered again.',
    }),
  })
  .meta({ id: 'Pipeline', description: 'A pipeline, secrets redacted.' });
type PipelineView = z.output<typeof PipelineView>;

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
    schema: z.object({ items: z.array(PipelineView) }),
  },
  handler: async (ctx): Promise<{ items: PipelineView[] }> => ({
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
  success: { status: 200, description: 'The pipeline, secrets redacted.', schema: PipelineView },
  errors: ['PIPELINE_NOT_FOUND'],
  handler: async (ctx): Promise<PipelineView> =>
    publicPipeline(await requirePipeline(ctx.db, ctx.services.sync.box, ctx.params.name, scopeOf(ctx), 'params.name')),
});

const putRoute = defineRoute({
  method: 'PUT',
  path: '/v1/pipelines/{name}',
  operationId: 'putPipeline',
  summary: 'Create or replace a pipeline',
  description:
    'The same shape as a pipeline in ledgerlink.yaml. Secrets (apiKey, webhookSecret, …) are encrypted at rest and never returned. ' +
    'A pipeline read by GET can be sent back as it is: a secret that reads `[secret]` keeps its stored value while every address ' +
    'of its side (source or target: baseUrl, tokenUrl, url, …) keeps its origin (scheme, host, port); when one moves, such a ' +
    'secret is refused (VALIDATION_ERROR naming it) and must be given again, and the target moving forgets its OAuth ' +
    'connection (connect again). An absent ' +
    '`webhookSecret` keeps the stored one (null removes it), and the read-only fields (id, hasWebhookSecret, managedBy, unreadableSecrets) are ignored. A secret that reads `[unreadable]` (stored with another encryption key) must be sent again. ' +
    'Settings a connector does not declare are refused; URLs must be https and may not point at loopback, private, link-local or ' +
    'metadata addresses unless the operator allows them (docs/security.md). Names are unique per entity. ' +
    'An entity token may only save pipelines of its own entity.',
  tags: ['pipelines'],
  auth: 'entityOrAdmin',
  role: 'owner',
  params: PipelineName,
  body: PipelineDefinition.omit({ name: true, entity: true }).extend({
    entity: z.string().optional().meta({ description: 'Entity code; defaults to the token’s entity.' }),
    // What a GET returns and a client may send back: checked against the pipeline where they can be, else ignored.
    name: z.string().optional().meta({ description: 'Read-only: when sent, it must be the name in the path.' }),
    id: z.string().optional().meta({ description: 'Read-only: when sent, it must be the saved pipeline’s id.' }),
    hasWebhookSecret: z.boolean().optional().meta({ description: 'Read-only; ignored.' }),
    managedBy: z.enum(['api', 'config']).optional().meta({ description: 'Read-only; ignored.' }),
    unreadableSecrets: z.array(z.string()).optional().meta({ description: 'Read-only; ignored.' }),
  }),
  example: {
    source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey: '…' },
    schedule: '*/15 * * * *',
    options: { invoiceMode: 'final' },
  },
  success: {
    status: 200,
    description: 'The saved pipeline (201 when created).',
    schema: PipelineView,
  },
  errors: [
    'ENTITY_DOES_NOT_EXIST',
    'PIPELINE_UNKNOWN_SOURCE_TYPE',
    'PIPELINE_UNKNOWN_TARGET_TYPE',
    'PIPELINE_SOURCE_SETTINGS_INVALID',
    'PIPELINE_TARGET_SETTINGS_INVALID',
    'PIPELINE_URL_REFUSED',
    'PIPELINE_TOO_LARGE',
    'PIPELINE_MAPPING_TARGET_UNKNOWN',
    'ENCRYPTION_KEY_OUTDATED',
  ],
  handler: async (ctx): Promise<PipelineView> => {
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
    if (ctx.body.name !== undefined && ctx.body.name !== ctx.params.name)
      throw new DomainError('VALIDATION_ERROR', 'name: differs from the name in the path', [
        { field: 'body.name', message: `must be ${ctx.params.name} (or absent)` },
      ]);
    // The same checks as ledgerlink.yaml's (the schedule is checked by the body's schema). Types,
    // settings, sizes and then the mapping's codes are checked by savePipeline, once secrets sent
    // back as "[secret]" hold their stored values (a "[secret]" would fail a secret's minimum length).
    const {
      id,
      name: _name,
      hasWebhookSecret: _has,
      managedBy: _by,
      unreadableSecrets: _unreadable,
      ...def
    } = ctx.body;
    if (id !== undefined) {
      const current = await findPipeline(ctx.db, box, ctx.params.name, entityId);
      if (current?.id !== id)
        throw new DomainError('VALIDATION_ERROR', 'id: not the id of this pipeline', [
          { field: 'body.id', message: 'not the id of this pipeline (or absent)' },
        ]);
    }
    const { pipeline, created, before, connectionForgotten } = await savePipeline(
      ctx.db,
      box,
      entityId,
      { ...def, name: ctx.params.name, entity: entityCode },
      'api',
      { at: 'body', internalSources: false, checkMapping: true },
    );
    await ctx.audit({
      entityId,
      action: created ? 'pipeline.created' : 'pipeline.updated',
      objectType: 'pipeline',
      objectId: pipeline.name,
      ...pipelineAuditChange(before ?? null, pipeline),
    });
    // The target moved to another address: its OAuth tokens were forgotten with this save.
    if (connectionForgotten)
      await ctx.audit({
        entityId,
        action: 'connection.disconnected',
        objectType: 'pipeline',
        objectId: pipeline.name,
        before: { status: 'active' },
        after: { status: 'revoked', reason: 'the target changed address' },
      });
    ctx.setStatus(created ? 201 : 200);
    return publicPipeline(pipeline);
  },
});

const deleteRoute = defineRoute({
  method: 'DELETE',
  path: '/v1/pipelines/{name}',
  operationId: 'deletePipeline',
  summary: 'Delete a pipeline',
  description:
    'The pipeline stops (no schedule, webhooks or runs) and its name can be used again; its history (runs, the source map, ' +
    'exceptions, the audit trail) is kept and still listed (GET /v1/runs?pipeline=…). Refused while one of its runs is queued or running. ' +
    'A pipeline from ledgerlink.yaml comes back at the next start unless it is removed from the file.',
  tags: ['pipelines'],
  auth: 'entityOrAdmin',
  role: 'owner',
  params: PipelineName,
  success: { status: 200, description: 'The pipeline as it was, secrets redacted.', schema: PipelineView },
  errors: ['PIPELINE_NOT_FOUND', 'PIPELINE_RUN_IN_PROGRESS'],
  handler: async (ctx): Promise<PipelineView> =>
    publicPipeline(
      await deletePipeline(ctx.db, ctx.services.sync.box, ctx.params.name, scopeOf(ctx), ctx.audit, 'params.name'),
    ),
});

export const pipelineRoutes: AnyRoute[] = [listRoute, getRoute, putRoute, deleteRoute];
