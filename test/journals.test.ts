import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, postInvoice, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('JOURNALS', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
  expect(
    (await c.put('/v1/gl-accounts/6100', { name: 'Consultancy', type: 'expense', isDepartmental: true })).status,
  ).toBe(201);
  expect((await c.put('/v1/gl-accounts/2400', { name: 'Accruals', type: 'liability' })).status).toBe(201);
  await c.put('/v1/analysis-dimensions/1', {
    name: 'Region',
    codes: [
      { code: 'NORTH', name: 'North' },
      { code: 'SOUTH', name: 'South' },
      { code: 'OLD', name: 'Old', active: false },
    ],
  });
  expect((await c.put('/v1/departments/NTH', { name: 'North', analysisCodes: ['NORTH'] })).status).toBe(201);
});
afterAll(async () => t.close());

function expectError(res: { status: number; body: any }, status: number, code: string, field?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  const details = res.body.error.details;
  // Most errors list their fields; a few (PERIOD_LOCKED, JOURNAL_NOT_BALANCED) are one object with `field`.
  const fields = Array.isArray(details) ? details.map((d: { field: string }) => d.field) : [details?.field];
  if (field !== undefined) expect(fields).toContain(field);
}

async function balances(client: Client, at: string): Promise<Record<string, string>> {
  const tb = await client.get(`/v1/reports/trial-balance?at=${at}`);
  expect(tb.body.totals.debit).toBe(tb.body.totals.credit);
  return Object.fromEntries(
    tb.body.accounts.map((a: { code: string; debit: string; credit: string }) => [
      a.code,
      a.debit !== '0.00' ? a.debit : `-${a.credit}`,
    ]),
  );
}

async function counts() {
  const { rows } = await t.db.query<{ tx: string; lines: string; audit: string }>(
    `SELECT (SELECT count(*) FROM transactions WHERE entity_id = $1)::text AS tx,
            (SELECT count(*) FROM journal_lines WHERE entity_id = $1)::text AS lines,
            (SELECT count(*) FROM audit_log WHERE entity_id = $1 AND action LIKE 'journal.%')::text AS audit`,
    [c.entityId],
  );
  return rows[0];
}

const accrual = {
  date: '2026-11-30',
  reference: 'ACCR-11',
  description: 'Accrued consultancy, November',
  lines: [
    { glAccountCode: '6100', debit: '1000.00', departmentId: 'NTH' },
    {
      glAccountCode: '6100',
      debit: '500.01',
      departmentId: 'NTH',
      analysis: { '1': 'SOUTH' },
      description: 'South share',
    },
    { glAccountCode: '2400', credit: '1500.01' },
  ],
};

describe('POST /v1/journals', () => {
  it('posts a balanced journal that the trial balance shows and no open item holds', async () => {
    const r = await c.post('/v1/journals', accrual);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({
      number: 1,
      date: '2026-11-30',
      reference: 'ACCR-11',
      description: 'Accrued consultancy, November',
      currency: 'EUR',
      totalDebit: '1500.01',
      totalCredit: '1500.01',
      lines: [
        {
          lineNo: 1,
          glAccountCode: '6100',
          debit: '1000.00',
          credit: null,
          departmentId: 'NTH',
          analysis: { '1': 'NORTH' },
          description: 'Accrued consultancy, November',
        },
        {
          lineNo: 2,
          glAccountCode: '6100',
          debit: '500.01',
          credit: null,
          departmentId: 'NTH',
          analysis: { '1': 'SOUTH' },
          description: 'South share',
        },
        { lineNo: 3, glAccountCode: '2400', debit: null, credit: '1500.01', departmentId: null, analysis: {} },
      ],
      reverses: null,
      reversedBy: null,
    });
    expect((await c.get(`/v1/journals/${r.body.transactionId}`)).body).toEqual(r.body);
    expect(await balances(c, '2026-11-30')).toEqual({ '2400': '-1500.01', '6100': '1500.01' });
    expect(await balances(c, '2026-11-29')).toEqual({});
    const tx = await c.get(`/v1/transactions/${r.body.transactionId}`);
    expect(tx.body.type).toBe('GJ');
    expect(tx.body.customerCode).toBeNull();
    const { rows } = await t.db.query<{ side: string }>('SELECT side FROM transactions WHERE id = $1', [
      r.body.transactionId,
    ]);
    expect(rows[0]!.side).toBe('none');
    const audit = await t.db.query<{ action: string; object_id: string }>(
      `SELECT action, object_id FROM audit_log WHERE entity_id = $1 AND action LIKE 'journal.%'`,
      [c.entityId],
    );
    expect(audit.rows).toEqual([{ action: 'journal.posted', object_id: String(r.body.transactionId) }]);
    await checkInvariants(t.db, c.entityId);
  });

  it('posts the reversal in the same request, dated as asked and linked both ways', async () => {
    const r = await c.post('/v1/journals', { ...accrual, reference: 'ACCR-11B', reversal: { date: '2026-12-01' } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const reversalId = r.body.reversedBy.transactionId;
    expect(r.body.reversedBy).toEqual({ transactionId: reversalId, number: 3, date: '2026-12-01' });
    const reversal = (await c.get(`/v1/journals/${reversalId}`)).body;
    expect(reversal).toMatchObject({
      number: 3,
      date: '2026-12-01',
      reference: 'ACCR-11B',
      description: 'Reversal of Accrued consultancy, November',
      totalDebit: '1500.01',
      totalCredit: '1500.01',
      reverses: { transactionId: r.body.transactionId, number: 2, date: '2026-11-30' },
      reversedBy: null,
    });
    expect(reversal.lines.map((l: any) => [l.glAccountCode, l.debit, l.credit, l.departmentId, l.analysis])).toEqual([
      ['6100', null, '1000.00', 'NTH', { '1': 'NORTH' }],
      ['6100', null, '500.01', 'NTH', { '1': 'SOUTH' }],
      ['2400', '1500.01', null, null, {}],
    ]);
    // Both accruals on 30 November; the second one gone again from 1 December.
    expect(await balances(c, '2026-11-30')).toEqual({ '2400': '-3000.02', '6100': '3000.02' });
    expect(await balances(c, '2026-12-01')).toEqual({ '2400': '-1500.01', '6100': '1500.01' });
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses unbalanced journals, control accounts and bad lines with the field, posting nothing', async () => {
    const before = await counts();
    const cases: [unknown, number, string, string][] = [
      [
        { ...accrual, lines: [accrual.lines[0], { glAccountCode: '2400', credit: '999.99' }] },
        422,
        'JOURNAL_NOT_BALANCED',
        'lines',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '1100', debit: '10.00' },
            { glAccountCode: '2400', credit: '10.00' },
          ],
        },
        422,
        'GLACCOUNT_IS_CONTROL_ACCOUNT',
        'lines[0].glAccountCode',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '6100', debit: '10.00' },
            { glAccountCode: '2400', credit: '10.00' },
          ],
        },
        422,
        'GLACCOUNT_NO_DEPARTMENT_IS_DEPARTMENTAL',
        'lines[0].glAccountCode',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '1000', debit: '10.00' },
            { glAccountCode: '2400', credit: '10.00' },
          ],
        },
        422,
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        'lines[0].glAccountCode',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '2400', debit: '10.00', credit: '10.00' },
            { glAccountCode: '2400', credit: '10.00' },
          ],
        },
        400,
        'VALIDATION_ERROR',
        'lines[0].debit',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '3000', debit: '0.00' },
            { glAccountCode: '2400', credit: '0.00' },
          ],
        },
        400,
        'VALIDATION_ERROR',
        'lines[0].debit',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '3000', debit: '-5.00' },
            { glAccountCode: '2400', debit: '5.00' },
          ],
        },
        400,
        'VALIDATION_ERROR',
        'lines[0].debit',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '3000', debit: '1.001' },
            { glAccountCode: '2400', credit: '1.001' },
          ],
        },
        400,
        'AMOUNT_HAS_TOO_MANY_DECIMALS',
        'lines[0].debit',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '3000', debit: '1.00', analysis: { '1': 'OLD' } },
            { glAccountCode: '2400', credit: '1.00' },
          ],
        },
        422,
        'ANALYSIS_CODE_IS_INACTIVE',
        'lines[0].analysis.1',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '3000', debit: '1.00' },
            { glAccountCode: '2400', credit: '1.00', analysis: { '2': 'NORTH' } },
          ],
        },
        422,
        'ANALYSIS_CODE_DOES_NOT_EXIST',
        'lines[1].analysis.2',
      ],
      [
        {
          ...accrual,
          lines: [
            { glAccountCode: '3000', debit: '1.00', departmentId: 'NOPE' },
            { glAccountCode: '2400', credit: '1.00' },
          ],
        },
        422,
        'DEPARTMENT_DOES_NOT_EXIST',
        'lines[0].departmentId',
      ],
      [{ ...accrual, lines: [accrual.lines[0]] }, 400, 'VALIDATION_ERROR', 'body.lines'],
      [
        { ...accrual, reversal: { date: '2026-11-30' } },
        422,
        'JOURNAL_REVERSAL_DATE_NOT_AFTER_JOURNAL',
        'reversal.date',
      ],
      [
        { ...accrual, reversal: { date: '2026-11-01' } },
        422,
        'JOURNAL_REVERSAL_DATE_NOT_AFTER_JOURNAL',
        'reversal.date',
      ],
      [{ ...accrual, date: '2026-02-30' }, 400, 'VALIDATION_ERROR', 'body.date'],
    ];
    for (const [body, status, code, field] of cases)
      expectError(await c.post('/v1/journals', body), status, code, field);
    expect(await counts()).toEqual(before);
  });

  it('refuses a journal in a locked period', async () => {
    const e = await t.entity('JOURNALS-LOCK', 'EUR');
    expect((await e.put('/v1/settings', { lockDate: '2026-10-31' })).status).toBe(200);
    const lines = [
      { glAccountCode: '3000', debit: '10.00' },
      { glAccountCode: '2300', credit: '10.00' },
    ];
    expectError(await e.post('/v1/journals', { date: '2026-10-31', lines }), 422, 'PERIOD_LOCKED', 'date');
    // A reversal may be dated later than the journal only: a lock on its date locks the journal's too.
    expect((await e.post('/v1/journals', { date: '2026-11-01', lines, reversal: { date: '2026-11-02' } })).status).toBe(
      201,
    );
    expect(await balances(e, '2026-11-30')).toEqual({});
    const tx = await e.get('/v1/transactions?type=GJ');
    expect(tx.body.items.map((i: { outstanding: string }) => i.outstanding)).toEqual(['0.00', '0.00']);
  });

  it('posts once per Idempotency-Key', async () => {
    const before = await counts();
    const key = { 'idempotency-key': 'journal-once' };
    const body = { ...accrual, reference: 'ONCE', reversal: { date: '2026-12-15' } };
    const first = await c.post('/v1/journals', body, key);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const again = await c.post('/v1/journals', body, key);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expectError(await c.post('/v1/journals', { ...body, reference: 'OTHER' }, key), 409, 'IDEMPOTENCY_KEY_REUSED');
    const after = await counts();
    expect(Number(after!.tx) - Number(before!.tx)).toBe(2);
    expect(Number(after!.audit) - Number(before!.audit)).toBe(2);
  });

  it('reads only general journals of its own entity', async () => {
    const inv = await postInvoice(c, 'C1', '10.00');
    expectError(await c.get(`/v1/journals/${inv.transactionId}`), 404, 'NOT_FOUND');
    const { rows } = await t.db.query<{ id: string }>(
      `SELECT id::text AS id FROM transactions WHERE entity_id = $1 AND type = 'GJ' ORDER BY id LIMIT 1`,
      [c.entityId],
    );
    const other = await t.entity('JOURNALS-OTHER', 'EUR');
    expectError(await other.get(`/v1/journals/${rows[0]!.id}`), 404, 'NOT_FOUND');
    expect((await c.get(`/v1/journals/${rows[0]!.id}`)).status).toBe(200);
    expectError(await c.get('/v1/journals/abc'), 400, 'VALIDATION_ERROR');
    await checkInvariants(t.db, c.entityId);
  });
});

describe('POST /v1/journals in a foreign currency', () => {
  let f: Client;
  /** A fee in USD out of a bank's GL account (the USD bank's, 1210, by default); `o` overrides fields of the body. */
  const usdBank = (amount: string, o: Record<string, unknown> = {}, bank = '1210') => ({
    date: '2026-11-20',
    reference: 'FX-1',
    currency: 'USD',
    lines: [
      { glAccountCode: '7700', debit: amount },
      { glAccountCode: bank, credit: amount },
    ],
    ...o,
  });
  beforeAll(async () => {
    f = await t.entity('JOURNALS-FX', 'EUR');
    for (const [code, name] of [
      ['1210', 'USD bank'],
      ['1220', 'GBP bank'],
    ])
      expect((await f.put(`/v1/gl-accounts/${code}`, { name, type: 'asset' })).status).toBe(201);
    for (const [code, gl, currency] of [
      ['USDB', '1210', 'USD'],
      ['GBPB', '1220', 'GBP'],
    ])
      expect((await f.put(`/v1/bank-accounts/${code}`, { name: code, glAccountCode: gl, currency })).status).toBe(201);
  });

  it('converts each line at the journal’s rate, the rounding on each side’s largest line, balanced in both currencies', async () => {
    const r = await f.post('/v1/journals', {
      date: '2026-11-20',
      reference: 'FX-SPLIT',
      currency: 'USD',
      exchangeRate: '2',
      lines: [
        { glAccountCode: '7700', debit: '10.01' },
        { glAccountCode: '7700', debit: '10.01' },
        { glAccountCode: '7700', debit: '10.01' },
        { glAccountCode: '1210', credit: '30.03' },
      ],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    // Each debit is EUR 5.005, 5.01 rounded: 15.03 together, while USD 30.03 is EUR 15.02 (15.015 rounded).
    expect(r.body).toMatchObject({
      currency: 'USD',
      exchangeRate: '2',
      totalDebit: '30.03',
      totalCredit: '30.03',
      baseTotal: '15.02',
    });
    expect(r.body.lines.map((l: { baseAmount: string }) => l.baseAmount)).toEqual(['5.00', '5.01', '5.01', '-15.02']);
    expect(await balances(f, '2026-11-30')).toEqual({ '1210': '-15.02', '7700': '15.02' });
    const { rows } = await t.db.query<{ amount: string; base: string; gross: string; base_gross: string }>(
      `SELECT sum(l.amount)::text AS amount, sum(l.base_amount)::text AS base, t.gross::text AS gross, t.base_gross::text AS base_gross
         FROM transactions t JOIN journal_lines l ON l.transaction_id = t.id WHERE t.id = $1 GROUP BY t.id`,
      [r.body.transactionId],
    );
    expect(rows[0]).toEqual({ amount: '0', base: '0', gross: '3003', base_gross: '1502' });

    // Its reversal takes the same rate and base amounts: the accounts are back to nothing in the base currency.
    const reversed = await f.post(`/v1/journals/${r.body.transactionId}/reverse`, {});
    expect(reversed.status, JSON.stringify(reversed.body)).toBe(201);
    expect(reversed.body).toMatchObject({ currency: 'USD', exchangeRate: '2', baseTotal: '15.02' });
    expect(reversed.body.lines.map((l: { baseAmount: string }) => l.baseAmount)).toEqual([
      '-5.00',
      '-5.01',
      '-5.01',
      '15.02',
    ]);
    expect(await balances(f, '2026-11-30')).toEqual({});
    await checkInvariants(t.db, f.entityId);
  });

  it('takes the rate in force on its date when none is sent, and refuses one it has not', async () => {
    const before = await counts();
    expectError(await f.post('/v1/journals', usdBank('8.00')), 422, 'EXCHANGE_RATE_MISSING', 'exchangeRate');
    expect(await counts()).toEqual(before);
    expect((await f.put('/v1/currencies/USD/rates/2026-11-01', { rate: '1.25' })).status).toBe(201);
    const r = await f.post('/v1/journals', usdBank('8.00'));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ exchangeRate: '1.25', baseTotal: '6.40' });
    expect(r.body.lines.map((l: { baseAmount: string }) => l.baseAmount)).toEqual(['6.40', '-6.40']);
    // A journal in the base currency shows its rate and base amounts too; it may touch the USD bank
    // (a foreign-currency bank revalued by hand).
    const eur = await f.post('/v1/journals', usdBank('3.00', { currency: 'EUR' }));
    expect(eur.status, JSON.stringify(eur.body)).toBe(201);
    expect(eur.body).toMatchObject({ currency: 'EUR', exchangeRate: '1', baseTotal: '3.00' });
  });

  it('refuses a rate, currency, amount or bank it cannot book, naming the field, and posts nothing', async () => {
    expect((await f.put('/v1/currencies/USD/rates/2026-11-01', { rate: '1.25' })).status).toBe(200);
    await seedCustomer(t.db, f.entityId, 'U1', { currency: 'USD' });
    // The last known USD rate is that of the newest USD document: 1.10.
    await postInvoice(f, 'U1', '10.00', { invoiceDate: '2026-11-02', exchangeRate: '1.10' });
    const before = await counts();
    const cases: [unknown, number, string, string][] = [
      [usdBank('1.00', { currency: 'EUR', exchangeRate: '1.1' }), 422, 'EXCHANGE_RATE_MUST_BE_ONE', 'exchangeRate'],
      [usdBank('1.00', { exchangeRate: '11' }), 422, 'EXCHANGE_RATE_IMPLAUSIBLE', 'exchangeRate'],
      [usdBank('1.00', { exchangeRate: '0' }), 400, 'VALIDATION_ERROR', 'body.exchangeRate'],
      [usdBank('1.00', { currency: 'XYZ' }), 400, 'VALIDATION_ERROR', 'body.currency'],
      [usdBank('1.005'), 400, 'AMOUNT_HAS_TOO_MANY_DECIMALS', 'lines[0].debit'],
      [
        usdBank('10.5', { currency: 'JPY', exchangeRate: '160' }, '1200'),
        400,
        'AMOUNT_HAS_TOO_MANY_DECIMALS',
        'lines[0].debit',
      ],
      // GBP bank's account in a USD journal; the EUR bank (1200, the base currency) would be taken.
      [
        usdBank('1.00', { exchangeRate: '1.25' }, '1220'),
        422,
        'BANK_ACCOUNT_CURRENCY_MISMATCH',
        'lines[1].glAccountCode',
      ],
    ];
    for (const [body, status, code, field] of cases)
      expectError(await f.post('/v1/journals', body), status, code, field);
    expect(await counts()).toEqual(before);

    // Confirmed, the rate is booked; the base-currency bank takes a foreign-currency journal.
    const confirmed = await f.post('/v1/journals', usdBank('1.00', { exchangeRate: '11', confirmExchangeRate: true }));
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(201);
    expect(confirmed.body.baseTotal).toBe('0.09');
    const intoBase = await f.post('/v1/journals', usdBank('2.50', {}, '1200'));
    expect(intoBase.status, JSON.stringify(intoBase.body)).toBe(201);
    expect(intoBase.body.baseTotal).toBe('2.00');
    await checkInvariants(t.db, f.entityId);
  });
});
