import { createHmac } from 'node:crypto';
import { safeEqual } from '../../domain/safe-equal.ts';
import { z } from 'zod';

/*
 * Xero's webhooks (../shared/specs/xero/xero-webhooks.yaml): a delivery is `{events, firstEventSequence,
 * lastEventSequence, entropy}`, signed in `x-xero-signature` with the Base64 HMAC-SHA256 of the raw
 * body keyed with the app's webhook key. Xero checks an endpoint first with "intent to receive"
 * deliveries (no events, some signed wrongly on purpose): the answer must be 200 with an empty body
 * when the signature is right and 401 when it is not, for every delivery, within 5 seconds.
 *
 * What an INVOICE event means for ledgerlink: an invoice changed in Xero (a payment applied, a credit
 * note allocated), so its paid status is read back (`paidInvoices`) for the source. The route that
 * receives deliveries for a pipeline whose target is Xero is ./inbound.ts (docs/connectors/xero.md).
 */

export const XeroWebhookEvent = z.object({
  resourceUrl: z.string(),
  resourceId: z.string(),
  eventDateUtc: z.string(),
  eventType: z.string(),
  eventCategory: z.string(),
  tenantId: z.string(),
  tenantType: z.string().optional(),
});
export type XeroWebhookEvent = z.output<typeof XeroWebhookEvent>;

export const XeroWebhookDelivery = z.object({
  events: z.array(XeroWebhookEvent),
  firstEventSequence: z.number().int(),
  lastEventSequence: z.number().int(),
  entropy: z.string(),
});

/** The signature Xero sends for a body: Base64 HMAC-SHA256 of the exact bytes, keyed with the webhook key. */
export function xeroSignature(rawBody: Buffer | string, webhookKey: string): string {
  return createHmac('sha256', webhookKey).update(rawBody).digest('base64');
}

/** Whether `x-xero-signature` is right for these exact bytes (compared in constant time). */
export function verifyXeroSignature(rawBody: Buffer, header: string | undefined, webhookKey: string): boolean {
  if (!header) return false;
  const want = Buffer.from(xeroSignature(rawBody, webhookKey), 'base64');
  const got = Buffer.from(header.trim(), 'base64');
  return safeEqual(got, want);
}

/**
 * What to answer a delivery and what it asks for: 401 (nothing else is looked at) unless the
 * signature is right; then 200, and the invoices of `tenantId` it says changed (none for an
 * intent-to-receive delivery, or one whose body is not a delivery).
 */
export function receiveXeroWebhook(
  rawBody: Buffer,
  header: string | undefined,
  webhookKey: string,
  tenantId: string,
): { status: 200 | 401; invoiceIds: string[] } {
  if (!verifyXeroSignature(rawBody, header, webhookKey)) return { status: 401, invoiceIds: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return { status: 200, invoiceIds: [] };
  }
  const delivery = XeroWebhookDelivery.safeParse(parsed);
  if (!delivery.success) return { status: 200, invoiceIds: [] };
  const ids = delivery.data.events
    .filter((e) => e.tenantId === tenantId && e.eventCategory === 'INVOICE')
    .map((e) => e.resourceId);
  return { status: 200, invoiceIds: [...new Set(ids)] };
}
