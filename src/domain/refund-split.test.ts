import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitRefund } from './refund-split.ts';

describe('splitRefund', () => {
  it('scales each line to the refunded share, VAT at the lines’ own rates, adding up to the refund', () => {
    // 10.00 + 21% VAT and 10.00 zero-rated (gross 22.10); 12.10 refunded.
    const r = splitRefund(
      1210n,
      [
        { net: 1000n, tax: 210n },
        { net: 1000n, tax: 0n },
      ],
      2210n,
    );
    expect(r).toEqual({
      tax: 115n,
      lines: [
        { net: 548n, tax: 115n },
        { net: 547n, tax: 0n },
      ],
    });
  });

  it('puts the VAT rounding on the line with the most VAT, never on a zero-rated one', () => {
    const lines = [
      { net: 100n, tax: 33n },
      { net: 100n, tax: 34n },
      { net: 100n, tax: 33n },
      { net: 100n, tax: 0n },
    ];
    const r = splitRefund(250n, lines, 500n)!;
    // Half refunded: VAT 1.00 × ½ = 0.50, while the lines' own halves round to 0.17 + 0.17 + 0.17 =
    // 0.51; the line with the most VAT (0.34) gives the cent back, the zero-rated line stays at 0.
    expect(r.tax).toBe(50n);
    expect(r.lines.map((l) => l.tax)).toEqual([17n, 16n, 17n, 0n]);
    expect(r.lines.reduce((s, l) => s + l.net + l.tax, 0n)).toBe(250n);
  });

  it('takes the VAT total from the platform when it keeps it apart from the lines', () => {
    const r = splitRefund(500n, [{ net: 1000n, tax: 0n }], 1230n, 230n)!;
    expect(r.tax).toBe(93n);
    expect(r.lines).toEqual([{ net: 407n, tax: 93n }]);
  });

  it('refuses what no rate can be inferred for: nothing to refund, more than the invoice, an invoice of no value', () => {
    const one = [{ net: 1000n, tax: 210n }];
    expect(splitRefund(0n, one, 1210n)).toBeNull();
    expect(splitRefund(1211n, one, 1210n)).toBeNull();
    expect(splitRefund(100n, [{ net: 0n, tax: 0n }], 0n)).toBeNull();
    expect(splitRefund(100n, [], 1210n)).toBeNull();
  });

  it('always adds up to the refund exactly, and a full refund gives the invoice back line for line', () => {
    const line = fc.record({ net: fc.bigInt({ min: -5000n, max: 1_000_000n }), rate: fc.constantFrom(0n, 9n, 21n) });
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (ls, f) => {
          const lines = ls.map((l) => ({ net: l.net, tax: (l.net * l.rate + 50n) / 100n }));
          const gross = lines.reduce((s, l) => s + l.net + l.tax, 0n);
          if (gross <= 0n) return;
          const refund = BigInt(Math.max(1, Math.floor(Number(gross) * f)));
          const r = splitRefund(refund, lines, gross);
          if (refund > gross) return expect(r).toBeNull();
          expect(r!.lines.reduce((s, l) => s + l.net + l.tax, 0n)).toBe(refund);
          expect(r!.lines.reduce((s, l) => s + l.tax, 0n)).toBe(r!.tax);
          // Zero-rated lines never carry VAT while another line has some.
          if (lines.some((l) => l.tax !== 0n))
            r!.lines.forEach((l, i) => lines[i]!.tax === 0n && expect(l.tax).toBe(0n));
          expect(splitRefund(gross, lines, gross)!.lines).toEqual(lines);
        },
      ),
      { seed: 20261121, numRuns: 300 },
    );
  });
});
