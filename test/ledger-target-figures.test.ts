import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import {
  customerRecord,
  definePipeline,
  invoiceRecord,
  openExceptions,
  paymentRecord,
  syncService,
} from './helpers/sync.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { listRunRecords } from '../src/sync/runs.ts';

/*
 * What the embedded ledger books for a pipeline is what the source sent, or nothing and a reason:
 * a payment or refund in another currency than its customer's is refused (it was booked as the same
 * number in the customer's currency), a fee below zero is parked (it was dropped), a fee on a
 * foreign-currency payment is valued at the receipt's rate (it was valued at 1), and a document
 * sent under a reference the customer already has on a different document is refused (it was
 * linked to that one and reported as already posted, so the money sent was never booked).
 */

let t: TestApp;
let n = 0;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

async function setUp(): Promise<{ c: Client; pipeline: Awaited<ReturnType<typeof definePipeline>> }> {
  const code = `LTF${++n}`;
  const c = await t.entity(code, 'EUR', { standardTaxRate: '0.21' });
  const pipeline = await definePipeline(t.db, code, { name: 'records', source: { type: 'records' } });
  return { c, pipeline };
}

const payment = paymentRecord;

const refund = (id: string, amount: string, extra: Partial<CanonicalRecord> = {}): CanonicalRecord =>
  ({
    kind: 'refund',
    sourceId: id,
    externalReference: id,
    customerSourceId: 'K1',
    date: '2026-11-04',
    amount,
    currency: 'EUR',
    description: '',
    ...extra,
  }) as CanonicalRecord;

const creditNote = (id: string, net: string, extra: Partial<CanonicalRecord> = {}): CanonicalRecord =>
  ({
    kind: 'creditNote',
    sourceId: id,
    externalReference: id,
    customerSourceId: 'K1',
    date: '2026-11-05',
    currency: 'EUR',
    description: '',
    lines: [{ description: 'Service', netAmount: net, vatRate: '0.21' }],
    ...extra,
  }) as CanonicalRecord;

async function run(pipeline: Awaited<ReturnType<typeof definePipeline>>, records: CanonicalRecord[]) {
  const runId = await syncService(t.db).processRecords(
    pipeline,
    'import',
    'test',
    records.map((record) => ({ record })),
  );
  const outcomes = await listRunRecords(t.db, runId, 1000, 0);
  return (kind: string, sourceId: string) =>
    outcomes.find((r) => r.kind === kind && r.sourceId === sourceId)?.outcome ?? 'none';
}

async function documents(entityId: string) {
  const { rows } = await t.db.query<{ type: string; ref: string; currency: string; gross: string; base: string }>(
    `SELECT type, external_reference AS ref, trim(currency) AS currency, gross::text AS gross, base_gross::text AS base
       FROM transactions WHERE entity_id = $1 ORDER BY id`,
    [entityId],
  );
  return rows;
}

describe('the embedded ledger as a target', () => {
  it('refuses a payment, refund or allocation in another currency than its customer’s or the document it settles', async () => {
    const { c, pipeline } = await setUp();
    const outcome = await run(pipeline, [
      customerRecord('K1'),
      invoiceRecord('INV-1', 'K1'),
      payment('PAY-USD', '50.00', { currency: 'USD', invoiceExternalReference: 'INV-1' }),
      refund('RF-GBP', '7.00', { currency: 'GBP' }),
      payment('PAY-EUR', '20.00'),
      {
        kind: 'allocation',
        sourceId: 'AL-USD',
        customerSourceId: 'K1',
        date: '2026-11-04',
        currency: 'USD',
        amount: '20.00',
        invoiceExternalReference: 'INV-1',
        from: 'payment',
        fromExternalReference: 'PAY-EUR',
      },
    ]);
    expect([outcome('payment', 'PAY-USD'), outcome('refund', 'RF-GBP'), outcome('allocation', 'AL-USD')]).toEqual([
      'parked',
      'parked',
      'parked',
    ]);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field, x.message])).toEqual([
      ['AL-USD', 'CURRENCY_MISMATCH', 'currency', 'The allocation is in USD; the invoice INV-1 it settles is in EUR'],
      // The engine parks it for its invoice's currency, whatever the target; the ledger for its customer's.
      ['PAY-USD', 'CURRENCY_MISMATCH', 'currency', 'The payment is in USD; the invoice INV-1 it settles is in EUR'],
      ['RF-GBP', 'CURRENCY_MISMATCH', 'currency', 'The refund is in GBP; customer K1 is in EUR'],
    ]);
    // No receipt of "50.00 EUR", no refund of "7.00 EUR", no allocation.
    expect((await documents(c.entityId)).map((d) => [d.type, d.ref])).toEqual([
      ['SI', 'INV-1'],
      ['SR', 'PAY-EUR'],
    ]);
    const { rows } = await t.db.query(`SELECT 1 FROM allocations WHERE entity_id = $1`, [c.entityId]);
    expect(rows).toEqual([]);
  });

  it('values a fee on a foreign-currency payment at the receipt’s rate, and parks a fee below zero', async () => {
    const { c, pipeline } = await setUp();
    const rate = await c.put('/v1/currencies/USD/rates/2026-01-01', { rate: '1.25' });
    expect(rate.status, JSON.stringify(rate.body)).toBe(201);
    const outcome = await run(pipeline, [
      { kind: 'customer', sourceId: 'K1', name: 'Yankee', currency: 'USD' },
      payment('PAY-1', '125.00', { currency: 'USD', fee: '2.50' }),
      payment('PAY-2', '10.00', { currency: 'USD', fee: '-1.00' }),
    ]);
    expect([outcome('payment', 'PAY-1'), outcome('payment', 'PAY-2')]).toEqual(['created', 'parked']);
    const docs = await documents(c.entityId);
    // 125.00 USD at 1.25 is 100.00 EUR; the fee of 2.50 USD is 2.00 EUR, not 2.50.
    expect(docs).toEqual([
      { type: 'SR', ref: 'PAY-1', currency: 'USD', gross: '12500', base: '10000' },
      { type: 'GJ', ref: 'PAY-1', currency: 'USD', gross: '250', base: '200' },
    ]);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([['PAY-2', 'AMOUNT_INVALID', 'fee']]);
    expect(parked[0]!.message).toContain('below zero');
    await checkInvariants(t.db, c.entityId);
  });

  it('parks a payment whose fee would post to a closed bank-charges account, its receipt with it', async () => {
    const { c, pipeline } = await setUp();
    // Closed behind setup (setup refuses to close a role account), as data from before the rule may hold it.
    await t.db.query(`UPDATE gl_accounts SET is_active = false WHERE entity_id = $1 AND code = '7700'`, [c.entityId]);
    const outcome = await run(pipeline, [
      customerRecord('K1'),
      invoiceRecord('INV-F', 'K1'),
      payment('PAY-F', '121.00', { fee: '1.50', invoiceExternalReference: 'INV-F' }),
      payment('PAY-N', '10.00'),
    ]);
    // The payment without a fee posts nothing to 7700 and goes through.
    expect([outcome('payment', 'PAY-F'), outcome('payment', 'PAY-N')]).toEqual(['parked', 'created']);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['PAY-F', 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', 'fee'],
    ]);
    expect(parked[0]!.message).toBe(
      "fee: The payment provider's fee posts to GL account 7700 (the entity's bankCharges account), which is " +
        'inactive or a header account; make 7700 an active posting account again ' +
        '(PUT /v1/gl-accounts/7700 {"isActive": true, "isPosting": true}); the entity\'s account roles cannot be changed',
    );
    // Nothing half-booked: neither the receipt nor its fee, nor an allocation to the invoice.
    expect((await documents(c.entityId)).map((d) => [d.type, d.ref])).toEqual([
      ['SI', 'INV-F'],
      ['SR', 'PAY-N'],
    ]);
    const { rows } = await t.db.query(`SELECT 1 FROM allocations WHERE entity_id = $1`, [c.entityId]);
    expect(rows).toEqual([]);
    await checkInvariants(t.db, c.entityId);
    // Reopened, the same payment books its receipt, allocation and fee together.
    expect((await c.put('/v1/gl-accounts/7700', { isActive: true })).status).toBe(200);
    const again = await run(pipeline, [payment('PAY-F', '121.00', { fee: '1.50', invoiceExternalReference: 'INV-F' })]);
    expect(again('payment', 'PAY-F')).toBe('created');
    expect((await documents(c.entityId)).map((d) => [d.type, d.ref, d.gross])).toEqual([
      ['SI', 'INV-F', '12100'],
      ['SR', 'PAY-N', '1000'],
      ['SR', 'PAY-F', '12100'],
      ['GJ', 'PAY-F', '150'],
    ]);
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses a document under a reference the customer has on a different one, and links the same one', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [
      customerRecord('K1'),
      invoiceRecord('INV-A', 'K1'),
      payment('PAY-A', '10.00'),
      creditNote('CN-A', '10.00'),
      refund('RF-A', '5.00'),
    ]);
    const before = await documents(c.entityId);
    expect(before.map((d) => d.type).sort()).toEqual(['SD', 'SI', 'SN', 'SR']);
    // Other source records under the same references (in another case): different figures, then the same.
    const invoice = (id: string, net: string, date = '2026-11-02') =>
      ({
        ...invoiceRecord(id, 'K1'),
        externalReference: 'inv-a',
        invoiceDate: date,
        lines: [{ description: 'Service', netAmount: net, vatRate: '0.21' }],
      }) as CanonicalRecord;
    const outcome = await run(pipeline, [
      invoice('INV-B', '50.00'),
      invoice('INV-C', '100.00', '2026-11-09'),
      invoice('INV-D', '100.00'),
      payment('PAY-B', '20.00', { externalReference: 'pay-a' }),
      payment('PAY-C', '10.00', { externalReference: 'pay-a' }),
      creditNote('CN-B', '20.00', { externalReference: 'cn-a' }),
      creditNote('CN-C', '10.00', { externalReference: 'cn-a' }),
      refund('RF-B', '6.00', { externalReference: 'rf-a' }),
      refund('RF-C', '5.00', { externalReference: 'rf-a' }),
    ]);
    expect(
      ['INV-B', 'INV-C', 'INV-D']
        .map((id) => outcome('invoice', id))
        .concat(
          ['PAY-B', 'PAY-C'].map((id) => outcome('payment', id)),
          ['CN-B', 'CN-C'].map((id) => outcome('creditNote', id)),
          ['RF-B', 'RF-C'].map((id) => outcome('refund', id)),
        ),
    ).toEqual(['parked', 'parked', 'skipped', 'parked', 'skipped', 'parked', 'skipped', 'parked', 'skipped']);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['CN-B', 'CREDIT_NOTE_EXTERNAL_REFERENCE_ALREADY_EXISTS', 'externalReference'],
      ['INV-B', 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS', 'externalReference'],
      ['INV-C', 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS', 'externalReference'],
      ['PAY-B', 'RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS', 'externalReference'],
      ['RF-B', 'JOURNAL_EXTERNAL_REFERENCE_ALREADY_EXISTS', 'externalReference'],
    ]);
    const message = (id: string) => parked.find((x) => x.source_id === id)!.message;
    expect(message('INV-B')).toContain('EUR 121.00 on 2026-11-02 in the ledger, EUR 60.50 on 2026-11-02 sent');
    expect(message('INV-C')).toContain('EUR 121.00 on 2026-11-02 in the ledger, EUR 121.00 on 2026-11-09 sent');
    expect(message('PAY-B')).toMatch(/^Receipt \d+ \(PAY-A\) of customer K1 already carries the reference "pay-a"/);
    // Nothing was booked or changed by the second run.
    expect(await documents(c.entityId)).toEqual(before);
    await checkInvariants(t.db, c.entityId);
  });
});
