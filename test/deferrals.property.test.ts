/**
 * Property test of deferred revenue through the HTTP API (real database): random sequences of
 * invoices with deferred lines (EUR and USD customers, 1 to 24 months, odd amounts), release runs
 * up to random dates (repeated, out of order, in the future) and credit notes copying deferred
 * lines, also dated before releases already posted. A small model says which release is pending,
 * released or cancelled (credited before it was posted, or reversed); after every step the
 * answers, the report and the trial balance are checked against it: each release posts once, the
 * parts add up to the line, and the deferred account equals the report's remaining, at the end of
 * time and at the step's date. FC_SEED / FC_RUNS replay or lengthen it; the seed is logged.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../src/domain/dates.ts';
import { addMonths } from '../src/domain/deferrals.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

type Action =
  | { kind: 'invoice'; usd: boolean; cents: number; months: number; startDay: number; gap: number }
  | { kind: 'release'; offset: number; gap: number }
  | { kind: 'credit'; pick: number; gap: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('invoice' as const),
      usd: fc.boolean(),
      cents: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 500_000 })),
      months: fc.integer({ min: 1, max: 24 }),
      startDay: fc.integer({ min: 0, max: 60 }),
      gap: fc.integer({ min: 0, max: 40 }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('release' as const),
      offset: fc.integer({ min: -40, max: 400 }),
      gap: fc.integer({ min: 0, max: 40 }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('credit' as const),
      pick: fc.nat(),
      gap: fc.integer({ min: 0, max: 40 }),
    }),
    weight: 1,
  },
);

interface ModelRelease {
  due: string;
  amount: bigint;
  state: 'pending' | 'released' | 'cancelled';
}
interface ModelLine {
  invoiceId: number;
  invoiceDate: string;
  currency: string;
  net: bigint;
  releases: ModelRelease[];
  credited: boolean;
}

const cents = (v: bigint) => {
  const s = (v < 0n ? -v : v).toString().padStart(3, '0');
  return `${v < 0n ? '-' : ''}${s.slice(0, -2)}.${s.slice(-2)}`;
};

async function creditOn(c: Client, code: string, at: string): Promise<string> {
  const r = await c.get(`/v1/reports/trial-balance?at=${at}`);
  const a = (r.body.accounts as { code: string; credit: string; debit: string }[]).find((x) => x.code === code);
  return a ? (a.debit !== '0.00' ? `-${a.debit}` : a.credit) : '0.00';
}

let run = 0;
async function check(actions: Action[]): Promise<void> {
  run += 1;
  const c = await t.entity(`DEFPROP${run}`, 'EUR', { standardTaxRate: '0.20' });
  await seedCustomer(t.db, c.entityId, 'E1');
  await seedCustomer(t.db, c.entityId, 'U1', { currency: 'USD' });
  const lines: ModelLine[] = [];
  let date = '2026-01-10';
  for (const a of actions) {
    date = addDays(date, a.gap);
    if (a.kind === 'invoice') {
      const net = BigInt(a.cents);
      const months = a.months;
      const start = addDays(`${date.slice(0, 7)}-01`, a.startDay);
      const r = await c.post('/v1/sales/batch-invoices', {
        customerCode: a.usd ? 'U1' : 'E1',
        invoiceDate: date,
        ...(a.usd ? { exchangeRate: '1.0825' } : {}),
        lines: [
          { glAccountCode: '4000', taxCode: 'STD', netAmount: cents(net), deferral: { months, startDate: start } },
        ],
      });
      if (net < BigInt(months)) {
        expect([r.status, r.body.error?.details?.[0]?.field]).toEqual([400, 'lines[0].deferral.months']);
        continue;
      }
      expect([r.status, r.body.error]).toEqual([201, undefined]);
      const each = net / BigInt(months);
      lines.push({
        invoiceId: r.body.transactionId,
        invoiceDate: date,
        currency: a.usd ? 'USD' : 'EUR',
        net,
        credited: false,
        releases: Array.from({ length: months }, (_, k) => ({
          due: addMonths(start, k),
          amount: k === months - 1 ? net - each * BigInt(months - 1) : each,
          state: 'pending' as const,
        })),
      });
    } else if (a.kind === 'release') {
      const upTo = addDays(date, a.offset);
      const r = await c.post(`/v1/deferrals/release?upTo=${upTo}`, {});
      expect(r.status).toBe(200);
      const expected = lines.flatMap((l) =>
        l.releases.flatMap((x, k) => (x.state === 'pending' && x.due <= upTo ? [{ l, x, seq: k + 1 }] : [])),
      );
      const got = (r.body.released as { invoiceTransactionId: number; seq: number; amount: string }[])
        .map((x) => `${x.invoiceTransactionId}/${x.seq}/${x.amount}`)
        .sort();
      expect(got).toEqual(expected.map((e) => `${e.l.invoiceId}/${e.seq}/${cents(e.x.amount)}`).sort());
      for (const e of expected) e.x.state = 'released';
    } else {
      const open = lines.filter((l) => !l.credited);
      if (open.length === 0) continue;
      const l = open[a.pick % open.length]!;
      const r = await c.post('/v1/sales/credit-notes', { fromInvoiceTransactionId: l.invoiceId, creditNoteDate: date });
      expect([r.status, r.body.error]).toEqual([201, undefined]);
      l.credited = true;
      // What was not released as at the credit note's date is credited: releases not posted, and
      // releases posted on a later date (run ahead of time), which the credit note reverses.
      const postedOn = (x: ModelRelease) => (x.due < l.invoiceDate ? l.invoiceDate : x.due);
      for (const x of l.releases)
        if (x.state === 'pending' || (x.state === 'released' && postedOn(x) > date)) x.state = 'cancelled';
    }
    // The model, the report and the trial balance agree after every step.
    const report = await c.get('/v1/reports/deferrals?at=2099-12-31');
    expect(report.status).toBe(200);
    const byId = new Map(
      (report.body.invoices as { transactionId: number; released: string; credited: string; remaining: string }[]).map(
        (i) => [i.transactionId, i],
      ),
    );
    for (const l of lines) {
      const sum = (s: ModelRelease['state']) =>
        l.releases.filter((x) => x.state === s).reduce((v, x) => v + x.amount, 0n);
      expect(l.releases.reduce((v, x) => v + x.amount, 0n)).toBe(l.net);
      expect(byId.get(l.invoiceId)).toMatchObject({
        released: cents(sum('released')),
        credited: cents(sum('cancelled')),
        remaining: cents(sum('pending')),
      });
    }
    expect(report.body.totals.remaining).toBe(await creditOn(c, '2300', '2099-12-31'));
    const now = await c.get(`/v1/reports/deferrals?at=${date}`);
    expect(now.body.totals.remaining).toBe(await creditOn(c, '2300', date));
  }
  await checkInvariants(t.db, c.entityId);
  const { rows } = await t.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM deferral_release_postings WHERE entity_id = $1`,
    [c.entityId],
  );
  expect(Number(rows[0]!.n)).toBe(lines.flatMap((l) => l.releases.filter((x) => x.state !== 'pending')).length);
}

describe('deferred revenue, random sequences', () => {
  const numRuns = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 8;
  it(
    'posts each release once, adds up exactly, and keeps the deferred account equal to the report',
    async () => {
      const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
      console.log(`deferrals property: seed ${seed}, ${numRuns} runs (replay with FC_SEED=${seed})`);
      await fc.assert(
        fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 8 }), (actions) => check(actions)),
        { seed, numRuns },
      );
    },
    Math.max(120_000, numRuns * 10_000),
  );
});
