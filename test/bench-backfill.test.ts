import { describe, expect, it } from 'vitest';
import { backfillProblems, runBackfill } from '../bench/backfill.ts';
import { minimumMs } from '../bench/backfill-minimum.ts';
import { quickbooks, xero } from '../bench/backfill-platforms.ts';

/*
 * Keeps `npm run bench`'s connector backfills from rotting: the minimum the limits allow, worked
 * out by hand for both platforms, and a tiny backfill into each simulator (every invoice booked in
 * batches, none refused, no 429). Nothing here is timed: the figures are the bench's business.
 */

const W = 60_000;

describe('the minimum time the published limits allow', () => {
  it("Xero: 60 calls at once, then 60 more each minute; the day's 5,000 bind beyond", () => {
    const limits = xero.limits(W);
    const calls = (n: number) => Array<'call'>(n).fill('call');
    expect(minimumMs(calls(1), limits)).toBe(0);
    expect(minimumMs(calls(60), limits)).toBe(0);
    expect(minimumMs(calls(61), limits)).toBe(W);
    expect(minimumMs(calls(216), limits)).toBe(3 * W);
    // 5,001 calls: the 5,001st waits for the first to leave the day.
    expect(minimumMs(calls(5001), limits)).toBe(1440 * W);
  });

  it('QuickBooks: 40 batch calls a minute, 10 calls a second, plain calls only on the 500 a minute', () => {
    const limits = quickbooks.limits(W);
    const batches = (n: number) => Array<'batch'>(n).fill('batch');
    // 10 a second: the first 40 go over 4 seconds; the next 40 a minute after each of them.
    expect(minimumMs(batches(40), limits)).toBe(3000);
    expect(minimumMs(batches(41), limits)).toBe(W);
    expect(minimumMs(batches(51), limits)).toBe(W + 1000);
    expect(minimumMs(Array<'call'>(501).fill('call'), limits)).toBe(W);
    // Plain calls do not use the batch budget.
    expect(minimumMs([...batches(40), ...Array<'call'>(10).fill('call')], limits)).toBe(4000);
  });
});

describe('a tiny backfill into each simulator', () => {
  it.each(['xero', 'quickbooks'] as const)(
    '%s: every invoice booked in batches, none refused, no 429, on both approaches',
    async (platform) => {
      const invoices = 120;
      const r = await runBackfill(platform, {
        invoices,
        customers: 5,
        minuteMs: 1000,
        oneCallSample: 8,
        sampleMinutes: 1,
      });
      expect(backfillProblems([r])).toEqual([]);
      expect(r.batched.booked).toBe(invoices);
      expect(r.oneCall.booked).toBe(8);
      // Batches of 50 (Xero) or 30 (QuickBooks), plus the few reads and the item a first run makes.
      const batches = Math.ceil(invoices / (platform === 'xero' ? 50 : 30));
      expect(r.batched.invoiceCalls).toBeGreaterThanOrEqual(batches);
      expect(r.batched.invoiceCalls).toBeLessThanOrEqual(batches + 4);
      // One call per invoice of the sample, then extrapolated to all of them.
      expect(r.oneCall.invoiceCalls).toBeGreaterThanOrEqual(8);
      expect(r.oneCall.invoiceCalls).toBeLessThanOrEqual(8 + 4);
      expect(r.oneCall.calls).toBeGreaterThan(invoices);
    },
    120_000,
  );
});
