import { createHmac, randomBytes } from 'node:crypto';
import type { SimTenant } from './simulator-store.ts';

/*
 * The simulated Xero's webhook sender: a payment is applied in the organisation as a user would in
 * Xero's screens, and Xero's delivery for it (an INVOICE UPDATE event) is POSTed to the app's
 * delivery URL, signed as Xero signs (`x-xero-signature`: Base64 HMAC-SHA256 of the raw body with the
 * webhook key). Written from Xero's documented rule, not with the receiver's code.
 */

export interface XeroWebhookSubscription {
  /** The delivery URL registered in the app (`…/v1/webhooks/{pipeline}/xero`). */
  url: string;
  /** The app's webhook key. */
  key: string;
}

let sequence = 0;

/** POSTs one signed delivery of these events and returns the receiver's status and body. */
export async function sendXeroDelivery(
  sub: XeroWebhookSubscription,
  events: { tenantId: string; category: 'INVOICE' | 'CONTACT'; resourceId: string; eventType?: string }[],
): Promise<{ status: number; body: string }> {
  const first = sequence + 1;
  sequence += events.length;
  const body = JSON.stringify({
    events: events.map((e) => ({
      resourceUrl: `https://api.xero.com/api.xro/2.0/${e.category === 'INVOICE' ? 'Invoices' : 'Contacts'}/${e.resourceId}`,
      resourceId: e.resourceId,
      eventDateUtc: new Date().toISOString().replace('Z', ''),
      eventType: e.eventType ?? 'UPDATE',
      eventCategory: e.category,
      tenantId: e.tenantId,
      tenantType: 'ORGANISATION',
    })),
    firstEventSequence: first,
    lastEventSequence: sequence,
    entropy: randomBytes(10).toString('hex').toUpperCase(),
  });
  const signature = createHmac('sha256', sub.key).update(Buffer.from(body, 'utf8')).digest('base64');
  const res = await fetch(sub.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-xero-signature': signature },
    body,
  });
  return { status: res.status, body: await res.text() };
}

/**
 * Pays what is due on an invoice into bank account `bankCode` (as a user recording a receipt in
 * Xero) and sends Xero's INVOICE UPDATE delivery for it. Throws when Xero would refuse the payment.
 */
export async function payInvoiceAndNotify(
  tenant: SimTenant,
  invoiceId: string,
  sub: XeroWebhookSubscription,
  o: { bankCode?: string; reference?: string; date?: string } = {},
): Promise<{ paymentId: string; delivery: { status: number; body: string } }> {
  const invoice = tenant.documents.get(invoiceId);
  if (!invoice) throw new Error(`no invoice ${invoiceId} in the simulated organisation`);
  const { saved, problems } = tenant.createPayment({
    Invoice: { InvoiceID: invoiceId },
    Account: { Code: o.bankCode ?? '090' },
    Amount: tenant.due(invoice).toString(),
    Date: o.date ?? new Date().toISOString().slice(0, 10),
    Reference: o.reference ?? `RCPT-${invoice.Number}`,
  });
  if (!saved) throw new Error(`the simulated Xero refused the payment: ${problems.join('; ')}`);
  const delivery = await sendXeroDelivery(sub, [{ tenantId: tenant.id, category: 'INVOICE', resourceId: invoiceId }]);
  return { paymentId: saved.PaymentID, delivery };
}
