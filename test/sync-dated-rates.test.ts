import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, syncService } from './helpers/sync.ts';
import { getRun, listRunRecords } from '../src/sync/runs.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

describe('the ledger target maps a VAT rate to a tax code by the rate in force on the invoice date', () => {
  it('books an invoice dated before a rate change under the code that had its rate then', async () => {
    const c = await t.entity('DATEDR', 'EUR', { standardTaxRate: '0.21' });
    // RED was 13.5% until June, 15% from July: no code has 13.5% today.
    const put = await c.put('/v1/tax-codes/RED', {
      name: 'Reduced',
      glAccountCode: '2200',
      rates: [
        { from: '2026-01-01', rate: '0.135' },
        { from: '2026-07-01', rate: '0.15' },
      ],
    });
    expect(put.status).toBe(201);
    const pipeline = await definePipeline(t.db, 'DATEDR', { name: 'dated-rates', source: { type: 'records' } });
    const invoice = (id: string, date: string, rate: string) => ({
      record: {
        kind: 'invoice',
        sourceId: id,
        externalReference: id,
        customerSourceId: 'K1',
        invoiceDate: date,
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Meal', netAmount: '100.00', vatRate: rate }],
      } as never,
    });
    const runId = await syncService(t.db).processRecords(pipeline, 'import', 'test', [
      { record: { kind: 'customer', sourceId: 'K1', name: 'Diner' } as never },
      invoice('JUNE', '2026-06-15', '0.135'),
      invoice('JULY', '2026-07-15', '0.15'),
      // 13.5% in July is no rate of any code then: refused, not booked under another rate.
      invoice('LATE', '2026-07-20', '0.135'),
    ]);
    expect((await getRun(t.db, runId))!.status).toBe('partial');
    const records = await listRunRecords(t.db, runId, 100, 0);
    const outcome = (id: string) => records.find((r) => r.kind === 'invoice' && r.sourceId === id);
    expect(outcome('JUNE')).toMatchObject({ outcome: 'created' });
    expect(outcome('JULY')).toMatchObject({ outcome: 'created' });
    expect(outcome('LATE')).toMatchObject({ outcome: 'parked' });
    expect(outcome('LATE')!.message).toMatch(/^MAPPING_NO_TAX_CODE_FOR_RATE/);
    const { rows } = await t.db.query<{ external_reference: string; tax_code: string; tax: string }>(
      `SELECT t.external_reference, i.tax_code, i.tax::text AS tax FROM transactions t JOIN transaction_items i ON i.transaction_id = t.id
        WHERE t.entity_id = $1 ORDER BY t.id`,
      [c.entityId],
    );
    expect(rows).toEqual([
      { external_reference: 'JUNE', tax_code: 'RED', tax: '1350' },
      { external_reference: 'JULY', tax_code: 'RED', tax: '1500' },
    ]);
  });
});
