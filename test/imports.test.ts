import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline } from './helpers/sync.ts';
import { type FormPart, multipartParts, syncServer, upload } from './helpers/uploads.ts';
import { registerImport, runImport } from '../src/cli/import.ts';
import { runReconcile } from '../src/cli/reconcile.ts';
import { COLUMNS, IMPORT_KINDS } from '../src/connectors/csv/index.ts';
import { cliImportPlace } from './helpers/cli.ts';
import { processScope } from './helpers/scoped.ts';

const scope = processScope();
let t: TestApp;
let app: FastifyInstance;
let c: Client;
let other: Client;
let uk: Client;

const example = (name: string) => readFile(join('docs/examples', name));

beforeAll(async () => {
  t = await createTestApp();
  app = await syncServer(t);
  c = await t.entity('IMP', 'EUR', { standardTaxRate: '0.21' });
  other = await t.entity('OTH', 'EUR');
  uk = await t.entity('UKE', 'GBP', { standardTaxRate: '0.20' });
  await definePipeline(t.db, 'IMP', { name: 'files', source: { type: 'file' } });
  await definePipeline(t.db, 'IMP', { name: 'recs', source: { type: 'records' } });
  await definePipeline(t.db, 'OTH', { name: 'other-files', source: { type: 'file' } });
  await definePipeline(t.db, 'UKE', { name: 'uk-files', source: { type: 'file' } });
});
afterAll(async () => {
  if (app !== t.app) await app.close();
  await t.close();
});

async function ledger(entityId: string) {
  const { rows } = await t.db.query<any>(
    `SELECT type, customer_code, external_reference, gross::text AS gross FROM transactions WHERE entity_id = $1 ORDER BY id`,
    [entityId],
  );
  return rows;
}

async function snapshot(entityId: string) {
  const tx = await ledger(entityId);
  const { rows: alloc } = await t.db.query<any>(`SELECT count(*)::int AS n FROM allocations WHERE entity_id = $1`, [
    entityId,
  ]);
  const { rows: cust } = await t.db.query<any>(
    `SELECT code, name, row_version FROM customers WHERE entity_id = $1 ORDER BY code`,
    [entityId],
  );
  return { tx, allocations: alloc[0].n, customers: cust };
}

describe('CSV imports of the documented example files', () => {
  let firstInvoiceRun: string;

  it('imports customers, invoices and receipts, posting each document once with its lines, allocations and fees', async () => {
    const customers = await upload(
      app,
      c.token,
      { pipeline: 'files' },
      { name: 'customers.csv', content: await example('customers.csv') },
    );
    expect(customers.status).toBe(200);
    expect(customers.body).toMatchObject({
      kind: 'customers',
      format: 'csv',
      status: 'succeeded',
      alreadyImported: false,
      failedRows: 0,
    });
    expect(customers.body.rows).toEqual([
      {
        line: 2,
        kind: 'customer',
        sourceId: 'C-1001',
        outcome: 'created',
        message: null,
        targetId: 'ACME',
        exceptionId: null,
      },
      {
        line: 3,
        kind: 'customer',
        sourceId: 'C-1002',
        outcome: 'created',
        message: null,
        targetId: 'C-1002',
        exceptionId: null,
      },
    ]);
    const { rows: acme } = await t.db.query<any>(
      `SELECT name, email, vat_number, address FROM customers WHERE entity_id = $1 AND code = 'ACME'`,
      [c.entityId],
    );
    expect(acme[0]).toMatchObject({
      name: 'Acme Sports Ltd',
      email: 'accounts@acme.example',
      vat_number: 'IE1234567T',
      address: { city: 'Dublin', street: '1 Main Street' },
    });

    const invoices = await upload(
      app,
      c.token,
      { pipeline: 'files' },
      { name: 'invoices.csv', content: await example('invoices.csv') },
    );
    expect(invoices.status).toBe(200);
    firstInvoiceRun = invoices.body.runId;
    expect(invoices.body).toMatchObject({ kind: 'invoices', status: 'succeeded', failedRows: 0, ignoredColumns: [] });
    expect(invoices.body.rows.map((r: any) => [r.line, r.sourceId, r.outcome])).toEqual([
      [2, 'INV-2026-001', 'created'],
      [3, 'INV-2026-001', 'created'],
      [4, 'INV-2026-002', 'created'],
    ]);

    const receipts = await upload(
      app,
      c.token,
      { pipeline: 'files' },
      { name: 'receipts.csv', content: await example('receipts.csv') },
    );
    expect(receipts.body).toMatchObject({ kind: 'receipts', status: 'succeeded', failedRows: 0 });
    expect(receipts.body.rows[0].message).toMatch(/^allocated to Invoice \d+ \(/);

    // Two lines at 21% (100 + 50, VAT 31.50) and one with its VAT given; the new customer C-2001 from the invoice row.
    expect(await ledger(c.entityId)).toEqual([
      { type: 'SI', customer_code: 'ACME', external_reference: 'INV-2026-001', gross: '18150' },
      { type: 'SI', customer_code: 'C-2001', external_reference: 'INV-2026-002', gross: '121000' },
      { type: 'SR', customer_code: 'ACME', external_reference: 'RCPT-5001', gross: '18150' },
      { type: 'SR', customer_code: 'C-2001', external_reference: 'RCPT-5002', gross: '50000' },
      { type: 'GJ', customer_code: null, external_reference: 'RCPT-5002', gross: '150' },
    ]);
    const { rows: items } = await t.db.query<any>(
      `SELECT i.description, i.net::text AS net, i.tax::text AS tax FROM transaction_items i JOIN transactions t ON t.id = i.transaction_id
        WHERE t.entity_id = $1 AND t.external_reference = 'INV-2026-001' ORDER BY i.line_no`,
      [c.entityId],
    );
    expect(items).toEqual([
      { description: 'Adult season ticket', net: '10000', tax: '2100' },
      { description: 'Child season ticket', net: '5000', tax: '1050' },
    ]);
    const { rows: cust } = await t.db.query<any>(
      `SELECT name, email FROM customers WHERE entity_id = $1 AND code = 'C-2001'`,
      [c.entityId],
    );
    expect(cust[0]).toEqual({ name: 'Brown & Co', email: 'info@brown.example' });
    await checkInvariants(t.db, c.entityId);
  });

  it('changes nothing when the same files are imported again, and says they were imported before', async () => {
    const before = await snapshot(c.entityId);
    for (const name of ['customers.csv', 'invoices.csv', 'receipts.csv']) {
      const again = await upload(app, c.token, { pipeline: 'files' }, { name, content: await example(name) });
      expect(again.status).toBe(200);
      expect(again.body.alreadyImported).toBe(true);
      expect(again.body.counts).toMatchObject({ created: 0, updated: 0, parked: 0 });
      expect(again.body.rows.every((r: any) => r.outcome === 'skipped')).toBe(true);
      if (name === 'invoices.csv') expect(again.body.previousImport.runId).toBe(firstInvoiceRun);
    }
    expect(await snapshot(c.entityId)).toEqual(before);
    const { rows } = await t.db.query<any>(
      `SELECT i.file_name, count(*)::int AS n, count(DISTINCT i.sha256)::int AS hashes FROM imports i JOIN pipelines p ON p.id = i.pipeline_id
        WHERE p.name = 'files' GROUP BY i.file_name ORDER BY i.file_name`,
    );
    expect(rows).toEqual([
      { file_name: 'customers.csv', n: 2, hashes: 1 },
      { file_name: 'invoices.csv', n: 2, hashes: 1 },
      { file_name: 'receipts.csv', n: 2, hashes: 1 },
    ]);
  });
});

describe('docs/imports.md', () => {
  it('documents every column of every kind and links the example files', async () => {
    const doc = await readFile('docs/imports.md', 'utf8');
    for (const kind of IMPORT_KINDS) {
      expect(doc).toContain(`### ${kind}`);
      for (const column of COLUMNS[kind])
        for (const name of column.name.split(/[|,]\s*/)) expect(doc).toContain(`\`${name.trim()}\``);
    }
    // The example files themselves are imported without a failed row by the tests above and below.
    for (const file of [
      'customers.csv',
      'invoices.csv',
      'receipts.csv',
      'gocardless-payout.csv',
      'smartdebit-collections.csv',
    ])
      expect(doc).toContain(`](examples/${file})`);
  });
});

describe('bad rows', () => {
  // Semicolons, a byte order mark, CRLF, and a quoted description holding the delimiter and quotes.
  const bad = [
    '\uFEFFinvoice_reference;customer_id;invoice_date;currency;description;line_description;net_amount;vat_rate',
    'BAD-1;C-1001;2026-11-05;EUR;"Kit; ""home""";Shirt;40.00;0.21',
    'BAD-1;C-1001;2026-11-05;EUR;"Kit; ""home""";Shorts;12,50;0.21',
    'OK-1;C-1001;2026-11-06;EUR;Socks;;5.00;21%',
    'BAD-2;C-1001;06/11/2026;EUR;Cap;Cap;10.00;0.21',
    ';C-1001;2026-11-06;EUR;No reference;;1.00;0.21',
    '',
  ].join('\r\n');

  it('names each bad row by its line and field, refuses an invoice with one bad line whole, and posts the rest', async () => {
    const r = await upload(app, c.token, { pipeline: 'files' }, { name: 'bad.csv', content: bad });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ kind: 'invoices', status: 'partial', failedRows: 4 });
    const rows = r.body.rows;
    expect(rows.map((x: any) => [x.line, x.sourceId, x.outcome])).toEqual([
      [2, 'BAD-1', 'parked'],
      [3, 'BAD-1', 'parked'],
      [4, 'OK-1', 'created'],
      [5, 'BAD-2', 'parked'],
      [6, 'bad.csv#6', 'parked'],
    ]);
    expect(rows[0].message).toBe('IMPORT_ROW_INVALID: refused with its invoice BAD-1, whose line 3 is invalid');
    expect(rows[1].message).toBe(
      'IMPORT_ROW_INVALID: net_amount: "12,50" uses a decimal comma; write 12.50, or import with the decimal-comma option',
    );
    expect(rows[3].message).toBe('IMPORT_ROW_INVALID: invoice_date: "06/11/2026" is not a date; write YYYY-MM-DD');
    expect(rows[4].message).toBe('IMPORT_ROW_INVALID: invoice_reference: is required');

    // One exception per refused document, with the line, the field and the data.
    const { rows: ex } = await t.db.query<any>(
      `SELECT x.id, x.source_id, x.reason_code, x.field, x.message, x.payload FROM exceptions x JOIN pipelines p ON p.id = x.pipeline_id
        WHERE p.name = 'files' AND x.status = 'open' ORDER BY x.source_id`,
    );
    expect(ex.map((x: any) => [x.source_id, x.reason_code, x.field, x.message])).toEqual([
      [
        'BAD-1',
        'IMPORT_ROW_INVALID',
        'net_amount',
        'net_amount: "12,50" uses a decimal comma; write 12.50, or import with the decimal-comma option (line 3)',
      ],
      [
        'BAD-2',
        'IMPORT_ROW_INVALID',
        'invoice_date',
        'invoice_date: "06/11/2026" is not a date; write YYYY-MM-DD (line 5)',
      ],
      ['bad.csv#6', 'IMPORT_ROW_INVALID', 'invoice_reference', 'invoice_reference: is required (line 6)'],
    ]);
    expect(rows[1].exceptionId).toBe(Number(ex[0].id));
    expect(ex[0].payload.rows.map((x: any) => [x.line, x.cells.line_description, x.cells.description])).toEqual([
      [2, 'Shirt', 'Kit; "home"'],
      [3, 'Shorts', 'Kit; "home"'],
    ]);

    const refs = (await ledger(c.entityId)).map((x: any) => x.external_reference);
    expect(refs).toContain('OK-1');
    expect(refs).not.toContain('BAD-1');
    expect(refs).not.toContain('BAD-2');
  });

  it('posts the refused invoice once the file is corrected, and closes its exception', async () => {
    const fixed = bad.replace('12,50', '12.50');
    const r = await upload(app, c.token, { pipeline: 'files' }, { name: 'bad-fixed.csv', content: fixed });
    expect(r.body.rows.filter((x: any) => x.sourceId === 'BAD-1').map((x: any) => x.outcome)).toEqual([
      'created',
      'created',
    ]);
    expect(r.body.rows.find((x: any) => x.sourceId === 'OK-1').outcome).toBe('skipped');
    const posted = (await ledger(c.entityId)).filter((x: any) => x.external_reference === 'BAD-1');
    expect(posted).toEqual([{ type: 'SI', customer_code: 'ACME', external_reference: 'BAD-1', gross: '6353' }]);
    const { rows } = await t.db.query<any>(`SELECT status FROM exceptions WHERE source_id = 'BAD-1'`);
    expect(rows).toEqual([{ status: 'resolved' }]);
  });

  it('reads decimal commas only when asked', async () => {
    const csv = 'payment_reference;customer_id;date;amount;currency\nDC-1;C-1001;2026-11-07;12,50;EUR\n';
    const refused = await upload(app, c.token, { pipeline: 'files' }, { name: 'dc.csv', content: csv });
    expect(refused.body.rows[0]).toMatchObject({ line: 2, outcome: 'parked' });
    const read = await upload(
      app,
      c.token,
      { pipeline: 'files', decimalComma: 'true' },
      { name: 'dc.csv', content: csv },
    );
    expect(read.body.rows[0]).toMatchObject({ line: 2, outcome: 'created' });
    expect((await ledger(c.entityId)).find((x: any) => x.external_reference === 'DC-1')).toMatchObject({
      gross: '1250',
    });
    // Another word for yes is refused, saying which values are taken, and nothing is imported.
    const yes = await upload(
      app,
      c.token,
      { pipeline: 'files', decimalComma: 'yes' },
      { name: 'dc2.csv', content: csv },
    );
    expect(yes.status).toBe(400);
    expect(yes.body.error).toEqual({
      code: 'VALIDATION_ERROR',
      message: 'decimalComma: must be true or false',
      details: [{ field: 'decimalComma', message: 'must be true or false' }],
    });
  });
});

async function workbook(rows: unknown[][]): Promise<Buffer> {
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.Workbook();
  wb.addWorksheet('Empty');
  const ws = wb.addWorksheet('Data');
  for (const r of rows) ws.addRow(r);
  return Buffer.from(await wb.xlsx.writeBuffer());
}

describe('Excel imports', () => {
  const day = (d: number) => new Date(Date.UTC(2026, 10, d));

  it('reads customers, invoices and receipts from .xlsx: numbers, date cells, formulas and the row numbers Excel shows', async () => {
    const customers = await workbook([
      ['Customer ID', 'Name', 'Email', 'Currency'],
      ['XL-C1', 'Excel Customer', 'xl@example.org', 'EUR'],
    ]);
    const c1 = await upload(app, c.token, { pipeline: 'files' }, { name: 'customers.xlsx', content: customers });
    expect(c1.body).toMatchObject({ kind: 'customers', format: 'xlsx', status: 'succeeded' });

    const invoices = await workbook([
      [
        'invoice_reference',
        'customer_id',
        'invoice_date',
        'due_date',
        'currency',
        'line_description',
        'net_amount',
        'vat_rate',
      ],
      ['XL-1', 'XL-C1', day(8), day(30), 'EUR', 'Typed', 8.3, 0.21],
      ['XL-1', 'XL-C1', day(8), day(30), 'EUR', 'Formula', { formula: '40*2.5', result: 100 }, '21%'],
      ['XL-2', 'XL-C1', day(9), null, 'EURO', 'Bad currency', 10, 0.21],
      [],
      ['XL-3', 'XL-C1', 46335, null, 'EUR', 'Serial date', 1.5, 0],
    ]);
    const inv = await upload(
      app,
      c.token,
      { pipeline: 'files', kind: 'invoices' },
      { name: 'invoices.xlsx', content: invoices },
    );
    expect(inv.status).toBe(200);
    expect(inv.body.rows.map((r: any) => [r.line, r.sourceId, r.outcome])).toEqual([
      [2, 'XL-1', 'created'],
      [3, 'XL-1', 'created'],
      [4, 'XL-2', 'parked'],
      [6, 'XL-3', 'created'],
    ]);
    expect(inv.body.rows[2].message).toBe(
      'IMPORT_ROW_INVALID: currency: "EURO" is not an ISO 4217 currency code such as EUR',
    );
    const { rows } = await t.db.query<any>(
      `SELECT external_reference, transaction_date::text AS date, due_date::text AS due, gross::text AS gross FROM transactions
        WHERE entity_id = $1 AND external_reference LIKE 'XL-%' ORDER BY id`,
      [c.entityId],
    );
    // 8.30 + 1.74 VAT (1.743 half up) + 100.00 + 21.00; the serial 46335 is 2026-11-09.
    expect(rows).toEqual([
      { external_reference: 'XL-1', date: '2026-11-08', due: '2026-11-30', gross: '13104' },
      { external_reference: 'XL-3', date: '2026-11-09', due: expect.any(String), gross: '150' },
    ]);

    const receipts = await workbook([
      ['payment_reference', 'customer_id', 'date', 'amount', 'currency', 'invoice_reference'],
      ['XL-P1', 'XL-C1', day(12), 131.04, 'EUR', 'XL-1'],
    ]);
    const rec = await upload(app, c.token, { pipeline: 'files' }, { name: 'receipts.xlsx', content: receipts });
    expect(rec.body.rows[0]).toMatchObject({
      line: 2,
      outcome: 'created',
      message: expect.stringMatching(/^allocated to Invoice \d+ \(/),
    });
    await checkInvariants(t.db, c.entityId);
  });
});

describe('payout reports', () => {
  it('imports a GoCardless payout breakdown: gross receipts, fees to bank charges, refunds against their payment', async () => {
    const r = await upload(
      app,
      c.token,
      { pipeline: 'files' },
      { name: 'gocardless-payout.csv', content: await example('gocardless-payout.csv') },
    );
    expect(r.body).toMatchObject({ kind: 'gocardless', status: 'succeeded', failedRows: 0 });
    expect(r.body.rows.map((x: any) => [x.line, x.kind, x.sourceId, x.outcome])).toEqual([
      [2, 'payment', 'PM000A1', 'created'],
      [3, 'payment', 'PM000A2', 'created'],
      [4, 'refund', 'RF000011', 'created'],
    ]);
    const gc = (await ledger(c.entityId)).filter((x: any) => /^(PM|RF)/.test(x.external_reference));
    expect(gc).toEqual([
      { type: 'SR', customer_code: 'CU000123', external_reference: 'PM000A1', gross: '3000' },
      { type: 'GJ', customer_code: null, external_reference: 'PM000A1', gross: '50' },
      { type: 'SR', customer_code: 'CU000124', external_reference: 'PM000A2', gross: '20000' },
      { type: 'GJ', customer_code: null, external_reference: 'PM000A2', gross: '120' },
      { type: 'SD', customer_code: 'CU000123', external_reference: 'RF000011', gross: '500' },
    ]);
    const { rows } = await t.db.query<any>(
      `SELECT name FROM customers WHERE entity_id = $1 AND code IN ('CU000123', 'CU000124') ORDER BY code`,
      [c.entityId],
    );
    expect(rows.map((x: any) => x.name)).toEqual(['Jane Smith', 'Brown & Co']);
    await checkInvariants(t.db, c.entityId);
  });

  it('imports a GoCardless payments export, ignoring payments not received', async () => {
    const csv = [
      'id,created_at,charge_date,amount,description,currency,status,amount_refunded,reference,transaction_fee,payout_date,app_fee,links.mandate,links.customer,links.payout,customers.email,customers.given_name,customers.family_name',
      'PM000B1,2026-11-01T10:00:00.000Z,2026-11-05,15.00,Lessons,EUR,paid_out,0.00,,0.30,2026-11-07,,MD1,CU000123,PO1,jane@example.org,Jane,Smith',
      'PM000B2,2026-11-01T10:00:00.000Z,2026-11-05,15.00,Lessons,EUR,failed,0.00,,0.00,,,MD1,CU000123,,jane@example.org,Jane,Smith',
    ].join('\n');
    const r = await upload(app, c.token, { pipeline: 'files' }, { name: 'payments.csv', content: csv });
    expect(r.body.rows.map((x: any) => [x.line, x.sourceId, x.outcome, x.message])).toEqual([
      [2, 'PM000B1', 'created', 'unallocated: the payment names no invoice'],
      [3, 'PM000B2', 'ignored', 'status "failed": no money received'],
    ]);
  });

  it('imports a SmartDebit collection report with UK dates, ignoring unsuccessful collections', async () => {
    const r = await upload(
      app,
      uk.token,
      { pipeline: 'uk-files' },
      { name: 'smartdebit.csv', content: await example('smartdebit-collections.csv') },
    );
    expect(r.body).toMatchObject({ kind: 'smartdebit', status: 'succeeded', failedRows: 0 });
    expect(r.body.rows.map((x: any) => [x.line, x.sourceId, x.outcome])).toEqual([
      [2, 'SD-SD0000101-2026-11-03', 'created'],
      [3, 'SD-SD0000102-2026-11-03', 'ignored'],
    ]);
    expect(await ledger(uk.entityId)).toEqual([
      { type: 'SR', customer_code: 'SD0000101', external_reference: 'SD-SD0000101-2026-11-03', gross: '2500' },
    ]);
    // A payer no one has yet is created under its payer reference, named by its account name
    // (test/imports-smartdebit.test.ts: an existing customer is never renamed).
    const { rows } = await t.db.query<any>(`SELECT code, name, currency FROM customers WHERE entity_id = $1`, [
      uk.entityId,
    ]);
    expect(rows).toEqual([{ code: 'SD0000101', name: 'J SMITH', currency: 'GBP' }]);
  });
});

describe('POST /v1/imports', () => {
  const file = { name: 'customers.csv', content: 'customer_id,name\nISO-1,Isolation Test\n' };

  it("answers 404 for another entity's pipeline and accepts the admin token", async () => {
    const r = await upload(app, other.token, { pipeline: 'files' }, file);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('PIPELINE_NOT_FOUND');
    // The known pipelines named are the caller's own.
    expect(r.body.error.message).toBe('No pipeline named files; known pipelines: other-files');
    const own = await upload(app, other.token, { pipeline: 'other-files' }, file);
    expect(own.status).toBe(200);
    const { rows } = await t.db.query<any>(`SELECT entity_id FROM customers WHERE code = 'ISO-1'`);
    expect(rows).toEqual([{ entity_id: other.entityId }]);
    const admin = await upload(app, ADMIN_TOKEN, { pipeline: 'files' }, file);
    expect(admin.status).toBe(200);
    expect((await upload(app, null, { pipeline: 'files' }, file)).status).toBe(401);
  });

  it('refuses what is not an import, in the usual error shape', async () => {
    const notFile = await upload(app, c.token, { pipeline: 'recs' }, file);
    expect(notFile.status).toBe(400);
    expect(notFile.body.error).toMatchObject({
      code: 'VALIDATION_ERROR',
      details: [{ field: 'pipeline', message: 'not a file pipeline' }],
    });
    const noFile = await upload(app, c.token, { pipeline: 'files' });
    expect(noFile.body.error).toMatchObject({
      code: 'VALIDATION_ERROR',
      details: [{ field: 'file', message: 'required' }],
    });
    const badKind = await upload(app, c.token, { pipeline: 'files', kind: 'orders' }, file);
    expect(badKind.body.error.code).toBe('VALIDATION_ERROR');
    expect(badKind.body.error.details[0].field).toBe('kind');
    const unknown = await upload(app, c.token, { pipeline: 'files' }, { name: 'x.csv', content: 'foo,bar\n1,2\n' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/^x\.csv: Cannot tell the kind of file from its columns \(foo, bar\)/);
    const missing = await upload(
      app,
      c.token,
      { pipeline: 'files', kind: 'receipts' },
      { name: 'r.csv', content: 'payment_reference,amount\nP,1\n' },
    );
    expect(missing.body.error.message).toMatch(/A receipts file needs the columns customer_id, date, currency/);
    const broken = await upload(
      app,
      c.token,
      { pipeline: 'files' },
      { name: 'q.csv', content: 'customer_id,name\n"open,x\n' },
    );
    expect(broken.body.error.message).toMatch(/A quoted field is never closed \(line 2\)/);

    const json = await app.inject({
      method: 'POST',
      url: '/v1/imports',
      headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ pipeline: 'files' }),
    });
    expect(json.statusCode).toBe(415);
    expect(json.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses a form with a second file or a field sent twice, naming the field, and imports nothing', async () => {
    const csv = { name: 'inv.csv', content: 'customer_id,name\nDUP-1,Sent Twice\n' };
    const send = async (parts: FormPart[]) => {
      const body = multipartParts(parts);
      const res = await app.inject({
        method: 'POST',
        url: '/v1/imports',
        headers: { authorization: `Bearer ${c.token}`, 'content-type': body.contentType },
        payload: body.payload,
      });
      return { status: res.statusCode, body: res.json() };
    };
    const imports = async () => (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM imports`)).rows[0]!.n;
    const before = { imports: await imports(), ledger: await snapshot(c.entityId) };
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`f${i}`, 'x']));
    const cases: [string, FormPart[], string][] = [
      // curl -F pipeline=files -F file=@inv.csv -F file=@inv.csv
      [
        'two files',
        [
          { name: 'pipeline', value: 'files' },
          { name: 'file', file: csv },
          { name: 'file', file: csv },
        ],
        'file',
      ],
      [
        'a second file elsewhere',
        [
          { name: 'pipeline', value: 'files' },
          { name: 'file', file: csv },
          { name: 'more', file: csv },
        ],
        'more',
      ],
      // curl -F pipeline=files -F pipeline=shop -F file=@inv.csv
      [
        'pipeline twice',
        [
          { name: 'pipeline', value: 'files' },
          { name: 'pipeline', value: 'other-files' },
          { name: 'file', file: csv },
        ],
        'pipeline',
      ],
      [
        'file as text and as a file',
        [
          { name: 'pipeline', value: 'files' },
          { name: 'file', value: 'x' },
          { name: 'file', file: csv },
        ],
        'file',
      ],
      [
        'kind twice',
        [
          { name: 'pipeline', value: 'files' },
          { name: 'kind', value: 'customers' },
          { name: 'kind', value: 'customers' },
          { name: 'file', file: csv },
        ],
        'kind',
      ],
      [
        'too many fields',
        [...Object.entries(many).map(([name, value]) => ({ name, value })), { name: 'file', file: csv }],
        'form',
      ],
    ];
    for (const [name, parts, field] of cases) {
      const r = await send(parts);
      expect({ name, status: r.status, code: r.body.error?.code, field: r.body.error?.details?.[0]?.field }).toEqual({
        name,
        status: 400,
        code: 'VALIDATION_ERROR',
        field,
      });
    }
    const twoFiles = await send([
      { name: 'pipeline', value: 'files' },
      { name: 'file', file: csv },
      { name: 'file', file: csv },
    ]);
    expect(twoFiles.body.error.message).toMatch(/send one file per request/);
    expect({ imports: await imports(), ledger: await snapshot(c.entityId) }).toEqual(before);
    // The same file alone is imported.
    expect(
      (
        await send([
          { name: 'pipeline', value: 'files' },
          { name: 'file', file: csv },
        ])
      ).status,
    ).toBe(200);
  });

  it('parses multipart on this route only', async () => {
    const { multipart } = await import('./helpers/uploads.ts');
    const body = multipart({ note: 'x' });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/pipelines/files/runs',
      headers: { authorization: `Bearer ${c.token}`, 'content-type': body.contentType },
      payload: body.payload,
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('ledgerlink import (CLI)', () => {
  const dir = cliImportPlace(scope, 'cli');

  async function capture(fn: () => Promise<number>) {
    const out: string[] = [];
    const err: string[] = [];
    const log = scope.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const error = scope.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    try {
      const code = await fn();
      return { code, out: out.join('\n'), err: err.join('\n') };
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
  }

  it('prints a row per line and a summary, exits 1 when a row failed, and books nothing twice', async () => {
    const customers = await capture(() => runImport('docs/examples/customers.csv', { pipeline: 'cli-files' }));
    expect(customers.code).toBe(0);
    expect(customers.out).toMatch(/^line\s+kind\s+source id\s+outcome\s+message$/m);
    expect(customers.out).toMatch(/^2\s+customer\s+C-1001\s+created$/m);
    expect(customers.out).toMatch(
      /customers\.csv \(customers, csv\) into pipeline cli-files: run [0-9a-f-]+ succeeded/,
    );

    const bad = join(dir(), 'bad.csv');
    await writeFile(
      bad,
      'invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate\nC-1,C-1001,2026-11-02,EUR,abc,0.21\nC-2,C-1001,2026-11-02,EUR,10.00,0.21\n',
    );
    const failed = await capture(() => runImport(bad, { pipeline: 'cli-files' }));
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(
      /^2\s+invoice\s+C-1\s+parked\s+IMPORT_ROW_INVALID: net_amount: "abc" is not an amount; write a decimal number such as 120\.50 \[exception #\d+\]$/m,
    );
    expect(failed.out).toMatch(/^3\s+invoice\s+C-2\s+created$/m);
    expect(failed.out).toMatch(/1 row not booked/);

    const again = await capture(() => runImport(bad, { pipeline: 'cli-files', json: true }));
    expect(again.code).toBe(1);
    const result = JSON.parse(again.out);
    expect(result).toMatchObject({ alreadyImported: true, counts: { created: 0 } });
    expect(result.rows.map((r: any) => r.outcome)).toEqual(['parked', 'skipped']);

    const unknown = await capture(() => runImport('docs/examples/customers.csv', { pipeline: 'nope' }));
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/NOT_FOUND: No pipeline named nope/);

    const reconciled = await capture(() => runReconcile('cli-files', { from: '2026-11-01', to: '2026-11-30' }));
    expect(reconciled.code).toBe(1);
    expect(reconciled.out).toMatch(/missing-in-ledger \(parked\) 2026-11-02 .*C-1 is not in the ledger/);
  });

  it('runs through commander, with the column lists in --help', async () => {
    const program = new Command().exitOverride();
    let help = '';
    program.configureOutput({ writeOut: (s) => (help += s), writeErr: (s) => (help += s) });
    registerImport(program);
    await expect(program.parseAsync(['node', 'ledgerlink', 'import', '--help'])).rejects.toThrow();
    for (const column of ['invoice_reference', 'payment_reference', 'vat_number', 'gocardless_fees', 'payer_reference'])
      expect(help).toContain(column);
    const run = await capture(async () => {
      await program.parseAsync([
        'node',
        'ledgerlink',
        'import',
        'docs/examples/customers.csv',
        '--pipeline',
        'cli-files',
        '--kind',
        'customers',
      ]);
      return Number(process.exitCode ?? 0);
    });
    process.exitCode = undefined;
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^2\s+customer\s+C-1001\s+skipped\s+unchanged$/m);
  });
});

describe('cancelling an import while it works', () => {
  it('stops after the page in hand, says which rows were not posted, and the same file again posts the rest once', async () => {
    const cc = await t.entity('IMC', 'EUR', { standardTaxRate: '0.21' });
    await definePipeline(t.db, 'IMC', { name: 'cancel-files', source: { type: 'file' } });
    const customers = { name: 'customers.csv', content: await example('customers.csv') };
    expect((await upload(app, cc.token, { pipeline: 'cancel-files' }, customers)).status).toBe(200);
    // Six pages of 500 rows.
    const total = 3000;
    const lines = Array.from({ length: total }, (_, i) => `CI-${i + 1},C-1001,2026-11-02,EUR,10.00,0.21`);
    const file = {
      name: 'many.csv',
      content: Buffer.from(
        `invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate\n${lines.join('\n')}\n`,
      ),
    };
    // Cancelled over the API once the first page is committed, as a user watching the run would.
    let cancelled: Awaited<ReturnType<Client['post']>> | undefined;
    t.sync.engine.onPage = async (runId) => {
      cancelled ??= await cc.post(`/v1/runs/${runId}/cancel`, undefined);
    };
    const answer = await upload(app, cc.token, { pipeline: 'cancel-files' }, file).finally(() => {
      t.sync.engine.onPage = undefined;
    });
    // Before, an import at work was refused (RUN_NOT_CANCELLABLE): it could only be waited out.
    expect(cancelled!.status, JSON.stringify(cancelled!.body)).toBe(202);
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('cancelled');
    const created = answer.body.rows.filter((r: { outcome: string }) => r.outcome === 'created').length;
    const notPosted = answer.body.rows.filter((r: { outcome: string }) => r.outcome === 'failed');
    // Asked once the first page was committed: seen when the next is counted, and no more read.
    expect(created).toBe(1000);
    expect(created + notPosted.length).toBe(total);
    expect(notPosted[0].message).toMatch(
      /^Not posted: the import was cancelled by .+ before this row was booked\. Rows marked created were posted; import the file again/,
    );
    expect((await ledger(cc.entityId)).filter((d: { type: string }) => d.type === 'SI').length).toBe(created);

    // The same file again: the rest posted, nothing twice.
    const again = await upload(app, cc.token, { pipeline: 'cancel-files' }, file);
    expect(again.body).toMatchObject({ status: 'succeeded', alreadyImported: true });
    expect(again.body.counts).toMatchObject({ created: total - created, skipped: created });
    const invoices = (await ledger(cc.entityId)).filter((d: { type: string }) => d.type === 'SI');
    expect(invoices.length).toBe(total);
    expect(new Set(invoices.map((d: { external_reference: string }) => d.external_reference)).size).toBe(total);
    await checkInvariants(t.db, cc.entityId);
  }, 240_000);
});
