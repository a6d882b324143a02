import { describe, expect, it } from 'vitest';
import { formatAmount, multiplyAmount, parseAmount, toBaseAmount } from './money.ts';
import { currencyExponent } from './currency.ts';

describe('money', () => {
  it('parses decimal text exactly in the currency exponent', () => {
    expect(parseAmount('120.5', 'EUR')).toBe(12050n);
    expect(parseAmount('120.50', 'EUR')).toBe(12050n);
    expect(parseAmount('-0.01', 'EUR')).toBe(-1n);
    expect(parseAmount('1000', 'JPY')).toBe(1000n);
    expect(parseAmount('1.234', 'KWD')).toBe(1234n);
    expect(parseAmount('90071992547409.93', 'EUR')).toBe(9007199254740993n);
    expect(parseAmount('1.5e2', 'EUR')).toBe(15000n);
  });

  it('refuses too many decimals and non-numbers instead of rounding', () => {
    expect(parseAmount('0.001', 'EUR')).toBe('TOO_MANY_DECIMALS');
    expect(parseAmount('1.5', 'JPY')).toBe('TOO_MANY_DECIMALS');
    expect(parseAmount('1.2300', 'EUR')).toBe(123n);
    expect(parseAmount('abc', 'EUR')).toBe('NOT_A_DECIMAL');
    expect(parseAmount('1,5', 'EUR')).toBe('NOT_A_DECIMAL');
  });

  it('refuses absurd exponents at once rather than expanding them', () => {
    const t0 = Date.now();
    expect(parseAmount('1e99999999', 'EUR')).toBe('NOT_A_DECIMAL');
    expect(parseAmount('1'.repeat(41), 'EUR')).toBe('NOT_A_DECIMAL');
    expect(Date.now() - t0).toBeLessThan(100);
  });

  it('formats with the currency decimals', () => {
    expect(formatAmount(12050n, 'EUR')).toBe('120.50');
    expect(formatAmount(-5n, 'EUR')).toBe('-0.05');
    expect(formatAmount(1000n, 'JPY')).toBe('1000');
    expect(formatAmount(1n, 'KWD')).toBe('0.001');
    expect(currencyExponent('XYZ')).toBe(2);
  });

  it('rounds half-up or half-even as named', () => {
    expect(multiplyAmount(1005n, '0.21', 'halfUp')).toBe(211n); // 211.05
    expect(multiplyAmount(250n, '0.01', 'halfUp')).toBe(3n); // 2.5
    expect(multiplyAmount(250n, '0.01', 'halfEven')).toBe(2n);
    expect(multiplyAmount(-250n, '0.01', 'halfUp')).toBe(-3n);
  });

  it('converts to base at units of document currency per base unit, across exponents', () => {
    expect(toBaseAmount(10800n, 'USD', 'EUR', '1.08')).toBe(10000n);
    expect(toBaseAmount(15000n, 'JPY', 'EUR', '150')).toBe(10000n); // 15000 JPY = 100.00 EUR
    expect(toBaseAmount(10000n, 'EUR', 'EUR', '1')).toBe(10000n);
  });
});
