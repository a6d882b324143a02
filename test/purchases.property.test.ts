/**
 * Model-based property test of the purchase ledger, back-to-back and intercompany pairs through
 * the HTTP API (in process, real database): random sequences of purchase invoices (some with a
 * supplier reference already used), back-to-back pairs (some refused in their sales half: an
 * unknown customer, a sales reference already used), intercompany invoices in both directions
 * between two entities (some refused: not connected both ways, a reference already used, the
 * seller's or the buyer's period locked), connections granted and withdrawn, and lock dates. Each
 * answer is checked against the model (the exact error code, or the exact amounts and numbers),
 * and after every step, in both entities: every journal balances, the debtors control equals the
 * open items, the creditors control equals the purchase invoices owed, numbers are gapless, every
 * pair is linked and equal, and each entity's due-from equals the other's due-to.
 *
 * Replay a failure with FC_SEED=<seed> FC_PATH=<path>; FC_RUNS sets the number of runs (default 8).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp, type TestResponse } from './helpers/app.ts';
import {
  accountBalance,
  checkCreditorsControl,
  checkDueFromDueTo,
  checkInvariants,
  seedCustomer,
} from './helpers/ledger.ts';
import { formatMinor, mulHalfUp } from './helpers/ledger-model.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

const DATES = ['2026-11-01', '2026-11-05'];
const LOCK_DATES = [null, '2026-11-02'];
const TAX_RATES = ['0.21', '0', '0.135'];
/** markupRate and 1 + markupRate. */
const MARKUPS: [string, string][] = [
  ['0', '1'],
  ['0.1', '1.1'],
  ['0.155', '1.155'],
  ['1.25', '2.25'],
];
const STD = '0.20';

interface EntityState {
  client: Client;
  code: string;
  lockDate: string | null;
  connected: boolean;
  piCount: number;
  siCount: number;
  supplierRefs: Set<string>;
  /** Sales references used per customer. */
  salesRefs: Map<string, Set<string>>;
  /** Gross of intercompany sales invoices issued (due from the other entity). */
  dueFrom: bigint;
  /** Gross of intercompany purchase invoices received (due to the other entity). */
  dueTo: bigint;
  backToBack: number;
  intercompanySales: number;
}

type Line = { net: bigint; rate: string };
type Cmd =
  | { kind: 'purchase'; e: number; date: string; ref: string; lines: Line[] }
  | {
      kind: 'b2b';
      e: number;
      date: string;
      ref: string;
      salesRef: string;
      customer: string;
      markup: number;
      lines: Line[];
    }
  | { kind: 'ic'; seller: number; date: string; salesRef: string; lines: Line[] }
  | { kind: 'connect'; e: number; on: boolean }
  | { kind: 'lock'; e: number; lockDate: string | null };

const lineArb = fc.record({
  net: fc.bigInt({ min: 1n, max: 2_000_000n }),
  rate: fc.constantFrom(...TAX_RATES),
});
const lines = fc.array(lineArb, { minLength: 1, maxLength: 3 });
const entityIx = fc.integer({ min: 0, max: 1 });
const date = fc.constantFrom(...DATES);
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('purchase' as const),
      e: entityIx,
      date,
      ref: fc.constantFrom('R1', 'R2', 'R3', 'R4'),
      lines,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('b2b' as const),
      e: entityIx,
      date,
      ref: fc.constantFrom('B1', 'B2', 'B3', 'B4'),
      salesRef: fc.constantFrom('S1', 'S2', 'S3'),
      customer: fc.constantFrom('C1', 'C1', 'C1', 'NOPE'),
      markup: fc.integer({ min: 0, max: MARKUPS.length - 1 }),
      lines,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('ic' as const),
      seller: entityIx,
      date,
      salesRef: fc.constantFrom('I1', 'I2', 'I3', 'I4'),
      lines,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('connect' as const), e: entityIx, on: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('lock' as const), e: entityIx, lockDate: fc.constantFrom(...LOCK_DATES) }),
  },
);

const totals = (ls: Line[], taxOf: (l: Line) => bigint) => {
  const net = ls.reduce((s, l) => s + l.net, 0n);
  const tax = ls.reduce((s, l) => s + taxOf(l), 0n);
  return { net, tax, gross: net + tax };
};
const eur = (v: bigint) => formatMinor(v, 'EUR');
const apiLines = (ls: Line[], gl?: string) =>
  ls.map((l) => ({ ...(gl ? { glAccountCode: gl } : {}), taxCode: 'STD', netAmount: eur(l.net), taxRate: l.rate }));

function expectError(r: TestResponse, code: string, what: string): void {
  expect(r.body?.error?.code, `${what}: ${JSON.stringify(r.body)}`).toBe(code);
}

async function setUp(run: number): Promise<[EntityState, EntityState]> {
  const codes = [`PA${run}`, `PB${run}`];
  const states = [] as EntityState[];
  for (const code of codes) {
    const client = await t.entity(code, 'EUR');
    await seedCustomer(t.db, client.entityId, 'C1');
    await client.put('/v1/suppliers/ACME', { name: 'Acme' });
    const other = codes.find((c) => c !== code)!;
    await client.put('/v1/customers/IC', { name: other, controlGlAccountCode: '1150' });
    await client.put('/v1/suppliers/IC', { name: other, controlGlAccountCode: '2150' });
    expect(
      (await client.put(`/v1/intercompany/connections/${other}`, { customerCode: 'IC', supplierCode: 'IC' })).status,
    ).toBe(201);
    states.push({
      client,
      code,
      lockDate: null,
      connected: true,
      piCount: 0,
      siCount: 0,
      supplierRefs: new Set(),
      salesRefs: new Map(),
      dueFrom: 0n,
      dueTo: 0n,
      backToBack: 0,
      intercompanySales: 0,
    });
  }
  return [states[0]!, states[1]!];
}

const locked = (s: EntityState, d: string) => s.lockDate !== null && d <= s.lockDate;
const refsOf = (s: EntityState, customer: string) => {
  if (!s.salesRefs.has(customer)) s.salesRefs.set(customer, new Set());
  return s.salesRefs.get(customer)!;
};

async function step(states: [EntityState, EntityState], c: Cmd): Promise<string> {
  if (c.kind === 'purchase') {
    const s = states[c.e]!;
    const r = await s.client.post('/v1/purchases/invoices', {
      supplierCode: 'ACME',
      invoiceDate: c.date,
      supplierReference: c.ref,
      lines: apiLines(c.lines, '5000'),
    });
    if (locked(s, c.date)) return (expectError(r, 'PERIOD_LOCKED', 'purchase'), 'purchase locked');
    if (s.supplierRefs.has(c.ref))
      return (expectError(r, 'PURCHASE_INVOICE_SUPPLIER_REFERENCE_ALREADY_EXISTS', 'purchase'), 'purchase dup');
    const tot = totals(c.lines, (l) => mulHalfUp(l.net, l.rate));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ number: s.piCount + 1, netAmount: eur(tot.net), grossAmount: eur(tot.gross) });
    s.piCount++;
    s.supplierRefs.add(c.ref);
    return 'purchase ok';
  }
  if (c.kind === 'b2b') {
    const s = states[c.e]!;
    const [markup, factor] = MARKUPS[c.markup]!;
    const r = await s.client.post('/v1/back-to-back', {
      purchase: { supplierCode: 'ACME', invoiceDate: c.date, supplierReference: c.ref, lines: apiLines(c.lines) },
      sales: { customerCode: c.customer, externalReference: c.salesRef, markupRate: markup },
    });
    if (locked(s, c.date)) return (expectError(r, 'PERIOD_LOCKED', 'b2b'), 'b2b locked');
    if (s.supplierRefs.has(c.ref))
      return (expectError(r, 'PURCHASE_INVOICE_SUPPLIER_REFERENCE_ALREADY_EXISTS', 'b2b'), 'b2b purchase dup');
    if (c.customer === 'NOPE') return (expectError(r, 'CUSTOMER_CODE_DOES_NOT_EXIST', 'b2b'), 'b2b no customer');
    if (refsOf(s, c.customer).has(c.salesRef))
      return (expectError(r, 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS', 'b2b'), 'b2b sales dup');
    const salesLines = c.lines.map((l) => ({ net: mulHalfUp(l.net, factor), rate: STD }));
    const sales = totals(salesLines, (l) => mulHalfUp(l.net, l.rate));
    const purchase = totals(c.lines, (l) => mulHalfUp(l.net, l.rate));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.purchase).toMatchObject({ number: s.piCount + 1, grossAmount: eur(purchase.gross) });
    expect(r.body.sales).toMatchObject({
      number: s.siCount + 1,
      netAmount: eur(sales.net),
      taxAmount: eur(sales.tax),
      grossAmount: eur(sales.gross),
    });
    s.piCount++;
    s.siCount++;
    s.backToBack++;
    s.supplierRefs.add(c.ref);
    refsOf(s, c.customer).add(c.salesRef);
    return 'b2b ok';
  }
  if (c.kind === 'ic') {
    const seller = states[c.seller]!;
    const buyer = states[1 - c.seller]!;
    const r = await seller.client.post('/v1/intercompany/invoices', {
      buyerEntityCode: buyer.code,
      invoiceDate: c.date,
      externalReference: c.salesRef,
      lines: apiLines(c.lines, '4000'),
    });
    if (!seller.connected || !buyer.connected)
      return (expectError(r, 'INTERCOMPANY_NOT_CONNECTED', 'ic'), 'ic unconnected');
    if (locked(seller, c.date)) return (expectError(r, 'PERIOD_LOCKED', 'ic'), 'ic seller locked');
    if (refsOf(seller, 'IC').has(c.salesRef))
      return (expectError(r, 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS', 'ic'), 'ic dup');
    if (locked(buyer, c.date)) {
      expectError(r, 'INTERCOMPANY_COUNTERPART_REFUSED', 'ic');
      expect(r.body.error.details).toEqual({ field: 'buyerEntityCode', reason: 'PERIOD_LOCKED' });
      return 'ic buyer locked';
    }
    const tot = totals(c.lines, (l) => mulHalfUp(l.net, l.rate));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.sales).toMatchObject({ number: seller.siCount + 1, grossAmount: eur(tot.gross) });
    expect(r.body.purchase).toMatchObject({
      number: buyer.piCount + 1,
      netAmount: eur(tot.net),
      taxAmount: eur(tot.tax),
      grossAmount: eur(tot.gross),
    });
    seller.siCount++;
    buyer.piCount++;
    seller.intercompanySales++;
    seller.dueFrom += tot.gross;
    buyer.dueTo += tot.gross;
    refsOf(seller, 'IC').add(c.salesRef);
    return 'ic ok';
  }
  if (c.kind === 'connect') {
    const s = states[c.e]!;
    const other = states[1 - c.e]!;
    const path = `/v1/intercompany/connections/${other.code}`;
    if (c.on) {
      const r = await s.client.put(path, { customerCode: 'IC', supplierCode: 'IC' });
      expect(r.status).toBe(s.connected ? 200 : 201);
      expect(r.body.status).toBe(other.connected ? 'active' : 'pending');
      s.connected = true;
      return 'connect';
    }
    const r = await t.request('DELETE', path, undefined, { authorization: `Bearer ${s.client.token}` });
    expect(r.status).toBe(s.connected ? 200 : 404);
    s.connected = false;
    return 'disconnect';
  }
  const s = states[c.e]!;
  const r = await s.client.put('/v1/settings', { lockDate: c.lockDate });
  expect(r.status).toBe(200);
  s.lockDate = c.lockDate;
  return 'lock';
}

const balance = (entityId: string, code: string) => accountBalance(t.db, entityId, code);

async function verify(states: [EntityState, EntityState]): Promise<void> {
  for (const s of states) {
    const id = s.client.entityId;
    await checkInvariants(t.db, id);
    await checkCreditorsControl(t.db, id);
    const { rows } = await t.db.query<{ type: string; n: number; top: number }>(
      `SELECT type, count(*)::int AS n, max(number)::int AS top
         FROM transactions WHERE entity_id = $1 AND type IN ('PI', 'SI') GROUP BY type`,
      [id],
    );
    const of = (type: string) => rows.find((r) => r.type === type);
    expect(of('PI')?.n ?? 0).toBe(s.piCount);
    expect(of('PI')?.top ?? 0).toBe(s.piCount);
    expect(of('SI')?.n ?? 0).toBe(s.siCount);
    expect(of('SI')?.top ?? 0).toBe(s.siCount);
    expect(await balance(id, '1150')).toBe(s.dueFrom);
    expect(await balance(id, '2150')).toBe(-s.dueTo);
    const links = await t.db.query<{ kind: string; n: number }>(
      `SELECT kind, count(*)::int AS n FROM transaction_links WHERE sales_entity_id = $1 GROUP BY kind`,
      [id],
    );
    expect(links.rows.find((l) => l.kind === 'back_to_back')?.n ?? 0).toBe(s.backToBack);
    expect(links.rows.find((l) => l.kind === 'intercompany')?.n ?? 0).toBe(s.intercompanySales);
  }
  // Across the pair: what each entity is owed by the other is what the other owes it.
  const [a, b] = states;
  await checkDueFromDueTo(t.db, a.client.entityId, b.client.entityId);
  // Every pair is linked, of equal gross, and names documents of the right type.
  const bad = await t.db.query(
    `SELECT l.id FROM transaction_links l
       JOIN transactions s ON s.id = l.sales_transaction_id
       JOIN transactions p ON p.id = l.purchase_transaction_id
      WHERE l.sales_entity_id = ANY($1::uuid[])
        AND (s.type <> 'SI' OR p.type <> 'PI' OR (l.kind = 'intercompany' AND s.gross <> p.gross))`,
    [[a.client.entityId, b.client.entityId]],
  );
  expect(bad.rows).toEqual([]);
}

const numRuns = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 8;

describe('purchases, back-to-back and intercompany: model-based property', () => {
  it('every answer matches the model and the invariants hold after every step', async () => {
    const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
    console.log(`purchases property: seed ${seed}, ${numRuns} runs (replay with FC_SEED=${seed})`);
    let run = 0;
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 6, maxLength: 14 }), async (cmds) => {
        const states = await setUp(++run);
        for (const c of cmds) {
          const outcome = await step(states, c);
          seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
          await verify(states);
        }
      }),
      { seed, numRuns, ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}) },
    );
    console.log(`purchases property outcomes: ${JSON.stringify(Object.fromEntries(seen))}`);
  }, 300_000);
});
