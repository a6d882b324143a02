import { DomainError } from '../../domain/errors.ts';
import { type TargetInbound, type TargetInboundVerdict, headerValue } from '../../sync/registry.ts';
import { IntuitWebhookDelivery, verifyIntuitSignature } from './webhook.ts';

/*
 * `POST /v1/webhooks/{pipeline}/quickbooks`: QuickBooks Online's webhooks for a pipeline whose target
 * is QuickBooks, verified with the pipeline's `verifierToken`. A Payment, Invoice or CreditMemo change
 * in the pipeline's company triggers a run, which reads payment status back for the source
 * (docs/connectors/quickbooks.md).
 */

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** Entities whose change can change an invoice's paid status. */
const PAYMENT_STATUS_ENTITIES = new Set(['Payment', 'Invoice', 'CreditMemo']);

export const quickbooksInbound: TargetInbound = {
  pathSuffix: '/quickbooks',
  docs: {
    operationId: 'receiveQuickBooksWebhook',
    summary: 'Receive a QuickBooks Online webhook for a pipeline whose target is `quickbooks`',
    description:
      "Register this URL as the app's webhook endpoint (entities Payment, Invoice and CreditMemo) and set the app's verifier token as the " +
      "target's `verifierToken`. `intuit-signature` (Base64 HMAC-SHA256 of the raw body with that token) is verified before the body is " +
      "read as JSON: 200 when valid, 401 when not. A change of a Payment, Invoice or CreditMemo in the pipeline's company triggers a run " +
      'of the pipeline (joining its run that has not started yet), which reads payment status back and writes payments back to the source; ' +
      'notifications of another company are acknowledged and ignored. A pipeline without `verifierToken` has no endpoint here.',
    body: IntuitWebhookDelivery.meta({ description: 'A QuickBooks Online webhook delivery.' }),
    example: {
      eventNotifications: [
        {
          realmId: '9130357766123456',
          dataChangeEvent: {
            entities: [{ name: 'Payment', id: '147', operation: 'Create', lastUpdated: '2026-11-21T10:00:00.000Z' }],
          },
        },
      ],
    },
    accepted:
      'Verified (empty body). When it named a change in the pipeline’s company, a run of the pipeline is queued.',
    errors: ['WEBHOOK_SIGNATURE_INVALID', 'INVALID_JSON', 'VALIDATION_ERROR', 'NOT_FOUND'],
  },
  async verify(pipeline, rawBody, headers, ctx): Promise<TargetInboundVerdict> {
    const token = str(pipeline.targetConfig.verifierToken);
    if (!token) return { ok: false, noEndpoint: true };
    if (!verifyIntuitSignature(rawBody, headerValue(headers, 'intuit-signature'), token)) {
      return {
        ok: false,
        error: new DomainError(
          'WEBHOOK_SIGNATURE_INVALID',
          'intuit-signature does not match the body and the verifier token',
        ),
      };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody.toString('utf8'));
    } catch {
      return { ok: false, error: new DomainError('INVALID_JSON', 'The body is not JSON') };
    }
    const delivery = IntuitWebhookDelivery.safeParse(parsed);
    if (!delivery.success) {
      const details = delivery.error.issues.slice(0, 20).map((i) => ({
        field: ['body', ...i.path.map(String)].join('.'),
        message: i.message,
      }));
      return {
        ok: false,
        error: new DomainError('VALIDATION_ERROR', 'The body is not a QuickBooks Online webhook delivery', details),
      };
    }
    const relevant = delivery.data.eventNotifications.filter((n) =>
      (n.dataChangeEvent?.entities ?? []).some((e) => PAYMENT_STATUS_ENTITIES.has(e.name)),
    );
    if (relevant.length === 0) return { ok: true, changed: false };
    const realmId = str(pipeline.targetConfig.realmId) ?? (await ctx.tenantId());
    return { ok: true, changed: realmId !== null && relevant.some((n) => n.realmId === realmId) };
  },
};
