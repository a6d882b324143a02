/**
 * Property test of settlement discounts with `adjustVat` (docs/ledger.md "VAT on settlement
 * discounts"): random mixed-rate invoices (2–4 lines at 20 %, 13.5 % and zero-rated; batch or
 * item invoices), random credit notes raised from them (batch copies of lines, batch credit notes of
 * their own lines, item credit notes of part or all of a line), allocated to the invoice fully, in
 * part or not at all, some unallocated again, then a settlement discount on what is left and
 * sometimes a second one. After each run:
 *
 * - per tax code, the VAT the credit notes raised from the invoice and the discounts on it gave
 *   back never exceeds what the invoice charged on the code, and no discount takes a negative
 *   part on a code (the lines are positive);
 * - each discount's parts add up to the discount exactly;
 * - every journal balances and the control account equals the open items (checkInvariants);
 * - the VAT report's figures, per tax code and in total, equal the movement on the VAT account.
 *
 * Each run uses a customer of its own in one entity. The seed is printed; replay a failure with
 *   FC_SEED=<seed> FC_PATH=<path> npx vitest run test/ledger-discount-vat.property.test.ts
 * FC_RUNS sets the number of runs (default 25).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type TestApp, type TestResponse, createTestApp } from './helpers/app.ts';
import { checkInvariants, postReceipt, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('DVATPROP', 'EUR', { standardTaxRate: '0.20' });
  expect((await c.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.135', glAccountCode: '2200' })).status).toBe(
    201,
  );
  expect((await c.put('/v1/settings', { discountVatTreatment: 'adjustVat' })).status).toBe(200);
});
afterAll(async () => t.close());

type TaxCode = 'STD' | 'RED' | 'ZERO';
/** Rates in thousandths. */
const RATE: Record<TaxCode, bigint> = { STD: 200n, RED: 135n, ZERO: 0n };

const cents = (v: bigint) =>
  `${v < 0n ? '-' : ''}${(v < 0n ? -v : v) / 100n}.${String((v < 0n ? -v : v) % 100n).padStart(2, '0')}`;
const halfUp = (num: bigint, den: bigint) => (2n * num + den) / (2n * den);

const lineArb = fc.record({
  taxCode: fc.constantFrom<TaxCode>('STD', 'RED', 'ZERO'),
  quantity: fc.integer({ min: 1, max: 4 }),
  price: fc.integer({ min: 100, max: 20_000 }), // cents
});
const creditArb = fc.record({
  kind: fc.constantFrom('copy', 'own', 'item'),
  line: fc.nat(3),
  share: fc.integer({ min: 1, max: 100 }), // percent of what is left
  alloc: fc.constantFrom('full', 'part', 'none', 'auto'),
  unallocate: fc.boolean(),
});
const discountArb = fc.record({
  pct: fc.integer({ min: 1, max: 15 }), // of the outstanding
  paid: fc.integer({ min: 0, max: 100 }), // percent of the rest paid with it
});
const planArb = fc.record({
  item: fc.boolean(),
  lines: fc.array(lineArb, { minLength: 2, maxLength: 4 }),
  credits: fc.array(creditArb, { maxLength: 3 }),
  discounts: fc.array(discountArb, { minLength: 1, maxLength: 2 }),
});
type Plan = typeof planArb extends fc.Arbitrary<infer P> ? P : never;

function ok(r: TestResponse, status = 201) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  return r.body;
}

/** Net and VAT per tax code of a document's journal, as it gives them (credits of an invoice positive). */
async function perCode(id: number, sign: 1n | -1n): Promise<Map<string, { net: bigint; tax: bigint }>> {
  const { rows } = await t.db.query<{ tax_code: string; net: string; tax: string }>(
    `SELECT tax_code,
            coalesce(sum(amount) FILTER (WHERE role <> 'tax'), 0)::text AS net,
            coalesce(sum(amount) FILTER (WHERE role = 'tax'), 0)::text AS tax
       FROM journal_lines WHERE transaction_id = $1 AND tax_code IS NOT NULL AND role <> 'control'
      GROUP BY tax_code`,
    [id],
  );
  return new Map(rows.map((r) => [r.tax_code, { net: sign * BigInt(r.net), tax: sign * BigInt(r.tax) }]));
}

async function outstanding(id: number): Promise<bigint> {
  const { rows } = await t.db.query<{ v: string }>(
    `SELECT (t.gross - coalesce((SELECT sum(a.amount) FROM allocations a
                                  WHERE (a.debit_transaction_id = t.id OR a.credit_transaction_id = t.id)
                                    AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)), 0))::text AS v
       FROM transactions t WHERE t.id = $1`,
    [id],
  );
  return BigInt(rows[0]!.v);
}

/** Net and VAT per code the invoice charged less what the credit notes raised from it gave back. */
async function leftAfterCredits(invoiceId: number) {
  const left = await perCode(invoiceId, -1n);
  const { rows } = await t.db.query<{ id: string }>(
    `SELECT id FROM transactions WHERE related_transaction_id = $1 AND type = 'SN'`,
    [invoiceId],
  );
  for (const r of rows)
    for (const [code, v] of await perCode(Number(r.id), 1n)) {
      const l = left.get(code)!;
      l.net -= v.net;
      l.tax -= v.tax;
    }
  return left;
}

let runs = 0;
const stats = { copy: 0, own: 0, item: 0, allocated: 0, unallocated: 0, discounts: 0 };

async function run(plan: Plan): Promise<void> {
  const customer = `P${++runs}`;
  await seedCustomer(t.db, c.entityId, customer);
  const ref = (p: string) => `${p}-${runs}-${Math.random().toString(36).slice(2, 8)}`;
  const lines = plan.lines.map((l) => ({ ...l, net: BigInt(l.quantity * l.price) }));

  // The invoice: batch (net per line) or items (quantity × unit price).
  let invoiceId: number;
  if (plan.item) {
    const d = ok(
      await c.post('/v1/sales/invoices', {
        customerCode: customer,
        date: '2026-05-04',
        externalReference: ref('SO'),
        lines: lines.map((l) => ({
          description: 'Goods',
          quantity: String(l.quantity),
          unitPrice: cents(BigInt(l.price)),
          discountRate: '0',
          glAccountCode: '4000',
          taxCode: l.taxCode,
        })),
      }),
    );
    invoiceId = ok(await c.post(`/v1/sales/invoices/${d.draftId}/post`, {})).transactionId;
  } else {
    invoiceId = ok(
      await c.post('/v1/sales/batch-invoices', {
        customerCode: customer,
        invoiceDate: '2026-05-04',
        externalReference: ref('INV'),
        lines: lines.map((l) => ({ glAccountCode: '4000', taxCode: l.taxCode, netAmount: cents(l.net) })),
      }),
    ).transactionId;
  }

  // Credit notes raised from it, each within what is left of its tax code (so the credit notes
  // alone never give back more than the invoice charged: the property is about the discounts).
  const quantityLeft = lines.map((l) => l.quantity);
  const copied = new Set<number>();
  for (const cr of plan.credits) {
    const n = cr.line % lines.length;
    const line = lines[n]!;
    const left = (await leftAfterCredits(invoiceId)).get(line.taxCode)!;
    const lineTax = (await perCode(invoiceId, -1n)).get(line.taxCode)!;
    let kind = cr.kind;
    if (plan.item && kind === 'own') kind = 'item';
    if (!plan.item && kind === 'item') kind = 'own';
    let body: Record<string, unknown> | null = null;
    let creditId: number | null = null;
    const common = { fromInvoiceTransactionId: invoiceId, creditNoteDate: '2026-05-05', externalReference: ref('CN') };
    if (kind === 'copy') {
      // A whole line, once, and only while its code has at least the line left.
      const tax = lineTax.net === 0n ? 0n : halfUp(lineTax.tax * line.net, lineTax.net);
      if (copied.has(n) || quantityLeft[n] !== line.quantity || left.net < line.net || left.tax < tax) continue;
      body = { ...common, lineNumbers: [n + 1] };
      copied.add(n);
      quantityLeft[n] = 0;
      stats.copy++;
    } else if (kind === 'own') {
      const net = (left.net * BigInt(cr.share)) / 100n;
      if (net <= 0n) continue;
      const rated = halfUp(net * RATE[line.taxCode], 1000n);
      const tax = rated < left.tax ? rated : left.tax < 0n ? 0n : left.tax;
      body = {
        ...common,
        lines: [{ glAccountCode: '4000', taxCode: line.taxCode, netAmount: cents(net), taxAmount: cents(tax) }],
      };
      stats.own++;
    } else {
      const q = Math.ceil((quantityLeft[n]! * cr.share) / 100);
      if (q <= 0 || copied.has(n)) continue;
      const d = ok(
        await c.post('/v1/sales/credit-notes/drafts', {
          fromInvoiceTransactionId: invoiceId,
          date: '2026-05-05',
          externalReference: ref('RMA'),
          lines: [
            {
              description: 'Goods',
              quantity: String(q),
              unitPrice: cents(BigInt(line.price)),
              discountRate: '0',
              glAccountCode: '4000',
              taxCode: line.taxCode,
            },
          ],
        }),
      );
      creditId = ok(await c.post(`/v1/sales/credit-notes/drafts/${d.draftId}/post`, {})).transactionId;
      quantityLeft[n] = quantityLeft[n]! - q;
      stats.item++;
    }
    if (body) {
      const auto = cr.alloc === 'auto' && !plan.item;
      creditId = ok(await c.post('/v1/sales/credit-notes', { ...body, ...(auto ? { allocateToInvoice: true } : {}) }))
        .transactionId as number;
      if (auto) stats.allocated++;
    }
    const id = creditId!;
    if (cr.alloc === 'full' || cr.alloc === 'part' || (cr.alloc === 'auto' && plan.item)) {
      const open = [await outstanding(invoiceId), await outstanding(id)];
      let amount = open[0]! < open[1]! ? open[0]! : open[1]!;
      if (cr.alloc === 'part') amount = amount / 2n;
      if (amount > 0n) {
        ok(
          await c.post('/v1/allocations', {
            transactionId1: invoiceId,
            transactionId2: id,
            amount: cents(amount),
            date: '2026-05-05',
            reference: ref('alloc'),
          }),
        );
        stats.allocated++;
      }
    }
    if (cr.unallocate) {
      const un = ok(await c.post('/v1/allocations/unallocate', { transactionIds: [id], date: '2026-05-06' }), 200);
      if (un.results[0].status === 'Success') stats.unallocated++;
    }
  }

  // The discounts on what is left.
  const discounts: { id: number; amount: bigint }[] = [];
  for (const d of plan.discounts) {
    const open = await outstanding(invoiceId);
    const discount = (open * BigInt(d.pct)) / 100n;
    if (discount <= 0n) continue;
    let paid = ((open - discount) * BigInt(d.paid)) / 100n;
    if (paid <= 0n) paid = open - discount > 0n ? 1n : 0n;
    if (paid <= 0n) continue;
    const receipt = await postReceipt(c, customer, cents(paid), {
      paymentDate: '2026-05-10',
      checkReference: ref('PAY'),
    });
    const alloc = ok(
      await c.post('/v1/allocations', {
        transactionId1: invoiceId,
        transactionId2: receipt.transactionId,
        amount: cents(paid),
        discountAmount: cents(discount),
        date: '2026-05-10',
        reference: ref('prompt payment'),
      }),
    );
    discounts.push({ id: alloc.discountTransactionId as number, amount: discount });
    stats.discounts++;
  }

  // Each discount: its parts add up to it exactly, and none is negative (the lines are positive).
  for (const ds of discounts) {
    const { rows } = await t.db.query<{ role: string; amount: string }>(
      `SELECT role, amount::text AS amount FROM journal_lines WHERE transaction_id = $1`,
      [ds.id],
    );
    const control = rows.filter((r) => r.role === 'control').reduce((s, r) => s + BigInt(r.amount), 0n);
    const parts = rows.filter((r) => r.role !== 'control').map((r) => BigInt(r.amount));
    expect(control).toBe(-ds.amount);
    expect(parts.reduce((s, v) => s + v, 0n)).toBe(ds.amount);
    for (const [code, v] of await perCode(ds.id, 1n)) {
      expect(v.tax >= 0n && v.net >= 0n, `discount ${ds.id} on ${code}: ${v.net} + ${v.tax}`).toBe(true);
    }
    const tx = await t.db.query<{ net: string; tax: string; gross: string }>(
      `SELECT net::text AS net, tax::text AS tax, gross::text AS gross FROM transactions WHERE id = $1`,
      [ds.id],
    );
    const r = tx.rows[0]!;
    expect([BigInt(r.net) + BigInt(r.tax), BigInt(r.gross)]).toEqual([ds.amount, ds.amount]);
  }

  // Per tax code: credit notes raised from the invoice plus its discounts never give back more VAT than it charged.
  const left = await leftAfterCredits(invoiceId);
  for (const ds of discounts)
    for (const [code, v] of await perCode(ds.id, 1n)) {
      const l = left.get(code);
      expect(l, `discount ${ds.id} on tax code ${code}, which the invoice does not have`).toBeDefined();
      l!.tax -= v.tax;
    }
  for (const [code, l] of left) expect(l.tax >= 0n, `VAT left on ${code}: ${l.tax}`).toBe(true);

  await checkInvariants(t.db, c.entityId);
}

/** The VAT report for May, per code and in total, against the movement on the VAT account 2200. */
async function checkVatReport(): Promise<void> {
  const report = ok(await c.get('/v1/reports/vat?from=2026-05-01&to=2026-05-31'), 200) as {
    taxCodes: { taxCode: string; netVat: string }[];
    totals: { netVat: string };
  };
  const { rows } = await t.db.query<{ tax_code: string | null; v: string }>(
    `SELECT tax_code, (-sum(base_amount))::text AS v FROM journal_lines
      WHERE entity_id = $1 AND gl_account_code = '2200' GROUP BY tax_code`,
    [c.entityId],
  );
  const movement = new Map(rows.map((r) => [r.tax_code, BigInt(r.v)]));
  expect(movement.has(null)).toBe(false);
  for (const line of report.taxCodes)
    expect([line.taxCode, line.netVat]).toEqual([line.taxCode, cents(movement.get(line.taxCode) ?? 0n)]);
  const total = [...movement.values()].reduce((s, v) => s + v, 0n);
  expect(report.totals.netVat).toBe(cents(total));
  const tb = ok(await c.get('/v1/reports/trial-balance?at=2026-05-31'), 200);
  const vat = tb.accounts.find((a: { code: string }) => a.code === '2200');
  expect(vat ? vat.credit : '0.00').toBe(cents(total));
}

describe('adjustVat settlement discounts on what is left of mixed-rate invoices', () => {
  it('never give back more VAT per tax code than the invoice charged, and the VAT report follows the VAT account', async () => {
    const numRuns = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 25;
    const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
    console.log(`discount VAT property: seed ${seed}, ${numRuns} runs (replay with FC_SEED=${seed}, plus FC_PATH)`);
    await fc.assert(
      fc.asyncProperty(planArb, async (plan) => {
        await run(plan);
        await checkVatReport();
      }),
      { seed, numRuns, ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}) },
    );
    console.log(`discount VAT property: exercised ${JSON.stringify(stats)}`);
  }, 120_000);
});
