import { DomainError } from '../../domain/errors.ts';
import { type TargetInbound, type TargetInboundVerdict, headerValue } from '../../sync/registry.ts';
import {
  IntuitWebhookBody,
  PAYMENT_STATUS_ENTITIES,
  paymentStatusChanges,
  readIntuitDelivery,
  verifyIntuitSignature,
} from './webhook.ts';

/*
 * `POST /v1/webhooks/{pipeline}/quickbooks`: QuickBooks Online's webhooks for a pipeline whose target
 * is QuickBooks, in the CloudEvents or the legacy format (./webhook.ts), verified with the pipeline's
 * `verifierToken`. A Payment, Invoice or CreditMemo change in the pipeline's company triggers a run,
 * which reads payment status back for the source (docs/connectors/quickbooks.md).
 */

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

export const quickbooksInbound: TargetInbound = {
  pathSuffix: '/quickbooks',
  docs: {
    operationId: 'receiveQuickBooksWebhook',
    summary: 'Receive a QuickBooks Online webhook for a pipeline whose target is `quickbooks`',
    description:
      "Register this URL as the app's webhook endpoint (entities Payment, Invoice and CreditMemo) and set the app's verifier token as the " +
      "target's `verifierToken`. `intuit-signature` (Base64 HMAC-SHA256 of the raw body with that token) is verified before the body is " +
      "read as JSON: 200 when valid, 401 when not. Both of Intuit's formats are taken, told apart by their shape: an array of CloudEvents " +
      '(`type` `qbo.<entity>.<operation>.v1`, the company in `intuitaccountid`) or the legacy object with `eventNotifications`; ' +
      "any other JSON is refused with WEBHOOK_PAYLOAD_UNRECOGNIZED. A change of a Payment, Invoice or CreditMemo in the pipeline's company triggers a run " +
      'of the pipeline (joining its run that has not started yet), which reads payment status back and writes payments back to the source; ' +
      'notifications of another company are acknowledged and ignored. A pipeline without `verifierToken` has no endpoint here.',
    body: IntuitWebhookBody.meta({
      description:
        'A QuickBooks Online webhook delivery: an array of CloudEvents, or the legacy `eventNotifications` object.',
    }),
    example: [
      {
        specversion: '1.0',
        id: '6f1c2d3e-0a4b-4c5d-8e9f-101112131415',
        source: 'intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=',
        type: 'qbo.payment.created.v1',
        datacontenttype: 'application/json',
        time: '2026-11-21T10:00:00.000Z',
        intuitentityid: '147',
        intuitaccountid: '9130357766123456',
        data: {},
      },
    ],
    accepted:
      'Verified (empty body). When it named a change in the pipeline’s company, a run of the pipeline is queued.',
    errors: [
      'WEBHOOK_SIGNATURE_INVALID',
      'INVALID_JSON',
      'WEBHOOK_PAYLOAD_UNRECOGNIZED',
      'VALIDATION_ERROR',
      'NOT_FOUND',
    ],
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
    const delivery = readIntuitDelivery(rawBody);
    if (delivery instanceof DomainError) return { ok: false, error: delivery };
    // Checked first: finding the company may read the OAuth connection, and most deliveries name
    // nothing that can change a paid status.
    if (!delivery.changes.some((c) => PAYMENT_STATUS_ENTITIES.has(c.entity))) return { ok: true, changed: false };
    const realmId = str(pipeline.targetConfig.realmId) ?? (await ctx.tenantId());
    return { ok: true, changed: realmId !== null && paymentStatusChanges(delivery.changes, realmId).readBack };
  },
};
