import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, seedCustomer } from './helpers/ledger.ts';

/*
 * Item invoices and credit notes (issue #11): items with defaults, customer defaults, drafts with
 * quantities, unit prices and discounts, tax per line or per document, half-up or half-even, the
 * VAT breakdown stored on the posted document, idempotent posting.
 */

let t: TestApp;
let c: Client;
let other: Client;

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('ITEMS', 'EUR', { standardTaxRate: '0.21' });
  other = await t.entity('ITEMSOTHER', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1', { creditDays: 30 });
  await seedCustomer(t.db, c.entityId, 'PLAIN', { creditDays: 14 });
  await seedCustomer(t.db, other.entityId, 'C1');
  expect((await c.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.135', glAccountCode: '2200' })).status).toBe(
    201,
  );
  expect((await c.put('/v1/tax-codes/HALF', { name: 'Five', rate: '0.05', glAccountCode: '2200' })).status).toBe(201);
});
afterAll(async () => t.close());

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(sql, params as string[]);
  return Number(rows[0]!.n);
}
const transactions = () => count(`SELECT count(*) AS n FROM transactions WHERE entity_id = $1`, [c.entityId]);
const drafts = () => count(`SELECT count(*) AS n FROM draft_invoices WHERE entity_id = $1`, [c.entityId]);

/** The concrete invoice of docs/ledger.md "Item invoices". */
const invoiceBody = (extra: Record<string, unknown> = {}) => ({
  customerCode: 'C1',
  date: '2026-11-02',
  orderNumber: 'PO-4471',
  deliveryDate: '2026-10-30',
  externalReference: 'SO-1001',
  lines: [
    { itemCode: 'WIDGET', quantity: '3', note: 'Blue, boxed' },
    { description: 'Fitting', quantity: '2', unitPrice: '5.015', discountRate: '0' },
    { description: 'Fitting', quantity: '1', unitPrice: '10.03', discountRate: '0' },
    { description: 'Fitting', quantity: '1', unitPrice: '10.03', discountRate: '0' },
    { description: 'Manual', quantity: '1', unitPrice: '7.50', taxCode: 'RED', discountRate: '0' },
  ],
  ...extra,
});

describe('items', () => {
  it('creates, reads, lists and changes items; references are checked; another entity sees nothing', async () => {
    const created = await c.put('/v1/items/WIDGET', {
      description: 'Widget',
      unitPrice: '33.3333',
      glAccountCode: '4000',
      taxCode: 'STD',
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      code: 'WIDGET',
      description: 'Widget',
      unitPrice: '33.3333',
      glAccountCode: '4000',
      taxCode: 'STD',
      departmentId: null,
      isActive: true,
    });
    const changed = await c.put('/v1/items/GADGET', { description: 'Gadget', unitPrice: '2' });
    expect(changed.status).toBe(201);
    const price = await c.put('/v1/items/GADGET', { unitPrice: '2.5' });
    expect([price.status, price.body.unitPrice, price.body.description]).toEqual([200, '2.5', 'Gadget']);
    expect((await c.get('/v1/items/GADGET')).body.unitPrice).toBe('2.5');
    const list = await c.get('/v1/items');
    expect(list.body.items.map((i: { code: string }) => i.code)).toEqual(['GADGET', 'WIDGET']);

    const refusals: [string, Record<string, unknown>, number, string, string][] = [
      [
        'BAD',
        { description: 'x', glAccountCode: 'NOGL' },
        422,
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        'body.glAccountCode',
      ],
      ['BAD', { description: 'x', taxCode: 'NOPE' }, 422, 'TAX_CODE_DOES_NOT_EXIST', 'body.taxCode'],
      ['BAD', { description: 'x', unitPrice: '1.00001' }, 400, 'VALIDATION_ERROR', 'body.unitPrice'],
      ['BAD', { unitPrice: '1' }, 400, 'VALIDATION_ERROR', 'body.description'],
      ['BAD', { description: 'x', unitPrice: '-1' }, 400, 'VALIDATION_ERROR', 'body.unitPrice'],
    ];
    for (const [code, body, status, error, field] of refusals) {
      const r = await c.put(`/v1/items/${code}`, body);
      expect([r.status, r.body.error?.code, r.body.error?.details?.[0]?.field]).toEqual([status, error, field]);
    }
    expect((await c.get('/v1/items/BAD')).status).toBe(404);
    expect((await other.get('/v1/items/WIDGET')).status).toBe(404);
    expect((await other.get('/v1/items')).body.total).toBe(0);
  });
});

describe('customer defaults', () => {
  it('a customer carries a discount rate, and GET /v1/sales/invoices/new prefills from it without saving', async () => {
    const before = await c.get('/v1/customers/C1');
    expect(before.body.discountRate).toBe('0');
    const saved = await c.put('/v1/customers/C1', { discountRate: '0.1', rowVersion: before.body.rowVersion });
    expect([saved.status, saved.body.discountRate]).toEqual([200, '0.1']);
    for (const discountRate of ['1', '0.9999999']) {
      const bad = await c.put('/v1/customers/C1', { discountRate, rowVersion: saved.body.rowVersion });
      expect([bad.status, bad.body.error.code, bad.body.error.details[0].field]).toEqual([
        400,
        'VALIDATION_ERROR',
        'body.discountRate',
      ]);
    }

    const n = await drafts();
    const fresh = await c.get('/v1/sales/invoices/new?customerCode=C1');
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({
      customerCode: 'C1',
      currency: 'EUR',
      lines: [],
      lineDefaults: { glAccountCode: '4000', taxCode: 'STD', departmentId: null, discountRate: '0.1' },
      settings: { taxCalculation: 'perLine', taxRounding: 'halfUp' },
    });
    expect(fresh.body.dueDate > fresh.body.date).toBe(true);
    expect(await drafts()).toBe(n);
    const unknown = await c.get('/v1/sales/invoices/new?customerCode=NOBODY');
    expect([unknown.status, unknown.body.error.code]).toEqual([422, 'CUSTOMER_CODE_DOES_NOT_EXIST']);
    expect((await other.get('/v1/sales/invoices/new?customerCode=PLAIN')).status).toBe(422);
  });
});

describe('item invoices', () => {
  let draftId: number;
  let transactionId: number;

  it('saves a draft with every default filled in and per-line tax, posting nothing', async () => {
    const before = await transactions();
    const r = await c.post('/v1/sales/invoices', invoiceBody());
    expect(r.status).toBe(201);
    draftId = r.body.draftId;
    expect(r.body).toMatchObject({
      status: 'draft',
      customerCode: 'C1',
      currency: 'EUR',
      // WIDGET: 3 × 33.3333 less the customer's 10 % = 89.99991 → 90.00, tax 18.90.
      // 3 × 10.03 at 21 %: 3 × round(2.1063) = 6.33 per line. RED 7.50 × 13.5 % = 1.0125 → 1.01.
      netAmount: '127.59',
      taxAmount: '26.24',
      grossAmount: '153.83',
      dueDate: '2026-12-02',
      transactionId: null,
      lines: [
        { lineNo: 1, taxRate: '0.21', netAmount: '90.00', taxAmount: '18.90', grossAmount: '108.90' },
        { lineNo: 2, taxRate: '0.21', netAmount: '10.03', taxAmount: '2.11', grossAmount: '12.14' },
        { lineNo: 3, taxRate: '0.21', netAmount: '10.03', taxAmount: '2.11', grossAmount: '12.14' },
        { lineNo: 4, taxRate: '0.21', netAmount: '10.03', taxAmount: '2.11', grossAmount: '12.14' },
        { lineNo: 5, taxRate: '0.135', netAmount: '7.50', taxAmount: '1.01', grossAmount: '8.51' },
      ],
      vatBreakdown: [
        { taxCode: 'RED', taxRate: '0.135', netAmount: '7.50', taxAmount: '1.01' },
        { taxCode: 'STD', taxRate: '0.21', netAmount: '120.09', taxAmount: '25.23' },
      ],
    });
    expect(r.body.document.lines[0]).toEqual({
      itemCode: 'WIDGET',
      description: 'Widget',
      quantity: '3',
      unitPrice: '33.3333',
      discountRate: '0.1',
      glAccountCode: '4000',
      taxCode: 'STD',
      note: 'Blue, boxed',
    });
    expect(r.body.document.lines[1]).toMatchObject({ glAccountCode: '4000', taxCode: 'STD', discountRate: '0' });
    expect(await transactions()).toBe(before);
    // The batch draft routes do not see item drafts.
    expect((await c.get(`/v1/sales/draft-invoices/${draftId}`)).status).toBe(404);
    expect((await other.get(`/v1/sales/invoices/${draftId}`)).status).toBe(404);
  });

  it('refuses bad lines with a stable code and field, saving nothing', async () => {
    const n = await drafts();
    const line = (l: Record<string, unknown>) => invoiceBody({ externalReference: 'X', lines: [l] });
    const refusals: [Record<string, unknown>, number, string, string][] = [
      [line({ itemCode: 'NOPE', quantity: '1' }), 422, 'ITEM_CODE_DOES_NOT_EXIST', 'lines[0].itemCode'],
      [line({ quantity: '1', description: 'no price' }), 422, 'LINE_DEFAULT_MISSING', 'lines[0].unitPrice'],
      [line({ quantity: '1.00001', unitPrice: '1' }), 400, 'VALIDATION_ERROR', 'body.lines.0.quantity'],
      [line({ quantity: '0', unitPrice: '1' }), 400, 'VALIDATION_ERROR', 'body.lines.0.quantity'],
      [line({ quantity: '1', unitPrice: '1.23456' }), 400, 'VALIDATION_ERROR', 'body.lines.0.unitPrice'],
      [line({ quantity: '1', unitPrice: '1', discountRate: '1.5' }), 400, 'VALIDATION_ERROR', 'lines[0].discountRate'],
      [line({ quantity: '1', unitPrice: '1', taxCode: 'NOPE' }), 422, 'TAX_CODE_DOES_NOT_EXIST', 'lines[0].taxCode'],
      [line({ quantity: '1', unitPrice: '-5' }), 422, 'DOCUMENT_TOTAL_MUST_BE_POSITIVE', 'lines'],
      [line({ quantity: '999999999999999', unitPrice: '999999999999999' }), 400, 'AMOUNT_OUT_OF_RANGE', 'lines'],
      [
        line({ quantity: '1', unitPrice: '1', discountRate: '0.1234567' }),
        400,
        'VALIDATION_ERROR',
        'lines[0].discountRate',
      ],
      [invoiceBody({ customerCode: 'NOBODY' }), 422, 'CUSTOMER_CODE_DOES_NOT_EXIST', 'customerCode'],
      [
        invoiceBody({ externalReference: 'SO-1001' }),
        409,
        'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
        'externalReference',
      ],
      [
        invoiceBody({ externalReference: 'Y', dueDate: '2026-11-01' }),
        422,
        'DUE_DATE_BEFORE_TRANSACTION_DATE',
        'dueDate',
      ],
    ];
    for (const [body, status, code, field] of refusals) {
      const r = await c.post('/v1/sales/invoices', body);
      const fields = (r.body.error?.details ?? []).map((d: { field?: string; path?: string }) => d.field ?? d.path);
      expect([r.status, r.body.error?.code, fields[0]]).toEqual([status, code, field]);
    }
    expect(await c.put('/v1/items/GADGET', { isActive: false })).toMatchObject({ status: 200 });
    const inactive = await c.post('/v1/sales/invoices', line({ itemCode: 'GADGET', quantity: '1' }));
    expect([inactive.status, inactive.body.error.code]).toEqual([422, 'ITEM_IS_INACTIVE']);
    expect(await drafts()).toBe(n);
  });

  it('PUT changes only what it is given', async () => {
    const r = await c.put(`/v1/sales/invoices/${draftId}`, { orderNumber: 'PO-4472', deliveryDate: null });
    expect(r.status).toBe(200);
    expect(r.body.document.orderNumber).toBe('PO-4472');
    expect(r.body.document.deliveryDate).toBeUndefined();
    expect(r.body.document.externalReference).toBe('SO-1001');
    expect(r.body.document.lines).toHaveLength(5);
    expect(r.body.grossAmount).toBe('153.83');
    const back = await c.put(`/v1/sales/invoices/${draftId}`, { deliveryDate: '2026-10-30' });
    expect(back.body.document).toMatchObject({ orderNumber: 'PO-4472', deliveryDate: '2026-10-30' });
    const bad = await c.put(`/v1/sales/invoices/${draftId}`, { lines: [{ itemCode: 'NOPE', quantity: '1' }] });
    expect(bad.body.error.code).toBe('ITEM_CODE_DOES_NOT_EXIST');
    expect((await c.get(`/v1/sales/invoices/${draftId}`)).body.document.lines).toHaveLength(5);
  });

  it('posts once: the second post answers the same transaction', async () => {
    const before = await transactions();
    const first = await c.post(`/v1/sales/invoices/${draftId}/post`, {});
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      draftId,
      netAmount: '127.59',
      taxAmount: '26.24',
      grossAmount: '153.83',
      dueDate: '2026-12-02',
    });
    transactionId = first.body.transactionId;
    const again = await c.post(`/v1/sales/invoices/${draftId}/post`, {});
    expect([again.status, again.body.transactionId]).toEqual([200, transactionId]);
    expect(await transactions()).toBe(before + 1);
    const change = await c.put(`/v1/sales/invoices/${draftId}`, { orderNumber: 'late' });
    expect([change.status, change.body.error.code]).toEqual([409, 'DRAFT_IS_POSTED']);
    await checkInvariants(t.db, c.entityId);
  });

  it('the posted invoice keeps its item lines, order number, delivery date and VAT breakdown', async () => {
    const r = await c.get(`/v1/transactions/${transactionId}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      type: 'SI',
      customerCode: 'C1',
      externalReference: 'SO-1001',
      orderNumber: 'PO-4472',
      deliveryDate: '2026-10-30',
      net: '127.59',
      tax: '26.24',
      gross: '153.83',
      outstanding: '153.83',
      vatBreakdown: [
        { taxCode: 'RED', taxRate: '0.135', net: '7.50', tax: '1.01' },
        { taxCode: 'STD', taxRate: '0.21', net: '120.09', tax: '25.23' },
      ],
    });
    expect(r.body.items[0]).toEqual({
      lineNo: 1,
      glAccountCode: '4000',
      taxCode: 'STD',
      taxRate: '0.21',
      description: 'Widget',
      departmentId: null,
      analysis: {},
      net: '90.00',
      tax: '18.90',
      gross: '108.90',
      itemCode: 'WIDGET',
      quantity: '3',
      unitPrice: '33.3333',
      discountRate: '0.1',
      note: 'Blue, boxed',
    });
    const debits = r.body.lines.reduce((s: number, l: { debit: string }) => s + Math.round(Number(l.debit) * 100), 0);
    const credits = r.body.lines.reduce(
      (s: number, l: { credit: string }) => s + Math.round(Number(l.credit) * 100),
      0,
    );
    expect([debits, credits]).toEqual([15383, 15383]);
    expect(
      r.body.lines.filter((l: { role: string }) => l.role === 'tax').map((l: { credit: string }) => l.credit),
    ).toEqual(['25.23', '1.01']);
    // A batch invoice has no stored breakdown: its lines are summed.
    const batch = await c.post('/v1/sales/batch-invoices', {
      customerCode: 'PLAIN',
      invoiceDate: '2026-11-02',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '10.00' }],
    });
    const plain = await c.get(`/v1/transactions/${batch.body.transactionId}`);
    expect(plain.body).toMatchObject({
      orderNumber: null,
      deliveryDate: null,
      vatBreakdown: [{ taxCode: 'STD', taxRate: '0.21', net: '10.00', tax: '2.10' }],
    });
    expect(Object.keys(plain.body.items[0])).not.toContain('quantity');
  });

  it('a posted document and its breakdown never change', async () => {
    await expect(
      t.db.query(`UPDATE transaction_tax_breakdown SET tax = tax + 1 WHERE transaction_id = $1`, [transactionId]),
    ).rejects.toThrow();
    await expect(
      t.db.query(`UPDATE transactions SET order_number = 'x' WHERE id = $1`, [transactionId]),
    ).rejects.toThrow();
    await expect(
      t.db.query(`UPDATE transaction_items SET quantity = 4 WHERE transaction_id = $1`, [transactionId]),
    ).rejects.toThrow();
  });
});

describe('tax settings', () => {
  async function postWith(settings: Record<string, string>, body: Record<string, unknown>) {
    const s = await c.put('/v1/settings', settings);
    expect(s.status).toBe(200);
    const d = await c.post('/v1/sales/invoices', body);
    expect(d.status).toBe(201);
    const p = await c.post(`/v1/sales/invoices/${d.body.draftId}/post`, {});
    expect(p.status).toBe(201);
    return { draft: d.body, posted: p.body, tx: (await c.get(`/v1/transactions/${p.body.transactionId}`)).body };
  }

  it('per document: the same invoice has 1 cent less tax (round(120.09 × 0.21 = 25.2189) = 25.22)', async () => {
    const { draft, posted, tx } = await postWith(
      { taxCalculation: 'perDocument' },
      invoiceBody({ externalReference: 'SO-1002' }),
    );
    expect((await c.get('/v1/settings')).body).toMatchObject({ taxCalculation: 'perDocument', taxRounding: 'halfUp' });
    expect(draft.vatBreakdown).toEqual([
      { taxCode: 'RED', taxRate: '0.135', netAmount: '7.50', taxAmount: '1.01' },
      { taxCode: 'STD', taxRate: '0.21', netAmount: '120.09', taxAmount: '25.22' },
    ]);
    expect(posted).toMatchObject({ netAmount: '127.59', taxAmount: '26.23', grossAmount: '153.82' });
    // Spread back by cumulative rounding: 18.90, then 2.11, 2.10, 2.11 on the three 10.03 lines.
    expect(tx.items.map((i: { tax: string }) => i.tax)).toEqual(['18.90', '2.11', '2.10', '2.11', '1.01']);
    expect(tx.vatBreakdown).toEqual([
      { taxCode: 'RED', taxRate: '0.135', net: '7.50', tax: '1.01' },
      { taxCode: 'STD', taxRate: '0.21', net: '120.09', tax: '25.22' },
    ]);
    await checkInvariants(t.db, c.entityId);
  });

  const halves = (ref: string) => ({
    customerCode: 'PLAIN',
    date: '2026-11-03',
    externalReference: ref,
    // 1 × 10.505 is exactly half a cent; so is the tax at 5 % of 10.50 (0.525).
    lines: [{ description: 'Half', quantity: '1', unitPrice: '10.505', taxCode: 'HALF' }],
  });

  it('half-up: 10.505 → 10.51 net, 0.5255 → 0.53 tax', async () => {
    const { posted } = await postWith({ taxCalculation: 'perLine', taxRounding: 'halfUp' }, halves('H-UP'));
    expect(posted).toMatchObject({ netAmount: '10.51', taxAmount: '0.53', grossAmount: '11.04' });
  });

  it('half-even: 10.505 → 10.50 net, 0.525 → 0.52 tax', async () => {
    const { posted, tx } = await postWith({ taxRounding: 'halfEven' }, halves('H-EVEN'));
    expect(posted).toMatchObject({ netAmount: '10.50', taxAmount: '0.52', grossAmount: '11.02' });
    expect(tx.vatBreakdown).toEqual([{ taxCode: 'HALF', taxRate: '0.05', net: '10.50', tax: '0.52' }]);
    const bad = await c.put('/v1/settings', { taxRounding: 'down' });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
    expect((await c.get('/v1/settings')).body.taxRounding).toBe('halfEven');
    await c.put('/v1/settings', { taxRounding: 'halfUp', taxCalculation: 'perLine' });
  });
});

describe('item credit notes', () => {
  it('are drafts posted the same way, crediting the customer', async () => {
    const before = await transactions();
    const d = await c.post('/v1/sales/credit-notes/drafts', {
      customerCode: 'C1',
      date: '2026-11-05',
      externalReference: 'RET-1',
      lines: [{ itemCode: 'WIDGET', quantity: '1', discountRate: '0', note: 'Returned' }],
    });
    expect(d.status).toBe(201);
    // 33.3333 → 33.33, tax 6.9993 → 7.00.
    expect(d.body).toMatchObject({
      status: 'draft',
      netAmount: '33.33',
      taxAmount: '7.00',
      grossAmount: '40.33',
      dueDate: null,
    });
    expect((await c.get(`/v1/sales/invoices/${d.body.draftId}`)).status).toBe(404);
    const withDue = await c.post('/v1/sales/credit-notes/drafts', {
      customerCode: 'C1',
      date: '2026-11-05',
      dueDate: '2026-11-30',
      lines: [{ itemCode: 'WIDGET', quantity: '1' }],
    });
    expect([withDue.status, withDue.body.error.code, withDue.body.error.details[0].field]).toEqual([
      400,
      'VALIDATION_ERROR',
      'dueDate',
    ]);
    const p = await c.post(`/v1/sales/credit-notes/drafts/${d.body.draftId}/post`, {});
    expect(p.status).toBe(201);
    const again = await c.post(`/v1/sales/credit-notes/drafts/${d.body.draftId}/post`, {});
    expect([again.status, again.body.transactionId]).toEqual([200, p.body.transactionId]);
    const tx = (await c.get(`/v1/transactions/${p.body.transactionId}`)).body;
    expect(tx).toMatchObject({ type: 'SN', side: 'credit', gross: '40.33', dueDate: null });
    expect(tx.items[0]).toMatchObject({ itemCode: 'WIDGET', quantity: '1', unitPrice: '33.3333', note: 'Returned' });
    expect(tx.lines.find((l: { role: string }) => l.role === 'control')).toMatchObject({ credit: '40.33' });
    expect(await transactions()).toBe(before + 1);
    await checkInvariants(t.db, c.entityId);
  });

  it('an Idempotency-Key saves one draft; another entity can neither read nor post it', async () => {
    const n = await drafts();
    const key = { 'idempotency-key': 'item-draft-1' };
    const body = invoiceBody({ externalReference: 'SO-IDEM' });
    const first = await c.post('/v1/sales/invoices', body, key);
    const retry = await c.post('/v1/sales/invoices', body, key);
    expect([first.status, retry.status, retry.body.draftId]).toEqual([201, 201, first.body.draftId]);
    expect(await drafts()).toBe(n + 1);
    const reused = await c.post('/v1/sales/invoices', invoiceBody({ externalReference: 'SO-IDEM2' }), key);
    expect([reused.status, reused.body.error.code]).toEqual([409, 'IDEMPOTENCY_KEY_REUSED']);
    const before = await transactions();
    const foreign = await other.post(`/v1/sales/invoices/${first.body.draftId}/post`, {});
    expect([foreign.status, foreign.body.error.code]).toEqual([404, 'NOT_FOUND']);
    expect((await other.put(`/v1/sales/invoices/${first.body.draftId}`, { orderNumber: 'x' })).status).toBe(404);
    expect(await transactions()).toBe(before);
  });

  it('a cancelled draft posts nothing', async () => {
    const d = await c.post('/v1/sales/invoices', invoiceBody({ externalReference: 'SO-CANCEL' }));
    const x = await c.post(`/v1/sales/invoices/${d.body.draftId}/cancel`, {});
    expect([x.status, x.body.status]).toEqual([200, 'cancelled']);
    const p = await c.post(`/v1/sales/invoices/${d.body.draftId}/post`, {});
    expect([p.status, p.body.error.code]).toEqual([409, 'DRAFT_IS_CANCELLED']);
    const list = await c.get('/v1/sales/invoices?status=cancelled');
    expect(list.body.items.map((i: { draftId: number }) => i.draftId)).toEqual([d.body.draftId]);
  });
});
