import { describe, expect, it } from 'vitest';
import { discountVatJournal, splitDiscount } from './discount-vat.ts';

describe('splitDiscount', () => {
  it('splits in the proportions of the invoice and adds up to the discount exactly', () => {
    // Invoice: 100.00 at 23% (VAT 23.00) + 50.00 at 13.5% (VAT 6.75), gross 179.75; discount 5.00.
    const parts = splitDiscount(
      500n,
      [
        { taxCode: 'STD', glAccountCode: '2200', net: 10000n, tax: 2300n },
        { taxCode: 'RED', glAccountCode: '2200', net: 5000n, tax: 675n },
      ],
      17975n,
    );
    // VAT: 5 × 23/179.75 = 0.6397… → 0.64; 5 × 6.75/179.75 = 0.1877… → 0.19; net 4.17 shared 2:1.
    expect(parts.map((p) => [p.taxCode, p.net, p.tax])).toEqual([
      ['STD', 278n, 64n],
      ['RED', 139n, 19n],
    ]);
    expect(parts.reduce((s, p) => s + p.net + p.tax, 0n)).toBe(500n);
  });

  it('leaves a zero-rated invoice with no VAT part', () => {
    const parts = splitDiscount(300n, [{ taxCode: 'ZERO', glAccountCode: '2200', net: 10000n, tax: 0n }], 10000n);
    expect(parts).toEqual([{ taxCode: 'ZERO', glAccountCode: '2200', net: 300n, tax: 0n }]);
  });

  it('journals balance in base currency too', () => {
    const parts = splitDiscount(333n, [{ taxCode: 'STD', glAccountCode: '2200', net: 10000n, tax: 2100n }], 12100n);
    const lines = discountVatJournal('1100', '4900', 'Discount', parts, 333n, 308n, {
      currency: 'USD',
      baseCurrency: 'EUR',
      rate: '1.08',
    });
    expect(lines.reduce((s, l) => s + l.amount, 0n)).toBe(0n);
    expect(lines.reduce((s, l) => s + l.baseAmount, 0n)).toBe(0n);
  });
});
