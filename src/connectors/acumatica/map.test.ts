import { stringify } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { describeError } from './api.ts';
import { customerBody, invoiceBody, parseDocId, taxCategory } from './map.ts';
import { AcumaticaSettings } from './settings.ts';

/*
 * The Acumatica connector's pure parts: its settings refused where they must be, canonical records
 * mapped to the Default endpoint's records (every value wrapped, amounts as exact JSON numbers),
 * and the platform's two error formats read back into short messages.
 */

const base = { instanceUrl: 'https://acme.acumatica.com', username: 'api', password: 'pw-0123456789' };
const settings = AcumaticaSettings.parse({ ...base, currency: 'EUR', taxCategories: { '0.21': 'STANDARD' } });

describe('settings', () => {
  it('takes the minimum and fills in the defaults', () => {
    expect(AcumaticaSettings.parse(base)).toMatchObject({
      auth: 'session',
      endpointVersion: '24.200.001',
      itemEntity: 'NonStockItem',
      paymentMethod: 'CHECK',
      release: true,
    });
  });

  it.each([
    [{ ...base, passwrd: 'x' }, /passwrd/],
    [{ ...base, instanceUrl: 'ftp://acme' }, /instanceUrl/],
    [{ ...base, auth: 'oauth' }, /clientId/],
    [{ ...base, auth: 'oauth', clientId: 'abc', clientSecret: 's' }, /@/],
    [{ ...base, limits: { callsPerMinute: 0 } }, /callsPerMinute/],
    [{ ...base, taxCategories: { standard: 'X' } }, /rate/],
    [{ ...base, currency: 'euro' }, /currency/],
  ])('refuses %j', (input, why) => {
    const r = AcumaticaSettings.safeParse(input);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(why);
  });
});

describe('mapping', () => {
  const doc = {
    type: 'Invoice' as const,
    reference: 'INV-1',
    customer: 'C001',
    date: '2026-11-02',
    dueDate: '2026-12-02',
    description: '',
    currency: 'EUR',
    productIds: { p1: 'SKU1' },
    lines: [
      { description: 'A', netAmount: '100.10', vatRate: '0.21' },
      {
        description: 'B',
        productSourceId: 'p1',
        quantity: '3',
        unitPrice: '0.333',
        netAmount: '1.00',
        vatRate: '0.210',
      },
    ],
  };

  it('wraps every value and writes amounts as exact numbers', () => {
    const body = invoiceBody(doc, settings);
    expect(stringify(body)).toContain('"UnitPrice":{"value":100.10}');
    expect(body).toMatchObject({
      Type: { value: 'Invoice' },
      Customer: { value: 'C001' },
      CustomerOrder: { value: 'INV-1' },
      Date: { value: '2026-11-02T00:00:00+00:00' },
      DueDate: { value: '2026-12-02T00:00:00+00:00' },
      Hold: { value: false },
      Details: [
        { TransactionDescription: { value: 'A' }, TaxCategory: { value: 'STANDARD' } },
        { InventoryID: { value: 'SKU1' }, TaxCategory: { value: 'STANDARD' } },
      ],
    });
    expect(stringify(body)).toContain('"ExtendedPrice":{"value":1.00}');
  });

  it('refuses what Acumatica could not hold, naming the field', () => {
    expect(invoiceBody({ ...doc, reference: 'R'.repeat(41) }, settings)).toMatchObject({
      code: 'TARGET_REFUSED',
      field: 'externalReference',
    });
    expect(invoiceBody({ ...doc, currency: 'USD' }, settings)).toMatchObject({
      code: 'TARGET_REFUSED',
      field: 'currency',
    });
    expect(
      invoiceBody({ ...doc, lines: [{ description: 'x', netAmount: '1.00', vatRate: '0.09' }] }, settings),
    ).toMatchObject({ code: 'TARGET_SETTING_MISSING', field: 'taxCategories' });
  });

  it('sends a zero rate without a category unless one is mapped', () => {
    expect(taxCategory('0', {})).toEqual({ category: null });
    expect(taxCategory('0.00', { '0': 'EXEMPT' })).toEqual({ category: 'EXEMPT' });
  });

  it('sends only the customer fields the record carries, and clears a null one', () => {
    expect(customerBody('C1', { kind: 'customer', sourceId: 's', name: 'Acme', email: null, country: 'nl' })).toEqual({
      CustomerID: { value: 'C1' },
      CustomerName: { value: 'Acme' },
      MainContact: { Email: { value: '' }, Address: { Country: { value: 'NL' } } },
    });
  });

  it('keeps document ids as their key fields', () => {
    expect(parseDocId('Credit Memo/AR000012')).toEqual({ type: 'Credit Memo', nbr: 'AR000012' });
    expect(parseDocId('Bill/1')).toBeNull();
  });
});

describe('errors', () => {
  it('reads an HttpError with its model state', () => {
    expect(
      describeError(400, {
        message: 'The request is invalid.',
        exceptionMessage: 'Customer is on hold.',
        modelState: { CustomerID: ['Customer is on hold.'] },
      }),
    ).toEqual({
      message: 'answered 400: Customer is on hold. (CustomerID: Customer is on hold.)',
      field: 'CustomerID',
    });
  });

  it('reads the per-field errors of a 422 record, lines included', () => {
    expect(
      describeError(422, {
        Type: { value: 'Invoice' },
        Details: [{ TaxCategory: { value: 'X', error: "'Tax Category' cannot be found in the system." } }],
      }),
    ).toEqual({
      message: "answered 422: Details[0].TaxCategory: 'Tax Category' cannot be found in the system.",
      field: 'Details[0].TaxCategory',
    });
  });
});
