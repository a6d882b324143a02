import { describe, expect, it } from 'vitest';
import { formatAmount, formatMinorDigits, multiplyAmount, parseAmount, toBaseAmount } from './money.ts';
import { currencyExponent } from './currency.ts';

describe('money', () => {
  /** The amount, or the failure's code: what a test compares. */
  const parsed = (text: string, currency: string) => {
    const r = parseAmount(text, currency);
    return r.ok ? r.value : r.error.code;
  };

  it('parses decimal text exactly in the currency exponent', () => {
    expect(parseAmount('120.5', 'EUR')).toEqual({ ok: true, value: 12050n });
    expect(parsed('120.50', 'EUR')).toBe(12050n);
    expect(parsed('-0.01', 'EUR')).toBe(-1n);
    expect(parsed('1000', 'JPY')).toBe(1000n);
    expect(parsed('1.234', 'KWD')).toBe(1234n);
    expect(parsed('90071992547409.93', 'EUR')).toBe(9007199254740993n);
    expect(parsed('1.5e2', 'EUR')).toBe(15000n);
    expect(parsed(' 7 ', 'EUR')).toBe(700n);
  });

  it('refuses too many decimals and non-numbers instead of rounding', () => {
    expect(parsed('0.001', 'EUR')).toBe('TOO_MANY_DECIMALS');
    expect(parsed('1.5', 'JPY')).toBe('TOO_MANY_DECIMALS');
    expect(parsed('1.2300', 'EUR')).toBe(123n);
    expect(parsed('abc', 'EUR')).toBe('NOT_A_DECIMAL');
    expect(parsed('1,5', 'EUR')).toBe('NOT_A_DECIMAL');
    expect(parsed('', 'EUR')).toBe('NOT_A_DECIMAL');
    expect(parsed('1e', 'EUR')).toBe('NOT_A_DECIMAL');
  });

  it('refuses an amount whose minor units a bigint column cannot hold, either sign, and keeps the largest that fits', () => {
    expect(parseAmount('92233720368547758.07', 'EUR')).toEqual({ ok: true, value: 9223372036854775807n });
    expect(parseAmount('-92233720368547758.07', 'EUR')).toEqual({ ok: true, value: -9223372036854775807n });
    for (const text of ['92233720368547758.08', '-92233720368547758.08', '100000000000000000000', '1e20']) {
      const r = parseAmount(text, 'EUR');
      expect(r.ok ? r.value : r.error.code).toBe('OUT_OF_RANGE');
    }
    // The limit is in minor units: 10^15 fits in EUR, not in CLF (four decimals).
    expect(parseAmount('1000000000000000', 'EUR').ok).toBe(true);
    expect(parseAmount('1000000000000000', 'CLF').ok).toBe(false);
  });

  it('says why in a message that names the text and the currency, and carries no value', () => {
    const fee = parseAmount('1.234', 'EUR');
    expect(fee).toEqual({
      ok: false,
      error: { code: 'TOO_MANY_DECIMALS', message: '"1.234" has more decimals than EUR allows (2)' },
    });
    expect('value' in fee).toBe(false);
    expect(parseAmount('abc', 'EUR')).toEqual({
      ok: false,
      error: { code: 'NOT_A_DECIMAL', message: '"abc" is not a decimal number' },
    });
    // Whatever a source sent, the message stays short.
    const long = parseAmount('9'.repeat(5000), 'EUR');
    expect(!long.ok && long.error.message.length).toBeLessThan(100);
  });

  it('refuses absurd exponents at once rather than expanding them', () => {
    const t0 = Date.now();
    expect(parsed('1e99999999', 'EUR')).toBe('NOT_A_DECIMAL');
    expect(parsed('1'.repeat(41), 'EUR')).toBe('NOT_A_DECIMAL');
    expect(Date.now() - t0).toBeLessThan(100);
  });

  it('formats with the currency decimals', () => {
    expect(formatAmount(12050n, 'EUR')).toBe('120.50');
    expect(formatAmount(-5n, 'EUR')).toBe('-0.05');
    expect(formatAmount(1000n, 'JPY')).toBe('1000');
    expect(formatAmount(1n, 'KWD')).toBe('0.001');
    expect(currencyExponent('XYZ')).toBe(2);
  });

  it('formats digits of minor units exactly as formatAmount formats the bigint', () => {
    const values = [
      '0',
      '1',
      '5',
      '9',
      '10',
      '99',
      '100',
      '999',
      '1000',
      '12050',
      '123456789012345678',
      '9223372036854775807',
    ];
    for (const currency of ['JPY', 'EUR', 'KWD']) {
      const exponent = currencyExponent(currency);
      for (const digits of values) {
        expect(formatMinorDigits(digits, exponent, false)).toBe(formatAmount(BigInt(digits), currency));
        expect(formatMinorDigits(digits, exponent, true)).toBe(formatAmount(-BigInt(digits), currency));
      }
    }
    expect(formatMinorDigits('5', 2, true)).toBe('-0.05');
    expect(() => formatMinorDigits('-5', 2, false)).toThrow(/digits/);
    expect(() => formatMinorDigits('', 2, false)).toThrow(/digits/);
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
