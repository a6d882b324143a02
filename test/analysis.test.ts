import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('ANALYSIS', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
  await seedCustomer(t.db, c.entityId, 'US1', { currency: 'USD' });
});
afterAll(async () => t.close());

function expectError(res: { status: number; body: any }, status: number, code: string, field?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  if (field !== undefined) expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
}

let refs = 0;
function invoice(lines: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return { customerCode: 'C1', invoiceDate: '2026-11-10', externalReference: `INV-${++refs}`, lines, ...extra };
}
const line = (net: string, extra: Record<string, unknown> = {}) => ({
  glAccountCode: '4000',
  taxCode: 'STD',
  netAmount: net,
  taxRate: '0.21',
  ...extra,
});

async function analysisOf(transactionId: number) {
  const items = await t.db.query<{ analysis: unknown }>(
    'SELECT analysis FROM transaction_items WHERE transaction_id = $1 ORDER BY line_no',
    [transactionId],
  );
  const net = await t.db.query<{ analysis: unknown }>(
    `SELECT analysis FROM journal_lines WHERE transaction_id = $1 AND role = 'net' ORDER BY line_no`,
    [transactionId],
  );
  expect(net.rows.map((r) => r.analysis)).toEqual(items.rows.map((r) => r.analysis));
  return items.rows.map((r) => r.analysis);
}

async function count(table: string) {
  const { rows } = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE entity_id = $1`, [
    c.entityId,
  ]);
  return rows[0]!.n;
}

describe('analysis dimensions', () => {
  it('defines, lists, replaces and audits dimensions and their codes', async () => {
    const created = await c.put('/v1/analysis-dimensions/1', {
      name: 'Region',
      codes: [
        { code: 'SOUTH', name: 'South' },
        { code: 'NORTH', name: 'North' },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toEqual({
      dimension: 1,
      name: 'Region',
      codes: [
        { code: 'NORTH', name: 'North', active: true },
        { code: 'SOUTH', name: 'South', active: true },
      ],
    });
    const replaced = await c.put('/v1/analysis-dimensions/1', {
      name: 'Regions',
      codes: [
        { code: 'NORTH', name: 'North' },
        { code: 'SOUTH', name: 'South' },
        { code: 'WEST', name: 'West', active: false },
      ],
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.codes).toEqual([
      { code: 'NORTH', name: 'North', active: true },
      { code: 'SOUTH', name: 'South', active: true },
      { code: 'WEST', name: 'West', active: false },
    ]);
    expect(
      (
        await c.put('/v1/analysis-dimensions/2', {
          name: 'Channel',
          codes: [
            { code: 'RETAIL', name: 'Retail' },
            { code: 'TRADE', name: 'Trade' },
          ],
        })
      ).status,
    ).toBe(201);
    const list = await c.get('/v1/analysis-dimensions');
    expect(list.body.map((d: { dimension: number; name: string }) => [d.dimension, d.name])).toEqual([
      [1, 'Regions'],
      [2, 'Channel'],
    ]);
    expect((await c.get('/v1/analysis-dimensions/2')).body.codes).toHaveLength(2);
    expectError(await c.get('/v1/analysis-dimensions/3'), 404, 'NOT_FOUND');
    const { rows } = await t.db.query<{ action: string; before: any; after: any }>(
      `SELECT action, before, after FROM audit_log WHERE entity_id = $1 AND object_type = 'analysis-dimension' AND object_id = '1' ORDER BY id`,
      [c.entityId],
    );
    expect(rows.map((r) => r.action)).toEqual(['analysis-dimension.created', 'analysis-dimension.updated']);
    expect(rows[1]!.before.name).toBe('Region');
    expect(rows[1]!.after.name).toBe('Regions');
  });

  it('refuses bad dimensions and codes, changing nothing', async () => {
    const before = (await c.get('/v1/analysis-dimensions')).body;
    expectError(
      await c.put('/v1/analysis-dimensions/7', { name: 'X', codes: [] }),
      400,
      'VALIDATION_ERROR',
      'params.n',
    );
    expectError(
      await c.put('/v1/analysis-dimensions/0', { name: 'X', codes: [] }),
      400,
      'VALIDATION_ERROR',
      'params.n',
    );
    expectError(
      await c.put('/v1/analysis-dimensions/1', { name: 'R', codes: [{ code: 'north', name: 'x' }] }),
      400,
      'VALIDATION_ERROR',
      'body.codes.0.code',
    );
    expectError(
      await c.put('/v1/analysis-dimensions/1', {
        name: 'R',
        codes: [
          { code: 'NORTH', name: 'x' },
          { code: 'NORTH', name: 'y' },
        ],
      }),
      400,
      'VALIDATION_ERROR',
      'body.codes[1].code',
    );
    expectError(await c.put('/v1/analysis-dimensions/1', { codes: [] }), 400, 'VALIDATION_ERROR', 'body.name');
    expect((await c.get('/v1/analysis-dimensions')).body).toEqual(before);
  });

  it("checks a department's codes against the dimensions defined", async () => {
    const ok = await c.put('/v1/departments/NTH', {
      name: 'North shops',
      analysisCodes: ['NORTH', 'RETAIL', 'FREE-TEXT'],
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect((await c.put('/v1/departments/NONE', { name: 'No region', analysisCodes: ['', 'TRADE'] })).status).toBe(201);
    expectError(
      await c.put('/v1/departments/NTH', { analysisCodes: ['EAST', 'RETAIL'] }),
      422,
      'ANALYSIS_CODE_DOES_NOT_EXIST',
      'body.analysisCodes.0',
    );
    expectError(
      await c.put('/v1/departments/BAD', { name: 'Bad', analysisCodes: ['NORTH', 'NORTH'] }),
      422,
      'ANALYSIS_CODE_DOES_NOT_EXIST',
      'body.analysisCodes.1',
    );
    expect((await c.get('/v1/departments/NTH')).body.analysisCodes).toEqual(['NORTH', 'RETAIL', 'FREE-TEXT']);
    expectError(await c.get('/v1/departments/BAD'), 404, 'NOT_FOUND');
  });
});

describe('analysis codes on lines', () => {
  it('takes codes from the department, overridden per line and dimension', async () => {
    const r = await c.post(
      '/v1/sales/batch-invoices',
      invoice([
        line('100.00', { departmentId: 'NTH' }),
        line('50.00', { departmentId: 'NTH', analysis: { '1': 'SOUTH', '2': null } }),
        line('30.00', { analysis: { '2': 'TRADE' } }),
        line('20.00'),
        line('10.00', { departmentId: 'NONE' }),
      ]),
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(await analysisOf(r.body.transactionId)).toEqual([
      { '1': 'NORTH', '2': 'RETAIL', '3': 'FREE-TEXT' },
      { '1': 'SOUTH', '3': 'FREE-TEXT' },
      { '2': 'TRADE' },
      null,
      { '2': 'TRADE' },
    ]);
    const tx = await c.get(`/v1/transactions/${r.body.transactionId}`);
    expect(tx.body.items.map((i: { analysis: unknown }) => i.analysis)).toEqual([
      { '1': 'NORTH', '2': 'RETAIL', '3': 'FREE-TEXT' },
      { '1': 'SOUTH', '3': 'FREE-TEXT' },
      { '2': 'TRADE' },
      {},
      { '2': 'TRADE' },
    ]);
    expect(tx.body.lines.map((l: { role: string; analysis: unknown }) => [l.role, l.analysis])).toEqual([
      ['control', {}],
      ['net', { '1': 'NORTH', '2': 'RETAIL', '3': 'FREE-TEXT' }],
      ['net', { '1': 'SOUTH', '3': 'FREE-TEXT' }],
      ['net', { '2': 'TRADE' }],
      ['net', {}],
      ['net', { '2': 'TRADE' }],
      ['tax', {}],
    ]);
  });

  it('refuses unknown, inactive and undefined-dimension codes with the field, posting nothing', async () => {
    const before = [await count('transactions'), await count('journal_lines')];
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ '1': 'EAST' }, 422, 'ANALYSIS_CODE_DOES_NOT_EXIST', 'lines[1].analysis.1'],
      [{ '2': 'NORTH' }, 422, 'ANALYSIS_CODE_DOES_NOT_EXIST', 'lines[1].analysis.2'],
      [{ '4': 'NORTH' }, 422, 'ANALYSIS_CODE_DOES_NOT_EXIST', 'lines[1].analysis.4'],
      [{ '1': 'WEST' }, 422, 'ANALYSIS_CODE_IS_INACTIVE', 'lines[1].analysis.1'],
      [{ '7': 'NORTH' }, 400, 'VALIDATION_ERROR', 'body.lines.1.analysis'],
      [{ '1': 'north' }, 400, 'VALIDATION_ERROR', 'body.lines.1.analysis.1'],
      [{ '1': 5 }, 400, 'VALIDATION_ERROR', 'body.lines.1.analysis.1'],
    ];
    for (const [analysis, status, code, field] of cases) {
      const r = await c.post('/v1/sales/batch-invoices', invoice([line('10.00'), line('5.00', { analysis })]));
      expectError(r, status, code, field);
    }
    expect([await count('transactions'), await count('journal_lines')]).toEqual(before);
  });

  it('copies exactly the invoice codes onto a credit note, whatever the department says now', async () => {
    const inv = await c.post('/v1/sales/batch-invoices', invoice([line('40.00', { departmentId: 'NONE' })]));
    expect(inv.status).toBe(201);
    expect((await c.put('/v1/departments/NONE', { analysisCodes: ['SOUTH', 'RETAIL'] })).status).toBe(200);
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.body.transactionId,
      creditNoteDate: '2026-11-12',
      externalReference: 'CN-COPY',
    });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    expect(await analysisOf(cn.body.transactionId)).toEqual([{ '2': 'TRADE' }]);
    expect((await c.put('/v1/departments/NONE', { analysisCodes: ['', 'TRADE'] })).status).toBe(200);
  });

  it('carries codes on item invoice lines, refuses a bad one at save, and copies them onto a credit note', async () => {
    const itemLine = (extra: Record<string, unknown>) => ({
      description: 'Consulting',
      quantity: '2',
      unitPrice: '25.00',
      glAccountCode: '4000',
      taxCode: 'STD',
      ...extra,
    });
    const body = (lines: Record<string, unknown>[]) => ({ customerCode: 'C1', date: '2026-11-10', lines });
    const before = await count('draft_invoices');
    expectError(
      await c.post('/v1/sales/invoices', body([itemLine({ analysis: { '1': 'EAST' } })])),
      422,
      'ANALYSIS_CODE_DOES_NOT_EXIST',
      'lines[0].analysis.1',
    );
    expect(await count('draft_invoices')).toBe(before);
    const draft = await c.post(
      '/v1/sales/invoices',
      body([itemLine({ departmentId: 'NTH', analysis: { '2': 'TRADE' } }), itemLine({ analysis: { '1': 'SOUTH' } })]),
    );
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const posted = await c.post(`/v1/sales/invoices/${draft.body.draftId}/post`, {});
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    const codes = [{ '1': 'NORTH', '2': 'TRADE', '3': 'FREE-TEXT' }, { '1': 'SOUTH' }];
    expect(await analysisOf(posted.body.transactionId)).toEqual(codes);
    // The department moves to another region after the invoice: the credit note keeps the invoice's.
    expect((await c.put('/v1/departments/NTH', { analysisCodes: ['SOUTH', 'RETAIL', 'FREE-TEXT'] })).status).toBe(200);
    const cn = await c.post('/v1/sales/credit-notes/drafts', {
      customerCode: 'C1',
      date: '2026-11-12',
      fromInvoiceTransactionId: posted.body.transactionId,
    });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    const cnPosted = await c.post(`/v1/sales/credit-notes/drafts/${cn.body.draftId}/post`, {});
    expect(cnPosted.status, JSON.stringify(cnPosted.body)).toBe(201);
    expect(await analysisOf(cnPosted.body.transactionId)).toEqual(codes);
    expect((await c.put('/v1/departments/NTH', { analysisCodes: ['NORTH', 'RETAIL', 'FREE-TEXT'] })).status).toBe(200);
    await checkInvariants(t.db, c.entityId);
  });

  it('keeps a used code in its dimension: removing it is refused, deactivating it is not', async () => {
    const codes = [
      { code: 'NORTH', name: 'North' },
      { code: 'WEST', name: 'West', active: false },
    ];
    // SOUTH is on posted lines.
    expectError(
      await c.put('/v1/analysis-dimensions/1', { name: 'Regions', codes }),
      422,
      'ANALYSIS_CODE_IN_USE',
      'body.codes',
    );
    // A dimension defined after departments carried codes in its position must list them.
    expectError(
      await c.put('/v1/analysis-dimensions/3', { name: 'Free', codes: [{ code: 'OTHER', name: 'Other' }] }),
      422,
      'ANALYSIS_CODE_IN_USE',
      'body.codes',
    );
    expectError(await c.get('/v1/analysis-dimensions/3'), 404, 'NOT_FOUND');
    // A is a department's code.
    await c.put('/v1/analysis-dimensions/5', { name: 'Spare', codes: [{ code: 'A', name: 'A' }] });
    expect((await c.put('/v1/departments/SPARE', { name: 'Spare', analysisCodes: ['', '', '', '', 'A'] })).status).toBe(
      201,
    );
    expectError(
      await c.put('/v1/analysis-dimensions/5', { name: 'Spare', codes: [] }),
      422,
      'ANALYSIS_CODE_IN_USE',
      'body.codes',
    );
    expect((await c.get('/v1/analysis-dimensions/1')).body.codes.map((x: { code: string }) => x.code)).toEqual([
      'NORTH',
      'SOUTH',
      'WEST',
    ]);
    const off = await c.put('/v1/analysis-dimensions/1', {
      name: 'Regions',
      codes: [...codes, { code: 'SOUTH', name: 'South', active: false }],
    });
    expect(off.status).toBe(200);
    expectError(
      await c.post('/v1/sales/batch-invoices', invoice([line('10.00', { analysis: { '1': 'SOUTH' } })])),
      422,
      'ANALYSIS_CODE_IS_INACTIVE',
      'lines[0].analysis.1',
    );
    expect(
      (
        await c.put('/v1/analysis-dimensions/1', {
          name: 'Regions',
          codes: [...codes, { code: 'SOUTH', name: 'South' }],
        })
      ).status,
    ).toBe(200);
    await checkInvariants(t.db, c.entityId);
  });
});

describe('GET /v1/reports/analysis', () => {
  it('gives invoiced, credited and net per code in the base currency, exactly as the GL holds them', async () => {
    const e = await t.entity('ANALYSIS-REPORT', 'EUR');
    await seedCustomer(t.db, e.entityId, 'C1');
    await seedCustomer(t.db, e.entityId, 'US1', { currency: 'USD' });
    await e.put('/v1/analysis-dimensions/1', {
      name: 'Region',
      codes: [
        { code: 'NORTH', name: 'North' },
        { code: 'SOUTH', name: 'South' },
        { code: 'EAST', name: 'East' },
      ],
    });
    await e.put('/v1/departments/NTH', { name: 'North', analysisCodes: ['NORTH'] });
    const post = async (body: unknown) => {
      const r = await e.post('/v1/sales/batch-invoices', body);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body.transactionId as number;
    };
    const inv = await post(
      invoice([line('100.00', { departmentId: 'NTH' }), line('50.00', { analysis: { '1': 'SOUTH' } }), line('30.00')]),
    );
    // 33.33 / 1.1 = 30.30, 33.34 / 1.1 = 30.309... → 30.31: each line converted on its own.
    await post({
      ...invoice([
        line('33.33', { analysis: { '1': 'SOUTH' } }),
        line('33.33', { analysis: { '1': 'SOUTH' } }),
        line('33.34', { analysis: { '1': 'SOUTH' } }),
      ]),
      customerCode: 'US1',
      exchangeRate: '1.1',
    });
    // A discount line lowers its code's revenue.
    await post(invoice([line('80.00', { departmentId: 'NTH' }), line('-5.00', { departmentId: 'NTH' })]));
    // Outside the period.
    await post(invoice([line('999.00', { departmentId: 'NTH' })], { invoiceDate: '2026-10-31' }));
    const cn = await e.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv,
      lineNumbers: [1],
      creditNoteDate: '2026-11-20',
      externalReference: 'CN-1',
    });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);

    const r = await e.get('/v1/reports/analysis?dimension=1&from=2026-11-01&to=2026-11-30&byCurrency=true');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({
      dimension: 1,
      name: 'Region',
      from: '2026-11-01',
      to: '2026-11-30',
      currency: 'EUR',
      rows: [
        { code: 'EAST', name: 'East', invoiced: '0.00', credited: '0.00', net: '0.00' },
        { code: 'NORTH', name: 'North', invoiced: '175.00', credited: '100.00', net: '75.00' },
        { code: 'SOUTH', name: 'South', invoiced: '140.91', credited: '0.00', net: '140.91' },
        { code: null, name: null, invoiced: '30.00', credited: '0.00', net: '30.00' },
      ],
      totals: { invoiced: '345.91', credited: '100.00', net: '245.91' },
      byCurrency: [
        {
          currency: 'EUR',
          rows: [
            { code: 'EAST', name: 'East', invoiced: '0.00', credited: '0.00', net: '0.00' },
            { code: 'NORTH', name: 'North', invoiced: '175.00', credited: '100.00', net: '75.00' },
            { code: 'SOUTH', name: 'South', invoiced: '50.00', credited: '0.00', net: '50.00' },
            { code: null, name: null, invoiced: '30.00', credited: '0.00', net: '30.00' },
          ],
          totals: { invoiced: '255.00', credited: '100.00', net: '155.00' },
        },
        {
          currency: 'USD',
          rows: [
            { code: 'EAST', name: 'East', invoiced: '0.00', credited: '0.00', net: '0.00' },
            { code: 'NORTH', name: 'North', invoiced: '0.00', credited: '0.00', net: '0.00' },
            { code: 'SOUTH', name: 'South', invoiced: '100.00', credited: '0.00', net: '100.00' },
            { code: null, name: null, invoiced: '0.00', credited: '0.00', net: '0.00' },
          ],
          totals: { invoiced: '100.00', credited: '0.00', net: '100.00' },
        },
      ],
    });
    // All of it on 4000: the report's net over all time is the sales account's credit in the trial balance.
    const all = await e.get('/v1/reports/analysis?dimension=1');
    expect(all.body.totals).toEqual({ invoiced: '1344.91', credited: '100.00', net: '1244.91' });
    expect(all.body.byCurrency).toBeUndefined();
    const tb = await e.get('/v1/reports/trial-balance?at=2026-12-31');
    expect(tb.body.accounts.find((a: { code: string }) => a.code === '4000').credit).toBe('1244.91');
    // A dimension not defined: every line is without a code.
    const d2 = await e.get('/v1/reports/analysis?dimension=2&from=2026-11-01');
    expect(d2.body.name).toBeNull();
    expect(d2.body.rows).toEqual([{ code: null, name: null, invoiced: '345.91', credited: '100.00', net: '245.91' }]);
    await checkInvariants(t.db, e.entityId);
  });

  it('refuses a bad dimension or period', async () => {
    expectError(await c.get('/v1/reports/analysis'), 400, 'VALIDATION_ERROR', 'query.dimension');
    expectError(await c.get('/v1/reports/analysis?dimension=7'), 400, 'VALIDATION_ERROR', 'query.dimension');
    expectError(
      await c.get('/v1/reports/analysis?dimension=1&from=2026-12-01&to=2026-11-01'),
      400,
      'VALIDATION_ERROR',
      'query.to',
    );
  });

  it('shows one entity nothing of another', async () => {
    const other = await t.entity('ANALYSIS-OTHER', 'EUR');
    expect((await other.get('/v1/analysis-dimensions')).body).toEqual([]);
    const r = await other.get('/v1/reports/analysis?dimension=1');
    expect(r.body.rows).toEqual([{ code: null, name: null, invoiced: '0.00', credited: '0.00', net: '0.00' }]);
  });
});
