import type { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';
import { type TargetInbound, type TargetInboundVerdict, headerValue } from '../../sync/registry.ts';
import { XeroWebhookDelivery, verifyXeroSignature } from './webhook.ts';

/*
 * `POST /v1/webhooks/{pipeline}/xero`: Xero's webhooks for a pipeline whose target is Xero, verified
 * with the pipeline's `webhookKey`. An INVOICE event of the pipeline's organisation triggers a run,
 * which reads the paid status of its invoices back for the source (docs/connectors/xero.md).
 */

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** A body that verified but is not a Xero delivery: refused with a stable code (Xero never sends one). */
function notADelivery(rawBody: Buffer): DomainError | z.output<typeof XeroWebhookDelivery> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return new DomainError('INVALID_JSON', 'The body is not JSON');
  }
  const delivery = XeroWebhookDelivery.safeParse(parsed);
  if (delivery.success) return delivery.data;
  const details = delivery.error.issues.slice(0, 20).map((i) => ({
    field: ['body', ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  return new DomainError('VALIDATION_ERROR', 'The body is not a Xero webhook delivery', details);
}

export const xeroInbound: TargetInbound = {
  pathSuffix: '/xero',
  docs: {
    operationId: 'receiveXeroWebhook',
    summary: 'Receive a Xero webhook for a pipeline whose target is `xero`',
    description:
      "Register this URL as the delivery URL of the Xero app's webhook (category Invoices) and set the app's webhook key as the " +
      "target's `webhookKey`. `x-xero-signature` (Base64 HMAC-SHA256 of the raw body with that key) is verified before the body is read " +
      'as JSON. A valid delivery is answered 200 with an empty body, as Xero requires (its intent-to-receive checks included), an invalid ' +
      "signature 401. An INVOICE event of the pipeline's organisation triggers a run of the pipeline (joining its run that has not " +
      "started yet), which reads its invoices' paid status back and writes payments back to the source; events of another " +
      'organisation are acknowledged and ignored. A pipeline without `webhookKey` has no endpoint here.',
    body: XeroWebhookDelivery.meta({ description: 'A Xero webhook delivery.' }),
    example: {
      events: [
        {
          resourceUrl: 'https://api.xero.com/api.xro/2.0/Invoices/5e0f7bd1-8d44-4b0b-9a3b-f2f9c2d1b1a1',
          resourceId: '5e0f7bd1-8d44-4b0b-9a3b-f2f9c2d1b1a1',
          eventDateUtc: '2026-11-21T10:00:00.000',
          eventType: 'UPDATE',
          eventCategory: 'INVOICE',
          tenantId: 'aef86862-2015-4b6b-88bc-d89032cecc50',
          tenantType: 'ORGANISATION',
        },
      ],
      firstEventSequence: 1,
      lastEventSequence: 1,
      entropy: 'FXNGWLCCGVANWHKILRUB',
    },
    accepted:
      'Verified (empty body). When it named an invoice of the pipeline’s organisation, a run of the pipeline is queued.',
    errors: ['WEBHOOK_SIGNATURE_INVALID', 'INVALID_JSON', 'VALIDATION_ERROR', 'NOT_FOUND'],
  },
  async verify(pipeline, rawBody, headers, ctx): Promise<TargetInboundVerdict> {
    const key = str(pipeline.targetConfig.webhookKey);
    if (!key) return { ok: false, noEndpoint: true };
    if (!verifyXeroSignature(rawBody, headerValue(headers, 'x-xero-signature'), key)) {
      return {
        ok: false,
        error: new DomainError(
          'WEBHOOK_SIGNATURE_INVALID',
          'x-xero-signature does not match the body and the webhook key',
        ),
      };
    }
    const delivery = notADelivery(rawBody);
    if (delivery instanceof DomainError) return { ok: false, error: delivery };
    const invoices = delivery.events.filter((e) => e.eventCategory === 'INVOICE');
    if (invoices.length === 0) return { ok: true, changed: false };
    const tenantId = str(pipeline.targetConfig.tenantId) ?? (await ctx.tenantId());
    return { ok: true, changed: tenantId !== null && invoices.some((e) => e.tenantId === tenantId) };
  },
};
