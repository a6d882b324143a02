import { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';
import { WEBHOOK_EXAMPLE, WebhookEvent } from '../../connectors/webhook/events.ts';
import { SIGNATURE_HEADER, verifySignature } from '../../connectors/webhook/signature.ts';
import { stripeConfigOf } from '../../connectors/stripe/api.ts';
import { STRIPE_EVENT_TYPES } from '../../connectors/stripe/convert.ts';
import { verifyStripeEvent } from '../../connectors/stripe/webhook.ts';
import { findPipeline, type Pipeline } from '../../sync/pipelines.ts';
import { type StoredWebhookEvent, storeWebhookEvent } from '../../sync/webhook-events.ts';
import { parseJsonExact } from '../../domain/json.ts';
import { defineRoute, type AnyRoute, type RouteContext } from '../route.ts';

const PipelineName = z.object({ pipeline: z.string().min(1).max(63) });
const Accepted = z.object({
  eventId: z.string(),
  duplicate: z.boolean().meta({ description: 'True when this event id was received before: nothing was changed.' }),
  ignored: z
    .boolean()
    .optional()
    .meta({ description: 'True for an event type ledgerlink does not book (acknowledged, not stored).' }),
});

/** One answer for an unknown pipeline, a pipeline of another kind and one without a secret: which is not said. */
function noEndpoint(): DomainError {
  return new DomainError('NOT_FOUND', 'No webhook endpoint for this pipeline');
}

function header(ctx: RouteContext<unknown, unknown, unknown>, name: string): string | undefined {
  const v = ctx.request.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
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

function parseEvent(body: Buffer) {
  let json: unknown;
  try {
    json = parseJsonExact(body.toString('utf8'));
  } catch (err) {
    throw new DomainError('INVALID_JSON', `The body is not valid JSON: ${(err as Error).message}`);
  }
  const r = WebhookEvent.safeParse(json);
  if (!r.success) {
    const problems = r.error.issues.map((i) => ({
      field: ['body', ...i.path.map(String)].join('.'),
      message: i.message,
    }));
    throw new DomainError('VALIDATION_ERROR', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
  }
  return r.data;
}

const canonicalRoute = defineRoute({
  method: 'POST',
  path: '/v1/webhooks/{pipeline}',
  operationId: 'receiveWebhook',
  summary: 'Receive a sales event (canonical webhook) for a pipeline whose source is `webhook`',
  description:
    'Authenticated by signature, not by token: `X-Ledgerlink-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the pipeline\'s webhookSecret>`. ' +
    'Refused (401) when the signature does not match the exact body bytes (WEBHOOK_SIGNATURE_INVALID) or its timestamp is more than 5 minutes ' +
    'from the server clock either way (WEBHOOK_TIMESTAMP_OUT_OF_RANGE). The event is stored before the 202, once per event id (a replay answers ' +
    '`duplicate: true` and changes nothing), then processed by a run of trigger "webhook". A posted invoice is never changed: an update with ' +
    'different amounts is parked as INVOICE_ALREADY_POSTED_CHANGED.',
  tags: ['webhooks'],
  auth: 'none',
  params: PipelineName,
  body: WebhookEvent,
  rawBody: true,
  example: WEBHOOK_EXAMPLE,
  // Not one request transaction: the event is stored and its run queued in a transaction of their
  // own, and without a queue the run is worked right after, which must not sit inside it.
  write: false,
  success: { status: 202, description: 'Stored (or already stored) and queued for processing.', schema: Accepted },
  errors: ['WEBHOOK_SIGNATURE_INVALID', 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE', 'INVALID_JSON', 'NOT_FOUND'],
  handler: async (ctx) => {
    const pipeline = await findPipeline(ctx.db, ctx.services.sync.box, ctx.params.pipeline);
    if (!pipeline || pipeline.sourceType !== 'webhook' || !pipeline.webhookSecret) throw noEndpoint();
    const body = ctx.rawBody ?? Buffer.alloc(0);
    verifySignature(header(ctx, SIGNATURE_HEADER), body, pipeline.webhookSecret);
    const event = parseEvent(body);
    return accept(ctx, pipeline, { eventId: event.id, type: event.type, payload: event });
  },
});

const stripeRoute = defineRoute({
  method: 'POST',
  path: '/v1/webhooks/{pipeline}/stripe',
  operationId: 'receiveStripeWebhook',
  summary: 'Receive a Stripe event for a pipeline whose source is `stripe`',
  description:
    'Point a Stripe webhook endpoint here with the events payment_intent.succeeded, charge.succeeded, charge.refunded and refund.created. ' +
    "Verified with the official client's `webhooks.constructEvent` over the raw body and the pipeline's `signingSecret`; other event types are " +
    'acknowledged and ignored. A payment becomes a receipt allocated to the invoice in `metadata.invoice_reference`, its Stripe fee a bank ' +
    'charges journal; a refund a debit journal allocated against the receipt.',
  tags: ['webhooks'],
  auth: 'none',
  params: PipelineName,
  body: z
    .looseObject({ id: z.string(), type: z.string(), data: z.looseObject({ object: z.looseObject({}) }) })
    .meta({ description: 'A Stripe event.' }),
  rawBody: true,
  write: false,
  success: {
    status: 202,
    description: 'Stored (or already stored, or ignored) and queued for processing.',
    schema: Accepted,
  },
  errors: ['WEBHOOK_SIGNATURE_INVALID', 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE', 'INVALID_JSON', 'NOT_FOUND'],
  handler: async (ctx) => {
    const pipeline = await findPipeline(ctx.db, ctx.services.sync.box, ctx.params.pipeline);
    const secret = pipeline ? stripeConfigOf(pipeline)?.signingSecret : undefined;
    if (!pipeline || !secret) throw noEndpoint();
    const event = verifyStripeEvent(ctx.rawBody ?? Buffer.alloc(0), header(ctx, 'stripe-signature'), secret);
    if (!STRIPE_EVENT_TYPES.has(event.type)) return { eventId: event.id, duplicate: false, ignored: true };
    return accept(ctx, pipeline, { eventId: event.id, type: event.type, payload: event });
  },
});

export const webhookRoutes: AnyRoute[] = [canonicalRoute, stripeRoute];
