import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline } from './helpers/sync.ts';
import { syncServer, upload } from './helpers/uploads.ts';

/*
 * A key a file repeats (a GoCardless payment or refund id, a SmartDebit payer and date, a
 * customer's ledger code) is refused on its own row: every row has its own outcome and nothing is
 * linked to an earlier row as if it were booked (docs/imports.md).
 */

let t: TestApp;
let app: FastifyInstance;
let c: Client;
let uk: Client;

beforeAll(async () => {
  t = await createTestApp();
  app = await syncServer(t);
  c = await t.entity('KEY', 'EUR', { standardTaxRate: '0.21' });
  uk = await t.entity('KUK', 'GBP', { standardTaxRate: '0.20' });
  await definePipeline(t.db, 'KEY', { name: 'files', source: { type: 'file' } });
  await definePipeline(t.db, 'KUK', { name: 'uk-files', source: { type: 'file' } });
});
afterAll(async () => {
  if (app !== t.app) await app.close();
  await t.close();
});

async function ledger(entityId: string) {
  const { rows } = await t.db.query<{ type: string; external_reference: string; gross: string }>(
    `SELECT type, external_reference, gross::text AS gross FROM transactions WHERE entity_id = $1 ORDER BY id`,
    [entityId],
  );
  return rows;
}

async function exceptions(pipeline: string) {
  const { rows } = await t.db.query<{ source_id: string; field: string; payload: { rows: { line: number }[] } }>(
    `SELECT x.source_id, x.field, x.payload FROM exceptions x JOIN pipelines p ON p.id = x.pipeline_id
      WHERE p.name = $1 AND x.status = 'open' ORDER BY x.source_id`,
    [pipeline],
  );
  return rows.map((x) => [x.source_id, x.field, x.payload.rows.map((r) => r.line)]);
}

type Row = { line: number; sourceId: string; outcome: string; message: string | null };

describe('repeated keys in an import', () => {
  it('GoCardless: a repeated payment or refund id parks its own row, the run is partial, the first is booked', async () => {
    const csv = [
      'customers.id,customers.given_name,customers.family_name,resources.type,resources.charge_date,gross_amount,gocardless_fees,currency,payments.id,refunds.id',
      'CU1,Jane,Smith,payment,2026-11-04,30.00,-0.50,EUR,PM1,',
      'CU1,Jane,Smith,payment,2026-11-04,40.00,-0.60,EUR,PM1,',
      'CU1,Jane,Smith,refund,2026-11-05,-5.00,0.00,EUR,PM1,RF1',
      'CU1,Jane,Smith,refund,2026-11-05,-7.00,0.00,EUR,PM1,RF1',
      'CU1,Jane,Smith,payment,2026-11-20,-10.00,0.50,EUR,PM9,',
    ].join('\n');
    const r = await upload(app, c.token, { pipeline: 'files', kind: 'gocardless' }, { name: 'gc.csv', content: csv });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ kind: 'gocardless', status: 'partial', failedRows: 3 });
    expect(r.body.rows.map((x: Row) => [x.line, x.sourceId, x.outcome])).toEqual([
      [2, 'PM1', 'created'],
      [3, 'PM1#3', 'parked'],
      [4, 'RF1', 'created'],
      [5, 'RF1#5', 'parked'],
      [6, 'PM9-reversal', 'parked'],
    ]);
    expect(r.body.rows[1].message).toBe('IMPORT_ROW_INVALID: payments.id: "PM1" is already used on line 2');
    expect(r.body.rows[4].message).toMatch(/^IMPORT_ROW_INVALID: gocardless_fees: "0.50" is a fee on a refund/);
    expect(await exceptions('files')).toEqual([
      ['PM1#3', 'payments.id', [3]],
      ['PM9-reversal', 'gocardless_fees', [6]],
      ['RF1#5', 'refunds.id', [5]],
    ]);
    expect((await ledger(c.entityId)).filter((x) => x.type !== 'GJ')).toEqual([
      { type: 'SR', external_reference: 'PM1', gross: '3000' },
      { type: 'SD', external_reference: 'RF1', gross: '500' },
    ]);
    await checkInvariants(t.db, c.entityId);
  });

  it('customers: ids that differ only in case are not merged into one ledger customer', async () => {
    const csv = 'customer_id,name\nk-9,Kay Nine\nK-9,Kennel Nine\n';
    const r = await upload(app, c.token, { pipeline: 'files' }, { name: 'customers.csv', content: csv });
    expect(r.body.rows.map((x: Row) => [x.line, x.sourceId, x.outcome])).toEqual([
      [2, 'k-9', 'created'],
      [3, 'K-9', 'parked'],
    ]);
    expect(r.body.rows[1].message).toMatch(
      /customer_id: "K-9" would be the same ledger customer, K-9, as "k-9" on line 2/,
    );
    const { rows } = await t.db.query<{ name: string }>(
      `SELECT name FROM customers WHERE entity_id = $1 AND code = 'K-9'`,
      [c.entityId],
    );
    expect(rows).toEqual([{ name: 'Kay Nine' }]);
  });

  it('SmartDebit: a second row for one payer and date has its own exception holding its own row', async () => {
    const csv = [
      'Payer Reference,Account Name,Amount,Date of Payment,Customer ID,Success',
      'SD1,J SMITH,25.00,03/11/2026,,1',
      'SD1,J SMITH,35.00,03/11/2026,,1',
      'SD1,J SMITH,25.00,03/12/2026,,1',
    ].join('\n');
    const r = await upload(app, uk.token, { pipeline: 'uk-files' }, { name: 'sd.csv', content: csv });
    expect(r.body).toMatchObject({ kind: 'smartdebit', status: 'partial', failedRows: 1 });
    expect(r.body.rows.map((x: Row) => [x.line, x.sourceId, x.outcome])).toEqual([
      [2, 'SD-SD1-2026-11-03', 'created'],
      [3, 'SD-SD1-2026-11-03#3', 'parked'],
      [4, 'SD-SD1-2026-12-03', 'created'],
    ]);
    expect(await exceptions('uk-files')).toEqual([['SD-SD1-2026-11-03#3', 'payer_reference', [3]]]);
    expect(await ledger(uk.entityId)).toEqual([
      { type: 'SR', external_reference: 'SD-SD1-2026-11-03', gross: '2500' },
      { type: 'SR', external_reference: 'SD-SD1-2026-12-03', gross: '2500' },
    ]);
  });
});
