import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { receiveIntuitWebhook, verifyIntuitSignature } from './webhook.ts';

/* QuickBooks webhooks: the signature over the exact bytes, and what a delivery asks to read back. */

const TOKEN = 'verifier-token-0123456789';
// Signed here from Intuit's documented rule, not with the module's own helper, so a shared bug cannot pass.
const sign = (body: string, key = TOKEN) => createHmac('sha256', key).update(body, 'utf8').digest('base64');

const delivery = (realmId: string, entities: { name: string; id: string; operation: string }[]) =>
  JSON.stringify({
    eventNotifications: [
      {
        realmId,
        dataChangeEvent: { entities: entities.map((e) => ({ ...e, lastUpdated: '2026-11-21T10:00:00.000Z' })) },
      },
    ],
  });

describe('QuickBooks webhooks', () => {
  it('accepts the exact bytes signed with the verifier token, and nothing else', () => {
    const body = delivery('123', [{ name: 'Payment', id: '9', operation: 'Create' }]);
    expect(verifyIntuitSignature(Buffer.from(body), sign(body), TOKEN)).toBe(true);
    expect(verifyIntuitSignature(Buffer.from(body + ' '), sign(body), TOKEN)).toBe(false);
    expect(verifyIntuitSignature(Buffer.from(body), sign(body, 'another-token'), TOKEN)).toBe(false);
    expect(verifyIntuitSignature(Buffer.from(body), undefined, TOKEN)).toBe(false);
    expect(verifyIntuitSignature(Buffer.from(body), sign(body, ''), '')).toBe(false);
  });

  it("asks for a payment-status read-back for its company's payments and invoices only", () => {
    const body = JSON.stringify({
      eventNotifications: [
        {
          realmId: '123',
          dataChangeEvent: {
            entities: [
              { name: 'Payment', id: '9', operation: 'Create' },
              { name: 'Invoice', id: '4', operation: 'Update' },
            ],
          },
        },
        { realmId: '999', dataChangeEvent: { entities: [{ name: 'Invoice', id: '5', operation: 'Update' }] } },
      ],
    });
    expect(receiveIntuitWebhook(Buffer.from(body), sign(body), TOKEN, '123')).toEqual({
      status: 200,
      readBack: true,
      invoiceIds: ['4'],
    });
    const customers = delivery('123', [{ name: 'Customer', id: '1', operation: 'Update' }]);
    expect(receiveIntuitWebhook(Buffer.from(customers), sign(customers), TOKEN, '123')).toMatchObject({
      status: 200,
      readBack: false,
    });
    expect(receiveIntuitWebhook(Buffer.from(body), sign(body, 'x'), TOKEN, '123')).toEqual({
      status: 401,
      readBack: false,
      invoiceIds: [],
    });
    expect(receiveIntuitWebhook(Buffer.from('not json'), sign('not json'), TOKEN, '123')).toMatchObject({
      status: 200,
      readBack: false,
    });
  });
});
