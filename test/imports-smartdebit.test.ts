import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type TestApp, createTestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline, testBox } from './helpers/sync.ts';
import { syncServer, upload } from './helpers/uploads.ts';
import { applyConfig, parseConfig } from '../src/sync/config.ts';
import { importFile } from '../src/sync/imports.ts';
import { requirePipeline } from '../src/sync/pipelines.ts';

/*
 * A SmartDebit report's account name is the name on the payer's bank account ("J SMITH"), not the
 * customer's name in the books: it may name a customer the import creates, never rename one.
 */

let t: TestApp;
let app: FastifyInstance;
let gb: Client;
let eu: Client;

const HEADER = 'Payer Reference,Account Name,Amount,Date of Payment,Customer ID,Success';
const report = (...rows: string[]) => [HEADER, ...rows].join('\n') + '\n';

beforeAll(async () => {
  t = await createTestApp();
  app = await syncServer(t);
  gb = await t.entity('SDG', 'GBP', { standardTaxRate: '0.20' });
  eu = await t.entity('SDE', 'EUR', { standardTaxRate: '0.21' });
  await definePipeline(t.db, 'SDG', { name: 'gb-files', source: { type: 'file' } });
  await definePipeline(t.db, 'SDE', { name: 'eu-files', source: { type: 'file' } });
});
afterAll(async () => {
  if (app !== t.app) await app.close();
  await t.close();
});

async function customer(entityId: string, code: string) {
  const { rows } = await t.db.query<any>(
    `SELECT name, email, currency, row_version FROM customers WHERE entity_id = $1 AND code = $2`,
    [entityId, code],
  );
  return rows[0] ?? null;
}

async function receipts(entityId: string, reference: string) {
  const { rows } = await t.db.query<any>(
    `SELECT customer_code, gross::text AS gross, description FROM transactions
      WHERE entity_id = $1 AND type = 'SR' AND external_reference = $2`,
    [entityId, reference],
  );
  return rows;
}

const rowsOf = (body: any) => body.rows.map((x: any) => [x.line, x.sourceId, x.outcome]);

describe('SmartDebit account names', () => {
  it('books a collection onto an existing customer and leaves its name and details as they were', async () => {
    const customers = 'customer_id,name,email,currency\nC-1002,"Smith, Jane",jane@example.org,GBP\n';
    expect(
      (await upload(app, gb.token, { pipeline: 'gb-files' }, { name: 'c.csv', content: customers })).body.status,
    ).toBe('succeeded');
    const before = await customer(gb.entityId, 'C-1002');
    expect(before).toMatchObject({ name: 'Smith, Jane', email: 'jane@example.org', currency: 'GBP' });

    const r = await upload(
      app,
      gb.token,
      { pipeline: 'gb-files' },
      { name: 'sd1.csv', content: report('SD0000101,J SMITH,25.00,03/11/2026,C-1002,1') },
    );
    expect(r.body).toMatchObject({ status: 'succeeded', failedRows: 0 });
    expect(rowsOf(r.body)).toEqual([[2, 'SD-SD0000101-2026-11-03', 'created']]);
    // The payment only: no customer is created, updated or even sent.
    expect(r.body.counts).toMatchObject({ fetched: 1, created: 1, updated: 0, skipped: 0 });
    expect(await customer(gb.entityId, 'C-1002')).toEqual(before);
    // The account holder's name is kept with the receipt, not lost.
    expect(await receipts(gb.entityId, 'SD-SD0000101-2026-11-03')).toEqual([
      { customer_code: 'C-1002', gross: '2500', description: 'SmartDebit collection SD0000101, account J SMITH' },
    ]);
    await checkInvariants(t.db, gb.entityId);
  });

  it('links a ledger customer whose code the payer reference is, without renaming it', async () => {
    expect((await gb.put('/v1/customers/SD0000201', { name: 'Jones, Kate' })).status).toBe(201);
    const before = await customer(gb.entityId, 'SD0000201');
    const r = await upload(
      app,
      gb.token,
      { pipeline: 'gb-files' },
      { name: 'sd2.csv', content: report('SD0000201,K JONES,10.00,04/11/2026,,1') },
    );
    expect(rowsOf(r.body)).toEqual([[2, 'SD-SD0000201-2026-11-04', 'created']]);
    expect(r.body.counts).toMatchObject({ created: 1, updated: 0 });
    expect(await customer(gb.entityId, 'SD0000201')).toEqual(before);
    expect(await receipts(gb.entityId, 'SD-SD0000201-2026-11-04')).toMatchObject([{ customer_code: 'SD0000201' }]);
  });

  it('creates a customer neither the pipeline nor the ledger has, named by the account name, and never renames it after', async () => {
    const first = await upload(
      app,
      gb.token,
      { pipeline: 'gb-files' },
      {
        name: 'sd3.csv',
        content: report('SD0000301,A BROWN,40.00,03/11/2026,,1', 'SD0000302,B GREEN,12.00,03/11/2026,M-302,1'),
      },
    );
    expect(first.body).toMatchObject({ status: 'succeeded', failedRows: 0 });
    // Two customers and two payments.
    expect(first.body.counts).toMatchObject({ created: 4, updated: 0 });
    expect(await customer(gb.entityId, 'SD0000301')).toMatchObject({ name: 'A BROWN', currency: 'GBP' });
    // customer_id names the customer; the payer reference then names none.
    expect(await customer(gb.entityId, 'M-302')).toMatchObject({ name: 'B GREEN', currency: 'GBP' });
    expect(await customer(gb.entityId, 'SD0000302')).toBeNull();
    const created = await customer(gb.entityId, 'SD0000301');

    // Next month the account is in another name: the customer stays as it is.
    const next = await upload(
      app,
      gb.token,
      { pipeline: 'gb-files' },
      { name: 'sd4.csv', content: report('SD0000301,A & B BROWN,40.00,03/12/2026,,1') },
    );
    expect(rowsOf(next.body)).toEqual([[2, 'SD-SD0000301-2026-12-03', 'created']]);
    expect(next.body.counts).toMatchObject({ created: 1, updated: 0, skipped: 0 });
    expect(await customer(gb.entityId, 'SD0000301')).toEqual(created);
    await checkInvariants(t.db, gb.entityId);
  });

  it('creates no customer from a row it refuses, and parks a collection whose unknown customer has no account name', async () => {
    const r = await upload(
      app,
      gb.token,
      { pipeline: 'gb-files' },
      {
        name: 'sd5.csv',
        content: report(
          'SD0000401,C WHITE,abc,03/11/2026,,1',
          'SD0000402,,15.00,03/11/2026,,1',
          'SD0000403,D BLACK,15.00,03/11/2026,,Rejected',
        ),
      },
    );
    expect(rowsOf(r.body)).toEqual([
      [2, 'SD-SD0000401-2026-11-03', 'parked'],
      [3, 'SD-SD0000402-2026-11-03', 'parked'],
      [4, 'SD-SD0000403-2026-11-03', 'ignored'],
    ]);
    for (const code of ['SD0000401', 'SD0000402', 'SD0000403']) expect(await customer(gb.entityId, code)).toBeNull();
    expect(r.body.rows[0].message).toMatch(/^IMPORT_ROW_INVALID: amount: "abc" is not an amount/);
    expect(r.body.rows[1].message).toBe(
      'SOURCE_CUSTOMER_NOT_FOUND: Customer SD0000402 is neither named in the file (customer_name on invoice rows, account_name on SmartDebit rows) nor a customer code of the target: import it as a customer first; runs again by itself once customer SD0000402 is booked',
    );
  });

  it('leaves an existing customer as it was when the collection booked onto it is parked', async () => {
    const customers = 'customer_id,name,email,currency\nC-1002,"Smith, Jane",jane@example.org,EUR\n';
    await upload(app, eu.token, { pipeline: 'eu-files' }, { name: 'c.csv', content: customers });
    const before = await customer(eu.entityId, 'C-1002');
    const r = await upload(
      app,
      eu.token,
      { pipeline: 'eu-files' },
      { name: 'sd1.csv', content: report('SD0000101,J SMITH,25.00,03/11/2026,C-1002,1') },
    );
    expect(rowsOf(r.body)).toEqual([[2, 'SD-SD0000101-2026-11-03', 'parked']]);
    expect(r.body.rows[0].message).toBe('CURRENCY_MISMATCH: The payment is in GBP; customer C-1002 is in EUR');
    expect(r.body.counts).toMatchObject({ created: 0, updated: 0, parked: 1 });
    expect(await customer(eu.entityId, 'C-1002')).toEqual(before);
  });

  it('keeps the customer it created for a collection the ledger parks, and books the collection onto it once it can', async () => {
    const file = { name: 'sd6.csv', content: report('SD0000501,M GREY,30.00,03/11/2026,,1') };
    const parked = await upload(app, eu.token, { pipeline: 'eu-files' }, file);
    expect(rowsOf(parked.body)).toEqual([[2, 'SD-SD0000501-2026-11-03', 'parked']]);
    expect(parked.body.rows[0].message).toMatch(
      /^EXCHANGE_RATE_MISSING: .*no GBP rate is dated on or before 2026-11-03/,
    );
    expect(parked.body.counts).toMatchObject({ created: 1, parked: 1 });
    const created = await customer(eu.entityId, 'SD0000501');
    expect(created).toMatchObject({ name: 'M GREY', currency: 'GBP' });

    expect((await eu.put('/v1/currencies/GBP/rates/2026-11-01', { rate: '0.87' })).status).toBe(201);
    const again = await upload(app, eu.token, { pipeline: 'eu-files' }, file);
    expect(rowsOf(again.body)).toEqual([[2, 'SD-SD0000501-2026-11-03', 'created']]);
    expect(again.body.counts).toMatchObject({ created: 1, updated: 0, parked: 0 });
    expect(await customer(eu.entityId, 'SD0000501')).toEqual(created);
    expect(await receipts(eu.entityId, 'SD-SD0000501-2026-11-03')).toMatchObject([
      { customer_code: 'SD0000501', gross: '3000' },
    ]);
    await checkInvariants(t.db, eu.entityId);
  });
});

describe('the example files of docs/imports.md', () => {
  it('are each booked (or ignored, an unsuccessful collection) when imported in the order the doc gives, into the pipelines it sets up', async () => {
    const doc = await readFile('docs/imports.md', 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
    const config = parseConfig(yaml);
    await applyConfig(t.db, testBox, config);
    const pipelines = new Set(config.pipelines.map((p) => p.name));

    // Every import command of the doc names a pipeline the doc sets up.
    const commands = [...doc.matchAll(/^ledgerlink import (\S+) --pipeline (\S+)/gm)];
    expect(commands.length).toBeGreaterThan(5);
    for (const [, , pipeline] of commands) expect(pipelines).toContain(pipeline);

    const examples = commands.filter(([, file]) => file!.startsWith('docs/examples/'));
    expect(examples.map(([, file]) => file)).toEqual([
      'docs/examples/customers.csv',
      'docs/examples/invoices.csv',
      'docs/examples/receipts.csv',
      'docs/examples/gocardless-payout.csv',
      'docs/examples/smartdebit-collections.csv',
    ]);
    const outcomes: string[][] = [];
    for (const [, file, name] of examples) {
      const pipeline = await requirePipeline(t.db, testBox, name!);
      const r = await importFile(t.sync, pipeline, { fileName: file!, bytes: await readFile(join(file!)) }, 'test');
      expect({ file, status: r.status, failedRows: r.failedRows }).toEqual({
        file,
        status: 'succeeded',
        failedRows: 0,
      });
      outcomes.push(...r.rows.map((x) => [x.sourceId, x.outcome]));
    }
    expect(outcomes.filter(([, outcome]) => outcome !== 'created')).toEqual([['SD-SD0000102-2026-11-03', 'ignored']]);

    const { rows } = await t.db.query<any>(
      `SELECT e.code AS entity, c.code, c.name, c.currency FROM customers c JOIN entities e ON e.id = c.entity_id
        WHERE e.code IN ('CLUB', 'CLUBUK') ORDER BY e.code, c.code`,
    );
    expect(rows).toEqual([
      { entity: 'CLUB', code: 'ACME', name: 'Acme Sports Ltd', currency: 'EUR' },
      { entity: 'CLUB', code: 'C-1002', name: 'Smith, Jane', currency: 'EUR' },
      { entity: 'CLUB', code: 'C-2001', name: 'Brown & Co', currency: 'EUR' },
      { entity: 'CLUB', code: 'CU000123', name: 'Jane Smith', currency: 'EUR' },
      { entity: 'CLUB', code: 'CU000124', name: 'Brown & Co', currency: 'EUR' },
      { entity: 'CLUBUK', code: 'SD0000101', name: 'J SMITH', currency: 'GBP' },
    ]);
  });
});
