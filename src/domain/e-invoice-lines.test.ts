import { describe, expect, it } from 'vitest';
import { en16931LineProblems, linePrice } from './e-invoice-totals.ts';
import { itemLineNet } from './item-lines.ts';

const item = (quantity: string, unitPrice: string, discountRate = '0') => ({ quantity, unitPrice, discountRate });

describe('linePrice: quantity and net price of an e-invoice line', () => {
  it('shows an item line as its quantity at the unit price net of the line discount', () => {
    // 3 × 33.3333 less 10 % = 89.99991 → 90.00 in the ledger.
    const net = itemLineNet('3', '33.3333', '0.1', 'EUR', 'halfUp');
    expect(net).toBe(9000n);
    const p = linePrice(net, item('3', '33.3333', '0.1'), 2);
    expect(p).toEqual({ quantity: '3', netPrice: '29.99997', grossPrice: '33.3333', priceDiscount: '3.33333' });
    expect(en16931LineProblems({ ...p, lineExtension: '90.00' })).toEqual([]);
  });

  it('shows a negative unit price as a negative quantity at a positive price (BR-27)', () => {
    const p = linePrice(-1250n, item('2.5', '-5'), 2);
    expect(p).toEqual({ quantity: '-2.5', netPrice: '5.00', grossPrice: null, priceDiscount: null });
    expect(en16931LineProblems({ ...p, lineExtension: '-12.50' })).toEqual([]);
  });

  it('keeps a batch line as one unit at its net, a discount line as minus one', () => {
    const none = { quantity: null, unitPrice: null, discountRate: null };
    expect(linePrice(20000n, none, 2)).toMatchObject({ quantity: '1', netPrice: '200.00' });
    expect(linePrice(-1000n, none, 2)).toMatchObject({ quantity: '-1', netPrice: '10.00' });
  });

  it('falls back to one unit when the currency rounds the net beyond the 0.02 of R120', () => {
    // JPY: 3 × 0.9 = 2.7 yen is posted as 3; 3 × 0.9 would be 0.3 off.
    const net = itemLineNet('3', '0.9', '0', 'JPY', 'halfUp');
    expect(net).toBe(3n);
    expect(linePrice(net, item('3', '0.9'), 0)).toEqual({
      quantity: '1',
      netPrice: '3',
      grossPrice: null,
      priceDiscount: null,
    });
  });

  it('names the rule a stated line breaks', () => {
    const ok = { quantity: '3', netPrice: '29.99997', grossPrice: null, priceDiscount: null, lineExtension: '90.00' };
    expect(en16931LineProblems(ok)).toEqual([]);
    expect(en16931LineProblems({ ...ok, netPrice: '33.3333' })[0]).toMatch(/^PEPPOL-EN16931-R120/);
    expect(en16931LineProblems({ ...ok, quantity: '-3', netPrice: '-29.99997' })[0]).toMatch(/^BR-27/);
    expect(en16931LineProblems({ ...ok, grossPrice: '33.3333', priceDiscount: '3' })[0]).toMatch(
      /^PEPPOL-EN16931-R046/,
    );
    expect(en16931LineProblems({ ...ok, baseQuantity: '0' })[0]).toMatch(/^PEPPOL-EN16931-R121/);
  });
});
