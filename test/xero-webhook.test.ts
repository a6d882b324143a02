import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { receiveXeroWebhook, verifyXeroSignature } from '../src/connectors/xero/webhook.ts';

/*
 * Xero's webhook signature and intent to receive, checked against a signature computed here from
 * Xero's documented rule (Base64 HMAC-SHA256 of the raw body with the webhook key), not with the
 * code under test, so that a bug shared by signer and verifier cannot pass unseen.
 */

const KEY = 'xero-webhook-key-0123456789';
const TENANT = 'aef86862-2015-4b6b-88bc-d89032cecc50';
const sign = (body: string, key = KEY) => createHmac('sha256', key).update(Buffer.from(body, 'utf8')).digest('base64');

const delivery = (events: unknown[]) =>
  JSON.stringify({ events, firstEventSequence: 1, lastEventSequence: 1, entropy: 'FXNGWLCCGVANWHKILRUB' });
const event = (id: string, category = 'INVOICE', tenantId = TENANT) => ({
  resourceUrl: `https://api.xero.com/api.xro/2.0/Invoices/${id}`,
  resourceId: id,
  tenantId,
  tenantType: 'ORGANISATION',
  eventCategory: category,
  eventType: 'UPDATE',
  eventDateUtc: '2026-11-21T10:00:00.000',
});

describe('Xero webhooks', () => {
  it('intent to receive: 200 for a rightly signed empty delivery, 401 for a wrongly signed one', () => {
    const body = delivery([]);
    expect(receiveXeroWebhook(Buffer.from(body), sign(body), KEY, TENANT)).toEqual({ status: 200, invoiceIds: [] });
    expect(receiveXeroWebhook(Buffer.from(body), sign(body, 'another-key'), KEY, TENANT).status).toBe(401);
    expect(receiveXeroWebhook(Buffer.from(body), undefined, KEY, TENANT).status).toBe(401);
  });

  it('verifies the exact bytes: a body re-serialised or altered by one byte is refused', () => {
    const body = delivery([event('11111111-1111-1111-1111-111111111111')]);
    const sig = sign(body);
    expect(verifyXeroSignature(Buffer.from(body), sig, KEY)).toBe(true);
    const spaced = JSON.stringify(JSON.parse(body), null, 1);
    expect(verifyXeroSignature(Buffer.from(spaced), sig, KEY)).toBe(false);
    expect(verifyXeroSignature(Buffer.from(body.replace('UPDATE', 'CREATE')), sig, KEY)).toBe(false);
  });

  it('names the changed invoices of its own organisation only', () => {
    const body = delivery([
      event('11111111-1111-1111-1111-111111111111'),
      event('11111111-1111-1111-1111-111111111111'),
      event('22222222-2222-2222-2222-222222222222', 'CONTACT'),
      event('33333333-3333-3333-3333-333333333333', 'INVOICE', 'another-tenant'),
    ]);
    expect(receiveXeroWebhook(Buffer.from(body), sign(body), KEY, TENANT)).toEqual({
      status: 200,
      invoiceIds: ['11111111-1111-1111-1111-111111111111'],
    });
  });
});
