import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
let a: Client;

beforeAll(async () => {
  t = await createTestApp();
  a = await t.entity('PUR', 'EUR');
  await seedCustomer(t.db, a.entityId, 'C1');
  await seedCustomer(t.db, a.entityId, 'HOLD', { onHold: true });
});
afterAll(async () => t.close());

async function count(entityId: string, type: string): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM transactions WHERE entity_id = $1 AND type = $2',
    [entityId, type],
  );
  return Number(rows[0]!.n);
}

/** Signed balance (debit positive) of an account in the base currency, as decimal minor units. */
async function accountBalance(entityId: string, code: string): Promise<string> {
  const { rows } = await t.db.query<{ b: string }>(
    `SELECT coalesce(sum(base_amount), 0)::text AS b FROM journal_lines WHERE entity_id = $1 AND gl_account_code = $2`,
    [entityId, code],
  );
  return rows[0]!.b;
}

/** Creditors control equals the purchase invoices owed (no payments yet in the purchase ledger). */
async function checkCreditors(entityId: string): Promise<void> {
  const { rows } = await t.db.query<{ control: string; owed: string }>(
    `SELECT (SELECT coalesce(sum(j.base_amount), 0) FROM journal_lines j JOIN transactions s ON s.id = j.transaction_id
              WHERE j.entity_id = $1 AND j.role = 'control' AND s.supplier_code IS NOT NULL)::text AS control,
            (SELECT coalesce(sum(base_gross), 0) FROM transactions WHERE entity_id = $1 AND type = 'PI')::text AS owed`,
    [entityId],
  );
  expect(BigInt(rows[0]!.control)).toBe(-BigInt(rows[0]!.owed));
}

function del(c: Client, path: string) {
  return t.request('DELETE', path, undefined, { authorization: `Bearer ${c.token}` });
}

const purchase = (reference: string, extra: Record<string, unknown> = {}) => ({
  supplierCode: 'ACME',
  invoiceDate: '2026-11-03',
  supplierReference: reference,
  description: 'Stadium seats',
  lines: [
    { glAccountCode: '5000', taxCode: 'STD', description: 'Seats', netAmount: '1000.00', taxRate: '0.21' },
    { taxCode: 'STD', description: 'Delivery', netAmount: '33.33', taxRate: '0.21' },
  ],
  ...extra,
});

describe('suppliers', () => {
  it('starts every entity with creditors control, intercompany and VAT input accounts', async () => {
    expect((await a.get('/v1/gl-accounts/2100')).body).toMatchObject({ code: '2100', isControl: true });
    expect((await a.get('/v1/gl-accounts/1150')).body).toMatchObject({ isControl: true, type: 'asset' });
    expect((await a.get('/v1/gl-accounts/2150')).body).toMatchObject({ isControl: true, type: 'liability' });
    expect((await a.get('/v1/gl-accounts/2210')).body).toMatchObject({ isControl: false, type: 'asset' });
    expect((await a.get('/v1/gl-accounts/5000')).body).toMatchObject({ isControl: false, type: 'expense' });
  });

  it('creates, reads, lists and updates a supplier, defaulting its control account to creditors control', async () => {
    const created = await a.put('/v1/suppliers/ACME', { name: 'Acme Supplies' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      code: 'ACME',
      name: 'Acme Supplies',
      currency: 'EUR',
      creditDays: 30,
      email: null,
      vatNumber: null,
      defaultTaxCode: null,
      defaultGlAccountCode: null,
      controlGlAccountCode: '2100',
      isActive: true,
    });
    const updated = await a.put('/v1/suppliers/ACME', { creditDays: 14, defaultTaxCode: 'STD' });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: 'Acme Supplies', creditDays: 14, defaultTaxCode: 'STD' });
    expect((await a.get('/v1/suppliers/ACME')).body.creditDays).toBe(14);
    expect((await a.get('/v1/suppliers')).body.map((s: { code: string }) => s.code)).toEqual(['ACME']);
    const audit = await t.db.query(
      `SELECT action FROM audit_log WHERE entity_id = $1 AND object_type = 'supplier' ORDER BY id`,
      [a.entityId],
    );
    expect(audit.rows.map((r) => r.action)).toEqual(['supplier.created', 'supplier.updated']);
  });

  it("keeps the creditors control account and a supplier's control account control accounts", async () => {
    const r = await a.put('/v1/gl-accounts/2100', { isControl: false });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('GLACCOUNT_CONTROL_ACCOUNT_IN_USE');
    expect((await a.get('/v1/gl-accounts/2100')).body.isControl).toBe(true);
  });

  it('refuses a control account that is not one, and a missing name, changing nothing', async () => {
    const bad = await a.put('/v1/suppliers/BAD', { name: 'Bad', controlGlAccountCode: '5000' });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('GLACCOUNT_IS_NOT_CONTROL_ACCOUNT');
    expect(bad.body.error.details).toEqual([{ field: 'body.controlGlAccountCode', message: expect.any(String) }]);
    const noName = await a.put('/v1/suppliers/BAD', { currency: 'EUR' });
    expect(noName.status).toBe(400);
    expect(noName.body.error.details).toEqual([{ field: 'body.name', message: 'required when creating' }]);
    expect((await a.get('/v1/suppliers/BAD')).status).toBe(404);
  });
});

describe('purchase invoices', () => {
  let id: number;

  it('posts the exact journal: Dr expense lines, Dr VAT input, Cr creditors control', async () => {
    const r = await a.post('/v1/purchases/invoices', purchase('ACME-7781'));
    expect(r.status).toBe(201);
    // 1000.00 × 0.21 = 210.00; 33.33 × 0.21 = 6.9993 → 7.00 (half-up per line).
    expect(r.body).toEqual({
      transactionId: expect.any(Number),
      number: 1,
      netAmount: '1033.33',
      taxAmount: '217.00',
      grossAmount: '1250.33',
      dueDate: '2026-11-17',
    });
    id = r.body.transactionId;
    const doc = await a.get(`/v1/purchases/invoices/${id}`);
    expect(doc.status).toBe(200);
    expect(doc.body).toMatchObject({
      supplierCode: 'ACME',
      supplierReference: 'ACME-7781',
      invoiceDate: '2026-11-03',
      currency: 'EUR',
      linked: null,
    });
    expect(
      doc.body.lines.map((l: { glAccountCode: string; taxAmount: string }) => [l.glAccountCode, l.taxAmount]),
    ).toEqual([
      ['5000', '210.00'],
      ['5000', '7.00'],
    ]);
    expect(doc.body.journal).toEqual([
      { role: 'control', glAccountCode: '2100', taxCode: null, amount: '-1250.33', baseAmount: '-1250.33' },
      { role: 'net', glAccountCode: '5000', taxCode: 'STD', amount: '1000.00', baseAmount: '1000.00' },
      { role: 'net', glAccountCode: '5000', taxCode: 'STD', amount: '33.33', baseAmount: '33.33' },
      { role: 'tax', glAccountCode: '2210', taxCode: 'STD', amount: '217.00', baseAmount: '217.00' },
    ]);
    expect(await accountBalance(a.entityId, '2100')).toBe('-125033');
    expect(await accountBalance(a.entityId, '2200')).toBe('0');
    const tb = await a.get('/v1/reports/trial-balance?at=2026-12-31');
    const row = (code: string) => tb.body.accounts.find((x: { code: string }) => x.code === code);
    expect(row('2100')).toMatchObject({ debit: '0.00', credit: '1250.33' });
    expect(row('2210')).toMatchObject({ debit: '217.00', credit: '0.00' });
    await checkInvariants(t.db, a.entityId);
    await checkCreditors(a.entityId);
  });

  it('stays out of the sales ledger: no customer, no open item, not in the VAT return of sales', async () => {
    const generic = await a.get(`/v1/transactions/${id}`);
    expect(generic.status).toBe(200);
    expect(generic.body).toMatchObject({ type: 'PI', customerCode: null });
    const list = await a.get('/v1/transactions?type=PI');
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({ outstanding: '0.00' });
    const vat = await a.get('/v1/reports/vat?from=2026-11-01&to=2026-11-30');
    expect(vat.status).toBe(200);
    expect(JSON.stringify(vat.body)).not.toContain('217.00');
    const { rows } = await t.db.query(
      `SELECT 1 FROM transactions WHERE entity_id = $1 AND type = 'PI' AND (side <> 'none' OR customer_code IS NOT NULL)`,
      [a.entityId],
    );
    expect(rows).toHaveLength(0);
  });

  it('refuses the same supplier reference again (trimmed, any case), changing nothing', async () => {
    const before = await count(a.entityId, 'PI');
    const r = await a.post('/v1/purchases/invoices', purchase(' acme-7781 '));
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('PURCHASE_INVOICE_SUPPLIER_REFERENCE_ALREADY_EXISTS');
    expect(r.body.error.details).toEqual([{ field: 'supplierReference', message: 'already used for this supplier' }]);
    expect(await count(a.entityId, 'PI')).toBe(before);
    // The database refuses it too, whatever the path.
    await expect(
      t.db.query(
        `INSERT INTO transactions (entity_id, type, side, number, supplier_code, currency, exchange_rate, transaction_date,
                                   external_reference, gross, base_gross, created_by)
         VALUES ($1, 'PI', 'none', 99, 'ACME', 'EUR', 1, '2026-11-03', 'ACME-7781 ', 0, 0, 'test')`,
        [a.entityId],
      ),
    ).rejects.toThrow(/transactions_supplier_reference_checked/);
  });

  it('refuses a purchase document naming a customer, or a sales document naming a supplier (CHECK)', async () => {
    await expect(
      t.db.query(
        `INSERT INTO transactions (entity_id, type, side, number, supplier_code, customer_code, currency, exchange_rate,
                                   transaction_date, gross, base_gross, created_by)
         VALUES ($1, 'SI', 'debit', 99, 'ACME', 'C1', 'EUR', 1, '2026-11-03', 0, 0, 'test')`,
        [a.entityId],
      ),
    ).rejects.toThrow(/transactions_supplier_party/);
    await expect(
      t.db.query(
        `INSERT INTO transactions (entity_id, type, side, number, currency, exchange_rate, transaction_date, gross, base_gross, created_by)
         VALUES ($1, 'PI', 'none', 98, 'EUR', 1, '2026-11-03', 0, 0, 'test')`,
        [a.entityId],
      ),
    ).rejects.toThrow(/transactions_supplier_party/);
  });

  it('never changes once posted', async () => {
    await expect(t.db.query('UPDATE transactions SET net = 1 WHERE id = $1', [id])).rejects.toThrow(
      /cannot be changed/,
    );
    await expect(t.db.query('DELETE FROM journal_lines WHERE transaction_id = $1', [id])).rejects.toThrow();
  });

  it('refuses unknown and inactive suppliers, a line on a control account and bad amounts, with the field', async () => {
    const before = await count(a.entityId, 'PI');
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ supplierCode: 'NOPE' }, 422, 'SUPPLIER_CODE_DOES_NOT_EXIST', 'supplierCode'],
      [
        { lines: [{ glAccountCode: '2100', taxCode: 'STD', netAmount: '10.00' }] },
        422,
        'GLACCOUNT_IS_CONTROL_ACCOUNT',
        'lines[0].glAccountCode',
      ],
      [{ lines: [{ taxCode: 'STD', netAmount: '10.001' }] }, 400, 'AMOUNT_HAS_TOO_MANY_DECIMALS', 'lines[0].netAmount'],
      [{ lines: [{ taxCode: 'STD', netAmount: '-10.00' }] }, 422, 'DOCUMENT_TOTAL_MUST_BE_POSITIVE', 'lines'],
      [{ dueDate: '2026-11-01' }, 422, 'DUE_DATE_BEFORE_TRANSACTION_DATE', 'dueDate'],
      [{ exchangeRate: '1.1' }, 422, 'EXCHANGE_RATE_MUST_BE_ONE', 'exchangeRate'],
    ];
    for (const [extra, status, code, field] of cases) {
      const r = await a.post('/v1/purchases/invoices', purchase(`REF-${code}`, extra));
      expect(r.status, code).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(r.body.error.details).toEqual([{ field, message: expect.any(String) }]);
    }
    await a.put('/v1/suppliers/SLEEPY', { name: 'Sleepy', isActive: false });
    const inactive = await a.post('/v1/purchases/invoices', purchase('S-1', { supplierCode: 'SLEEPY' }));
    expect(inactive.body.error.code).toBe('SUPPLIER_IS_INACTIVE');
    const noTax = await a.post(
      '/v1/purchases/invoices',
      purchase('S-2', { supplierCode: 'SLEEPY', lines: [{ netAmount: '1.00' }] }),
    );
    expect(noTax.body.error.code).toBe('SUPPLIER_IS_INACTIVE');
    expect(await count(a.entityId, 'PI')).toBe(before);
  });

  it('respects the lock date', async () => {
    expect((await a.put('/v1/settings', { lockDate: '2026-10-31' })).status).toBe(200);
    const r = await a.post('/v1/purchases/invoices', purchase('LOCKED-1', { invoiceDate: '2026-10-31' }));
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('PERIOD_LOCKED');
    expect(r.body.error.details).toMatchObject({ field: 'invoiceDate', lockDate: '2026-10-31' });
    expect((await a.put('/v1/settings', { lockDate: null })).status).toBe(200);
  });

  it('replays an Idempotency-Key instead of posting twice, and numbers stay gapless', async () => {
    const key = { 'idempotency-key': 'pi-retry-1' };
    const first = await a.post('/v1/purchases/invoices', purchase('ACME-7782'), key);
    const again = await a.post('/v1/purchases/invoices', purchase('ACME-7782'), key);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(first.body.number).toBe(2);
    expect(await count(a.entityId, 'PI')).toBe(2);
    const other = await a.post('/v1/purchases/invoices', purchase('ACME-7783'), key);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const audit = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_log WHERE entity_id = $1 AND action = 'purchase-invoice.posted'`,
      [a.entityId],
    );
    expect(audit.rows[0]!.n).toBe(2);
  });

  it('converts a foreign-currency purchase invoice to base line by line, the control taking the exact opposite', async () => {
    expect((await a.put('/v1/suppliers/YANK', { name: 'Yank Inc', currency: 'USD' })).status).toBe(201);
    const missing = await a.post('/v1/purchases/invoices', purchase('USD-1', { supplierCode: 'YANK' }));
    expect(missing.status).toBe(422);
    expect(missing.body.error.code).toBe('EXCHANGE_RATE_MISSING');
    const r = await a.post('/v1/purchases/invoices', purchase('USD-1', { supplierCode: 'YANK', exchangeRate: '1.08' }));
    expect(r.status).toBe(201);
    const doc = await a.get(`/v1/purchases/invoices/${r.body.transactionId}`);
    // 1000.00 / 1.08 = 925.925… → 925.93; 33.33 / 1.08 = 30.8611… → 30.86; 217.00 / 1.08 = 200.925… → 200.93.
    expect(doc.body.journal.map((j: { amount: string; baseAmount: string }) => [j.amount, j.baseAmount])).toEqual([
      ['-1250.33', '-1157.72'],
      ['1000.00', '925.93'],
      ['33.33', '30.86'],
      ['217.00', '200.93'],
    ]);
    await checkCreditors(a.entityId);
  });

  it('answers two concurrent posts of one supplier reference with one invoice and one 409, never a 500', async () => {
    const before = await count(a.entityId, 'PI');
    const results = await Promise.all([
      a.post('/v1/purchases/invoices', purchase('RACE-1')),
      a.post('/v1/purchases/invoices', purchase('race-1')),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(results.find((r) => r.status === 409)!.body.error.code).toBe(
      'PURCHASE_INVOICE_SUPPLIER_REFERENCE_ALREADY_EXISTS',
    );
    expect(await count(a.entityId, 'PI')).toBe(before + 1);
  });

  it('lists purchase invoices by supplier and date', async () => {
    const r = await a.get('/v1/purchases/invoices?supplierCode=ACME&fromDate=2026-11-01&toDate=2026-11-30');
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(3);
    expect(r.body.items.map((i: { supplierReference: string }) => i.supplierReference)).toEqual([
      'ACME-7781',
      'ACME-7782',
      expect.stringMatching(/^race-1$/i),
    ]);
  });
});

describe('back-to-back', () => {
  const b2b = (reference: string, sales: Record<string, unknown>) => ({
    purchase: {
      supplierCode: 'ACME',
      invoiceDate: '2026-11-06',
      supplierReference: reference,
      lines: [
        { taxCode: 'STD', description: 'Seats', netAmount: '100.00', taxRate: '0.21' },
        { taxCode: 'STD', description: 'Cushions', netAmount: '33.33', taxRate: '0.21' },
      ],
    },
    sales: { customerCode: 'C1', externalReference: `SO-${reference}`, ...sales },
  });

  it('posts both halves linked, the sales lines marked up exactly (half-up per line)', async () => {
    const r = await a.post('/v1/back-to-back', b2b('B2B-1', { markupRate: '0.15' }));
    expect(r.status).toBe(201);
    // 100.00 × 1.15 = 115.00; 33.33 × 1.15 = 38.3295 → 38.33. VAT at the sales rate (STD 0.20 in
    // this entity): 23.00 + 7.666 → 7.67 = 30.67.
    expect(r.body.purchase).toMatchObject({ netAmount: '133.33', taxAmount: '28.00', grossAmount: '161.33' });
    expect(r.body.sales).toMatchObject({ netAmount: '153.33', taxAmount: '30.67', grossAmount: '184.00' });
    const pi = await a.get(`/v1/purchases/invoices/${r.body.purchase.transactionId}`);
    expect(pi.body.linked).toEqual({
      kind: 'back_to_back',
      transactionId: r.body.sales.transactionId,
      entityCode: 'PUR',
    });
    const si = await a.get(`/v1/transactions/${r.body.sales.transactionId}`);
    expect(si.body).toMatchObject({ type: 'SI', customerCode: 'C1' });
    expect(si.body.items.map((l: { net: string; glAccountCode: string }) => [l.glAccountCode, l.net])).toEqual([
      ['4000', '115.00'],
      ['4000', '38.33'],
    ]);
    expect((await a.get(`/v1/transactions/${r.body.sales.transactionId}/link`)).body).toEqual({
      kind: 'back_to_back',
      transactionId: r.body.purchase.transactionId,
      entityCode: 'PUR',
    });
    expect((await a.get(`/v1/transactions/${r.body.purchase.transactionId}/link`)).body).toEqual({
      kind: 'back_to_back',
      transactionId: r.body.sales.transactionId,
      entityCode: 'PUR',
    });
    const { rows } = await t.db.query<{ details: { backToBack: { purchaseTransactionId: number } } }>(
      'SELECT details FROM transactions WHERE id = $1',
      [r.body.sales.transactionId],
    );
    expect(rows[0]!.details.backToBack.purchaseTransactionId).toBe(r.body.purchase.transactionId);
    await checkInvariants(t.db, a.entityId);
    await checkCreditors(a.entityId);
  });

  it('takes the sales lines as given', async () => {
    const r = await a.post(
      '/v1/back-to-back',
      b2b('B2B-2', { lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '500.00' }] }),
    );
    expect(r.status).toBe(201);
    expect(r.body.sales).toMatchObject({ netAmount: '500.00', taxAmount: '0.00', grossAmount: '500.00' });
  });

  it('is all or nothing: a refused sales half leaves no purchase invoice and no gap in the numbers', async () => {
    const pis = await count(a.entityId, 'PI');
    const sis = await count(a.entityId, 'SI');
    const unknown = await a.post('/v1/back-to-back', b2b('B2B-3', { customerCode: 'NOBODY', markupRate: '0.1' }));
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.code).toBe('CUSTOMER_CODE_DOES_NOT_EXIST');
    expect(unknown.body.error.details).toEqual([{ field: 'sales.customerCode', message: 'unknown customer' }]);
    const duplicate = await a.post('/v1/back-to-back', {
      ...b2b('B2B-4', { markupRate: '0.1' }),
      sales: { customerCode: 'C1', externalReference: 'SO-B2B-1', markupRate: '0.1' },
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error.code).toBe('INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS');
    const onHold = await a.post(
      '/v1/back-to-back',
      b2b('B2B-5', { customerCode: 'HOLD', markupRate: '0.1', enforceCreditLimit: true }),
    );
    expect(onHold.body.error.code).toBe('CUSTOMER_IS_ON_HOLD');
    const badLine = await a.post(
      '/v1/back-to-back',
      b2b('B2B-6', { lines: [{ glAccountCode: '1100', taxCode: 'STD', netAmount: '1.00' }] }),
    );
    expect(badLine.body.error.code).toBe('GLACCOUNT_IS_CONTROL_ACCOUNT');
    expect(badLine.body.error.details).toEqual([{ field: 'sales.lines[0].glAccountCode', message: 'control account' }]);
    expect(await count(a.entityId, 'PI')).toBe(pis);
    expect(await count(a.entityId, 'SI')).toBe(sis);
    const { rows } = await t.db.query(
      `SELECT 1 FROM transactions WHERE entity_id = $1 AND external_reference IN ('B2B-3', 'B2B-4', 'B2B-5', 'B2B-6')`,
      [a.entityId],
    );
    expect(rows).toHaveLength(0);
    // The purchase numbers the refused requests drew were returned.
    const next = await a.post('/v1/back-to-back', b2b('B2B-7', { markupRate: '0' }));
    expect(next.status).toBe(201);
    expect(next.body.purchase.number).toBe(pis + 1);
    expect(next.body.sales).toMatchObject({ netAmount: '133.33' });
  });

  it('wants markupRate or lines, exactly one, and one currency to copy lines', async () => {
    const neither = await a.post('/v1/back-to-back', b2b('B2B-8', {}));
    expect(neither.status).toBe(400);
    expect(neither.body.error.details).toEqual([
      { field: 'sales.markupRate', message: 'markupRate or lines required' },
    ]);
    const both = await a.post(
      '/v1/back-to-back',
      b2b('B2B-8', { markupRate: '0.1', lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1.00' }] }),
    );
    expect(both.status).toBe(400);
    await seedCustomer(t.db, a.entityId, 'USD1', { currency: 'USD' });
    const usd = await a.post('/v1/back-to-back', b2b('B2B-8', { customerCode: 'USD1', markupRate: '0.1' }));
    expect(usd.status).toBe(422);
    expect(usd.body.error.code).toBe('BACK_TO_BACK_CURRENCY_MISMATCH');
    expect(usd.body.error.details).toEqual([{ field: 'sales.markupRate', message: expect.any(String) }]);
    const { rows } = await t.db.query(`SELECT 1 FROM transactions WHERE external_reference = 'B2B-8'`);
    expect(rows).toHaveLength(0);
  });

  it('is idempotent with an Idempotency-Key', async () => {
    const pis = await count(a.entityId, 'PI');
    const key = { 'idempotency-key': 'b2b-retry' };
    const first = await a.post('/v1/back-to-back', b2b('B2B-9', { markupRate: '0.5' }), key);
    const again = await a.post('/v1/back-to-back', b2b('B2B-9', { markupRate: '0.5' }), key);
    expect(first.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(await count(a.entityId, 'PI')).toBe(pis + 1);
    await checkInvariants(t.db, a.entityId);
  });
});

describe('intercompany', () => {
  let seller: Client;
  let buyer: Client;
  let stranger: Client;

  const icInvoice = (extra: Record<string, unknown> = {}) => ({
    buyerEntityCode: 'IC-BUY',
    invoiceDate: '2026-11-04',
    externalReference: `IC-${Math.random().toString(36).slice(2, 8)}`,
    description: 'Management fee November',
    lines: [
      { glAccountCode: '4000', taxCode: 'STD', description: 'Fee', netAmount: '5000.00', taxRate: '0.21' },
      { glAccountCode: '4000', taxCode: 'STD', description: 'Expenses', netAmount: '12.34', taxRate: '0.21' },
    ],
    ...extra,
  });

  beforeAll(async () => {
    seller = await t.entity('IC-SELL', 'EUR');
    buyer = await t.entity('IC-BUY', 'EUR');
    stranger = await t.entity('IC-OTHER', 'EUR');
    for (const [c, other] of [
      [seller, 'IC-BUY'],
      [buyer, 'IC-SELL'],
      [stranger, 'IC-BUY'],
    ] as const) {
      expect((await c.put(`/v1/customers/${other}`, { name: other, controlGlAccountCode: '1150' })).status).toBe(201);
      expect(
        (await c.put(`/v1/suppliers/${other}`, { name: other, controlGlAccountCode: '2150', defaultTaxCode: 'STD' }))
          .status,
      ).toBe(201);
    }
  });

  it('refuses to post before both entities have connected, and says nothing about which half is missing', async () => {
    const none = await seller.post('/v1/intercompany/invoices', icInvoice());
    expect(none.status).toBe(422);
    expect(none.body.error.code).toBe('INTERCOMPANY_NOT_CONNECTED');
    expect(none.body.error.details).toEqual([{ field: 'buyerEntityCode', message: 'not connected' }]);
    const half = await seller.put('/v1/intercompany/connections/IC-BUY', {
      customerCode: 'IC-BUY',
      supplierCode: 'IC-BUY',
    });
    expect(half.status).toBe(201);
    expect(half.body).toEqual({
      entityCode: 'IC-BUY',
      customerCode: 'IC-BUY',
      supplierCode: 'IC-BUY',
      dueFromGlAccountCode: '1150',
      dueToGlAccountCode: '2150',
      status: 'pending',
    });
    const pending = await seller.post('/v1/intercompany/invoices', icInvoice());
    expect(pending.body.error.code).toBe('INTERCOMPANY_NOT_CONNECTED');
    const ghost = await seller.put('/v1/intercompany/connections/NO-SUCH', {
      customerCode: 'IC-BUY',
      supplierCode: 'IC-BUY',
    });
    expect(ghost.status).toBe(201);
    expect(ghost.body.status).toBe('pending');
    const missing = await seller.post('/v1/intercompany/invoices', icInvoice({ buyerEntityCode: 'NO-SUCH' }));
    expect(missing.body.error).toEqual({ ...pending.body.error, message: missing.body.error.message });
    expect(await count(seller.entityId, 'SI')).toBe(0);
    expect(await count(buyer.entityId, 'PI')).toBe(0);
  });

  it('refuses a connection to itself or naming an unknown customer', async () => {
    const self = await seller.put('/v1/intercompany/connections/IC-SELL', {
      customerCode: 'IC-BUY',
      supplierCode: 'IC-BUY',
    });
    expect(self.status).toBe(400);
    expect(self.body.error.details).toEqual([
      { field: 'params.entityCode', message: 'an entity cannot connect to itself' },
    ]);
    const unknown = await seller.put('/v1/intercompany/connections/IC-BUY', {
      customerCode: 'NOPE',
      supplierCode: 'IC-BUY',
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error).toMatchObject({
      code: 'CUSTOMER_CODE_DOES_NOT_EXIST',
      details: [{ field: 'body.customerCode', message: 'unknown customer' }],
    });
  });

  it('posts the pair atomically, each half referencing the other, the due-from equal to the due-to', async () => {
    const back = await buyer.put('/v1/intercompany/connections/IC-SELL', {
      customerCode: 'IC-SELL',
      supplierCode: 'IC-SELL',
    });
    expect(back.body.status).toBe('active');
    expect(
      (await seller.get('/v1/intercompany/connections')).body.find(
        (c: { entityCode: string }) => c.entityCode === 'IC-BUY',
      ).status,
    ).toBe('active');
    const r = await seller.post('/v1/intercompany/invoices', icInvoice({ externalReference: 'IC-2026-11' }));
    expect(r.status).toBe(201);
    // 5000.00 × 0.21 = 1050.00; 12.34 × 0.21 = 2.5914 → 2.59.
    expect(r.body.sales).toMatchObject({
      number: 1,
      netAmount: '5012.34',
      taxAmount: '1052.59',
      grossAmount: '6064.93',
    });
    expect(r.body.purchase).toMatchObject({
      number: 1,
      netAmount: '5012.34',
      taxAmount: '1052.59',
      grossAmount: '6064.93',
      entityCode: 'IC-BUY',
      dueDate: r.body.sales.dueDate,
    });
    expect(await accountBalance(seller.entityId, '1150')).toBe('606493');
    expect(await accountBalance(buyer.entityId, '2150')).toBe('-606493');
    expect(await accountBalance(buyer.entityId, '5000')).toBe('501234');
    expect(await accountBalance(buyer.entityId, '2210')).toBe('105259');
    const pi = await buyer.get(`/v1/purchases/invoices/${r.body.purchase.transactionId}`);
    expect(pi.body).toMatchObject({ supplierCode: 'IC-SELL', supplierReference: 'SI-1' });
    expect(pi.body.linked).toEqual({
      kind: 'intercompany',
      transactionId: r.body.sales.transactionId,
      entityCode: 'IC-SELL',
    });
    const { rows } = await t.db.query<{ id: string; details: Record<string, Record<string, unknown>> }>(
      'SELECT id::text AS id, details FROM transactions WHERE id = ANY($1::bigint[]) ORDER BY id',
      [[r.body.sales.transactionId, r.body.purchase.transactionId]],
    );
    expect(rows[0]!.details.intercompany).toEqual({ buyerEntityCode: 'IC-BUY' });
    expect(rows[1]!.details.intercompany).toEqual({
      sellerEntityCode: 'IC-SELL',
      salesTransactionId: r.body.sales.transactionId,
    });
    const audit = await t.db.query(
      `SELECT action FROM audit_log WHERE entity_id = $1 AND action LIKE 'intercompany-purchase%'`,
      [buyer.entityId],
    );
    expect(audit.rows).toHaveLength(1);
    for (const c of [seller, buyer]) {
      await checkInvariants(t.db, c.entityId);
      await checkCreditors(c.entityId);
    }
  });

  it('keeps the other entity unreadable: its purchase invoice is NOT_FOUND from the seller', async () => {
    const { rows } = await t.db.query<{ id: string }>(
      `SELECT id::text AS id FROM transactions WHERE entity_id = $1 AND type = 'PI'`,
      [buyer.entityId],
    );
    const id = rows[0]!.id;
    expect((await seller.get(`/v1/purchases/invoices/${id}`)).status).toBe(404);
    expect((await seller.get(`/v1/transactions/${id}`)).status).toBe(404);
    expect((await seller.get('/v1/suppliers/IC-SELL')).status).toBe(404);
    expect((await seller.get(`/v1/transactions/${id}/link`)).status).toBe(404);
    const { rows: sales } = await t.db.query<{ id: string }>(
      `SELECT id::text AS id FROM transactions WHERE entity_id = $1 AND type = 'SI'`,
      [seller.entityId],
    );
    expect((await seller.get(`/v1/transactions/${sales[0]!.id}/link`)).body).toEqual({
      kind: 'intercompany',
      transactionId: Number(id),
      entityCode: 'IC-BUY',
    });
    expect((await buyer.get(`/v1/transactions/${sales[0]!.id}/link`)).status).toBe(404);
  });

  it('posts nothing in either entity when the buyer refuses its half, telling only the code', async () => {
    const sis = await count(seller.entityId, 'SI');
    const pis = await count(buyer.entityId, 'PI');
    expect((await buyer.put('/v1/settings', { lockDate: '2026-11-30' })).status).toBe(200);
    const locked = await seller.post('/v1/intercompany/invoices', icInvoice());
    expect(locked.status).toBe(422);
    expect(locked.body.error.code).toBe('INTERCOMPANY_COUNTERPART_REFUSED');
    expect(locked.body.error.details).toEqual({ field: 'buyerEntityCode', reason: 'PERIOD_LOCKED' });
    expect(locked.body.error.message).not.toContain('2026-11-30');
    expect((await buyer.put('/v1/settings', { lockDate: null })).status).toBe(200);
    await buyer.put('/v1/suppliers/IC-SELL', { isActive: false });
    const inactive = await seller.post('/v1/intercompany/invoices', icInvoice());
    expect(inactive.body.error.details).toEqual({ field: 'buyerEntityCode', reason: 'SUPPLIER_IS_INACTIVE' });
    await buyer.put('/v1/suppliers/IC-SELL', { isActive: true });
    expect(await count(seller.entityId, 'SI')).toBe(sis);
    expect(await count(buyer.entityId, 'PI')).toBe(pis);
    await checkInvariants(t.db, seller.entityId);
  });

  it('refuses an entity the buyer never connected to, even if it connected itself', async () => {
    expect(
      (await stranger.put('/v1/intercompany/connections/IC-BUY', { customerCode: 'IC-BUY', supplierCode: 'IC-BUY' }))
        .status,
    ).toBe(201);
    const r = await stranger.post('/v1/intercompany/invoices', icInvoice());
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('INTERCOMPANY_NOT_CONNECTED');
    expect(await count(stranger.entityId, 'SI')).toBe(0);
  });

  it('stops when either side withdraws its half', async () => {
    const withdrawn = await del(buyer, '/v1/intercompany/connections/IC-SELL');
    expect(withdrawn.status).toBe(200);
    const r = await seller.post('/v1/intercompany/invoices', icInvoice());
    expect(r.body.error.code).toBe('INTERCOMPANY_NOT_CONNECTED');
    expect((await del(buyer, '/v1/intercompany/connections/IC-SELL')).status).toBe(404);
  });

  it('books the mirror in a buyer with another base currency at buyerExchangeRate, equal in the invoice currency', async () => {
    const uk = await t.entity('IC-UK', 'GBP');
    await uk.put('/v1/customers/IC-SELL', { name: 'Seller', currency: 'EUR', controlGlAccountCode: '1150' });
    await uk.put('/v1/suppliers/IC-SELL', { name: 'Seller', currency: 'EUR', controlGlAccountCode: '2150' });
    await uk.put('/v1/intercompany/connections/IC-SELL', { customerCode: 'IC-SELL', supplierCode: 'IC-SELL' });
    await seller.put('/v1/customers/IC-UK', { name: 'UK', controlGlAccountCode: '1150' });
    await seller.put('/v1/suppliers/IC-UK', { name: 'UK', controlGlAccountCode: '2150' });
    await seller.put('/v1/intercompany/connections/IC-UK', { customerCode: 'IC-UK', supplierCode: 'IC-UK' });
    const body = icInvoice({
      buyerEntityCode: 'IC-UK',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1000.00', taxRate: '0.21' }],
    });
    const noRate = await seller.post('/v1/intercompany/invoices', body);
    expect(noRate.status).toBe(422);
    expect(noRate.body.error.details).toEqual({ field: 'buyerExchangeRate', reason: 'EXCHANGE_RATE_MISSING' });
    const r = await seller.post('/v1/intercompany/invoices', { ...body, buyerExchangeRate: '1.15' });
    expect(r.status).toBe(201);
    expect(r.body.sales.grossAmount).toBe('1210.00');
    expect(r.body.purchase.grossAmount).toBe('1210.00');
    const pi = await uk.get(`/v1/purchases/invoices/${r.body.purchase.transactionId}`);
    expect(pi.body).toMatchObject({ currency: 'EUR', exchangeRate: '1.15' });
    // 1000.00 / 1.15 = 869.565… → 869.57 GBP; 210.00 / 1.15 = 182.608… → 182.61 GBP; the control 1052.18.
    expect(
      pi.body.journal.map((j: { glAccountCode: string; baseAmount: string }) => [j.glAccountCode, j.baseAmount]),
    ).toEqual([
      ['2150', '-1052.18'],
      ['5000', '869.57'],
      ['2210', '182.61'],
    ]);
    await checkInvariants(t.db, uk.entityId);
    await checkCreditors(uk.entityId);
  });

  it('is admin-free: the admin token cannot post an intercompany invoice', async () => {
    const r = await t.request('POST', '/v1/intercompany/invoices', icInvoice(), {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(r.status).toBe(401);
  });
});
