import { LosslessNumber, stringify } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { type Company, invoiceLines, minor, partnerValues, taxFor } from './map.ts';

/*
 * Canonical records → Odoo values: exact amounts out (never a float on our side), Odoo's floats
 * back to minor units through their decimal text, taxes by percentage or by the settings, lines
 * as (0, 0, values) commands with their taxes as (6, 0, ids), partners with only the fields given.
 */

const company: Company = {
  id: 1,
  name: 'Acme',
  currency: 'EUR',
  taxes: [
    { id: 11, name: '21%', percent: '21.0' },
    { id: 12, name: '6%', percent: '6' },
  ],
};

describe('Odoo mapping', () => {
  it('reads Odoo’s amounts (floats, as Python writes them) as minor units, rounded half up to the currency', () => {
    expect(minor(new LosslessNumber('121.0'), 'EUR')).toBe(12100n);
    expect(minor(new LosslessNumber('96.80000000000001'), 'EUR')).toBe(9680n);
    expect(minor(new LosslessNumber('0.005'), 'EUR')).toBe(1n);
    expect(minor(new LosslessNumber('1e2'), 'EUR')).toBe(10000n);
    expect(minor(new LosslessNumber('1500'), 'JPY')).toBe(1500n);
    expect(minor(false, 'EUR')).toBeNull();
  });

  it('finds the sales tax of a rate by percentage, or as the settings map it; a rate without one is refused', () => {
    expect(taxFor(company, '0.21', undefined)).toEqual({ taxId: 11 });
    expect(taxFor(company, '0.21', { '0.210': 99 })).toEqual({ taxId: 99 });
    expect(taxFor(company, '0', undefined)).toEqual({ taxId: null });
    expect(taxFor(company, '0.09', undefined)).toMatchObject({
      code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
      retryable: false,
    });
  });

  it('writes lines as (0, 0, values) with exact numbers and exactly their own taxes', () => {
    const lines = invoiceLines(
      [
        { description: 'Service', netAmount: '100.10', vatRate: '0.21' },
        {
          description: '',
          netAmount: '37.00',
          vatRate: '0',
          quantity: '3',
          unitPrice: '12.3333',
          productSourceId: 'P1',
        },
      ],
      { P1: '42' },
      company,
      undefined,
    );
    expect(stringify(lines)).toBe(
      '[[0,0,{"name":"Service","quantity":1,"price_unit":100.10,"tax_ids":[[6,0,[11]]]}],' +
        '[0,0,{"product_id":42,"name":"Sales","quantity":3,"price_unit":12.3333,"tax_ids":[[6,0,[]]]}]]',
    );
    expect(
      invoiceLines([{ description: 'x', netAmount: '1.00', vatRate: '0.09' }], {}, company, undefined),
    ).toMatchObject({
      code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
      field: 'lines[0].vatRate',
    });
  });

  it('gives a partner only the fields the record carries, null as Odoo’s false', () => {
    expect(partnerValues({ kind: 'customer', sourceId: 'c', name: 'Ann' }, 'C-1', undefined)).toEqual({
      name: 'Ann',
      ref: 'C-1',
    });
    expect(
      partnerValues(
        { kind: 'customer', sourceId: 'c', name: 'Ann', email: null, city: 'Gent', vatNumber: 'BE0123' },
        null,
        20,
      ),
    ).toEqual({ name: 'Ann', email: false, city: 'Gent', vat: 'BE0123', country_id: 20 });
  });
});
