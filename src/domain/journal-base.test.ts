import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { balancedBase } from './documents.ts';
import { toBaseAmount } from './money.ts';

describe('balancedBase', () => {
  const usd = (rate: string) => ({ currency: 'USD', baseCurrency: 'EUR', rate });

  it('puts what rounding leaves over on each side’s largest line', () => {
    // 10.01 USD at 2 is 5.005 EUR, 5.01 rounded; 30.03 USD is 15.015, 15.02.
    expect(balancedBase([1001n, 1001n, 1001n, -3003n], usd('2'))).toEqual([500n, 501n, 501n, -1502n]);
    expect(balancedBase([1001n, 2002n, -3003n], usd('2'))).toEqual([501n, 1001n, -1502n]);
    // Rounding that agrees changes nothing; the base currency is as given.
    expect(balancedBase([800n, -800n], usd('1.25'))).toEqual([640n, -640n]);
    expect(balancedBase([333n, 333n, 334n, -1000n], { currency: 'EUR', baseCurrency: 'EUR', rate: '1' })).toEqual([
      333n,
      333n,
      334n,
      -1000n,
    ]);
    // Across exponents: 1,000 JPY at 160 per EUR is 6.25 EUR.
    expect(balancedBase([600n, 400n, -1000n], { currency: 'JPY', baseCurrency: 'EUR', rate: '160' })).toEqual([
      375n,
      250n,
      -625n,
    ]);
  });

  it('balances any balanced journal in the base currency, each side at its total converted once', () => {
    const side = fc.array(fc.bigInt({ min: 1n, max: 10_000_000n }), { minLength: 1, maxLength: 8 });
    const rate = fc
      .tuple(fc.integer({ min: 1, max: 5_000_000 }), fc.integer({ min: 0, max: 4 }))
      .map(([digits, scale]) => (digits / 10 ** scale).toFixed(scale));
    fc.assert(
      fc.property(side, fc.integer({ min: 1, max: 8 }), rate, (debits, parts, r) => {
        const total = debits.reduce((s, d) => s + d, 0n);
        // The credits: the total cut into up to `parts` pieces, each at least 1.
        const n = Number(total < BigInt(parts) ? total : BigInt(parts));
        const credits = Array.from({ length: n }, (_, i) => total / BigInt(n) + (i === 0 ? total % BigInt(n) : 0n));
        const amounts = [...debits, ...credits.map((c) => -c)];
        const base = balancedBase(amounts, usd(r));
        const want = toBaseAmount(total, 'USD', 'EUR', r);
        expect(base.reduce((s, b) => s + b, 0n)).toBe(0n);
        expect(base.slice(0, debits.length).reduce((s, b) => s + b, 0n)).toBe(want);
        // No line is further from its own amount converted than the rounding of the lines together.
        amounts.forEach((a, i) => {
          const own = (a < 0n ? -1n : 1n) * toBaseAmount(a < 0n ? -a : a, 'USD', 'EUR', r);
          const diff = base[i]! - own;
          expect(diff <= BigInt(amounts.length) && diff >= -BigInt(amounts.length)).toBe(true);
        });
      }),
      { numRuns: 500 },
    );
  });
});
