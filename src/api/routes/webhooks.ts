import { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';
import { findPipelinesNamed, type Pipeline } from '../../sync/pipelines.ts';
import { type InboundHandler, inboundHandlers } from '../../sync/registry.ts';
import { type StoredWebhookEvent, storeWebhookEvent } from '../../sync/webhook-events.ts';
import { defineRoute, type AnyRoute, type RouteContext } from '../route.ts';
import { assertStorableText } from '../text-guard.ts';

const PipelineName = z.object({ pipeline: z.string().min(1).max(63) });
const Accepted = z.object({
  eventId: z.string(),
  duplicate: z.boolean().meta({ description: 'True when this event id was received before: nothing was changed.' }),
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
 * it: once the sender has its 202 the event cannot be lost, and a replayed event id changes
 * nothing. Without a queue (tests, a single process) the run is worked here, after the commit.
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
    beforeBody: async (request, services) => {
      const name = (request.params as { pipeline?: unknown }).pipeline;
      const named = typeof name === 'string' ? await findPipelinesNamed(services.db, services.sync.box, name) : [];
      if (!named.some((p) => p.sourceType === inbound.sourceType)) throw noEndpoint();
    },
    ...(docs.example === undefined ? {} : { example: docs.example }),
    // Not one request transaction: the event is stored and its run queued in a transaction of their
    // own, and without a queue the run is worked right after, which must not sit inside it.
    write: false,
    success: { status: 202, description: docs.accepted, schema: Accepted },
    errors: [...docs.errors, 'SECRET_UNREADABLE'],
    handler: async (ctx) => {
      // Names are unique per entity: of the pipelines of this name, the one whose secret verifies the delivery takes it.
      const named = await findPipelinesNamed(ctx.db, ctx.services.sync.box, ctx.params.pipeline);
      let refusal: DomainError | null = null;
      const unreadable: Pipeline[] = [];
      for (const pipeline of named.filter((p) => p.sourceType === inbound.sourceType)) {
        if (pipeline.unreadableSecrets.length) {
          unreadable.push(pipeline);
          continue;
        }
        const verdict = await inbound.verify(pipeline, ctx.rawBody ?? Buffer.alloc(0), ctx.request.headers);
        if (!verdict.ok) {
          if ('error' in verdict) refusal ??= verdict.error;
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
      throw refusal ?? noEndpoint();
    },
  });
}

// One route object per handler, so that the same route compares equal however often it is listed.
const routes = new WeakMap<InboundHandler, AnyRoute>();

/** The webhook routes of the connectors loaded (src/connectors/all.ts), ordered by path. */
export function webhookRoutes(): AnyRoute[] {
  return inboundHandlers().map((h) => {
    let route = routes.get(h);
    if (!route) routes.set(h, (route = inboundRoute(h)));
    return route;
  });
}
