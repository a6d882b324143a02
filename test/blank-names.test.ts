import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { customerRecord, definePipeline, invoiceRecord, openExceptions } from './helpers/sync.ts';
import { importFile } from '../src/sync/imports.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';

/*
 * A customer name of only blanks or invisible characters shows nothing: the API refuses one
 * (`showsText`, src/domain/schemas.ts), and so does the sync, whatever the source. Such a customer
 * is parked on its `name`, never stored; the documents that name it are parked for it and run
 * again by themselves once it comes with a name.
 */
let t: TestApp;
let pipeline: Pipeline;
beforeAll(async () => {
  t = await createTestApp();
  await t.entity('BLK', 'EUR', { standardTaxRate: '0.21' });
  pipeline = await definePipeline(t.db, 'BLK', { name: 'blank', source: { type: 'records' } });
});
afterAll(async () => t?.close());

const send = (records: CanonicalRecord[]) =>
  t.sync.processRecords(
    pipeline,
    'import',
    'test',
    records.map((record) => ({ record })),
  );

async function customers(): Promise<{ code: string; name: string }[]> {
  const { rows } = await t.db.query<{ code: string; name: string }>(
    `SELECT c.code, c.name FROM customers c JOIN entities e ON e.id = c.entity_id WHERE e.code = 'BLK' ORDER BY c.code`,
  );
  return rows;
}

async function invoices(): Promise<string[]> {
  const { rows } = await t.db.query<{ external_reference: string }>(
    `SELECT t.external_reference FROM transactions t JOIN entities e ON e.id = t.entity_id
      WHERE e.code = 'BLK' AND t.type = 'SI' ORDER BY t.external_reference`,
  );
  return rows.map((r) => r.external_reference);
}

describe('a customer whose name shows nothing', () => {
  it('is parked on its name with its documents, never stored; sent with a name, all of them go through', async () => {
    const blanks = ['   ', '\u200b\u200d', ' \u00a0\u2060\t', '\u3000'];
    await send(
      blanks.flatMap((name, i) => [
        { ...customerRecord(`CU-B${i}`), name } as CanonicalRecord,
        invoiceRecord(`IN-B${i}`, `CU-B${i}`),
      ]),
    );
    expect(await customers()).toEqual([]);
    expect(await invoices()).toEqual([]);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ...blanks.map((_, i) => [`CU-B${i}`, 'CUSTOMER_NAME_BLANK', 'name']),
      ...blanks.map((_, i) => [`IN-B${i}`, 'CUSTOMER_NAME_BLANK', 'customerSourceId']),
    ]);
    expect(parked[0]!.message).toMatch(
      /^Customer CU-B0: its name shows nothing \(only blanks or invisible characters\)/,
    );
    expect(parked[4]!.message).toMatch(/^Customer CU-B0 is not booked: its name shows nothing/);

    // Sent again with a name: the customer is booked, and its invoice runs again by itself.
    await send([{ ...customerRecord('CU-B1'), name: 'Named \u200b Ltd' } as CanonicalRecord]);
    expect(await customers()).toEqual([{ code: 'CU-B1', name: 'Named \u200b Ltd' }]);
    expect(await invoices()).toEqual(['IN-B1']);
    expect((await openExceptions(t.db, pipeline)).map((x) => x.source_id)).not.toContain('IN-B1');
  });

  it('sent again blank for a customer already booked: that change is parked, the name kept, its documents go on', async () => {
    await send([customerRecord('CU-K')]);
    await send([{ ...customerRecord('CU-K'), name: ' \u200b ' } as CanonicalRecord, invoiceRecord('IN-K', 'CU-K')]);
    expect((await customers()).find((c) => c.code === 'CU-K')).toEqual({ code: 'CU-K', name: 'Customer CU-K' });
    expect(await invoices()).toContain('IN-K');
    const parked = (await openExceptions(t.db, pipeline)).filter((x) => x.source_id.endsWith('-K'));
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([['CU-K', 'CUSTOMER_NAME_BLANK', 'name']]);
  });

  it('from a customers file too', async () => {
    const file = await definePipeline(t.db, 'BLK', { name: 'blank-file', source: { type: 'file' } });
    const result = await importFile(
      t.sync,
      file,
      {
        fileName: 'customers.csv',
        bytes: Buffer.from('customer_id,name,currency\nCU-F1,"  \u200b  ",EUR\nCU-F2,Filed Ltd,EUR\n'),
      },
      'test',
    );
    expect(result.rows.map((r) => [r.sourceId, r.outcome])).toEqual([
      ['CU-F1', 'parked'],
      ['CU-F2', 'created'],
    ]);
    const parked = await openExceptions(t.db, file);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['CU-F1', 'CUSTOMER_NAME_BLANK', 'name'],
    ]);
    expect((await customers()).map((c) => c.code)).not.toContain('CU-F1');
  });
});
