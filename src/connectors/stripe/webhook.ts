import Stripe from 'stripe';
import { DomainError } from '../../domain/errors.ts';
import { SIGNATURE_TOLERANCE_SECONDS } from '../webhook/signature.ts';

/**
 * Verifies a Stripe-signed delivery with the official `stripe.webhooks.constructEvent` over the
 * exact body bytes and returns the event. Stripe's check refuses old timestamps only; one dated
 * more than the tolerance ahead is refused here too, as for canonical webhooks.
 */
export function verifyStripeEvent(
  body: Buffer,
  header: string | undefined,
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Stripe.Event {
  let event: Stripe.Event;
  try {
    event = Stripe.webhooks.constructEvent(body, header ?? '', secret, SIGNATURE_TOLERANCE_SECONDS);
  } catch (err) {
    if (err instanceof Stripe.errors.StripeSignatureVerificationError) {
      if (/tolerance/i.test(err.message))
        throw new DomainError(
          'WEBHOOK_TIMESTAMP_OUT_OF_RANGE',
          'The Stripe-Signature timestamp is outside the tolerance zone',
        );
      throw new DomainError(
        'WEBHOOK_SIGNATURE_INVALID',
        'The Stripe-Signature does not match the body and the signing secret',
      );
    }
    throw new DomainError('INVALID_JSON', 'The body is not a Stripe event');
  }
  const t = /(?:^|,)\s*t=(\d{1,12})/.exec(header ?? '')?.[1];
  if (t && Number(t) - nowSeconds > SIGNATURE_TOLERANCE_SECONDS) {
    throw new DomainError('WEBHOOK_TIMESTAMP_OUT_OF_RANGE', 'The Stripe-Signature timestamp is in the future');
  }
  return event;
}
