import { describe, expect, it } from 'vitest';
import { stringify } from 'lossless-json';
import { type Company, customerCard, serviceLines, taxFor, termsFor, tooLong } from './map.ts';

/* Canonical records to MYOB bodies: tax codes by rate, exact amounts, negative credit lines, cards that keep what MYOB holds. */

const company: Company = {
  currency: 'AUD',
  taxCodes: [
    { uid: 'u-gst', code: 'GST', rate: '10' },
    { uid: 'u-fre', code: 'FRE', rate: '0' },
    { uid: 'u-exp', code: 'EXP', rate: '0' },
  ],
  salesAccountUid: 'u-sales',
  bankAccountUid: 'u-bank',
  customerTaxCodeUid: 'u-gst',
};

describe('MYOB mapping', () => {
  it('finds the tax code by rate; two of one rate must be named in taxRates; none is refused', () => {
    expect(taxFor(company, '0.10', undefined)).toEqual({ uid: 'u-gst' });
    expect(taxFor(company, '0', undefined)).toMatchObject({
      code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
      message: expect.stringMatching(/2 tax codes of 0% \(FRE, EXP\)/),
    });
    expect(taxFor(company, '0', { '0': 'EXP' })).toEqual({ uid: 'u-exp' });
    expect(taxFor(company, '0.21', undefined)).toMatchObject({ code: 'MAPPING_NO_TAX_CODE_FOR_RATE' });
    expect(taxFor(company, '0.10', { '0.1': 'XYZ' })).toMatchObject({
      message: expect.stringMatching(/XYZ, which is not/),
    });
  });

  it('lines carry the net amount exactly, negative on a credit note, on the sales account', () => {
    const lines = serviceLines(
      [{ description: 'Consulting', netAmount: '1234567.89', vatRate: '0.10', vatAmount: '123456.79' }],
      company,
      undefined,
      -1,
    );
    expect(stringify(lines)).toBe(
      '[{"Type":"Transaction","Description":"Consulting","Total":-1234567.89,"Account":{"UID":"u-sales"},"TaxCode":{"UID":"u-gst"}}]',
    );
    expect(
      serviceLines([{ description: '', netAmount: '1', vatRate: '0.5', vatAmount: '0.5' }], company, undefined, 1),
    ).toMatchObject({
      code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
      field: 'lines[0].vatRate',
    });
  });

  it('a card changes only the fields the record carries, over what MYOB holds', () => {
    const fresh = customerCard(
      { kind: 'customer', sourceId: 'c', name: 'Ann Pty Ltd', email: 'ann@example.org' },
      'ANN',
      company,
      null,
    );
    expect(fresh).toMatchObject({
      CompanyName: 'Ann Pty Ltd',
      DisplayID: 'ANN',
      IsIndividual: false,
      Addresses: [{ Email: 'ann@example.org' }],
      SellingDetails: { TaxCode: { UID: 'u-gst' } },
    });
    const held = {
      UID: 'x',
      RowVersion: '7',
      CompanyName: 'Ann',
      DisplayID: 'ANN',
      Addresses: [{ Location: 1, City: 'Perth', Email: 'old@example.org' }],
    };
    const updated = customerCard(
      { kind: 'customer', sourceId: 'c', name: 'Ann Pty Ltd', phone: null },
      null,
      company,
      held,
    );
    expect(updated).toMatchObject({
      UID: 'x',
      RowVersion: '7',
      DisplayID: 'ANN',
      Addresses: [{ City: 'Perth', Email: 'old@example.org', Phone1: '' }],
    });
  });

  it('a due date is a number of days after the sale’s date; none leaves the customer’s terms; one before it is refused', () => {
    expect(stringify(termsFor('2026-11-02', '2026-12-02'))).toBe(
      '{"terms":{"PaymentIsDue":"InAGivenNumberOfDays","BalanceDueDate":30}}',
    );
    expect(termsFor('2026-11-02', null)).toEqual({ terms: null });
    expect(termsFor('2026-11-02', '2026-11-01')).toMatchObject({ code: 'SOURCE_ITEM_INVALID', field: 'dueDate' });
  });

  it('a reference too long for its field is refused, never cut', () => {
    expect(tooLong('Invoice reference', 'R-1', 20, 'CustomerPurchaseOrderNumber')).toBeNull();
    expect(tooLong('Invoice reference', 'X'.repeat(21), 20, 'CustomerPurchaseOrderNumber')).toMatchObject({
      code: 'TARGET_REFUSED',
      message: expect.stringMatching(/21 characters; MYOB keeps 20 .* not cut/),
    });
  });
});
