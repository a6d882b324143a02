import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, invoice, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
let c: Client;
let other: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('DEFER', 'EUR', { standardTaxRate: '0.21' });
  other = await t.entity('DEFEROTHER', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
  await seedCustomer(t.db, c.entityId, 'US1', { currency: 'USD' });
  await seedCustomer(t.db, other.entityId, 'C1');
  expect((await c.put('/v1/departments/NORTH', { name: 'North' })).status).toBe(201);
});
afterAll(async () => t.close());

async function journal(transactionId: number) {
  const { rows } = await t.db.query<{ gl: string; dept: string | null; amount: string; base: string }>(
    `SELECT gl_account_code AS gl, department_id AS dept, amount::text, base_amount::text AS base
       FROM journal_lines WHERE transaction_id = $1 ORDER BY line_no`,
    [transactionId],
  );
  return rows.map((r) => [r.gl, r.dept, r.amount, r.base]);
}

async function releases(transactionId: number) {
  const { rows } = await t.db.query<{ seq: number; due: string; amount: string; base: string }>(
    `SELECT r.seq, r.due_date::text AS due, r.amount::text, r.base_amount::text AS base
       FROM deferral_releases r JOIN deferral_schedules s ON s.id = r.schedule_id
      WHERE s.transaction_id = $1 ORDER BY s.line_no, r.seq`,
    [transactionId],
  );
  return rows.map((r) => [r.seq, r.due, r.amount, r.base]);
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(sql, params as string[]);
  return Number(rows[0]!.n);
}

/** The trial balance's net credit on an account at a date, as a decimal string ('0.00' when absent). */
async function creditOn(client: Client, code: string, at: string): Promise<string> {
  const r = await client.get(`/v1/reports/trial-balance?at=${at}`);
  const a = (r.body.accounts as { code: string; credit: string; debit: string }[]).find((x) => x.code === code);
  if (!a) return '0.00';
  expect(a.debit).toBe('0.00');
  return a.credit;
}

const deferredInvoice = (ref: string, extra: Record<string, unknown> = {}, startDate = '2026-11-30') =>
  invoice('C1', '0', {
    externalReference: ref,
    invoiceDate: '2026-11-01',
    lines: [
      {
        glAccountCode: '4000',
        taxCode: 'STD',
        description: 'Annual support, first quarter',
        departmentId: 'NORTH',
        netAmount: '1000.00',
        deferral: { months: 3, startDate },
      },
      { glAccountCode: '4000', taxCode: 'STD', description: 'Set-up', netAmount: '50.00' },
    ],
    ...extra,
  });

describe('deferred revenue', () => {
  let invoiceId = 0;

  it('posts a deferred line to the deferred revenue account with a schedule that adds up exactly', async () => {
    const r = await c.post('/v1/sales/batch-invoices', deferredInvoice('DEF-1'));
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ netAmount: '1050.00', taxAmount: '220.50', grossAmount: '1270.50' });
    invoiceId = r.body.transactionId;
    expect(await journal(invoiceId)).toEqual([
      ['1100', null, '127050', '127050'],
      ['2300', 'NORTH', '-100000', '-100000'],
      ['4000', null, '-5000', '-5000'],
      ['2200', null, '-22050', '-22050'],
    ]);
    // 1000.00 in 3: equal parts rounded down, the remainder on the last; 30 Nov, 30 Dec, 30 Jan.
    expect(await releases(invoiceId)).toEqual([
      [1, '2026-11-30', '33333', '33333'],
      [2, '2026-12-30', '33333', '33333'],
      [3, '2027-01-30', '33334', '33334'],
    ]);
    expect(await creditOn(c, '2300', '2026-11-01')).toBe('1000.00');
    expect(await creditOn(c, '4000', '2026-11-01')).toBe('50.00');
  });

  it('releases what is due once: a second run posts nothing', async () => {
    const early = await c.post('/v1/deferrals/release?upTo=2026-11-29', {});
    expect([early.status, early.body.released]).toEqual([200, []]);

    const first = await c.post('/v1/deferrals/release?upTo=2026-11-30', {});
    expect(first.status).toBe(200);
    expect(first.body.released).toHaveLength(1);
    expect(first.body.released[0]).toMatchObject({
      invoiceTransactionId: invoiceId,
      lineNo: 1,
      seq: 1,
      months: 3,
      dueDate: '2026-11-30',
      postedOn: '2026-11-30',
      amount: '333.33',
      baseAmount: '333.33',
      currency: 'EUR',
    });
    const gj = first.body.released[0].transactionId as number;
    expect(await journal(gj)).toEqual([
      ['2300', 'NORTH', '33333', '33333'],
      ['4000', 'NORTH', '-33333', '-33333'],
    ]);
    const tx = await c.get(`/v1/transactions/${gj}`);
    expect(tx.body).toMatchObject({ type: 'GJ', customerCode: null, transactionDate: '2026-11-30' });

    const again = await c.post('/v1/deferrals/release?upTo=2026-11-30', {});
    expect([again.status, again.body.released]).toEqual([200, []]);
    expect(
      await count(`SELECT count(*) AS n FROM transactions WHERE entity_id = $1 AND type = 'GJ'`, [c.entityId]),
    ).toBe(1);
  });

  it('reports released and remaining per invoice and line, equal to the deferred account in the trial balance', async () => {
    const r = await c.get('/v1/reports/deferrals?at=2026-12-15');
    expect(r.status).toBe(200);
    expect(r.body.invoices).toHaveLength(1);
    expect(r.body.invoices[0]).toMatchObject({
      transactionId: invoiceId,
      externalReference: 'DEF-1',
      customerCode: 'C1',
      currency: 'EUR',
      deferred: '1000.00',
      released: '333.33',
      credited: '0.00',
      remaining: '666.67',
    });
    expect(r.body.invoices[0].lines).toEqual([
      {
        lineNo: 1,
        revenueGlAccountCode: '4000',
        deferredGlAccountCode: '2300',
        departmentId: 'NORTH',
        months: 3,
        startDate: '2026-11-30',
        deferred: '1000.00',
        released: '333.33',
        credited: '0.00',
        remaining: '666.67',
        dueUnreleased: '0.00',
        base: { deferred: '1000.00', released: '333.33', credited: '0.00', remaining: '666.67' },
      },
    ]);
    expect(r.body.totals.remaining).toBe(await creditOn(c, '2300', '2026-12-15'));
    // Before the release was posted, nothing was released; at 31 Dec the second is due but not posted.
    const before = await c.get('/v1/reports/deferrals?at=2026-11-29');
    expect(before.body.totals).toEqual({
      deferred: '1000.00',
      released: '0.00',
      credited: '0.00',
      remaining: '1000.00',
    });
    const due = await c.get('/v1/reports/deferrals?at=2026-12-31');
    expect(due.body.invoices[0].lines[0].dueUnreleased).toBe('333.33');
    // An invoice dated after `at` is not in the report; another entity sees none of it.
    expect((await c.get('/v1/reports/deferrals?at=2026-10-31')).body.invoices).toEqual([]);
    expect((await other.get('/v1/reports/deferrals?at=2027-12-31')).body.invoices).toEqual([]);
    expect((await other.post('/v1/deferrals/release?upTo=2027-12-31', {})).body.released).toEqual([]);
  });

  it('releases the rest in the middle and at the end; the trial balance stays right', async () => {
    const mid = await c.post('/v1/deferrals/release?upTo=2027-01-15', {});
    expect(mid.body.released.map((x: { seq: number; amount: string }) => [x.seq, x.amount])).toEqual([[2, '333.33']]);
    expect(await creditOn(c, '2300', '2027-01-15')).toBe('333.34');
    expect(await creditOn(c, '4000', '2027-01-15')).toBe('716.66');
    const end = await c.post('/v1/deferrals/release?upTo=2027-12-31', {});
    expect(end.body.released.map((x: { seq: number; amount: string }) => [x.seq, x.amount])).toEqual([[3, '333.34']]);
    expect(await creditOn(c, '2300', '2027-12-31')).toBe('0.00');
    expect(await creditOn(c, '4000', '2027-12-31')).toBe('1050.00');
    const tb = await c.get('/v1/reports/trial-balance?at=2027-12-31');
    expect(tb.body.totals.debit).toBe(tb.body.totals.credit);
    const report = await c.get('/v1/reports/deferrals?at=2027-12-31');
    expect(report.body.totals).toEqual({
      deferred: '1000.00',
      released: '1000.00',
      credited: '0.00',
      remaining: '0.00',
    });
    await checkInvariants(t.db, c.entityId);
  });

  it('posts each release at most once, enforced by the database, also when two runs race', async () => {
    const r = await c.post(
      '/v1/sales/batch-invoices',
      invoice('C1', '0', {
        invoiceDate: '2027-02-01',
        lines: [
          {
            glAccountCode: '4000',
            taxCode: 'ZERO',
            netAmount: '100.00',
            deferral: { months: 12, startDate: '2027-02-28' },
          },
        ],
      }),
    );
    expect(r.status).toBe(201);
    const [a, b] = await Promise.all([
      c.post('/v1/deferrals/release?upTo=2027-06-30', {}),
      c.post('/v1/deferrals/release?upTo=2027-06-30', {}),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const seqs = [...a.body.released, ...b.body.released].map((x: { seq: number }) => x.seq).sort((x, y) => x - y);
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect(
      [...a.body.released, ...b.body.released].map((x: { dueDate: string; amount: string }) => [x.dueDate, x.amount]),
    ).toEqual(
      expect.arrayContaining([
        ['2027-02-28', '8.33'],
        ['2027-03-28', '8.33'],
        ['2027-06-28', '8.33'],
      ]),
    );
    const posted = await t.db.query<{ release_id: string; transaction_id: string }>(
      `SELECT p.release_id, p.transaction_id FROM deferral_release_postings p
         JOIN deferral_releases r ON r.id = p.release_id JOIN deferral_schedules s ON s.id = r.schedule_id
        WHERE s.transaction_id = $1 ORDER BY p.release_id`,
      [r.body.transactionId],
    );
    expect(posted.rows).toHaveLength(5);
    // The database refuses a second posting of a release, and any change to a posted one.
    const [first] = posted.rows;
    await expect(
      t.db.query(
        `INSERT INTO deferral_release_postings (release_id, entity_id, kind, transaction_id) VALUES ($1, $2, 'released', $3)`,
        [first!.release_id, c.entityId, first!.transaction_id],
      ),
    ).rejects.toThrow(/duplicate key|unique/i);
    await expect(
      t.db.query(`DELETE FROM deferral_release_postings WHERE release_id = $1`, [first!.release_id]),
    ).rejects.toThrow(/cannot be changed/);
    await expect(t.db.query(`UPDATE deferral_releases SET amount = amount + 1`)).rejects.toThrow(/cannot be changed/);
    const tail = await c.post('/v1/deferrals/release?upTo=2028-12-31', {});
    expect(tail.body.released.map((x: { seq: number; amount: string }) => [x.seq, x.amount])).toEqual([
      [6, '8.33'],
      [7, '8.33'],
      [8, '8.33'],
      [9, '8.33'],
      [10, '8.33'],
      [11, '8.33'],
      [12, '8.37'],
    ]);
    expect(await creditOn(c, '2300', '2028-12-31')).toBe('0.00');
    await checkInvariants(t.db, c.entityId);
  });

  it('posts releases due in a locked period on the first open day', async () => {
    const r = await c.post(
      '/v1/sales/batch-invoices',
      invoice('C1', '0', {
        invoiceDate: '2028-01-10',
        lines: [
          {
            glAccountCode: '4000',
            taxCode: 'ZERO',
            netAmount: '90.00',
            deferral: { months: 3, startDate: '2028-01-01' },
          },
        ],
      }),
    );
    expect(r.status).toBe(201);
    expect((await c.put('/v1/settings', { lockDate: '2028-02-15' })).status).toBe(200);
    const run = await c.post('/v1/deferrals/release?upTo=2028-03-01', {});
    expect(run.body.released.map((x: { dueDate: string; postedOn: string }) => [x.dueDate, x.postedOn])).toEqual([
      ['2028-01-01', '2028-02-16'],
      ['2028-02-01', '2028-02-16'],
      ['2028-03-01', '2028-03-01'],
    ]);
    expect((await c.put('/v1/settings', { lockDate: null })).status).toBe(200);
    expect(await creditOn(c, '2300', '2028-03-01')).toBe('0.00');
  });

  it('a credit note copying a deferred line takes the unreleased rest off the deferred account and cancels its releases', async () => {
    const r = await c.post(
      '/v1/sales/batch-invoices',
      deferredInvoice('DEF-CN', { invoiceDate: '2029-01-05' }, '2029-01-31'),
    );
    expect(r.status).toBe(201);
    const id = r.body.transactionId as number;
    const released = await c.post('/v1/deferrals/release?upTo=2029-01-31', {});
    expect(released.body.released.map((x: { amount: string }) => x.amount)).toEqual(['333.33']);
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: id,
      lineNumbers: [1],
      creditNoteDate: '2029-02-10',
    });
    expect(cn.status).toBe(201);
    // Control credited 1210.00; 666.67 still deferred comes off 2300, only the 333.33 released off revenue.
    expect(await journal(cn.body.transactionId)).toEqual([
      ['1100', null, '-121000', '-121000'],
      ['2300', 'NORTH', '66667', '66667'],
      ['4000', 'NORTH', '33333', '33333'],
      ['2200', null, '21000', '21000'],
    ]);
    const after = await c.post('/v1/deferrals/release?upTo=2029-12-31', {});
    expect(after.body.released).toEqual([]);
    const report = await c.get('/v1/reports/deferrals?at=2029-12-31');
    const inv = report.body.invoices.find((x: { transactionId: number }) => x.transactionId === id);
    expect(inv).toMatchObject({ deferred: '1000.00', released: '333.33', credited: '666.67', remaining: '0.00' });
    // Before the credit note's date the rest was still deferred.
    const mid = await c.get('/v1/reports/deferrals?at=2029-02-09');
    expect(mid.body.invoices.find((x: { transactionId: number }) => x.transactionId === id).remaining).toBe('666.67');
    expect(mid.body.totals.remaining).toBe(await creditOn(c, '2300', '2029-02-09'));
    expect(await creditOn(c, '2300', '2029-12-31')).toBe('0.00');
    await checkInvariants(t.db, c.entityId);
  });

  it('defers a foreign-currency line at the invoice rate and empties the account exactly in the base currency', async () => {
    const r = await c.post('/v1/sales/batch-invoices', {
      customerCode: 'US1',
      invoiceDate: '2030-01-01',
      exchangeRate: '1.25',
      lines: [
        {
          glAccountCode: '4000',
          taxCode: 'ZERO',
          netAmount: '1000.00',
          deferral: { months: 3, startDate: '2030-01-31' },
        },
      ],
    });
    expect(r.status).toBe(201);
    expect(await releases(r.body.transactionId)).toEqual([
      [1, '2030-01-31', '33333', '26666'],
      [2, '2030-02-28', '33333', '26666'],
      [3, '2030-03-31', '33334', '26668'],
    ]);
    const run = await c.post('/v1/deferrals/release?upTo=2030-02-28', {});
    expect(
      run.body.released.map((x: { amount: string; baseAmount: string; currency: string }) => [
        x.amount,
        x.baseAmount,
        x.currency,
      ]),
    ).toEqual([
      ['333.33', '266.66', 'USD'],
      ['333.33', '266.66', 'USD'],
    ]);
    const report = await c.get('/v1/reports/deferrals?at=2030-02-28');
    const inv = report.body.invoices.find((x: { transactionId: number }) => x.transactionId === r.body.transactionId);
    expect(inv).toMatchObject({ currency: 'USD', deferred: '1000.00', released: '666.66', remaining: '333.34' });
    expect(inv.lines[0].base).toEqual({
      deferred: '800.00',
      released: '533.32',
      credited: '0.00',
      remaining: '266.68',
    });
    expect(report.body.totals.remaining).toBe(await creditOn(c, '2300', '2030-02-28'));
    await c.post('/v1/deferrals/release?upTo=2030-12-31', {});
    expect(await creditOn(c, '2300', '2030-12-31')).toBe('0.00');
    await checkInvariants(t.db, c.entityId);
  });

  it('takes a deferral through a draft invoice: validated when saved, scheduled when posted', async () => {
    const schedules = () => count(`SELECT count(*) AS n FROM deferral_schedules WHERE entity_id = $1`, [c.entityId]);
    const before = await schedules();
    const bad = await c.post('/v1/sales/draft-invoices', deferredInvoice('DEF-DRAFT', { invoiceDate: '2031-01-01' }));
    expect([bad.status, bad.body.error?.code, bad.body.error?.details]).toEqual([
      400,
      'VALIDATION_ERROR',
      [{ field: 'lines[0].deferral.startDate', message: 'must not be before the month of the invoice (2031-01-01)' }],
    ]);
    const d = await c.post(
      '/v1/sales/draft-invoices',
      deferredInvoice('DEF-DRAFT', { invoiceDate: '2031-01-01' }, '2031-01-31'),
    );
    expect(d.status).toBe(201);
    expect(d.body.invoice.lines[0].deferral).toEqual({ months: 3, startDate: '2031-01-31' });
    expect(await schedules()).toBe(before);
    const p = await c.post(`/v1/sales/draft-invoices/${d.body.draftId}/post`, {});
    expect([p.status, p.body.error]).toEqual([201, undefined]);
    expect(await releases(p.body.transactionId)).toEqual([
      [1, '2031-01-31', '33333', '33333'],
      [2, '2031-02-28', '33333', '33333'],
      [3, '2031-03-31', '33334', '33334'],
    ]);
    expect(await journal(p.body.transactionId)).toContainEqual(['2300', 'NORTH', '-100000', '-100000']);
  });
});

describe('deferral refusals change nothing', () => {
  it('refuses bad deferrals with a code and field', async () => {
    const state = () =>
      Promise.all([
        count(`SELECT count(*) AS n FROM transactions WHERE entity_id = $1`, [c.entityId]),
        count(`SELECT count(*) AS n FROM deferral_schedules WHERE entity_id = $1`, [c.entityId]),
      ]);
    const before = await state();
    const line = (deferral: unknown, net = '100.00') => ({
      customerCode: 'C1',
      invoiceDate: '2026-11-01',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: net, deferral }],
    });
    const cases: [string, unknown, number, string, string][] = [
      [
        '/v1/sales/batch-invoices',
        line({ months: 0, startDate: '2026-11-01' }),
        400,
        'VALIDATION_ERROR',
        'body.lines.0.deferral.months',
      ],
      [
        '/v1/sales/batch-invoices',
        line({ months: 121, startDate: '2026-11-01' }),
        400,
        'VALIDATION_ERROR',
        'body.lines.0.deferral.months',
      ],
      [
        '/v1/sales/batch-invoices',
        line({ months: 1.5, startDate: '2026-11-01' }),
        400,
        'VALIDATION_ERROR',
        'body.lines.0.deferral.months',
      ],
      [
        '/v1/sales/batch-invoices',
        line({ months: 3, startDate: '2026-02-30' }),
        400,
        'VALIDATION_ERROR',
        'body.lines.0.deferral.startDate',
      ],
      [
        '/v1/sales/batch-invoices',
        line({ months: 3, startDate: '2026-11-01', extra: 1 }),
        400,
        'VALIDATION_ERROR',
        'body.lines.0.deferral',
      ],
      [
        '/v1/sales/batch-invoices',
        line({ months: 3, startDate: '2026-10-31' }),
        400,
        'VALIDATION_ERROR',
        'lines[0].deferral.startDate',
      ],
      [
        '/v1/sales/batch-invoices',
        line({ months: 3, startDate: '2026-11-01' }, '0.02'),
        400,
        'VALIDATION_ERROR',
        'lines[0].deferral.months',
      ],
      [
        '/v1/sales/batch-invoices',
        { ...line({ months: 2, startDate: '2999-12-31' }), invoiceDate: '2999-12-01' },
        400,
        'DATE_OUT_OF_RANGE',
        'lines[0].deferral.startDate',
      ],
      [
        '/v1/sales/batch-invoices',
        line({ months: 3, startDate: '2026-11-01', glAccountCode: 'NOPE' }),
        422,
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        'lines[0].deferral.glAccountCode',
      ],
      [
        '/v1/sales/batch-invoices',
        line({ months: 3, startDate: '2026-11-01', glAccountCode: '1100' }),
        422,
        'GLACCOUNT_IS_CONTROL_ACCOUNT',
        'lines[0].deferral.glAccountCode',
      ],
      [
        '/v1/sales/credit-notes',
        { ...line({ months: 3, startDate: '2026-11-01' }), invoiceDate: undefined, creditNoteDate: '2026-11-01' },
        400,
        'VALIDATION_ERROR',
        'lines[0].deferral',
      ],
      [
        '/v1/sales/post-pay-allocate',
        {
          batchInvoice: line({ months: 3, startDate: '2026-11-01' }),
          performExternalReferenceDuplicateCheckOnInvoice: false,
          performExternalReferenceDuplicateCheckOnReceipt: false,
          performAllocation: false,
        },
        400,
        'VALIDATION_ERROR',
        'batchInvoice.lines[0].deferral',
      ],
    ];
    for (const [path, body, status, code, field] of cases) {
      const r = await c.post(path, body);
      const fields = ((r.body.error?.details ?? []) as { field: string }[]).map?.((d) => d.field) ?? [
        r.body.error?.details?.field,
      ];
      expect([path, r.status, r.body.error?.code, fields.includes(field) ? field : fields]).toEqual([
        path,
        status,
        code,
        field,
      ]);
    }
    expect(await state()).toEqual(before);
    for (const q of ['upTo=2026-13-01', 'upTo=x', 'upTo=0001-01-01', 'other=1']) {
      const r = await c.post(`/v1/deferrals/release?${q}`, {});
      expect([q, r.status]).toEqual([q, 400]);
    }
    expect((await c.get('/v1/reports/deferrals?at=2026-02-30')).status).toBe(400);
    expect(await state()).toEqual(before);
  });
});

/**
 * A credit note dated before releases that were already posted: as at its date nothing of those
 * releases had happened, so it takes their amount off the deferred account, and the releases,
 * which stay posted, are reversed by new journals on their own dates. Every date's figures are
 * then right: no revenue after the credit, nothing left on the deferred account.
 */
describe('a back-dated credit note on a deferred invoice', () => {
  let d: Client;
  beforeAll(async () => {
    d = await t.entity('DEFERBACK', 'EUR', { standardTaxRate: '0.21' });
    await seedCustomer(t.db, d.entityId, 'C1');
  });

  const quarter = (ref: string) => ({
    customerCode: 'C1',
    invoiceDate: '2025-10-01',
    externalReference: ref,
    lines: [
      {
        glAccountCode: '4000',
        taxCode: 'STD',
        netAmount: '900.00',
        deferral: { months: 3, startDate: '2025-10-31' },
      },
    ],
  });

  /** The trial balance's signed balance of an account at a date (credit positive). */
  async function balance(code: string, at: string): Promise<string> {
    const r = await d.get(`/v1/reports/trial-balance?at=${at}`);
    const a = (r.body.accounts as { code: string; credit: string; debit: string }[]).find((x) => x.code === code);
    if (!a || (a.credit === '0.00' && a.debit === '0.00')) return '0.00';
    return a.debit !== '0.00' ? `-${a.debit}` : a.credit;
  }

  async function deferralsAt(invoiceId: number, at: string) {
    const r = await d.get(`/v1/reports/deferrals?at=${at}`);
    expect(r.status).toBe(200);
    expect(r.body.totals.remaining).toBe(await balance('2300', at));
    const inv = r.body.invoices.find((x: { transactionId: number }) => x.transactionId === invoiceId);
    return { released: inv.released, credited: inv.credited, remaining: inv.remaining };
  }

  it('takes the whole line off the deferred account and reverses the releases dated after it', async () => {
    const inv = await d.post('/v1/sales/batch-invoices', quarter('BACK-1'));
    expect(inv.status, JSON.stringify(inv.body)).toBe(201);
    const id = inv.body.transactionId as number;
    const run = await d.post('/v1/deferrals/release?upTo=2025-12-31', {});
    const releases = run.body.released as { transactionId: number; postedOn: string }[];
    expect(releases.map((x) => x.postedOn)).toEqual(['2025-10-31', '2025-11-30', '2025-12-31']);
    const cn = await d.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: id,
      creditNoteDate: '2025-10-15',
      allocateToInvoice: true,
    });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    expect(cn.body).toMatchObject({ grossAmount: '1089.00' });
    // As at 15 October nothing had been released: all 900.00 comes off the deferred account.
    expect(await journal(cn.body.transactionId)).toEqual([
      ['1100', null, '-108900', '-108900'],
      ['2300', null, '90000', '90000'],
      ['2200', null, '18900', '18900'],
    ]);
    // Each release stays posted and is reversed by a journal of its own date.
    const { rows } = await t.db.query<{ id: string; date: string; related: string }>(
      `SELECT id::text, transaction_date::text AS date, related_transaction_id::text AS related FROM transactions
        WHERE entity_id = $1 AND type = 'GJ' AND details ? 'reverses' ORDER BY transaction_date`,
      [d.entityId],
    );
    expect(rows.map((r) => [r.date, Number(r.related)])).toEqual(releases.map((x) => [x.postedOn, x.transactionId]));
    for (const r of rows) {
      expect(await journal(Number(r.id))).toEqual([
        ['2300', null, '-30000', '-30000'],
        ['4000', null, '30000', '30000'],
      ]);
    }
    expect((await d.get(`/v1/journals/${releases[0]!.transactionId}`)).body.reversedBy).toMatchObject({
      transactionId: Number(rows[0]!.id),
      date: releases[0]!.postedOn,
    });
    // Every date: no revenue after the credit, nothing deferred.
    for (const at of ['2025-10-20', '2025-10-31', '2025-11-30', '2025-12-31', '2026-06-30']) {
      expect([at, await balance('2300', at), await balance('4000', at)]).toEqual([at, '0.00', '0.00']);
      expect(await deferralsAt(id, at)).toEqual({ released: '0.00', credited: '900.00', remaining: '0.00' });
    }
    expect(await balance('2300', '2025-10-14')).toBe('900.00');
    expect((await d.post('/v1/deferrals/release?upTo=2026-12-31', {})).body.released).toEqual([]);
    await checkInvariants(t.db, d.entityId);
  });

  it('between two releases: keeps the one before it as revenue, reverses the ones after it', async () => {
    const inv = await d.post('/v1/sales/batch-invoices', quarter('BACK-2'));
    expect(inv.status).toBe(201);
    const id = inv.body.transactionId as number;
    expect((await d.post('/v1/deferrals/release?upTo=2025-12-31', {})).body.released).toHaveLength(3);
    const cn = await d.post('/v1/sales/credit-notes', { fromInvoiceTransactionId: id, creditNoteDate: '2025-11-10' });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    expect(await journal(cn.body.transactionId)).toEqual([
      ['1100', null, '-108900', '-108900'],
      ['2300', null, '60000', '60000'],
      ['4000', null, '30000', '30000'],
      ['2200', null, '18900', '18900'],
    ]);
    expect(await deferralsAt(id, '2025-11-05')).toEqual({ released: '300.00', credited: '0.00', remaining: '600.00' });
    for (const at of ['2025-11-10', '2025-11-30', '2025-12-31']) {
      expect(await deferralsAt(id, at)).toEqual({ released: '300.00', credited: '600.00', remaining: '0.00' });
      expect([at, await balance('2300', at), await balance('4000', at)]).toEqual([at, '0.00', '0.00']);
    }
    await checkInvariants(t.db, d.entityId);
  });
});
