import { describe, expect, it } from 'vitest';
import { computeTaxes, itemLineNet } from './item-lines.ts';

describe('item line nets', () => {
  it('rounds quantity × unit price × (1 − discount) once, to the currency decimals', () => {
    // 3 × 33.3333 = 99.9999, less 10 % = 89.99991: 90.00, never 3 × 33.33 less 10 % = 89.99.
    expect(itemLineNet('3', '33.3333', '0.1', 'EUR', 'halfUp')).toBe(9000n);
    expect(itemLineNet('2', '5.015', '0', 'EUR', 'halfUp')).toBe(1003n);
    expect(itemLineNet('1.5', '0.9999', '0', 'KWD', 'halfUp')).toBe(1500n); // 1.49985 → 1.500
    expect(itemLineNet('4', '99', '0.25', 'JPY', 'halfUp')).toBe(297n);
  });

  it('half-up and half-even differ only at an exact half', () => {
    expect(itemLineNet('1', '10.505', '0', 'EUR', 'halfUp')).toBe(1051n);
    expect(itemLineNet('1', '10.505', '0', 'EUR', 'halfEven')).toBe(1050n);
    expect(itemLineNet('1', '10.515', '0', 'EUR', 'halfEven')).toBe(1052n); // 2 is even: up
    expect(itemLineNet('3', '33.5', '0', 'JPY', 'halfUp')).toBe(101n); // 100.5
    expect(itemLineNet('3', '33.5', '0', 'JPY', 'halfEven')).toBe(100n);
    expect(itemLineNet('1', '-10.505', '0', 'EUR', 'halfUp')).toBe(-1051n); // away from zero, as its mirror
    expect(itemLineNet('1', '10.5051', '0', 'EUR', 'halfEven')).toBe(1051n); // above the half
  });
});

describe('tax per line or per document', () => {
  const three = [1003n, 1003n, 1003n].map((net) => ({ net, taxCode: 'STD', taxRate: '0.21' }));

  it('per line rounds each line: 3 × round(10.03 × 0.21 = 2.1063) = 6.33', () => {
    const r = computeTaxes(three, 'perLine', 'halfUp');
    expect(r.taxes).toEqual([211n, 211n, 211n]);
    expect(r.breakdown).toEqual([{ taxCode: 'STD', taxRate: '0.21', net: 3009n, tax: 633n }]);
  });

  it('per document rounds the total once: round(30.09 × 0.21 = 6.3189) = 6.32, spread so the lines add up', () => {
    const r = computeTaxes(three, 'perDocument', 'halfUp');
    expect(r.taxes).toEqual([211n, 210n, 211n]);
    expect(r.breakdown).toEqual([{ taxCode: 'STD', taxRate: '0.21', net: 3009n, tax: 632n }]);
  });

  it('keeps one row per tax code and rate, ordered by code', () => {
    const lines = [
      { net: 1000n, taxCode: 'STD', taxRate: '0.21' },
      { net: 750n, taxCode: 'RED', taxRate: '0.135' },
      { net: 1000n, taxCode: 'STD', taxRate: '0.210' },
    ];
    const r = computeTaxes(lines, 'perDocument', 'halfUp');
    expect(r.breakdown).toEqual([
      { taxCode: 'RED', taxRate: '0.135', net: 750n, tax: 101n }, // 1.0125
      { taxCode: 'STD', taxRate: '0.21', net: 2000n, tax: 420n },
    ]);
    expect(r.taxes).toEqual([210n, 101n, 210n]);
  });

  it('half-up and half-even on a tax of exactly half a cent', () => {
    const line = (net: bigint) => [{ net, taxCode: 'L', taxRate: '0.05' }];
    expect(computeTaxes(line(1050n), 'perLine', 'halfUp').taxes).toEqual([53n]); // 0.525
    expect(computeTaxes(line(1050n), 'perLine', 'halfEven').taxes).toEqual([52n]);
    expect(computeTaxes(line(1150n), 'perLine', 'halfEven').taxes).toEqual([58n]); // 0.575: 8 is even
    expect(computeTaxes(line(-1050n), 'perLine', 'halfUp').taxes).toEqual([-53n]);
  });
});
