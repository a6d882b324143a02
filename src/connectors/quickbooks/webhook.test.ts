import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../domain/errors.ts';
import { type IntuitChange, paymentStatusChanges, readIntuitDelivery, verifyIntuitSignature } from './webhook.ts';

/*
 * QuickBooks webhooks: the signature over the exact bytes, both of Intuit's formats, and what a
 * delivery asks to read back. The payloads follow Intuit's published samples (the legacy
 * `eventNotifications` object and the CloudEvents array of the 2025-11-12 announcement).
 */

const TOKEN = 'verifier-token-0123456789';
// Signed here from Intuit's documented rule, not with the module's own helper, so a shared bug cannot pass.
const sign = (body: string, key = TOKEN) => createHmac('sha256', key).update(body, 'utf8').digest('base64');

const legacy = (realmId: string, entities: { name: string; id: string; operation: string }[]) =>
  JSON.stringify({
    eventNotifications: [
      {
        realmId,
        dataChangeEvent: { entities: entities.map((e) => ({ ...e, lastUpdated: '2026-11-21T10:00:00.000Z' })) },
      },
    ],
  });

const cloudEvent = (type: string, entityId: string, accountId: string, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id: `88cd52aa-33b6-4351-9aa4-${entityId.padStart(12, '0')}`,
  source: 'intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=',
  type,
  datacontenttype: 'application/json',
  time: '2026-11-21T10:00:00.179851517Z',
  intuitentityid: entityId,
  intuitaccountid: accountId,
  data: {},
  ...extra,
});

function read(body: string): { format: string; changes: IntuitChange[] } {
  const out = readIntuitDelivery(Buffer.from(body));
  if (out instanceof DomainError) throw new Error(`refused: ${out.code} ${out.message}`);
  return out;
}

function refusal(body: string): { code: string; details: unknown } {
  const out = readIntuitDelivery(Buffer.from(body));
  if (!(out instanceof DomainError)) throw new Error(`taken as ${out.format}`);
  return { code: out.code, details: out.details };
}

describe('QuickBooks webhook signatures', () => {
  it('accepts the exact bytes signed with the verifier token, and nothing else, in either format', () => {
    for (const body of [
      legacy('123', [{ name: 'Payment', id: '9', operation: 'Create' }]),
      JSON.stringify([cloudEvent('qbo.payment.created.v1', '9', '123')]),
    ]) {
      expect(verifyIntuitSignature(Buffer.from(body), sign(body), TOKEN)).toBe(true);
      expect(verifyIntuitSignature(Buffer.from(body + ' '), sign(body), TOKEN)).toBe(false);
      expect(verifyIntuitSignature(Buffer.from(body), sign(body, 'another-token'), TOKEN)).toBe(false);
      expect(verifyIntuitSignature(Buffer.from(body), undefined, TOKEN)).toBe(false);
      expect(verifyIntuitSignature(Buffer.from(body), sign(body, ''), '')).toBe(false);
    }
  });
});

describe('reading a delivery', () => {
  it('reads the legacy format into changes of each company', () => {
    const body = JSON.stringify({
      eventNotifications: [
        {
          realmId: '123',
          dataChangeEvent: {
            entities: [
              { name: 'Payment', id: '9', operation: 'Create', lastUpdated: '2026-11-21T10:00:00.000Z' },
              { name: 'CreditMemo', id: '4', operation: 'Void', lastUpdated: '2026-11-21T10:00:00.000Z' },
            ],
          },
        },
        { realmId: '999', dataChangeEvent: { entities: [{ name: 'Invoice', id: '5', operation: 'Update' }] } },
        // A notification without a dataChangeEvent names nothing.
        { realmId: '777' },
      ],
    });
    expect(read(body)).toEqual({
      format: 'legacy',
      changes: [
        { realmId: '123', entity: 'payment', id: '9', operation: 'Create' },
        { realmId: '123', entity: 'creditmemo', id: '4', operation: 'Void' },
        { realmId: '999', entity: 'invoice', id: '5', operation: 'Update' },
      ],
    });
  });

  it('reads a CloudEvents array: the entity and operation from the type, the company from intuitaccountid', () => {
    const body = JSON.stringify([
      cloudEvent('qbo.invoice.updated.v1', '130', '123'),
      cloudEvent('qbo.creditmemo.voided.v1', '4', '4620816365179422850'),
      // Intuit's .NET SDK sample: no datacontenttype, data with alternative ids.
      {
        specversion: '1.0',
        id: 'd1a3aedd-9670-41bf-a4f9-c148a1cc4e03',
        source: 'intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=',
        type: 'qbo.Payment.created.v2',
        time: '2025-10-07T19:59:07.034359333Z',
        intuitentityid: '1234',
        intuitaccountid: '123',
        data: { alternative_ids: [{ id: 'djQuMTo5MTMw', namespace: 'Intuit.sbseg.v4' }] },
      },
      // Not a QuickBooks Online data change: no change, and no refusal.
      cloudEvent('payroll.employee.updated.v1', '7', '123'),
    ]);
    expect(read(body)).toEqual({
      format: 'cloudevents',
      changes: [
        { realmId: '123', entity: 'invoice', id: '130', operation: 'updated' },
        { realmId: '4620816365179422850', entity: 'creditmemo', id: '4', operation: 'voided' },
        { realmId: '123', entity: 'payment', id: '1234', operation: 'created' },
      ],
    });
    expect(read('[]')).toEqual({ format: 'cloudevents', changes: [] });
  });

  it('refuses what is not JSON, JSON of neither format, and a format with a bad field, each with its code', () => {
    expect(refusal('not json').code).toBe('INVALID_JSON');
    for (const body of [
      'null',
      '42',
      '"text"',
      '{}',
      '{"events": []}',
      JSON.stringify(cloudEvent('qbo.payment.created.v1', '1', '1')),
    ])
      expect({ body, code: refusal(body).code }).toEqual({ body, code: 'WEBHOOK_PAYLOAD_UNRECOGNIZED' });
    const noAccount = refusal(
      JSON.stringify([cloudEvent('qbo.payment.created.v1', '1', '1', { intuitaccountid: undefined })]),
    );
    expect(noAccount.code).toBe('VALIDATION_ERROR');
    expect(noAccount.details).toEqual([expect.objectContaining({ field: 'body.0.intuitaccountid' })]);
    const oldSpec = refusal(JSON.stringify([cloudEvent('qbo.payment.created.v1', '1', '1', { specversion: '0.3' })]));
    expect(oldSpec.details).toEqual([expect.objectContaining({ field: 'body.0.specversion' })]);
    expect(refusal('[1]').code).toBe('VALIDATION_ERROR');
    const badRealm = refusal('{"eventNotifications": [{"realmId": 5}]}');
    expect(badRealm.code).toBe('VALIDATION_ERROR');
    expect(badRealm.details).toEqual([expect.objectContaining({ field: 'body.eventNotifications.0.realmId' })]);
  });
});

describe('what a delivery asks of a company', () => {
  const changes = (body: string) => read(body).changes;

  it("asks for a payment-status read-back for its company's payments, invoices and credit notes only", () => {
    const mixed = JSON.stringify([
      cloudEvent('qbo.payment.created.v1', '9', '123'),
      cloudEvent('qbo.invoice.updated.v1', '4', '123'),
      cloudEvent('qbo.invoice.updated.v1', '4', '123'),
      cloudEvent('qbo.invoice.updated.v1', '5', '999'),
    ]);
    expect(paymentStatusChanges(changes(mixed), '123')).toEqual({ readBack: true, invoiceIds: ['4'] });
    expect(paymentStatusChanges(changes(mixed), '999')).toEqual({ readBack: true, invoiceIds: ['5'] });
    expect(paymentStatusChanges(changes(mixed), '555')).toEqual({ readBack: false, invoiceIds: [] });
    const customers = JSON.stringify([cloudEvent('qbo.customer.updated.v1', '1', '123')]);
    expect(paymentStatusChanges(changes(customers), '123').readBack).toBe(false);
    const legacyCustomers = legacy('123', [{ name: 'Customer', id: '1', operation: 'Update' }]);
    expect(paymentStatusChanges(changes(legacyCustomers), '123').readBack).toBe(false);
    const legacyMemo = legacy('123', [{ name: 'CreditMemo', id: '3', operation: 'Delete' }]);
    expect(paymentStatusChanges(changes(legacyMemo), '123')).toEqual({ readBack: true, invoiceIds: [] });
  });
});
