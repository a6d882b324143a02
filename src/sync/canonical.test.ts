import { describe, expect, it } from 'vitest';
import {
  CanonicalInvoice,
  CanonicalLine,
  LineInput,
  completeLine,
  customerChanges,
  lineAmountProblem,
  lineNetAmount,
  presentCustomerFields,
} from './canonical.ts';

describe('customerChanges', () => {
  const record = {
    kind: 'customer' as const,
    sourceId: 'c-1',
    code: null,
    name: 'Ann',
    email: null,
    phone: '  ',
    city: 'Gent',
  };

  it('keeps the fields with a value, leaves out what the source does not carry and empties it is not authoritative for', () => {
    expect(customerChanges(record)).toEqual({ kind: 'customer', sourceId: 'c-1', name: 'Ann', city: 'Gent' });
    expect(presentCustomerFields(record)).toEqual(['name', 'email', 'phone', 'city']);
  });

  it('sends an empty field as null (clear) where the pipeline is authoritative for it', () => {
    expect(customerChanges(record, new Set(['email', 'phone', 'street']))).toEqual({
      kind: 'customer',
      sourceId: 'c-1',
      name: 'Ann',
      email: null,
      phone: null,
      city: 'Gent',
    });
  });
});

describe('lines with a quantity and a unit price', () => {
  const invoice = (lines: unknown[], currency = 'EUR') =>
    CanonicalInvoice.parse({
      kind: 'invoice',
      sourceId: 'i-1',
      externalReference: 'INV-1',
      customerSourceId: 'c-1',
      invoiceDate: '2026-11-02',
      currency,
      lines,
    });

  it('accepts 4 decimals and keeps one stable form of each number; refuses a fifth decimal', () => {
    const inv = invoice([{ quantity: '3.0', unitPrice: '12.33330', netAmount: '37.00', vatRate: '0.21' }]);
    expect(inv.lines[0]).toMatchObject({ quantity: '3', unitPrice: '12.3333', netAmount: '37.00' });
    expect(invoice([{ quantity: 3, unitPrice: '12.3333', netAmount: '37.00', vatRate: '0' }]).lines[0]!.quantity).toBe(
      '3',
    );
    const five = CanonicalLine.safeParse({ quantity: '3', unitPrice: '12.33333', netAmount: '37.00', vatRate: '0' });
    expect(five.success).toBe(false);
    expect(five.error?.issues[0]).toMatchObject({ path: ['unitPrice'] });
    expect(five.error?.issues[0]?.message).toContain('at most 4');
    const q5 = CanonicalLine.safeParse({ quantity: '0.00001', unitPrice: '1', netAmount: '0.00', vatRate: '0' });
    expect(q5.error?.issues[0]).toMatchObject({ path: ['quantity'] });
  });

  it('refuses a quantity that is zero or negative, and a quantity without a unit price', () => {
    for (const quantity of ['0', '-1', '-0.5']) {
      const r = CanonicalLine.safeParse({ quantity, unitPrice: '5', netAmount: '-5.00', vatRate: '0' });
      expect(r.success, quantity).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(['quantity']);
    }
    const alone = CanonicalLine.safeParse({ quantity: '2', netAmount: '5.00', vatRate: '0' });
    expect(alone.error?.issues[0]).toMatchObject({ path: ['unitPrice'] });
    // A credit line: a positive quantity at a negative unit price.
    expect(
      CanonicalLine.safeParse({ quantity: '2', unitPrice: '-2.5', netAmount: '-5.00', vatRate: '0' }).success,
    ).toBe(true);
  });

  it('computes a missing net as quantity × unit price rounded half up to the currency, exactly', () => {
    const line = LineInput.parse({ quantity: '3', unitPrice: '12.3333', vatRate: '0.21' });
    expect(completeLine(line, 'EUR').netAmount).toBe('37.00'); // 36.9999
    expect(lineNetAmount('1', '0.005', 'EUR')).toBe('0.01'); // the half goes up
    expect(lineNetAmount('1', '-0.005', 'EUR')).toBe('-0.01'); // and away from zero for a credit
    expect(lineNetAmount('0.1', '0.3', 'EUR')).toBe('0.03'); // no binary float on the way (0.1 × 0.3)
    expect(lineNetAmount('3', '333.3333', 'JPY')).toBe('1000'); // the currency's decimals, not 2
    expect(lineNetAmount('1.5', '2.675', 'KWD')).toBe('4.013'); // 4.0125
    // A given net is kept as given (checked later, not replaced).
    expect(
      completeLine(LineInput.parse({ quantity: '3', unitPrice: '1', netAmount: '9', vatRate: '0' }), 'EUR').netAmount,
    ).toBe('9');
    expect(LineInput.safeParse({ vatRate: '0' }).error?.issues[0]).toMatchObject({ path: ['netAmount'] });
  });

  it('finds the line whose net is not quantity × unit price, and shows both numbers', () => {
    expect(
      lineAmountProblem(invoice([{ quantity: '3', unitPrice: '12.3333', netAmount: '37.00', vatRate: '0' }])),
    ).toBe(null);
    expect(lineAmountProblem(invoice([{ netAmount: '36.99', vatRate: '0' }]))).toBe(null);
    const problem = lineAmountProblem(
      invoice([
        { netAmount: '1.00', vatRate: '0' },
        { quantity: '3', unitPrice: '12.3333', netAmount: '36.99', vatRate: '0' },
      ]),
    );
    expect(problem?.field).toBe('lines[1].netAmount');
    expect(problem?.message).toContain('netAmount 36.99');
    expect(problem?.message).toContain('3 × 12.3333 = 36.9999, 37.00 EUR');
  });
});
