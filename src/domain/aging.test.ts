import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AGING_BUCKETS,
  type AgeableItem,
  ageOpenItems,
  agingDate,
  allocationStatus,
  bucketFor,
  signedAmount,
} from './aging.ts';
import { addDays } from './dates.ts';

describe('bucketFor', () => {
  it('puts each boundary in the right bucket', () => {
    const cases: [number, string][] = [
      [-400, 'current'],
      [-1, 'current'],
      [0, 'current'],
      [1, 'days1to30'],
      [30, 'days1to30'],
      [31, 'days31to60'],
      [60, 'days31to60'],
      [61, 'days61to90'],
      [90, 'days61to90'],
      [91, 'days91to120'],
      [120, 'days91to120'],
      [121, 'over120'],
      [5000, 'over120'],
    ];
    for (const [age, bucket] of cases) expect(bucketFor(age), `age ${age}`).toBe(bucket);
  });
});

describe('agingDate', () => {
  const invoice = { side: 'debit' as const, transactionDate: '2026-01-10', dueDate: '2026-02-09' };
  it('uses the due date on the due-date basis, the document date otherwise', () => {
    expect(agingDate(invoice, 'dueDate')).toBe('2026-02-09');
    expect(agingDate(invoice, 'transactionDate')).toBe('2026-01-10');
  });
  it('falls back to the document date when a debit has no due date', () => {
    expect(agingDate({ ...invoice, dueDate: null }, 'dueDate')).toBe('2026-01-10');
  });
  it('ages credits from their own date even when they carry a due date', () => {
    expect(agingDate({ ...invoice, side: 'credit' }, 'dueDate')).toBe('2026-01-10');
  });
});

describe('signedAmount and allocationStatus', () => {
  it('signs by side', () => {
    expect(signedAmount('debit', 500n)).toBe(500n);
    expect(signedAmount('credit', 500n)).toBe(-500n);
    expect(signedAmount('none', 500n)).toBe(0n);
  });
  it('tells open, partly and fully allocated apart', () => {
    expect(allocationStatus('debit', 1000n, 1000n)).toBe('open');
    expect(allocationStatus('credit', 1000n, 1n)).toBe('partiallyAllocated');
    expect(allocationStatus('debit', 1000n, 0n)).toBe('allocated');
    expect(allocationStatus('none', 1000n, 1000n)).toBe('none');
  });
});

describe('ageOpenItems', () => {
  const upTo = '2026-06-30';
  const item = (side: 'debit' | 'credit', transactionDate: string, dueDate: string | null, outstanding: bigint) => ({
    side,
    transactionDate,
    dueDate,
    outstanding,
  });

  it('buckets a hand-worked example on both bases', () => {
    const items = [
      item('debit', '2026-06-20', '2026-07-20', 10000n), // due in 20 days; 10 days old
      item('debit', '2026-05-01', '2026-05-31', 5000n), // 30 days overdue; 60 days old
      item('debit', '2026-03-01', null, 2500n), // no due date: 121 days either way
      item('credit', '2026-06-15', null, 3000n), // receipt 15 days old, negative
    ];
    const byDue = ageOpenItems(items, 'dueDate', upTo);
    expect(byDue.aging).toEqual({
      current: 10000n,
      days1to30: 5000n - 3000n,
      days31to60: 0n,
      days61to90: 0n,
      days91to120: 0n,
      over120: 2500n,
    });
    expect(byDue.items.map((i) => i.daysOverdue)).toEqual([0, 30, 121, 15]);
    expect(byDue.balance).toBe(14500n);

    const byDate = ageOpenItems(items, 'transactionDate', upTo);
    expect(byDate.aging).toEqual({
      current: 0n,
      days1to30: 10000n - 3000n,
      days31to60: 5000n,
      days61to90: 0n,
      days91to120: 0n,
      over120: 2500n,
    });
    expect(byDate.items.map((i) => i.bucket)).toEqual(['days1to30', 'days31to60', 'over120', 'days1to30']);
    expect(byDate.balance).toBe(14500n);
  });

  it('keeps the order it was given and the signed amount of each item', () => {
    const r = ageOpenItems(
      [item('credit', '2026-01-01', null, 7n), item('debit', '2026-01-02', null, 9n)],
      'dueDate',
      upTo,
    );
    expect(r.items.map((i) => i.signed)).toEqual([-7n, 9n]);
  });

  it('always has buckets that add up to the balance (property)', () => {
    const arbItem: fc.Arbitrary<AgeableItem> = fc
      .record({
        side: fc.constantFrom('debit' as const, 'credit' as const),
        offset: fc.integer({ min: -400, max: 400 }),
        terms: fc.option(fc.integer({ min: 0, max: 120 }), { nil: null }),
        outstanding: fc.bigInt({ min: 0n, max: 10n ** 15n }),
      })
      .map(({ side, offset, terms, outstanding }) => {
        const transactionDate = addDays(upTo, -offset);
        return { side, transactionDate, dueDate: terms === null ? null : addDays(transactionDate, terms), outstanding };
      });
    fc.assert(
      fc.property(
        fc.array(arbItem, { maxLength: 40 }),
        fc.constantFrom('dueDate' as const, 'transactionDate' as const),
        (items, basis) => {
          const r = ageOpenItems(items, basis, upTo);
          const sum = AGING_BUCKETS.reduce((s, b) => s + r.aging[b], 0n);
          expect(sum).toBe(r.balance);
          for (const a of r.items) {
            expect(a.bucket).toBe(bucketFor(a.daysOverdue));
            expect(a.daysOverdue).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });
});
