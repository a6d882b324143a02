import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, postReceipt, seedCustomer } from './helpers/ledger.ts';
import { today, addDays } from '../src/domain/dates.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('VAT', 'EUR', { standardTaxRate: '0.23' });
  await seedCustomer(t.db, c.entityId, 'C1');
});
afterAll(async () => t.close());

let refs = 0;
const ref = (p: string) => `${p}-${++refs}`;

/** An invoice whose lines take the tax code's own rate (no taxRate sent). */
function invoiceBody(date: string, lines: Record<string, unknown>[], customerCode = 'C1') {
  return { customerCode, invoiceDate: date, externalReference: ref('INV'), lines };
}

async function journal(id: number) {
  const { rows } = await t.db.query<{ role: string; gl_account_code: string; tax_code: string | null; amount: string }>(
    'SELECT role, gl_account_code, tax_code, amount FROM journal_lines WHERE transaction_id = $1 ORDER BY line_no',
    [id],
  );
  return rows;
}

async function trialBalanceCredit(client: Client, at: string, code: string): Promise<string> {
  const tb = await client.get(`/v1/reports/trial-balance?at=${at}`);
  const row = tb.body.accounts.find((a: { code: string }) => a.code === code);
  return row ? row.credit : '0.00';
}

describe('settings', () => {
  it('shows the defaults and changes only the fields sent', async () => {
    const e = await t.entity('SETTINGS', 'EUR');
    expect((await e.get('/v1/settings')).body).toMatchObject({
      lockDate: null,
      discountVatTreatment: 'gross',
      vatTolerance: '1',
      exchangeRateTolerance: '0.5',
      taxCalculation: 'perLine',
      taxRounding: 'halfUp',
    });
    const put = await e.put('/v1/settings', { discountVatTreatment: 'adjustVat' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      lockDate: null,
      discountVatTreatment: 'adjustVat',
      vatTolerance: '1',
      exchangeRateTolerance: '0.5',
      taxCalculation: 'perLine',
      taxRounding: 'halfUp',
    });
    expect((await e.put('/v1/settings', { vatTolerance: '0.050' })).body).toMatchObject({
      lockDate: null,
      discountVatTreatment: 'adjustVat',
      vatTolerance: '0.05',
      exchangeRateTolerance: '0.5',
      taxCalculation: 'perLine',
      taxRounding: 'halfUp',
    });
    for (const body of [
      { discountVatTreatment: 'net' },
      { vatTolerance: '-1' },
      { vatTolerance: '0.0000001' },
      { x: 1 },
    ]) {
      expect((await e.put('/v1/settings', body)).status).toBe(400);
    }
    expect((await e.get('/v1/settings')).body).toMatchObject({
      lockDate: null,
      discountVatTreatment: 'adjustVat',
      vatTolerance: '0.05',
      exchangeRateTolerance: '0.5',
      taxCalculation: 'perLine',
      taxRounding: 'halfUp',
    });
  });
});

describe('tax rates with history', () => {
  it('keeps dated rates; a document takes the rate in force on its own date', async () => {
    const put = await c.put('/v1/tax-codes/RED', {
      name: 'Reduced',
      glAccountCode: '2200',
      rates: [
        { from: '2026-01-01', rate: '0.135' },
        { from: '2025-01-01', rate: '0.09' },
      ],
    });
    expect(put.status).toBe(201);
    expect(put.body.rates).toEqual([
      { from: '2025-01-01', rate: '0.09' },
      { from: '2026-01-01', rate: '0.135' },
    ]);
    expect(put.body.rate).toBe('0.135');
    const line = { glAccountCode: '4000', taxCode: 'RED', netAmount: '100.00' };
    const before = await c.post('/v1/sales/batch-invoices', invoiceBody('2025-12-31', [line]));
    expect(before.status).toBe(201);
    expect(before.body.taxAmount).toBe('9.00');
    const after = await c.post('/v1/sales/batch-invoices', invoiceBody('2026-01-01', [line]));
    expect(after.body.taxAmount).toBe('13.50');
    // Before the first rate there is no rate at all: refused, never guessed.
    const tooEarly = await c.post('/v1/sales/batch-invoices', invoiceBody('2024-12-31', [line]));
    expect(tooEarly.status).toBe(422);
    expect(tooEarly.body.error.code).toBe('TAX_CODE_HAS_NO_RATE_ON_DATE');
    expect(tooEarly.body.error.details[0].field).toBe('lines[0].taxCode');
    // A credit note with its own lines takes the rate of its date too.
    const cn = await c.post('/v1/sales/credit-notes', {
      customerCode: 'C1',
      creditNoteDate: '2025-06-30',
      externalReference: ref('CN'),
      lines: [line],
    });
    expect(cn.body.taxAmount).toBe('9.00');
  });

  it('a plain rate adds one from today; earlier documents keep the earlier rate', async () => {
    await c.put('/v1/tax-codes/PLAIN', { name: 'Plain', rate: '0.10', glAccountCode: '2200' });
    const changed = await c.put('/v1/tax-codes/PLAIN', { rate: '0.12' });
    expect(changed.status).toBe(200);
    expect(changed.body.rate).toBe('0.12');
    expect(changed.body.rates).toEqual([
      { from: '1900-01-01', rate: '0.1' },
      { from: today(), rate: '0.12' },
    ]);
    const line = { glAccountCode: '4000', taxCode: 'PLAIN', netAmount: '50.00' };
    const yesterday = await c.post('/v1/sales/batch-invoices', invoiceBody(addDays(today(), -1), [line]));
    expect(yesterday.body.taxAmount).toBe('5.00');
    const now = await c.post('/v1/sales/batch-invoices', invoiceBody(today(), [line]));
    expect(now.body.taxAmount).toBe('6.00');
  });

  it('a draft posted after a rate change keeps the rate of its date', async () => {
    await c.put('/v1/tax-codes/DRAFTY', { name: 'Drafty', rate: '0.20', glAccountCode: '2200' });
    const date = addDays(today(), -10);
    const draft = await c.post('/v1/sales/draft-invoices', {
      ...invoiceBody(date, [{ glAccountCode: '4000', taxCode: 'DRAFTY', netAmount: '10.00' }]),
      performExternalReferenceDuplicateCheck: true,
      enforceCreditLimit: false,
    });
    expect(draft.status).toBe(201);
    await c.put('/v1/tax-codes/DRAFTY', { rate: '0.25' });
    const posted = await c.post(`/v1/sales/draft-invoices/${draft.body.draftId}/post`, undefined);
    expect(posted.status).toBe(201);
    const { rows } = await t.db.query<{ tax: string; tax_rate: string }>(
      'SELECT tax, tax_rate::text AS tax_rate FROM transaction_items WHERE transaction_id = $1',
      [posted.body.transactionId],
    );
    expect(rows[0]).toMatchObject({ tax: '200' });
    expect(Number(rows[0]!.tax_rate)).toBe(0.2);
  });

  it('refuses more than six decimals, rate together with rates, and a date given twice', async () => {
    const bad = [
      { rates: [{ from: '2026-01-01', rate: '0.1234567' }] },
      { rate: '0.1', rates: [{ from: '2026-01-01', rate: '0.1' }] },
      {
        rates: [
          { from: '2026-01-01', rate: '0.1' },
          { from: '2026-01-01', rate: '0.2' },
        ],
      },
      { rates: [] },
      { rates: [{ from: '2026-02-30', rate: '0.1' }] },
      { rates: [{ from: '1899-12-31', rate: '0.1' }] },
    ];
    for (const body of bad) {
      const r = await c.put('/v1/tax-codes/RED', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      // A date outside 1900..2999 carries its own code (docs/ledger.md, dates in order).
      const outOfRange = JSON.stringify(body).includes('1899-12-31');
      expect(r.body.error.code).toBe(outOfRange ? 'DATE_OUT_OF_RANGE' : 'VALIDATION_ERROR');
    }
    expect((await c.get('/v1/tax-codes/RED')).body.rates).toHaveLength(2);
  });
});

describe('supplied VAT', () => {
  it('accepts VAT beyond the tolerance with a warning naming the line', async () => {
    const r = await c.post(
      '/v1/sales/batch-invoices',
      invoiceBody('2026-11-01', [
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00', taxAmount: '23.99' },
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00', taxAmount: '25.00' },
      ]),
    );
    expect(r.status).toBe(201);
    expect(r.body.taxAmount).toBe('48.99');
    expect(r.body.warnings).toEqual([
      {
        code: 'TAX_AMOUNT_DIFFERS_FROM_RATE',
        field: 'lines[1].taxAmount',
        message: expect.stringContaining('differs from 100.00 × 0.23 = 23.00 by 2.00'),
      },
    ]);
    const ppa = await c.post('/v1/sales/post-pay-allocate', {
      batchInvoice: invoiceBody('2026-11-01', [
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '10.00', taxAmount: '5.00' },
      ]),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: false,
    });
    expect(ppa.status).toBe(201);
    expect(ppa.body.warnings.map((w: { field: string }) => w.field)).toEqual(['batchInvoice.lines[0].taxAmount']);
    // A draft is warned when it is posted, like the batch invoice it becomes.
    const draft = await c.post(
      '/v1/sales/draft-invoices',
      invoiceBody('2026-11-01', [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '10.00', taxAmount: '5.00' }]),
    );
    expect(draft.status).toBe(201);
    const posted = await c.post(`/v1/sales/draft-invoices/${draft.body.draftId}/post`, {});
    expect(posted.status).toBe(201);
    expect(posted.body.warnings.map((w: { field: string }) => w.field)).toEqual(['lines[0].taxAmount']);
  });

  it('takes the tolerance from the settings', async () => {
    const e = await t.entity('TOLERANCE', 'EUR', { standardTaxRate: '0.23' });
    await seedCustomer(t.db, e.entityId, 'C1');
    const body = () =>
      invoiceBody('2026-11-01', [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00', taxAmount: '23.05' }]);
    expect((await e.post('/v1/sales/batch-invoices', body())).body).not.toHaveProperty('warnings');
    await e.put('/v1/settings', { vatTolerance: '0.01', exchangeRateTolerance: '0.5' });
    const warned = await e.post('/v1/sales/batch-invoices', body());
    expect(warned.body.warnings.map((w: { field: string }) => w.field)).toEqual(['lines[0].taxAmount']);
  });

  it('refuses a line rate that is a percentage or has more decimals than a line keeps, and takes trailing zeros', async () => {
    const line = (taxRate: string) =>
      invoiceBody('2026-11-01', [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1000000.00', taxRate }]);
    // 0.1234567 once computed VAT at that rate and stored the line's rate as 0.123457.
    for (const rate of ['21', '0.1234567']) {
      const r = await c.post('/v1/sales/batch-invoices', line(rate));
      expect([r.status, r.body.error?.code, r.body.error?.details?.[0]?.field], rate).toEqual([
        400,
        'VALIDATION_ERROR',
        'lines[0].taxRate',
      ]);
      expect(r.body.error.message).toContain('at most 6 decimals');
    }
    const kept = await c.post('/v1/sales/batch-invoices', line('0.12345600'));
    expect(kept.status, JSON.stringify(kept.body)).toBe(201);
    expect(kept.body.taxAmount).toBe('123456.00');
    const { rows } = await t.db.query<{ rate: string }>(
      'SELECT tax_rate::text AS rate FROM transaction_items WHERE transaction_id = $1',
      [kept.body.transactionId],
    );
    expect(rows).toEqual([{ rate: '0.123456' }]);
  });

  it('refuses VAT on a zero-rated line', async () => {
    const r = await c.post(
      '/v1/sales/batch-invoices',
      invoiceBody('2026-11-01', [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '100.00', taxAmount: '0.01' }]),
    );
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('TAX_AMOUNT_ON_ZERO_RATE');
    expect(r.body.error.details[0].field).toBe('lines[0].taxAmount');
    const zero = await c.post(
      '/v1/sales/batch-invoices',
      invoiceBody('2026-11-01', [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '100.00', taxAmount: '0' }]),
    );
    expect(zero.status).toBe(201);
  });
});

describe('VAT on settlement discounts and the VAT report', () => {
  async function discounted(client: Client, customer: string) {
    // 100.00 at 23% = 123.00; paid 120.54 with a 2.46 prompt-payment discount (2%).
    const inv = await client.post(
      '/v1/sales/batch-invoices',
      invoiceBody('2026-05-04', [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00' }], customer),
    );
    const rec = await postReceipt(client, customer, '120.54', { paymentDate: '2026-05-10' });
    const alloc = await client.post('/v1/allocations', {
      transactionId1: inv.body.transactionId,
      transactionId2: rec.transactionId,
      amount: '120.54',
      discountAmount: '2.46',
      date: '2026-05-10',
      reference: 'prompt payment',
    });
    expect(alloc.status).toBe(201);
    return { invoiceId: inv.body.transactionId as number, discountId: alloc.body.discountTransactionId as number };
  }

  it('gross: the whole discount goes to discount allowed, output VAT unchanged', async () => {
    const e = await t.entity('GROSS', 'EUR', { standardTaxRate: '0.23' });
    await seedCustomer(t.db, e.entityId, 'C1');
    const { discountId } = await discounted(e, 'C1');
    expect(await journal(discountId)).toEqual([
      { role: 'control', gl_account_code: '1100', tax_code: null, amount: '-246' },
      { role: 'discount', gl_account_code: '4900', tax_code: null, amount: '246' },
    ]);
    const vat = await e.get('/v1/reports/vat?from=2026-05-01&to=2026-05-31');
    expect(vat.body.totals).toMatchObject({ sales: { net: '100.00', vat: '23.00' }, netVat: '23.00' });
    expect(await trialBalanceCredit(e, '2026-05-31', '2200')).toBe('23.00');
  });

  it('adjustVat: the discount is split into net and VAT; the VAT report agrees with the trial balance', async () => {
    const e = await t.entity('ADJUST', 'EUR', { standardTaxRate: '0.23' });
    await seedCustomer(t.db, e.entityId, 'C1');
    await e.put('/v1/settings', { discountVatTreatment: 'adjustVat' });
    const { invoiceId, discountId } = await discounted(e, 'C1');
    // VAT part 2.46 × 23.00 / 123.00 = 0.46; net part 2.00.
    expect(await journal(discountId)).toEqual([
      { role: 'control', gl_account_code: '1100', tax_code: null, amount: '-246' },
      { role: 'discount', gl_account_code: '4900', tax_code: 'STD', amount: '200' },
      { role: 'tax', gl_account_code: '2200', tax_code: 'STD', amount: '46' },
    ]);
    // A credit note in the same period: 10.00 + 2.30 VAT back.
    const cn = await e.post('/v1/sales/credit-notes', {
      customerCode: 'C1',
      creditNoteDate: '2026-05-20',
      externalReference: ref('CN'),
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '10.00' }],
    });
    expect(cn.status).toBe(201);
    const vat = await e.get('/v1/reports/vat?from=2026-05-01&to=2026-05-31');
    expect(vat.status).toBe(200);
    const std = {
      sales: { net: '100.00', vat: '23.00' },
      creditNotes: { net: '10.00', vat: '2.30' },
      discounts: { net: '2.00', vat: '0.46' },
      netVat: '20.24',
    };
    expect(vat.body).toEqual({
      from: '2026-05-01',
      to: '2026-05-31',
      currency: 'EUR',
      taxCodes: [{ taxCode: 'STD', ...std }],
      totals: std,
    });
    expect(await trialBalanceCredit(e, '2026-05-31', '2200')).toBe('20.24');
    await checkInvariants(t.db, e.entityId);

    // Reversing the allocation puts the discount's VAT back on output VAT.
    const un = await e.post('/v1/allocations/unallocate', { transactionIds: [invoiceId], date: '2026-06-02' });
    expect(un.body.status).toBe('Success');
    const june = await e.get('/v1/reports/vat?from=2026-06-01&to=2026-06-30');
    expect(june.body.totals.discounts).toEqual({ net: '-2.00', vat: '-0.46' });
    expect(june.body.totals.netVat).toBe('0.46');
    expect(await trialBalanceCredit(e, '2026-06-30', '2200')).toBe('20.70');
    await checkInvariants(t.db, e.entityId);
    // A period before anything was posted is empty, and a period must not end before it starts.
    expect((await e.get('/v1/reports/vat?from=2026-01-01&to=2026-01-31')).body.taxCodes).toEqual([]);
    expect((await e.get('/v1/reports/vat?from=2026-02-01&to=2026-01-31')).status).toBe(400);
  });

  it('adjustVat splits per tax code in foreign currency and keeps the books balanced', async () => {
    const e = await t.entity('ADJUSTFX', 'EUR', { standardTaxRate: '0.23' });
    await seedCustomer(t.db, e.entityId, 'U1', { currency: 'USD' });
    await e.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.135', glAccountCode: '2200' });
    await e.put('/v1/settings', { discountVatTreatment: 'adjustVat' });
    const inv = await e.post('/v1/sales/batch-invoices', {
      ...invoiceBody(
        '2026-05-04',
        [
          { glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00' },
          { glAccountCode: '4000', taxCode: 'RED', netAmount: '50.00' },
        ],
        'U1',
      ),
      exchangeRate: '1.08',
    });
    expect(inv.body.grossAmount).toBe('179.75');
    const rec = await postReceipt(e, 'U1', '174.75', { paymentDate: '2026-05-10', exchangeRate: '1.10' });
    const alloc = await e.post('/v1/allocations', {
      transactionId1: inv.body.transactionId,
      transactionId2: rec.transactionId,
      amount: '174.75',
      discountAmount: '5.00',
      date: '2026-05-10',
      reference: 'prompt payment',
    });
    expect(alloc.status).toBe(201);
    // VAT: 5 × 23/179.75 = 0.64 (STD), 5 × 6.75/179.75 = 0.19 (RED); net 4.17 shared 2:1.
    const lines = await journal(alloc.body.discountTransactionId);
    expect(lines.filter((l) => l.role === 'tax').map((l) => [l.tax_code, l.amount])).toEqual([
      ['RED', '19'],
      ['STD', '64'],
    ]);
    const vat = await e.get('/v1/reports/vat?from=2026-05-01&to=2026-05-31');
    const tb = await trialBalanceCredit(e, '2026-05-31', '2200');
    expect(vat.body.totals.netVat).toBe(tb);
    await checkInvariants(t.db, e.entityId);
  });
});
