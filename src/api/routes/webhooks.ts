import { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';
import { findPipelinesNamed, type Pipeline } from '../../sync/pipelines.ts';
import { readConnection } from '../../sync/remote/oauth-store.ts';
import {
  type InboundHandler,
  type TargetInbound,
  inboundHandlers,
  targetInboundHandlers,
} from '../../sync/registry.ts';
import { type StoredWebhookEvent, storeWebhookEvent } from '../../sync/webhook-events.ts';
import { defineRoute, type AnyRoute, type RouteContext } from '../route.ts';
import { assertStorableText } from '../text-guard.ts';

const PipelineName = z.object({ pipeline: z.string().min(1).max(63) });
const Accepted = z.object({
  eventId: z.string(),
  duplicate: z.boolean().meta({
    description:
      'True when this event id was received before and is still stored (processed events are kept ' +
      'LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS): nothing was changed.',
  }),
  ignored: z
    .boolean()
    .optional()
    .meta({ description: 'True for an event type ledgerlink does not book (acknowledged, not stored).' }),
});

/** Whatever the connector: an event id that fits its index, and a payload the database can store. */
function assertStorableEvent(event: StoredWebhookEvent): void {
  if (typeof event.eventId !== 'string' || event.eventId.length === 0 || event.eventId.length > 255) {
    throw new DomainError('VALIDATION_ERROR', 'body.id: an event id of 1 to 255 characters', [
      { field: 'body.id', message: '1 to 255 characters' },
    ]);
  }
  assertStorableText({ id: event.eventId, type: event.type, payload: event.payload }, 'body');
}

/** A webhook delivery is one event: a megabyte is far more than any sender sends. */
export const WEBHOOK_BODY_LIMIT_BYTES = 1024 * 1024;

/** One answer for an unknown pipeline, a pipeline of another kind and one without a secret: which is not said. */
function noEndpoint(): DomainError {
  return new DomainError('NOT_FOUND', 'No webhook endpoint for this pipeline');
}

/**
 * Stores the event and, in the same transaction, creates and queues the run that will process
 * it, or joins the pipeline's run that has not started (src/sync/runs.ts, joinWebhookRun): once
 * the sender has its 202 the event cannot be lost, and a replayed event id changes nothing.
 * Without a queue (tests, a single process) the run is worked here, after the commit; of the
 * requests that joined one run, one works it and the others find it held or finished (executeRun).
 * A disabled pipeline still stores its events; they are processed by its next run.
 */
async function accept(ctx: RouteContext<unknown, unknown, unknown>, pipeline: Pipeline, event: StoredWebhookEvent) {
  const sync = ctx.services.sync;
  const { fresh, runId } = await sync.db.transaction(async (tx) => {
    const stored = await storeWebhookEvent(tx, pipeline.id, event);
    const run =
      stored && pipeline.enabled
        ? await sync.trigger(pipeline, 'webhook', `webhook:${pipeline.name}`, { eventId: event.eventId }, { tx })
        : null;
    return { fresh: stored, runId: run };
  });
  if (runId && !sync.queued) await sync.runNow(runId);
  ctx.log.info(
    { pipeline: pipeline.name, eventId: event.eventId, type: event.type, duplicate: !fresh, runId },
    'webhook received',
  );
  return { eventId: event.eventId, duplicate: !fresh };
}

/**
 * Whether a connector refused a delivery after it verified the signature with the pipeline's secret.
 * Every inbound handler refuses a signature that does not verify with WEBHOOK_SIGNATURE_INVALID, and
 * checks the signature before anything else (the timestamp, the body): any other refusal was made
 * for a sender who holds that pipeline's secret.
 */
function signedForPipeline(refusal: DomainError): boolean {
  return refusal.code !== 'WEBHOOK_SIGNATURE_INVALID';
}

/**
 * The check made before a delivery's body is read: a pipeline of that name whose source or target
 * takes this route; otherwise the answer of an unknown pipeline, so a caller cannot tell which exist.
 */
function pipelineWith(takes: (p: Pipeline) => boolean): NonNullable<Parameters<typeof defineRoute>[0]['beforeBody']> {
  return async (request, services) => {
    const name = (request.params as { pipeline?: unknown }).pipeline;
    const named = typeof name === 'string' ? await findPipelinesNamed(services.db, services.sync.box, name) : [];
    if (!named.some(takes)) throw noEndpoint();
  };
}

/**
 * A connector's webhook route (src/sync/registry.ts, `registerInbound`): the pipeline is looked
 * up, the connector verifies the exact body bytes and says what they hold, and what it accepts is
 * stored and queued the same way for every connector.
 */
function inboundRoute(inbound: InboundHandler): AnyRoute {
  const { docs } = inbound;
  return defineRoute({
    method: 'POST',
    path: `/v1/webhooks/{pipeline}${inbound.pathSuffix}`,
    operationId: docs.operationId,
    summary: docs.summary,
    description: docs.description,
    tags: ['webhooks'],
    auth: 'none',
    params: PipelineName,
    body: docs.body,
    rawBody: true,
    idempotency: {
      ignore: 'deliveries are deduplicated by the event id the sender signs (a replay answers `duplicate: true`).',
    },
    bodyLimitBytes: WEBHOOK_BODY_LIMIT_BYTES,
    // Anonymous until its signature is checked over the whole body: an unknown pipeline, or one
    // of another kind, is answered before a byte of the body is read.
    beforeBody: pipelineWith((p) => p.sourceType === inbound.sourceType),
    ...(docs.example === undefined ? {} : { example: docs.example }),
    // Not one request transaction: the event is stored and its run queued in a transaction of their
    // own, and without a queue the run is worked right after, which must not sit inside it.
    write: false,
    success: { status: 202, description: docs.accepted, schema: Accepted },
    errors: [...docs.errors, 'SECRET_UNREADABLE'],
    handler: async (ctx) => {
      // Names are unique per entity: of the pipelines of this name, the one whose secret verifies the delivery takes it.
      const named = await findPipelinesNamed(ctx.db, ctx.services.sync.box, ctx.params.pipeline);
      let unsigned: DomainError | null = null;
      const unreadable: Pipeline[] = [];
      for (const pipeline of named.filter((p) => p.sourceType === inbound.sourceType)) {
        if (pipeline.unreadableSecrets.length) {
          unreadable.push(pipeline);
          continue;
        }
        const verdict = await inbound.verify(pipeline, ctx.rawBody ?? Buffer.alloc(0), ctx.request.headers);
        if (!verdict.ok) {
          if (!('error' in verdict)) continue;
          // Signed with this pipeline's secret, the delivery is this pipeline's and so is the answer
          // (a stale timestamp, a bad body): whatever another entity's pipeline of the same name would
          // say, it must not change it. Only a signature no pipeline verifies is answered as such.
          if (signedForPipeline(verdict.error)) throw verdict.error;
          unsigned ??= verdict.error;
          continue;
        }
        if ('ignored' in verdict) return { eventId: verdict.ignored.eventId, duplicate: false, ignored: true };
        assertStorableEvent(verdict.event);
        return accept(ctx, pipeline, verdict.event);
      }
      // A pipeline whose secret cannot be read cannot check a signature: refused (the sender retries),
      // never taken unverified. The details (which secret, how to fix) are for the operator, in the
      // log and on the pipeline.
      if (unreadable.length) {
        for (const p of unreadable)
          ctx.log.warn({ pipeline: p.name, entity: p.entityCode, secrets: p.unreadableSecrets }, 'SECRET_UNREADABLE');
        throw new DomainError('SECRET_UNREADABLE', 'This endpoint cannot verify events until its operator fixes it');
      }
      throw unsigned ?? noEndpoint();
    },
  });
}

/**
 * A verified delivery from a pipeline's target platform that names something of its tenant: a run
 * of the pipeline, which reads payment status back (src/sync/engine/writeback.ts). With the queue
 * (the server) it joins the pipeline's webhook run that has not started yet, so a burst of
 * deliveries makes one run; without one (a single process) it is worked here, and its failure is
 * the run's, not the delivery's: the platform has its 200 either way.
 */
async function runForTarget(ctx: RouteContext<unknown, unknown, unknown>, pipeline: Pipeline, targetType: string) {
  const sync = ctx.services.sync;
  const runId = await sync.db.transaction((tx) =>
    sync.trigger(pipeline, 'webhook', `webhook:${pipeline.name}`, { targetWebhook: targetType }, { tx }),
  );
  ctx.log.info({ pipeline: pipeline.name, target: targetType, runId }, 'target webhook received');
  if (runId && !sync.queued) {
    await sync.runNow(runId).catch((err: unknown) => {
      ctx.log.warn(
        { pipeline: pipeline.name, runId, err: err instanceof Error ? err.message : String(err) },
        'run failed',
      );
    });
  }
}

/**
 * A target platform's webhook route (TargetDefinition.inbound): the same rules as a source's (the
 * pipeline known before the body is read, the exact bytes verified before they are parsed), but
 * nothing is stored: a delivery only says something changed on the platform, and the run reads it.
 * Answered 200 with an empty body, as Xero requires of every valid delivery.
 */
function targetInboundRoute(targetType: string, inbound: TargetInbound): AnyRoute {
  const { docs } = inbound;
  return defineRoute({
    method: 'POST',
    path: `/v1/webhooks/{pipeline}${inbound.pathSuffix}`,
    operationId: docs.operationId,
    summary: docs.summary,
    description: docs.description,
    tags: ['webhooks'],
    auth: 'none',
    params: PipelineName,
    body: docs.body,
    rawBody: true,
    idempotency: {
      ignore:
        'a delivery only triggers a run of the pipeline, which joins its pending run: a replay changes nothing more.',
    },
    bodyLimitBytes: WEBHOOK_BODY_LIMIT_BYTES,
    beforeBody: pipelineWith((p) => p.targetType === targetType),
    ...(docs.example === undefined ? {} : { example: docs.example }),
    write: false,
    success: { status: 200, description: docs.accepted },
    errors: [...docs.errors, 'SECRET_UNREADABLE'],
    handler: async (ctx) => {
      const named = await findPipelinesNamed(ctx.db, ctx.services.sync.box, ctx.params.pipeline);
      let unsigned: DomainError | null = null;
      const unreadable: Pipeline[] = [];
      for (const pipeline of named.filter((p) => p.targetType === targetType)) {
        if (pipeline.unreadableSecrets.length) {
          unreadable.push(pipeline);
          continue;
        }
        const verdict = await inbound.verify(pipeline, ctx.rawBody ?? Buffer.alloc(0), ctx.request.headers, {
          tenantId: async () => (await readConnection(ctx.db, pipeline.id))?.tenant_id ?? null,
        });
        if (!verdict.ok) {
          if (!('error' in verdict)) continue;
          // As for a source's route: the pipeline whose key verified the delivery answers it.
          if (signedForPipeline(verdict.error)) throw verdict.error;
          unsigned ??= verdict.error;
          continue;
        }
        if (verdict.changed && pipeline.enabled) await runForTarget(ctx, pipeline, targetType);
        return undefined;
      }
      if (unreadable.length) {
        for (const p of unreadable)
          ctx.log.warn({ pipeline: p.name, entity: p.entityCode, secrets: p.unreadableSecrets }, 'SECRET_UNREADABLE');
        throw new DomainError('SECRET_UNREADABLE', 'This endpoint cannot verify events until its operator fixes it');
      }
      throw unsigned ?? noEndpoint();
    },
  });
}

// One route object per handler, so that the same route compares equal however often it is listed.
const routes = new WeakMap<InboundHandler, AnyRoute>();

const targetRoutes = new WeakMap<TargetInbound, AnyRoute>();

/** The webhook routes of the connectors loaded (src/connectors/all.ts), sources' then targets', each ordered by path. */
export function webhookRoutes(): AnyRoute[] {
  const sources = inboundHandlers().map((h) => {
    let route = routes.get(h);
    if (!route) routes.set(h, (route = inboundRoute(h)));
    return route;
  });
  const targets = targetInboundHandlers().map(({ targetType, inbound }) => {
    let route = targetRoutes.get(inbound);
    if (!route) targetRoutes.set(inbound, (route = targetInboundRoute(targetType, inbound)));
    return route;
  });
  const taken = new Set(sources.map((r) => r.path));
  const clash = targets.find((r) => taken.has(r.path));
  if (clash) throw new Error(`Inbound route ${clash.path} is both a source's and a target's`);
  return [...sources, ...targets];
}
