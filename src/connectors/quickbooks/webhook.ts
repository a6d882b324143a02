import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/*
 * QuickBooks Online webhooks: a POST of `{eventNotifications: [{realmId, dataChangeEvent: {entities:
 * [{name, id, operation, lastUpdated}]}}]}`, signed in `intuit-signature` with the Base64
 * HMAC-SHA256 of the exact body, keyed with the app's Verifier Token. Production may aggregate a
 * few minutes of events into one delivery.
 *
 * What a Payment (or Invoice) event means for ledgerlink: a payment was applied in QuickBooks, so
 * the paid status of the pipeline's invoices is read back (`paidInvoices`) for the source. The
 * route that receives deliveries for a pipeline whose target is QuickBooks is ./inbound.ts.
 */

const Entity = z.object({
  name: z.string(),
  id: z.string(),
  operation: z.string(),
  lastUpdated: z.string().optional(),
});

export const IntuitWebhookDelivery = z.object({
  eventNotifications: z.array(
    z.object({
      realmId: z.string(),
      dataChangeEvent: z.object({ entities: z.array(Entity) }).optional(),
    }),
  ),
});

/** The signature Intuit sends for a body: Base64 HMAC-SHA256 of the exact bytes, keyed with the verifier token. */
export function intuitSignature(rawBody: Buffer | string, verifierToken: string): string {
  return createHmac('sha256', verifierToken).update(rawBody).digest('base64');
}

/** Whether `intuit-signature` is right for these exact bytes (compared in constant time). */
export function verifyIntuitSignature(rawBody: Buffer, header: string | undefined, verifierToken: string): boolean {
  if (!header || verifierToken === '') return false;
  const want = Buffer.from(intuitSignature(rawBody, verifierToken), 'base64');
  const got = Buffer.from(header.trim(), 'base64');
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * What to answer a delivery and what it asks for: 401 unless the signature is right (nothing else
 * is looked at); then 200 with what changed in company `realmId`: whether payment status should be
 * read back (a Payment, Invoice or CreditMemo was created, updated, deleted or voided), and the
 * invoice ids named. A body that is not a delivery asks for nothing.
 */
export function receiveIntuitWebhook(
  rawBody: Buffer,
  header: string | undefined,
  verifierToken: string,
  realmId: string,
): { status: 200 | 401; readBack: boolean; invoiceIds: string[] } {
  if (!verifyIntuitSignature(rawBody, header, verifierToken)) return { status: 401, readBack: false, invoiceIds: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return { status: 200, readBack: false, invoiceIds: [] };
  }
  const delivery = IntuitWebhookDelivery.safeParse(parsed);
  if (!delivery.success) return { status: 200, readBack: false, invoiceIds: [] };
  const entities = delivery.data.eventNotifications
    .filter((n) => n.realmId === realmId)
    .flatMap((n) => n.dataChangeEvent?.entities ?? []);
  const relevant = entities.filter((e) => ['Payment', 'Invoice', 'CreditMemo'].includes(e.name));
  const invoiceIds = [...new Set(relevant.filter((e) => e.name === 'Invoice').map((e) => e.id))];
  return { status: 200, readBack: relevant.length > 0, invoiceIds };
}
