import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { addMonths, deferralReleases, splitEvenly } from './deferrals.ts';

describe('deferral arithmetic', () => {
  it('splits 1000.00 over 3 months as 333.33, 333.33, 333.34', () => {
    expect(splitEvenly(100000n, 3)).toEqual([33333n, 33333n, 33334n]);
    expect(splitEvenly(5n, 1)).toEqual([5n]);
    expect(splitEvenly(12n, 4)).toEqual([3n, 3n, 3n, 3n]);
    expect(() => splitEvenly(5n, 0)).toThrow(RangeError);
  });

  it('never loses or creates a cent, and parts differ by less than the number of parts', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.integer({ min: 1, max: 120 }), (total, parts) => {
        const split = splitEvenly(total, parts);
        expect(split).toHaveLength(parts);
        expect(split.reduce((s, v) => s + v, 0n)).toBe(total);
        const first = split[0]!;
        expect(split.slice(0, -1).every((v) => v === first)).toBe(true);
        expect(split[parts - 1]! - first).toBeGreaterThanOrEqual(0n);
        expect(split[parts - 1]! - first).toBeLessThan(BigInt(parts));
      }),
    );
  });

  it('adds calendar months, clamping the day to the end of shorter months', () => {
    expect(addMonths('2026-01-31', 0)).toBe('2026-01-31');
    expect(addMonths('2026-01-31', 1)).toBe('2026-02-28');
    expect(addMonths('2026-01-31', 2)).toBe('2026-03-31');
    expect(addMonths('2027-12-15', 2)).toBe('2028-02-15');
    expect(addMonths('2028-01-30', 1)).toBe('2028-02-29');
    expect(addMonths('2026-11-01', 14)).toBe('2028-01-01');
  });

  it('schedules one release a month from the start date, in both currencies', () => {
    expect(deferralReleases(100000n, 80000n, 3, '2026-11-01')).toEqual([
      { seq: 1, dueDate: '2026-11-01', amount: 33333n, baseAmount: 26666n },
      { seq: 2, dueDate: '2026-12-01', amount: 33333n, baseAmount: 26666n },
      { seq: 3, dueDate: '2027-01-01', amount: 33334n, baseAmount: 26668n },
    ]);
  });
});
