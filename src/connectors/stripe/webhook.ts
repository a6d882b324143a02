import { z } from 'zod';
import type Stripe from 'stripe';
import { DomainError } from '../../domain/errors.ts';
import { type InboundVerdict, WEBHOOK_TOLERANCE_SECONDS, headerValue, registerInbound } from '../../sync/registry.ts';
import { stripeConfigOf, stripeSdk } from './api.ts';
import { STRIPE_EVENT_TYPES } from './convert.ts';

/** What every Stripe event has; the parts ledgerlink books are read by convert.ts. */
const StripeEventShape = z.looseObject({
  id: z.string().min(1).max(255),
  type: z.string().min(1).max(255),
  data: z.looseObject({ object: z.looseObject({}) }),
});

/**
 * Verifies a Stripe-signed delivery with the official `stripe.webhooks.constructEvent` over the
 * exact body bytes and returns the event, or why it is refused. Stripe's check refuses old
 * timestamps only; one dated more than the tolerance ahead is refused here too, as for canonical
 * webhooks.
 */
export async function verifyStripeEvent(
  body: Buffer,
  header: string | undefined,
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<{ ok: true; event: Stripe.Event } | { ok: false; error: DomainError }> {
  const sdk = await stripeSdk();
  let event: Stripe.Event;
  try {
    event = sdk.webhooks.constructEvent(body, header ?? '', secret, WEBHOOK_TOLERANCE_SECONDS);
  } catch (err) {
    if (err instanceof sdk.errors.StripeSignatureVerificationError) {
      if (/tolerance/i.test(err.message))
        return {
          ok: false,
          error: new DomainError(
            'WEBHOOK_TIMESTAMP_OUT_OF_RANGE',
            'The Stripe-Signature timestamp is outside the tolerance zone',
          ),
        };
      return {
        ok: false,
        error: new DomainError(
          'WEBHOOK_SIGNATURE_INVALID',
          'The Stripe-Signature does not match the body and the signing secret',
        ),
      };
    }
    return { ok: false, error: new DomainError('INVALID_JSON', 'The body is not a Stripe event') };
  }
  // A signed body is not yet a well-formed event: `null`, an event without an id, an id of a megabyte.
  const shape = StripeEventShape.safeParse(event);
  if (!shape.success) {
    const problems = shape.error.issues.map((i) => ({
      field: ['body', ...i.path.map(String)].join('.'),
      message: i.message,
    }));
    return {
      ok: false,
      error: new DomainError('VALIDATION_ERROR', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems),
    };
  }
  const t = /(?:^|,)\s*t=(\d{1,12})/.exec(header ?? '')?.[1];
  if (t && Number(t) - nowSeconds > WEBHOOK_TOLERANCE_SECONDS) {
    return {
      ok: false,
      error: new DomainError('WEBHOOK_TIMESTAMP_OUT_OF_RANGE', 'The Stripe-Signature timestamp is in the future'),
    };
  }
  return { ok: true, event };
}

/** `POST /v1/webhooks/{pipeline}/stripe`: a Stripe webhook endpoint, for pipelines whose source is `stripe`. */
export function registerStripeInbound(): void {
  registerInbound({
    sourceType: 'stripe',
    pathSuffix: '/stripe',
    docs: {
      operationId: 'receiveStripeWebhook',
      summary: 'Receive a Stripe event for a pipeline whose source is `stripe`',
      description:
        'Point a Stripe webhook endpoint here with the events payment_intent.succeeded, charge.succeeded, charge.refunded and refund.created. ' +
        "Verified with the official client's `webhooks.constructEvent` over the raw body and the pipeline's `signingSecret`; other event types are " +
        'acknowledged and ignored. A payment becomes a receipt allocated to the invoice in `metadata.invoice_reference`, its Stripe fee a bank ' +
        'charges journal; a refund a debit journal allocated against the receipt.',
      body: z
        .looseObject({ id: z.string(), type: z.string(), data: z.looseObject({ object: z.looseObject({}) }) })
        .meta({ description: 'A Stripe event.' }),
      accepted: 'Stored (or already stored, or ignored) and queued for processing.',
      errors: ['WEBHOOK_SIGNATURE_INVALID', 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE', 'INVALID_JSON', 'NOT_FOUND'],
    },
    async verify(pipeline, body, headers): Promise<InboundVerdict> {
      const secret = stripeConfigOf(pipeline)?.signingSecret;
      if (!secret) return { ok: false, noEndpoint: true };
      const verified = await verifyStripeEvent(body, headerValue(headers, 'stripe-signature'), secret);
      if (!verified.ok) return verified;
      const { event } = verified;
      if (!STRIPE_EVENT_TYPES.has(event.type)) return { ok: true, ignored: { eventId: event.id } };
      return { ok: true, event: { eventId: event.id, type: event.type, payload: event } };
    },
  });
}
