/**
 * One model-based property test of the ledger's features together (issue #11 "Proof"), through
 * the HTTP API in process against a real database. One random sequence of commands interleaves,
 * across two connected entities A and B (base EUR; A also has a USD customer):
 *
 * - item invoices and item credit notes, saved as drafts then posted, under random tax settings
 *   (per line or per document, half-up or half-even); some refused (an unknown item, a total that
 *   is not positive, no exchange rate) with the exact error code, and nothing posted;
 * - USD rates PUT on various dates; USD documents with an explicit rate, or without one, taking the
 *   rate in force on their date (EXCHANGE_RATE_MISSING when none is);
 * - revaluations at dates (POST /v1/revaluations), once per date;
 * - batch invoices with a deferred line, deferral releases up to dates, and credit notes copying a
 *   deferred invoice (its pending releases cancelled, its part released by the credit note's date
 *   taken off revenue, its releases posted on later dates reversed);
 * - intercompany invoices in both directions (some refused: a reference already used);
 * - receipts and allocations (some over the outstanding amount), so open items change and
 *   allocations of USD items realise exchange differences.
 *
 * Every answer is checked against an in-memory model computed with integer (bigint) minor units
 * and none of the implementation's code (test/helpers/ledger-model.ts, test/helpers/item-model.ts).
 * After every step, in both entities: every journal balances; every customer document's gross and
 * outstanding (in its currency and in base) and every account's balance are the model's; the
 * debtors control equals the open items, and as at each date the open items plus the revaluations
 * in force; the deferred revenue account equals the unreleased schedule amounts; the creditors
 * control equals the purchase invoices owed; and each entity's due-from equals the other's due-to.
 *
 * Replay a failure with FC_SEED=<seed> FC_PATH=<path>; FC_RUNS sets the number of runs (default 4).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../src/domain/dates.ts';
import { addMonths } from '../src/domain/deferrals.ts';
import { ERROR_CODES } from '../src/domain/errors.ts';
import { createTestApp, type Client, type TestApp, type TestResponse } from './helpers/app.ts';
import {
  accountBalance,
  checkControlAsAt,
  checkCreditorsControl,
  checkDueFromDueTo,
  checkInvariants,
  seedCustomer,
} from './helpers/ledger.ts';
import { type ItemLineSpec, type TaxCalculation, type TaxRounding, dec, itemTotals } from './helpers/item-model.ts';
import { type Item, LedgerModel, SIDE, type Tx, formatMinor, mulHalfUp, toBase } from './helpers/ledger-model.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

/** Tax codes' rates in millionths: STD is the entities' standard rate, RED is added. */
const TAX_RATES: Record<string, bigint> = { STD: 210_000n, RED: 135_000n };
/** The unit price of item WIDGET, in ten-thousandths (33.3333). */
const WIDGET_PRICE = 333_333n;
/** Document dates: a month, so rates, revaluations and releases fall before and after them. */
const DATES = ['2026-10-28', '2026-11-01', '2026-11-04', '2026-11-08', '2026-11-15', '2026-11-30'];
/** USD rates (per EUR) PUT on these dates, within the ±50 % plausibility band of each other. */
const RATE_DATES = ['2026-10-01', '2026-10-30', '2026-11-03', '2026-11-10', '2026-11-30'];
const DATED_RATES = ['1.05', '1.15', '0.98', '1.3', '1.1234'];
/** Rates sent on documents. */
const GIVEN_RATES = ['1.08', '1.1', '1.0825', '1.2345'];
const REVALUATION_DATES = ['2026-11-02', '2026-11-09', '2026-11-30', '2026-12-31'];
const RELEASE_DATES = ['2026-11-01', '2026-11-30', '2026-12-31', '2027-02-28'];
const IC_TAX_RATES = ['0.21', '0', '0.135'];

interface Release {
  due: string;
  amount: bigint;
  base: bigint;
  /** Cancelled by a credit note copying the invoice before it was released, or dated before its release (reversed). */
  state: 'pending' | 'released' | 'cancelled';
}
interface Schedule {
  invoiceId: number;
  invoiceDate: string;
  releases: Release[];
  credited: boolean;
}

interface Ent {
  c: Client;
  code: string;
  m: LedgerModel;
  /** USD rates by date. */
  rates: Map<string, string>;
  /** Revaluations posted: date → total difference in base. */
  revalued: Map<string, bigint>;
  schedules: Schedule[];
  /** Gross of intercompany sales to the other entity (due from it), and purchases from it (due to it). */
  dueFrom: bigint;
  dueTo: bigint;
  icRefs: Set<string>;
  refs: number;
}

type ItemLine = ItemLineSpec & { item: 'none' | 'WIDGET' | 'NOPE'; usePrice: boolean };
type Cmd =
  | {
      kind: 'item';
      e: number;
      type: 'SI' | 'SN';
      usd: boolean;
      giveRate: boolean;
      rate: number;
      date: number;
      calc: TaxCalculation;
      mode: TaxRounding;
      lines: ItemLine[];
    }
  | {
      kind: 'deferred';
      e: number;
      usd: boolean;
      giveRate: boolean;
      rate: number;
      date: number;
      cents: bigint;
      months: number;
      startDay: number;
      plain: bigint;
    }
  | { kind: 'rate'; date: number; rate: number }
  | { kind: 'revalue'; e: number; at: number }
  | { kind: 'release'; e: number; upTo: number }
  | { kind: 'credit'; e: number; pick: number; date: number }
  | { kind: 'ic'; seller: number; date: number; ref: string; lines: { net: bigint; rate: string }[] }
  | {
      kind: 'receipt';
      e: number;
      usd: boolean;
      giveRate: boolean;
      rate: number;
      date: number;
      cents: bigint;
      /** Then allocated to the customer's oldest open debit, this percentage of what the pair can take. */
      settle: number | null;
    }
  | { kind: 'allocate'; e: number; debit: number; credit: number; percent: number; over: boolean };

const e = fc.integer({ min: 0, max: 1 });
/** Entity A (with the USD customer) three times in four for revaluations. */
const revalueE = fc.constantFrom(0, 0, 0, 1);
/** In entity A, two documents in three go to the USD customer: foreign open items are where rates matter. */
const usdArb = fc.constantFrom(true, true, false);
/** An index into a list, uniform (fc.integer leans to its bounds). */
const ix = (list: readonly unknown[]) => fc.constantFrom(...list.keys());
const itemLine: fc.Arbitrary<ItemLine> = fc.record({
  item: fc.oneof(
    { weight: 14, arbitrary: fc.constantFrom('none' as const, 'WIDGET' as const) },
    { weight: 1, arbitrary: fc.constant('NOPE' as const) },
  ),
  usePrice: fc.boolean(),
  q: fc.bigInt({ min: 1n, max: 500_000n }),
  p: fc.oneof(fc.bigInt({ min: -200_000n, max: 5_000_000n }), fc.constantFrom(105_050n, 100_300n, 333_333n)),
  d: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 500_000n })),
  taxCode: fc.constantFrom('STD', 'RED'),
});
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('item' as const),
      e,
      type: fc.constantFrom('SI' as const, 'SI' as const, 'SN' as const),
      usd: usdArb,
      giveRate: fc.boolean(),
      rate: ix(GIVEN_RATES),
      date: ix(DATES),
      calc: fc.constantFrom('perLine' as const, 'perDocument' as const),
      mode: fc.constantFrom('halfUp' as const, 'halfEven' as const),
      lines: fc.array(itemLine, { minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('deferred' as const),
      e,
      usd: usdArb,
      giveRate: fc.boolean(),
      rate: ix(GIVEN_RATES),
      date: ix(DATES),
      cents: fc.oneof(fc.bigInt({ min: 1n, max: 12n }), fc.bigInt({ min: 1n, max: 5_000_000n })),
      months: fc.integer({ min: 1, max: 6 }),
      startDay: fc.integer({ min: 0, max: 40 }),
      plain: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 500_000n })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('rate' as const), date: ix(RATE_DATES), rate: ix(DATED_RATES) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('revalue' as const), e: revalueE, at: ix(REVALUATION_DATES) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), e, upTo: ix(RELEASE_DATES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('credit' as const), e, pick: fc.nat(), date: ix(DATES) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('ic' as const),
      seller: e,
      date: ix(DATES),
      ref: fc.constantFrom('I1', 'I2', 'I3', 'I4'),
      lines: fc.array(
        fc.record({ net: fc.bigInt({ min: 1n, max: 2_000_000n }), rate: fc.constantFrom(...IC_TAX_RATES) }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('receipt' as const),
      e,
      usd: usdArb,
      giveRate: fc.boolean(),
      rate: ix(GIVEN_RATES),
      date: ix(DATES),
      cents: fc.bigInt({ min: 1n, max: 3_000_000n }),
      settle: fc.option(fc.integer({ min: 1, max: 100 }), { freq: 3 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('allocate' as const),
      e,
      debit: fc.nat(),
      credit: fc.nat(),
      percent: fc.integer({ min: 1, max: 100 }),
      over: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
);

// ---------------------------------------------------------------- set-up

async function setUp(run: number): Promise<[Ent, Ent]> {
  const codes = [`XA${run}`, `XB${run}`];
  const out: Ent[] = [];
  for (const [n, code] of codes.entries()) {
    const c = await t.entity(code, 'EUR', { standardTaxRate: '0.21' });
    const customers = new Map([
      ['C1', 'EUR'],
      ['IC', 'EUR'],
    ]);
    await seedCustomer(t.db, c.entityId, 'C1');
    if (n === 0) {
      await seedCustomer(t.db, c.entityId, 'U1', { currency: 'USD' });
      customers.set('U1', 'USD');
    }
    const other = codes[1 - n]!;
    const setup: [string, Record<string, unknown>][] = [
      ['/v1/tax-codes/RED', { name: 'Reduced', rate: '0.135', glAccountCode: '2200' }],
      [
        '/v1/items/WIDGET',
        { description: 'Widget', unitPrice: dec(WIDGET_PRICE, 4), glAccountCode: '4000', taxCode: 'STD' },
      ],
      ['/v1/customers/IC', { name: other, controlGlAccountCode: '1150' }],
      ['/v1/suppliers/IC', { name: other, controlGlAccountCode: '2150' }],
      [`/v1/intercompany/connections/${other}`, { customerCode: 'IC', supplierCode: 'IC' }],
    ];
    for (const [path, body] of setup) {
      const r = await c.put(path, body);
      if (r.status !== 200 && r.status !== 201) throw new Error(`set-up ${path}: ${JSON.stringify(r.body)}`);
    }
    out.push({
      c,
      code,
      m: new LedgerModel(customers),
      rates: new Map(),
      revalued: new Map(),
      schedules: [],
      dueFrom: 0n,
      dueTo: 0n,
      icRefs: new Set(),
      refs: 0,
    });
  }
  return [out[0]!, out[1]!];
}

// ---------------------------------------------------------------- the model's small rules

/** The USD rate in force on a date: the latest dated on or before it. */
function rateOn(s: Ent, date: string): string | null {
  let best: string | null = null;
  for (const d of [...s.rates.keys()].sort()) if (d <= date) best = d;
  return best === null ? null : s.rates.get(best)!;
}

/** The customer of a document and its currency: U1 (USD) exists in entity A only. */
function customerOf(s: Ent, usd: boolean): [string, string] {
  return usd && s.m.customers.has('U1') ? ['U1', 'USD'] : ['C1', 'EUR'];
}

/** The rate a document gets: 1 in EUR, the one it sends, else the one in force on its date. */
function docRate(s: Ent, currency: string, give: boolean, rate: number, date: string): string | null {
  if (currency === 'EUR') return '1';
  return give ? GIVEN_RATES[rate]! : rateOn(s, date);
}

/** The deferral split rule: equal parts rounded towards zero, the remainder on the last. */
function split(total: bigint, months: number): bigint[] {
  const each = total / BigInt(months);
  return Array.from({ length: months }, (_, k) => (k === months - 1 ? total - each * BigInt(months - 1) : each));
}

/** Outstanding of a document as at a date (allocations dated on or before it), in its currency and in base. */
function outstandingAt(m: LedgerModel, tx: Tx, at: string): [bigint, bigint] {
  let out = tx.gross;
  let base = tx.baseGross;
  for (const a of m.allocs.values()) {
    if (!a.active || a.date > at) continue;
    if (a.debit !== tx.id && a.credit !== tx.id) continue;
    out -= a.amount;
    base -= a.debit === tx.id ? a.debitBase : a.creditBase;
  }
  return [out, base];
}

/** The revaluation of a date: each open USD item at the rate in force, less its booked base. */
function revaluation(s: Ent, at: string): { error: string } | { total: bigint; postings: number } {
  const rate = rateOn(s, at);
  const byCustomer = new Map<string, bigint>();
  for (const tx of s.m.txs.values()) {
    if (tx.currency === 'EUR' || tx.date > at || SIDE[tx.type] === 'none') continue;
    const [out, base] = outstandingAt(s.m, tx, at);
    if (out <= 0n) continue;
    if (rate === null) return { error: 'EXCHANGE_RATE_MISSING' };
    const sign = SIDE[tx.type] === 'debit' ? 1n : -1n;
    byCustomer.set(tx.customer, (byCustomer.get(tx.customer) ?? 0n) + sign * (toBase(out, tx.currency, rate) - base));
  }
  const total = [...byCustomer.values()].reduce((a, b) => a + b, 0n);
  return { total, postings: [...byCustomer.values()].filter((v) => v !== 0n).length };
}

// ---------------------------------------------------------------- checking answers

function expectError(r: TestResponse, code: string, what: string): void {
  const want = ERROR_CODES[code as keyof typeof ERROR_CODES]?.[0];
  expect([r.status, r.body?.error?.code], `${what}: ${JSON.stringify(r.body)}`).toEqual([want, code]);
}

function expectStatus(r: TestResponse, status: number, what: string): void {
  expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(status);
}

const ref = (s: Ent, prefix: string) => `${prefix}-${++s.refs}`;

// ---------------------------------------------------------------- the commands

async function itemDocument(s: Ent, c: Extract<Cmd, { kind: 'item' }>): Promise<string> {
  const [customer, currency] = customerOf(s, c.usd);
  const date = DATES[c.date]!;
  // Negative prices only in EUR: the model converts non-negative amounts to base.
  const lines = c.lines.map((l) => ({
    ...l,
    p: l.item === 'WIDGET' && !l.usePrice ? WIDGET_PRICE : currency === 'EUR' || l.p >= 0n ? l.p : -l.p,
  }));
  const settings = await s.c.put('/v1/settings', { taxCalculation: c.calc, taxRounding: c.mode });
  expectStatus(settings, 200, 'settings');
  const path = c.type === 'SI' ? '/v1/sales/invoices' : '/v1/sales/credit-notes/drafts';
  const rate = docRate(s, currency, c.giveRate, c.rate, date);
  const saved = await s.c.post(path, {
    customerCode: customer,
    date,
    externalReference: ref(s, 'ITEM'),
    ...(currency !== 'EUR' && c.giveRate ? { exchangeRate: GIVEN_RATES[c.rate] } : {}),
    lines: lines.map((l) => ({
      ...(l.item !== 'none' ? { itemCode: l.item } : { description: 'x' }),
      quantity: dec(l.q, 4),
      ...(l.item === 'WIDGET' && !l.usePrice ? {} : { unitPrice: dec(l.p, 4) }),
      discountRate: dec(l.d, 6),
      taxCode: l.taxCode,
    })),
  });
  const unknown = lines.findIndex((l) => l.item === 'NOPE');
  if (unknown >= 0) {
    expectError(saved, 'ITEM_CODE_DOES_NOT_EXIST', 'item document');
    expect(saved.body.error.details).toContainEqual(expect.objectContaining({ field: `lines[${unknown}].itemCode` }));
    return `${c.type} unknown item`;
  }
  if (rate === null) return (expectError(saved, 'EXCHANGE_RATE_MISSING', 'item document'), `${c.type} no rate`);
  const totals = itemTotals(lines, c.calc, c.mode, TAX_RATES);
  if (totals.net + totals.tax <= 0n)
    return (expectError(saved, 'DOCUMENT_TOTAL_MUST_BE_POSITIVE', 'item document'), `${c.type} not positive`);
  expectStatus(saved, 201, 'item draft');
  const posted = await s.c.post(`${path}/${saved.body.draftId}/post`, {});
  expectStatus(posted, 201, 'item post');
  const money = (v: bigint) => formatMinor(v, currency);
  expect(posted.body).toMatchObject({
    number: s.m.nextNumber(c.type),
    netAmount: money(totals.net),
    taxAmount: money(totals.tax),
    grossAmount: money(totals.net + totals.tax),
  });
  const breakdown = [...totals.byCode]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([code, g]) => ({
      taxCode: code,
      taxRate: dec(TAX_RATES[code]!, 6).replace(/0+$/, ''),
      netAmount: money(g.net),
      taxAmount: money(g.tax),
    }));
  expect(posted.body.vatBreakdown).toEqual(breakdown);
  // The journal converts each net line and each tax code's total: the code's tax on its first line.
  const taxed = new Set<string>();
  const items: Item[] = lines.map((l, n) => {
    const first = !taxed.has(l.taxCode);
    taxed.add(l.taxCode);
    return {
      gl: '4000',
      taxCode: l.taxCode,
      net: totals.nets[n]!,
      tax: first ? totals.byCode.get(l.taxCode)!.tax : 0n,
    };
  });
  s.m.postItems(c.type, posted.body.transactionId, customer, rate, items, '', date);
  return `${c.type} ${currency} ${c.giveRate || currency === 'EUR' ? 'own' : 'dated'} rate`;
}

async function deferredInvoice(s: Ent, c: Extract<Cmd, { kind: 'deferred' }>): Promise<string> {
  const [customer, currency] = customerOf(s, c.usd);
  const date = DATES[c.date]!;
  const startDate = addDays(`${date.slice(0, 7)}-01`, c.startDay);
  const rate = docRate(s, currency, c.giveRate, c.rate, date);
  const money = (v: bigint) => formatMinor(v, currency);
  const r = await s.c.post('/v1/sales/batch-invoices', {
    customerCode: customer,
    invoiceDate: date,
    externalReference: ref(s, 'DEF'),
    ...(currency !== 'EUR' && c.giveRate ? { exchangeRate: GIVEN_RATES[c.rate] } : {}),
    lines: [
      {
        glAccountCode: '4000',
        taxCode: 'STD',
        netAmount: money(c.cents),
        taxRate: '0.21',
        deferral: { months: c.months, startDate },
      },
      ...(c.plain > 0n ? [{ glAccountCode: '4000', taxCode: 'STD', netAmount: money(c.plain), taxRate: '0.21' }] : []),
    ],
  });
  if (rate === null) return (expectError(r, 'EXCHANGE_RATE_MISSING', 'deferred invoice'), 'deferred no rate');
  if (c.cents < BigInt(c.months)) {
    expectError(r, 'VALIDATION_ERROR', 'deferred invoice');
    expect(r.body.error.details).toContainEqual(expect.objectContaining({ field: 'lines[0].deferral.months' }));
    return 'deferred too small';
  }
  expectStatus(r, 201, 'deferred invoice');
  const items: Item[] = [
    { gl: '2300', taxCode: 'STD', net: c.cents, tax: mulHalfUp(c.cents, '0.21') },
    ...(c.plain > 0n ? [{ gl: '4000', taxCode: 'STD', net: c.plain, tax: mulHalfUp(c.plain, '0.21') }] : []),
  ];
  const net = items.reduce((v, i) => v + i.net, 0n);
  const tax = items.reduce((v, i) => v + i.tax, 0n);
  expect(r.body).toMatchObject({
    number: s.m.nextNumber('SI'),
    netAmount: money(net),
    taxAmount: money(tax),
    grossAmount: money(net + tax),
  });
  s.m.postItems('SI', r.body.transactionId, customer, rate, items, '', date);
  const amounts = split(c.cents, c.months);
  const bases = split(toBase(c.cents, currency, rate), c.months);
  s.schedules.push({
    invoiceId: r.body.transactionId,
    invoiceDate: date,
    releases: amounts.map((amount, k) => ({
      due: addMonths(startDate, k),
      amount,
      base: bases[k]!,
      state: 'pending' as const,
    })),
    credited: false,
  });
  return `deferred ${currency}`;
}

async function putRate(s: Ent, c: Extract<Cmd, { kind: 'rate' }>): Promise<string> {
  const date = RATE_DATES[c.date]!;
  const r = await s.c.put(`/v1/currencies/USD/rates/${date}`, { rate: DATED_RATES[c.rate] });
  expectStatus(r, s.rates.has(date) ? 200 : 201, 'rate');
  s.rates.set(date, DATED_RATES[c.rate]!);
  return 'rate';
}

async function revalue(s: Ent, c: Extract<Cmd, { kind: 'revalue' }>): Promise<string> {
  const at = REVALUATION_DATES[c.at]!;
  const r = await s.c.post('/v1/revaluations', { at });
  const done = s.revalued.get(at);
  if (done !== undefined) {
    expectStatus(r, 200, 'revaluation again');
    expect([r.body.created, r.body.totalDifference]).toEqual([false, formatMinor(done, 'EUR')]);
    return 'revaluation again';
  }
  const want = revaluation(s, at);
  if ('error' in want) return (expectError(r, want.error, 'revaluation'), 'revaluation no rate');
  expectStatus(r, 201, 'revaluation');
  expect([r.body.created, r.body.totalDifference, r.body.postings.length]).toEqual([
    true,
    formatMinor(want.total, 'EUR'),
    want.postings,
  ]);
  s.revalued.set(at, want.total);
  return want.postings > 0 ? 'revaluation' : 'revaluation empty';
}

async function release(s: Ent, c: Extract<Cmd, { kind: 'release' }>): Promise<string> {
  const upTo = RELEASE_DATES[c.upTo]!;
  const r = await s.c.post(`/v1/deferrals/release?upTo=${upTo}`, {});
  expectStatus(r, 200, 'release');
  const want: string[] = [];
  for (const sc of s.schedules)
    for (const [k, x] of sc.releases.entries()) {
      if (x.state !== 'pending' || x.due > upTo) continue;
      const on = x.due < sc.invoiceDate ? sc.invoiceDate : x.due;
      want.push(`${sc.invoiceId}/${k + 1}/${on}/${x.amount}/${x.base}`);
      x.state = 'released';
      s.m.book('2300', x.base);
      s.m.book('4000', -x.base);
    }
  const cents = (v: string) => BigInt(v.replace('.', ''));
  const got = (
    r.body.released as {
      invoiceTransactionId: number;
      seq: number;
      postedOn: string;
      amount: string;
      baseAmount: string;
    }[]
  ).map((x) => `${x.invoiceTransactionId}/${x.seq}/${x.postedOn}/${cents(x.amount)}/${cents(x.baseAmount)}`);
  expect(got.sort()).toEqual(want.sort());
  return want.length > 0 ? 'release' : 'release nothing';
}

/**
 * A credit note copying every line of a deferred invoice, at the invoice's rate: the part of the
 * deferred line not yet released goes back on the deferred account and its releases are cancelled;
 * the part released comes off revenue.
 */
async function creditDeferred(s: Ent, c: Extract<Cmd, { kind: 'credit' }>): Promise<string> {
  const open = s.schedules.filter((x) => !x.credited);
  const sc = open[c.pick % Math.max(1, open.length)];
  if (!sc) return 'credit nothing deferred';
  const invoice = s.m.txs.get(sc.invoiceId)!;
  const date = DATES[c.date]! < sc.invoiceDate ? sc.invoiceDate : DATES[c.date]!;
  const r = await s.c.post('/v1/sales/credit-notes', { fromInvoiceTransactionId: sc.invoiceId, creditNoteDate: date });
  expectStatus(r, 201, 'credit note of a deferred invoice');
  const money = (v: bigint) => formatMinor(v, invoice.currency);
  expect(r.body).toMatchObject({ number: s.m.nextNumber('SN'), grossAmount: money(invoice.gross) });
  s.m.postItems('SN', r.body.transactionId, invoice.customer, invoice.rate, invoice.items, '', date);
  // The model booked the whole deferred line back on 2300; what was released by the credit note's
  // date comes off revenue instead. Releases posted on a later date are reversed on their own
  // dates (Dr revenue, Cr 2300), as the credit note took them off 2300.
  const postedOn = (x: Release) => (x.due < sc.invoiceDate ? sc.invoiceDate : x.due);
  const released = sc.releases.filter((x) => x.state === 'released' && postedOn(x) <= date);
  const reversed = sc.releases.filter((x) => x.state === 'released' && postedOn(x) > date);
  for (const x of [...released, ...reversed]) {
    s.m.book('2300', -x.base);
    s.m.book('4000', x.base);
  }
  for (const x of sc.releases) if (x.state === 'pending' || reversed.includes(x)) x.state = 'cancelled';
  sc.credited = true;
  return `credit deferred ${invoice.currency}${released.length > 0 ? ' part released' : ''}${reversed.length > 0 ? ' releases reversed' : ''}`;
}

async function intercompany(states: [Ent, Ent], c: Extract<Cmd, { kind: 'ic' }>): Promise<string> {
  const seller = states[c.seller]!;
  const buyer = states[1 - c.seller]!;
  const date = DATES[c.date]!;
  const r = await seller.c.post('/v1/intercompany/invoices', {
    buyerEntityCode: buyer.code,
    invoiceDate: date,
    externalReference: c.ref,
    lines: c.lines.map((l) => ({
      glAccountCode: '4000',
      taxCode: 'STD',
      netAmount: formatMinor(l.net, 'EUR'),
      taxRate: l.rate,
    })),
  });
  if (seller.icRefs.has(c.ref))
    return (expectError(r, 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS', 'intercompany'), 'ic duplicate');
  expectStatus(r, 201, 'intercompany');
  const items: Item[] = c.lines.map((l) => ({ gl: '4000', taxCode: 'STD', net: l.net, tax: mulHalfUp(l.net, l.rate) }));
  const net = items.reduce((v, i) => v + i.net, 0n);
  const tax = items.reduce((v, i) => v + i.tax, 0n);
  const eur = (v: bigint) => formatMinor(v, 'EUR');
  expect(r.body.sales).toMatchObject({ number: seller.m.nextNumber('SI'), grossAmount: eur(net + tax) });
  expect(r.body.purchase).toMatchObject({ netAmount: eur(net), taxAmount: eur(tax), grossAmount: eur(net + tax) });
  seller.m.postItems('SI', r.body.sales.transactionId, 'IC', '1', items, c.ref, date);
  // The customer standing for the buyer has the due-from account as its control account.
  seller.m.book('1100', -(net + tax));
  seller.m.book('1150', net + tax);
  buyer.m.book('5000', net);
  buyer.m.book('2210', tax);
  buyer.m.book('2150', -(net + tax));
  seller.icRefs.add(c.ref);
  seller.dueFrom += net + tax;
  buyer.dueTo += net + tax;
  return 'ic';
}

async function receipt(s: Ent, c: Extract<Cmd, { kind: 'receipt' }>): Promise<string> {
  const [customer, currency] = customerOf(s, c.usd);
  const date = DATES[c.date]!;
  const rate = docRate(s, currency, c.giveRate, c.rate, date);
  const r = await s.c.post('/v1/sales/receipts', {
    customerCode: customer,
    checkReference: ref(s, 'PAY'),
    paymentAmount: formatMinor(c.cents, currency),
    paymentDate: date,
    ...(currency !== 'EUR' && c.giveRate ? { exchangeRate: GIVEN_RATES[c.rate] } : {}),
  });
  if (rate === null) return (expectError(r, 'EXCHANGE_RATE_MISSING', 'receipt'), 'receipt no rate');
  expectStatus(r, 201, 'receipt');
  expect(r.body).toMatchObject({ number: s.m.nextNumber('SR'), paymentAmount: formatMinor(c.cents, currency) });
  const paid = s.m.postBank('SR', r.body.transactionId, customer, rate, c.cents, '', date);
  const debit = [...s.m.txs.values()].find((x) => x.customer === customer && SIDE[x.type] === 'debit' && x.out > 0n);
  if (c.settle === null || !debit) return `receipt ${currency}`;
  return `receipt ${currency}, ${await allocatePair(s, debit, paid, c.settle, false)}`;
}

async function allocate(s: Ent, c: Extract<Cmd, { kind: 'allocate' }>): Promise<string> {
  // A pair of open documents of one customer, debit and credit.
  const open = [...s.m.txs.values()].filter((x) => x.out > 0n);
  const customers = [...s.m.customers.keys()].filter((code) =>
    (['debit', 'credit'] as const).every((side) => open.some((x) => x.customer === code && SIDE[x.type] === side)),
  );
  const customer = customers[c.debit % Math.max(1, customers.length)];
  const debits = open.filter((x) => x.customer === customer && SIDE[x.type] === 'debit');
  const credits = open.filter((x) => x.customer === customer && SIDE[x.type] === 'credit');
  const debit = debits[c.debit % Math.max(1, debits.length)];
  const credit = credits[c.credit % Math.max(1, credits.length)];
  if (!debit || !credit) return 'allocate nothing open';
  return allocatePair(s, debit, credit, c.percent, c.over);
}

/** Allocates `percent` of what the pair can take, or one cent more than it can (refused). */
async function allocatePair(s: Ent, debit: Tx, credit: Tx, percent: number, over: boolean): Promise<string> {
  const most = debit.out < credit.out ? debit.out : credit.out;
  const amount = over ? most + 1n : (most * BigInt(percent)) / 100n || 1n;
  const plan = s.m.planAllocation(debit.id, credit.id, amount, 0n, 'A');
  const r = await s.c.post('/v1/allocations', {
    transactionId1: debit.id,
    transactionId2: credit.id,
    amount: formatMinor(amount, debit.currency),
    reference: 'A',
  });
  if ('error' in plan) return (expectError(r, plan.error, 'allocation'), `allocate ${plan.error}`);
  expectStatus(r, 201, 'allocation');
  s.m.applyAllocation(plan.ok, { allocation: r.body.allocationId, discountTx: null, discountAllocation: null });
  return `allocate ${debit.currency}${plan.ok.debitBase !== plan.ok.creditBase ? ' FX' : ''}`;
}

async function step(states: [Ent, Ent], c: Cmd): Promise<string> {
  switch (c.kind) {
    case 'item':
      return itemDocument(states[c.e]!, c);
    case 'deferred':
      return deferredInvoice(states[c.e]!, c);
    case 'rate':
      return putRate(states[0], c);
    case 'revalue':
      return revalue(states[c.e]!, c);
    case 'release':
      return release(states[c.e]!, c);
    case 'credit':
      return creditDeferred(states[c.e]!, c);
    case 'ic':
      return intercompany(states, c);
    case 'receipt':
      return receipt(states[c.e]!, c);
    case 'allocate':
      return allocate(states[c.e]!, c);
  }
}

// ---------------------------------------------------------------- after every step

interface TxRow {
  id: string;
  type: string;
  transaction_date: string;
  gross: string;
  base_gross: string;
  allocated: string;
  allocated_base: string;
}

async function verify(states: [Ent, Ent]): Promise<void> {
  for (const s of states) {
    const id = s.c.entityId;
    await checkInvariants(t.db, id);
    // Every customer document against the model: type, date, gross and outstanding, in its currency and in base.
    const { rows } = await t.db.query<TxRow>(
      `SELECT t.id, t.type, t.gross, t.base_gross, t.transaction_date::text AS transaction_date,
              coalesce(sum(a.amount), 0) AS allocated,
              coalesce(sum(CASE WHEN a.debit_transaction_id = t.id THEN a.debit_base_amount ELSE a.credit_base_amount END), 0) AS allocated_base
         FROM transactions t
         LEFT JOIN allocations a ON (a.debit_transaction_id = t.id OR a.credit_transaction_id = t.id)
                                AND NOT EXISTS (SELECT 1 FROM allocation_reversals x WHERE x.allocation_id = a.id)
        WHERE t.entity_id = $1 AND t.side <> 'none'
        GROUP BY t.id ORDER BY t.id`,
      [id],
    );
    const got = rows.map((r) => [
      Number(r.id),
      r.type,
      r.transaction_date,
      r.gross,
      r.base_gross,
      String(BigInt(r.gross) - BigInt(r.allocated)),
      String(BigInt(r.base_gross) - BigInt(r.allocated_base)),
    ]);
    const want = [...s.m.txs.values()]
      .sort((a, b) => a.id - b.id)
      .map((x) => [x.id, x.type, x.date, String(x.gross), String(x.baseGross), String(x.out), String(x.baseOut)]);
    expect(got, `${s.code}: customer documents [id, type, date, gross, base, out, base out]`).toEqual(want);
    // Every account's balance in base is the model's.
    const tb = await t.db.query<{ code: string; base: string }>(
      `SELECT gl_account_code AS code, sum(base_amount)::text AS base FROM journal_lines
        WHERE entity_id = $1 GROUP BY gl_account_code HAVING sum(base_amount) <> 0 ORDER BY gl_account_code`,
      [id],
    );
    const accounts = Object.fromEntries(
      [...s.m.accounts]
        .filter(([, v]) => v !== 0n)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, String(v)]),
    );
    expect(Object.fromEntries(tb.rows.map((r) => [r.code, r.base])), `${s.code}: balances in base`).toEqual(accounts);
    // As at each date: control = open items + the revaluations in force.
    const dates = [...DATES, ...[...s.revalued.keys()].flatMap((d) => [d, addDays(d, 1)])];
    await checkControlAsAt(t.db, id, dates, s.revalued);
    // The deferred revenue account holds what is not released yet.
    const pending = s.schedules.flatMap((x) => x.releases).filter((x) => x.state === 'pending');
    expect(await accountBalance(t.db, id, '2300'), `${s.code}: deferred revenue`).toBe(
      -pending.reduce((v, x) => v + x.base, 0n),
    );
    await checkCreditorsControl(t.db, id);
    expect(await accountBalance(t.db, id, '1150'), `${s.code}: due from`).toBe(s.dueFrom);
    expect(await accountBalance(t.db, id, '2150'), `${s.code}: due to`).toBe(-s.dueTo);
  }
  await checkDueFromDueTo(t.db, states[0].c.entityId, states[1].c.entityId);
}

const numRuns = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 4;
/** Time for the runs, then for shrinking a failure: each replays sequences against the database. */
const runMs = Math.max(numRuns * 20_000, 120_000);
const shrinkMs = Number(process.env.FC_SHRINK_MS ?? 240_000);

describe('the ledger, every feature together: model-based property', () => {
  it(
    'every answer matches the model and every invariant holds in both entities after every step',
    async () => {
      const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
      console.log(`combined ledger property: seed ${seed}, ${numRuns} runs (replay with FC_SEED=${seed})`);
      let run = 0;
      let failed = false;
      const seen = new Map<string, number>();
      // Shrinking replays sequences against the database and can be slow: say what failed at once,
      // and stop shrinking once FC_SHRINK_MS (default 4 minutes) beyond the runs' time has passed.
      const fail = (err: Error, what: string): never => {
        if (!failed) console.log(`combined ledger property: first failure, run ${run}, ${what}: ${err.message}`);
        failed = true;
        throw new Error(`${what}: ${err.message}`);
      };
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(fc.array(cmd, { minLength: 12, maxLength: 24 }), async (cmds) => {
          const states = await setUp(++run);
          for (const [n, c] of cmds.entries()) {
            const outcome = await step(states, c).catch((err: Error) =>
              fail(err, `step ${n} ${JSON.stringify(c, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`),
            );
            seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
            await verify(states).catch((err: Error) => fail(err, `after step ${n} (${outcome})`));
          }
        }),
        {
          seed,
          numRuns,
          ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
          interruptAfterTimeLimit: runMs + shrinkMs,
        },
      );
      if (failed) throw new Error(`a failure was found (see above) but not reported after ${Date.now() - started} ms`);
      console.log(`combined ledger property outcomes: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`);
    },
    runMs + shrinkMs + 60_000,
  );
});
