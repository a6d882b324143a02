import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, seedCustomer } from './helpers/ledger.ts';
import { type ItemLineSpec, type TaxCalculation, type TaxRounding, dec, itemTotals } from './helpers/item-model.ts';

/*
 * Random item invoices and credit notes under random tax settings, against a model written with
 * plain integer arithmetic (no decimal library): every posted net, tax and VAT breakdown matches
 * the model to the cent, and after every step the journals balance and the control account equals
 * the open items. A document whose total is not positive is refused and saves nothing.
 */

const SEED = Number(process.env.ITEMS_PROPERTY_SEED ?? Date.now() % 1_000_000);
console.log(`item-invoices.property: seed ${SEED} (ITEMS_PROPERTY_SEED=${SEED} replays it)`);

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('ITEMPROP', 'EUR', { standardTaxRate: '0.21' });
  await seedCustomer(t.db, c.entityId, 'P1');
  await c.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.135', glAccountCode: '2200' });
  await c.put('/v1/tax-codes/FIVE', { name: 'Five', rate: '0.05', glAccountCode: '2200' });
});
afterAll(async () => t.close());

const RATES: Record<string, bigint> = { STD: 210000n, RED: 135000n, FIVE: 50000n }; // × 10⁻⁶

type Line = ItemLineSpec;
const model = (lines: Line[], calc: TaxCalculation, mode: TaxRounding) => itemTotals(lines, calc, mode, RATES);

const lineArb: fc.Arbitrary<Line> = fc.record({
  q: fc.bigInt({ min: 1n, max: 5_000_000n }),
  p: fc.oneof(fc.bigInt({ min: -200_000n, max: 5_000_000n }), fc.constantFrom(105_050n, 100_300n, 333_333n)),
  d: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 500_000n })),
  taxCode: fc.constantFrom('STD', 'RED', 'FIVE'),
});

const docArb = fc.record({
  type: fc.constantFrom('SI', 'SI', 'SN'),
  calc: fc.constantFrom('perLine' as const, 'perDocument' as const),
  mode: fc.constantFrom('halfUp' as const, 'halfEven' as const),
  lines: fc.array(lineArb, { minLength: 1, maxLength: 6 }),
});

describe('item documents against an integer model', () => {
  it('post exactly the modelled amounts and keep the ledger invariants', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(docArb, async (doc) => {
        n += 1;
        await c.put('/v1/settings', { taxCalculation: doc.calc, taxRounding: doc.mode });
        const base = doc.type === 'SI' ? '/v1/sales/invoices' : '/v1/sales/credit-notes/drafts';
        const expected = model(doc.lines, doc.calc, doc.mode);
        const before = await t.db.query<{ n: string }>(
          `SELECT count(*) AS n FROM draft_invoices WHERE entity_id = $1`,
          [c.entityId],
        );
        const saved = await c.post(base, {
          customerCode: 'P1',
          date: '2026-11-10',
          externalReference: `PROP-${SEED}-${n}`,
          lines: doc.lines.map((l) => ({
            description: 'x',
            quantity: dec(l.q, 4),
            unitPrice: dec(l.p, 4),
            discountRate: dec(l.d, 6),
            taxCode: l.taxCode,
          })),
        });
        if (expected.net + expected.tax <= 0n) {
          expect([saved.status, saved.body.error?.code]).toEqual([422, 'DOCUMENT_TOTAL_MUST_BE_POSITIVE']);
          const after = await t.db.query<{ n: string }>(
            `SELECT count(*) AS n FROM draft_invoices WHERE entity_id = $1`,
            [c.entityId],
          );
          expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
          return;
        }
        expect(saved.status).toBe(201);
        const posted = await c.post(`${base}/${saved.body.draftId}/post`, {});
        expect(posted.status).toBe(201);
        expect([posted.body.netAmount, posted.body.taxAmount, posted.body.grossAmount]).toEqual([
          dec(expected.net, 2),
          dec(expected.tax, 2),
          dec(expected.net + expected.tax, 2),
        ]);
        const tx = (await c.get(`/v1/transactions/${posted.body.transactionId}`)).body;
        const breakdown = [...expected.byCode]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([code, g]) => ({
            taxCode: code,
            taxRate: dec(RATES[code]!, 6).replace(/0+$/, ''),
            net: dec(g.net, 2),
            tax: dec(g.tax, 2),
          }));
        expect(tx.vatBreakdown).toEqual(breakdown);
        await checkInvariants(t.db, c.entityId);
      }),
      { seed: SEED, numRuns: 25 },
    );
  }, 300_000);
});
