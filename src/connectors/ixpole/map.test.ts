import { describe, expect, it } from 'vitest';
import { parseJsonExact } from '../../domain/json.ts';
import { CanonicalCustomer, CanonicalInvoice, CanonicalProduct } from '../../sync/canonical.ts';
import { instalmentItem, mapCustomer, mapInstalment, mapProduct } from './map.ts';

const instalment = {
  InstalmentCode: 'INS-0000042',
  CustomerId: 17,
  ProductId: 3,
  ContractNumber: 'C2026-000014',
  Description: 'Season ticket 2026-2027, instalment 2/4',
  InvoiceDate: '2026-09-01',
  DueDate: '2026-10-01',
  Currency: 'EUR',
  NetAmount: '120.00',
  VatRate: '0.21',
  VatAmount: '25.20',
};

describe('iXpole instalment → canonical invoice', () => {
  it('parks an amount beyond the ledger range (fifteen digits in CLF) as AMOUNT_OUT_OF_RANGE, naming the field', () => {
    const huge = { ...instalment, Currency: 'CLF', NetAmount: '999999999999999.9999' };
    const item = instalmentItem(huge, { page: 1, index: 0 });
    expect(item).toMatchObject({
      invalid: { reasonCode: 'AMOUNT_OUT_OF_RANGE', field: 'NetAmount', sourceId: 'INS-0000042' },
    });
    // The largest amount that fits still maps.
    expect(mapInstalment({ ...huge, NetAmount: '922337203685477.5807', VatAmount: null }).ok).toBe(true);
  });

  it('maps every field, with the InstalmentCode as source id and external reference', () => {
    const r = mapInstalment(instalment);
    expect(r).toEqual({
      ok: true,
      value: {
        kind: 'invoice',
        sourceId: 'INS-0000042',
        externalReference: 'INS-0000042',
        customerSourceId: '17',
        invoiceDate: '2026-09-01',
        dueDate: '2026-10-01',
        currency: 'EUR',
        description: 'Season ticket 2026-2027, instalment 2/4 (contract C2026-000014)',
        lines: [
          {
            productSourceId: '3',
            description: 'Season ticket 2026-2027, instalment 2/4 (contract C2026-000014)',
            netAmount: '120.00',
            vatRate: '0.21',
            vatAmount: '25.20',
          },
        ],
      },
    });
    // What the engine receives is a valid canonical record, unchanged by its schema.
    const value = r.ok ? r.value : null;
    expect(CanonicalInvoice.parse(value)).toEqual(value);
  });

  it('keeps amounts exact when iXpole sends them as JSON numbers', () => {
    const raw = parseJsonExact(
      '{"InstalmentCode":"A1","CustomerId":1,"ProductId":"P-9","InvoiceDate":"2026-01-31T00:00:00","Currency":"eur","NetAmount":1234567890123.45,"VatRate":0.06,"VatAmount":null}',
    );
    const r = mapInstalment(raw);
    expect(r.ok && r.value).toMatchObject({
      sourceId: 'A1',
      customerSourceId: '1',
      invoiceDate: '2026-01-31',
      dueDate: null,
      currency: 'EUR',
      description: '',
      lines: [{ productSourceId: 'P-9', netAmount: '1234567890123.45', vatRate: '0.06', vatAmount: null }],
    });
  });

  it.each([
    [{ NetAmount: '12,50' }, 'NetAmount'],
    [{ NetAmount: undefined }, 'NetAmount'],
    [{ InvoiceDate: '31/12/2026' }, 'InvoiceDate'],
    [{ InvoiceDate: '2026-02-30' }, 'InvoiceDate'],
    [{ Currency: 'EURO' }, 'Currency'],
    [{ VatRate: '21' }, 'VatRate'],
    [{ VatAmount: 'n/a' }, 'VatAmount'],
    [{ CustomerId: '' }, 'CustomerId'],
    [{ ProductId: null }, 'ProductId'],
    [{ InstalmentCode: 'X'.repeat(51) }, 'InstalmentCode'],
  ])('names the field at fault: %j', (change, field) => {
    const raw = { ...instalment, ...change };
    const item = instalmentItem(raw, { page: 2, index: 4 });
    expect(item).toMatchObject({
      invalid: { kind: 'invoice', reasonCode: 'SOURCE_ITEM_INVALID', field, payload: raw },
    });
    if ('invalid' in item) expect(item.invalid.message).toContain(`${field}:`);
  });

  it('parks an item under its InstalmentCode, or a stable id from its content when it has none', () => {
    const bad = { ...instalment, NetAmount: 'ten' };
    const a = instalmentItem(bad, { page: 1, index: 0 });
    expect('invalid' in a && a.invalid.sourceId).toBe('INS-0000042');
    expect('invalid' in a && a.invalid.message).toContain('page 1, item 1');
    const { InstalmentCode: _, ...noCode } = instalment;
    const b = instalmentItem(noCode, { page: 3, index: 7 });
    const c = instalmentItem(noCode, { page: 1, index: 0 });
    expect('invalid' in b && b.invalid.sourceId).toMatch(/^unidentified:[0-9a-f]{16}$/);
    expect('invalid' in b && b.invalid.sourceId).toBe('invalid' in c && c.invalid.sourceId);
    expect(instalmentItem('garbage', { page: 1, index: 0 })).toMatchObject({
      invalid: { field: '(item)', payload: 'garbage' },
    });
  });

  it('passes a valid item on with its raw data', () => {
    expect(instalmentItem(instalment, { page: 1, index: 0 })).toMatchObject({
      record: { sourceId: 'INS-0000042' },
      raw: instalment,
    });
  });
});

describe('iXpole customer and product', () => {
  const customer = {
    CustomerId: 17,
    CustomerCode: null,
    Name: ' Brasserie Maes ',
    Email: 'info@maes.example',
    Street: 'Kerkstraat 1',
    PostalCode: '9000',
    City: 'Gent',
    Country: 'BE',
    VatNumber: 'BE0123456789',
    Language: 'nl',
  };

  it('maps a customer, with its code only when iXpole has one', () => {
    const r = mapCustomer(customer);
    expect(r).toEqual({
      ok: true,
      value: {
        kind: 'customer',
        sourceId: '17',
        code: null,
        name: 'Brasserie Maes',
        email: 'info@maes.example',
        street: 'Kerkstraat 1',
        postalCode: '9000',
        city: 'Gent',
        country: 'BE',
        vatNumber: 'BE0123456789',
        language: 'nl',
      },
    });
    expect(CanonicalCustomer.parse(r.ok && r.value)).toBeTruthy();
    expect(mapCustomer({ ...customer, CustomerCode: 'MAES01', Email: '' })).toMatchObject({
      ok: true,
      value: { code: 'MAES01', email: null },
    });
    expect(mapCustomer({ ...customer, Name: '' })).toMatchObject({ ok: false, field: 'Name' });
  });

  it('maps a product, with its GL account and VAT rate', () => {
    const r = mapProduct({ ProductId: 3, Code: 'SEASON', Name: 'Season ticket', VatRate: '0.21', GlAccount: '4000' });
    expect(r).toEqual({
      ok: true,
      value: {
        kind: 'product',
        sourceId: '3',
        code: 'SEASON',
        name: 'Season ticket',
        vatRate: '0.21',
        glAccountCode: '4000',
      },
    });
    expect(CanonicalProduct.parse(r.ok && r.value)).toBeTruthy();
    expect(
      mapProduct({ ProductId: 3, Code: 'SEASON', Name: 'Season ticket', VatRate: '0.06', GlAccount: null }),
    ).toMatchObject({ value: { glAccountCode: null } });
    expect(mapProduct({ ProductId: 3, Code: '', Name: 'x', VatRate: '0.21' })).toMatchObject({
      ok: false,
      field: 'Code',
    });
  });
});
