import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, postInvoice, postReceipt, seedCustomer } from './helpers/ledger.ts';

/**
 * Item credit notes from a posted item invoice: POST /v1/sales/credit-notes/drafts with
 * fromInvoiceTransactionId copies the invoice's lines into a draft that credits it; quantities may
 * change before posting; never more than is left of the invoice, checked again when posting.
 */

let t: TestApp;
let c: Client;
let other: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('ITEMCN', 'EUR', { standardTaxRate: '0.21' });
  other = await t.entity('ITEMCNOTHER', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1', { creditDays: 30 });
  await seedCustomer(t.db, c.entityId, 'C2');
  await seedCustomer(t.db, c.entityId, 'US1', { currency: 'USD' });
  await seedCustomer(t.db, other.entityId, 'C1');
  const widget = await c.put('/v1/items/WIDGET', {
    description: 'Widget',
    unitPrice: '33.3333',
    glAccountCode: '4000',
    taxCode: 'STD',
  });
  expect(widget.status, JSON.stringify(widget.body)).toBe(201);
  expect((await c.put('/v1/departments/NTH', { name: 'North' })).status).toBe(201);
});
afterAll(async () => t?.close());

const count = async (sql: string) => Number((await t.db.query<{ n: string }>(sql, [c.entityId])).rows[0]!.n);
const transactions = () => count('SELECT count(*)::text AS n FROM transactions WHERE entity_id = $1');
const drafts = () => count('SELECT count(*)::text AS n FROM draft_invoices WHERE entity_id = $1');

async function postItemInvoice(body: Record<string, unknown>) {
  const d = await c.post('/v1/sales/invoices', body);
  expect(d.status, JSON.stringify(d.body)).toBe(201);
  const p = await c.post(`/v1/sales/invoices/${d.body.draftId}/post`, {});
  expect(p.status, JSON.stringify(p.body)).toBe(201);
  return p.body as { transactionId: number; number: number; grossAmount: string };
}

function expectError(r: { status: number; body: any }, status: number, code: string, field?: string) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error.code).toBe(code);
  if (field !== undefined) {
    const details = r.body.error.details;
    const fields = Array.isArray(details) ? details.map((d: { field: string }) => d.field) : [details.field];
    expect(fields).toContain(field);
  }
}

const invoiceLines = [
  { itemCode: 'WIDGET', quantity: '3', discountRate: '0.1', note: 'Blue' },
  {
    description: 'Delivery',
    quantity: '1',
    unitPrice: '7.50',
    glAccountCode: '4000',
    taxCode: 'STD',
    departmentId: 'NTH',
  },
];

describe('an item credit note from a posted item invoice', () => {
  let invoice: { transactionId: number; number: number; grossAmount: string };
  let draftId: number;

  it("copies the invoice's lines, customer and reference into a draft, posting nothing", async () => {
    invoice = await postItemInvoice({
      customerCode: 'C1',
      date: '2026-11-01',
      externalReference: 'SO-1',
      lines: invoiceLines,
    });
    // 3 × 33.3333 less 10 % = 90.00 + 7.50 = 97.50 net, 20.48 VAT (18.90 + 1.58).
    expect(invoice.grossAmount).toBe('117.98');
    // The item's price changes afterwards: the copy keeps what was invoiced.
    expect((await c.put('/v1/items/WIDGET', { unitPrice: '40' })).status).toBe(200);
    const before = await transactions();
    const r = await c.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: invoice.transactionId,
      date: '2026-11-10',
      externalReference: 'RMA-1',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    draftId = r.body.draftId;
    expect(r.body).toMatchObject({ status: 'draft', customerCode: 'C1', grossAmount: '117.98', dueDate: null });
    expect(r.body.document).toEqual({
      customerCode: 'C1',
      date: '2026-11-10',
      externalReference: 'RMA-1',
      description: `Credit for Invoice ${invoice.number} (SO-1)`,
      fromInvoiceTransactionId: invoice.transactionId,
      performExternalReferenceDuplicateCheck: true,
      enforceCreditLimit: false,
      lines: [
        {
          itemCode: 'WIDGET',
          description: 'Widget',
          quantity: '3',
          unitPrice: '33.3333',
          discountRate: '0.1',
          glAccountCode: '4000',
          taxCode: 'STD',
          note: 'Blue',
        },
        {
          description: 'Delivery',
          quantity: '1',
          unitPrice: '7.5',
          discountRate: '0',
          glAccountCode: '4000',
          taxCode: 'STD',
          departmentId: 'NTH',
        },
      ],
    });
    expect(await transactions()).toBe(before);
  });

  it('takes changed quantities and posts a credit note that credits the invoice', async () => {
    const draft = (await c.get(`/v1/sales/credit-notes/drafts/${draftId}`)).body;
    const lines = draft.document.lines.slice(0, 1).map((l: Record<string, unknown>) => ({ ...l, quantity: '1' }));
    const changed = await c.put(`/v1/sales/credit-notes/drafts/${draftId}`, { lines });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    // 1 × 33.3333 less 10 % = 30.00, VAT 6.30.
    expect(changed.body.grossAmount).toBe('36.30');
    expect(changed.body.document.fromInvoiceTransactionId).toBe(invoice.transactionId);
    const posted = await c.post(`/v1/sales/credit-notes/drafts/${draftId}/post`, {});
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    const tx = (await c.get(`/v1/transactions/${posted.body.transactionId}`)).body;
    expect(tx).toMatchObject({ type: 'SN', relatedTransactionId: invoice.transactionId, gross: '36.30' });
    expect(tx.items[0]).toMatchObject({ itemCode: 'WIDGET', quantity: '1', unitPrice: '33.3333' });
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses a copy that would credit more than is left of the invoice, writing nothing', async () => {
    const before = await drafts();
    const r = await c.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: invoice.transactionId,
      date: '2026-11-11',
    });
    expectError(r, 422, 'CREDIT_NOTE_EXCEEDS_INVOICE', 'fromInvoiceTransactionId');
    expect(r.body.error.details).toMatchObject({
      alreadyCredited: '36.30',
      available: '81.68',
      creditNoteGross: '117.98',
    });
    expect(await drafts()).toBe(before);
  });

  it('checks again when posting: two drafts each within the invoice cannot both post', async () => {
    const two = { fromInvoiceTransactionId: invoice.transactionId, date: '2026-11-12' };
    const widgetOnly = [{ itemCode: 'WIDGET', quantity: '2', unitPrice: '33.3333', discountRate: '0.1' }];
    const a = await c.post('/v1/sales/credit-notes/drafts', { ...two, externalReference: 'RMA-A', lines: widgetOnly });
    const b = await c.post('/v1/sales/credit-notes/drafts', { ...two, externalReference: 'RMA-B', lines: widgetOnly });
    expect([a.status, b.status]).toEqual([201, 201]);
    // 2 × 30.00 + 21 % = 72.60 each; 81.68 is left.
    expect(a.body.grossAmount).toBe('72.60');
    expect((await c.post(`/v1/sales/credit-notes/drafts/${a.body.draftId}/post`, {})).status).toBe(201);
    const before = await transactions();
    const second = await c.post(`/v1/sales/credit-notes/drafts/${b.body.draftId}/post`, {});
    expectError(second, 422, 'CREDIT_NOTE_EXCEEDS_INVOICE');
    expect(second.body.error.details).toMatchObject({ available: '9.08', creditNoteGross: '72.60' });
    expect(await transactions()).toBe(before);
    expect((await c.get(`/v1/sales/credit-notes/drafts/${b.body.draftId}`)).body.status).toBe('draft');
    await checkInvariants(t.db, c.entityId);
  });

  it('keeps the exchange rate of a foreign-currency invoice', async () => {
    const usd = await postItemInvoice({
      customerCode: 'US1',
      date: '2026-11-01',
      exchangeRate: '1.1',
      confirmExchangeRate: true,
      lines: [{ itemCode: 'WIDGET', quantity: '1', unitPrice: '10' }],
    });
    const r = await c.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: usd.transactionId,
      date: '2026-11-20',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ currency: 'USD', grossAmount: '12.10' });
    expect(r.body.document.exchangeRate).toBe('1.1');
    const posted = await c.post(`/v1/sales/credit-notes/drafts/${r.body.draftId}/post`, {});
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    expect((await c.get(`/v1/transactions/${posted.body.transactionId}`)).body.exchangeRate).toBe('1.1');
  });

  it('is refused for anything but a posted item invoice of this entity, with the field at fault', async () => {
    const batch = await postInvoice(c, 'C1', '100');
    const receipt = await postReceipt(c, 'C1', '10');
    const item = await postItemInvoice({ customerCode: 'C1', date: '2026-11-02', lines: invoiceLines });
    const theirs = await other.post('/v1/sales/batch-invoices', {
      customerCode: 'C1',
      invoiceDate: '2026-11-01',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '10.00' }],
    });
    expect(theirs.status).toBe(201);
    const creditNote = (
      await t.db.query<{ id: string }>(
        `SELECT id::text FROM transactions WHERE entity_id = $1 AND type = 'SN' ORDER BY id LIMIT 1`,
        [c.entityId],
      )
    ).rows[0]!.id;
    const from = (id: number | string, extra: Record<string, unknown> = {}) =>
      c.post('/v1/sales/credit-notes/drafts', { fromInvoiceTransactionId: Number(id), date: '2026-11-10', ...extra });
    const before = [await drafts(), await transactions()];
    expectError(await from(batch.transactionId), 422, 'INVOICE_IS_NOT_AN_ITEM_INVOICE', 'fromInvoiceTransactionId');
    expectError(await from(receipt.transactionId), 422, 'TRANSACTION_IS_NOT_AN_INVOICE', 'fromInvoiceTransactionId');
    expectError(await from(creditNote), 422, 'TRANSACTION_IS_NOT_AN_INVOICE', 'fromInvoiceTransactionId');
    expectError(await from(theirs.body.transactionId), 422, 'TRANSACTION_DOES_NOT_EXIST', 'fromInvoiceTransactionId');
    expectError(
      await from(item.transactionId, { customerCode: 'C2' }),
      422,
      'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS',
      'customerCode',
    );
    expectError(
      await c.post('/v1/sales/credit-notes/drafts', { date: '2026-11-10', lines: invoiceLines }),
      400,
      'VALIDATION_ERROR',
      'customerCode',
    );
    expectError(
      await c.post('/v1/sales/credit-notes/drafts', { customerCode: 'C1', date: '2026-11-10' }),
      400,
      'VALIDATION_ERROR',
      'lines',
    );
    // An invoice credits nothing: the field is not part of its body.
    const si = await c.post('/v1/sales/invoices', {
      customerCode: 'C1',
      date: '2026-11-10',
      fromInvoiceTransactionId: item.transactionId,
      lines: invoiceLines,
    });
    expect([si.status, si.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
    expect([await drafts(), await transactions()]).toEqual(before);
  });

  it('copies an invoice whose item was deactivated since: what was invoiced can still be credited', async () => {
    const inv = await postItemInvoice({ customerCode: 'C1', date: '2026-11-03', lines: invoiceLines });
    expect((await c.put('/v1/items/WIDGET', { isActive: false })).status).toBe(200);
    const r = await c.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: inv.transactionId,
      date: '2026-11-10',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.grossAmount).toBe(inv.grossAmount);
    expect((await c.post(`/v1/sales/credit-notes/drafts/${r.body.draftId}/post`, {})).status).toBe(201);
  });
});

/**
 * A credit note that reverses invoiced goods reverses the VAT the invoice charged on them: the
 * invoice line's rate (not the rate in force on the credit note's date), and its posted tax (not
 * a tax worked out again with today's settings). Credits of a line never add up to more VAT than
 * the line carried, and the last one takes exactly what is left.
 */
describe('an item credit note reverses the VAT the invoice charged', () => {
  let v: Client;
  beforeAll(async () => {
    v = await t.entity('ITEMCNVAT', 'EUR', { standardTaxRate: '0.21' });
    await seedCustomer(t.db, v.entityId, 'C1');
    // R2 was 10 % until the end of August 2025 and is 20 % from September.
    const r2 = await v.put('/v1/tax-codes/R2', {
      name: 'Rate two',
      glAccountCode: '2200',
      rates: [
        { from: '1900-01-01', rate: '0.10' },
        { from: '2025-09-01', rate: '0.20' },
      ],
    });
    expect(r2.status, JSON.stringify(r2.body)).toBe(201);
  });

  async function itemInvoice(body: Record<string, unknown>) {
    const d = await v.post('/v1/sales/invoices', { customerCode: 'C1', ...body });
    expect(d.status, JSON.stringify(d.body)).toBe(201);
    const p = await v.post(`/v1/sales/invoices/${d.body.draftId}/post`, {});
    expect(p.status, JSON.stringify(p.body)).toBe(201);
    return p.body as { transactionId: number; number: number; grossAmount: string; taxAmount: string };
  }

  async function creditNote(body: Record<string, unknown>) {
    const d = await v.post('/v1/sales/credit-notes/drafts', body);
    if (d.status !== 201) return d;
    return v.post(`/v1/sales/credit-notes/drafts/${d.body.draftId}/post`, {});
  }

  const goods = (quantity: string) => ({
    description: 'Goods',
    quantity,
    unitPrice: '100',
    discountRate: '0',
    glAccountCode: '4000',
    taxCode: 'R2',
  });

  it('copies a whole invoice at the rate it was invoiced at, not the rate of the credit note date', async () => {
    const inv = await itemInvoice({ date: '2025-08-20', lines: [goods('1')] });
    expect(inv.grossAmount).toBe('110.00');
    const r = await v.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: inv.transactionId,
      date: '2025-09-10',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ netAmount: '100.00', taxAmount: '10.00', grossAmount: '110.00' });
    expect(r.body.lines[0]).toMatchObject({ taxRate: '0.1', taxAmount: '10.00' });
    const posted = await v.post(`/v1/sales/credit-notes/drafts/${r.body.draftId}/post`, {});
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    expect(posted.body.vatBreakdown).toEqual([
      { taxCode: 'R2', taxRate: '0.1', netAmount: '100.00', taxAmount: '10.00' },
    ]);
    const tx = (await v.get(`/v1/transactions/${posted.body.transactionId}`)).body;
    expect(tx).toMatchObject({ net: '100.00', tax: '10.00', gross: '110.00' });
    expect(tx.items[0]).toMatchObject({ taxRate: '0.1', tax: '10.00' });
    await checkInvariants(t.db, v.entityId);
  });

  it('credits half the goods with half the VAT, and the other half with what is left', async () => {
    const inv = await itemInvoice({ date: '2025-08-21', lines: [goods('1')] });
    const from = { fromInvoiceTransactionId: inv.transactionId, date: '2025-09-10' };
    const first = await creditNote({ ...from, externalReference: 'HALF-1', lines: [goods('0.5')] });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toMatchObject({ netAmount: '50.00', taxAmount: '5.00', grossAmount: '55.00' });
    const second = await creditNote({ ...from, externalReference: 'HALF-2', lines: [goods('0.5')] });
    expect(second.status, JSON.stringify(second.body)).toBe(201);
    expect(second.body).toMatchObject({ netAmount: '50.00', taxAmount: '5.00', grossAmount: '55.00' });
    // Nothing of the line is left to credit.
    const more = await creditNote({ ...from, externalReference: 'HALF-3', lines: [goods('0.01')] });
    expectError(more, 422, 'CREDIT_NOTE_EXCEEDS_INVOICE');
    await checkInvariants(t.db, v.entityId);
  });

  it('splits a line pro rata so that its credits add up to exactly the VAT it carried', async () => {
    // 1 × 0.15 at 10 %: 0.015 → 0.02 VAT (half-up). Thirds of it: 0.05 each.
    const inv = await itemInvoice({
      date: '2025-08-22',
      lines: [{ ...goods('3'), unitPrice: '0.05' }],
    });
    expect(inv.taxAmount).toBe('0.02');
    const from = { fromInvoiceTransactionId: inv.transactionId, date: '2025-09-10' };
    const taxes: string[] = [];
    for (const n of [1, 2, 3]) {
      const r = await creditNote({
        ...from,
        externalReference: `THIRD-${n}`,
        lines: [{ ...goods('1'), unitPrice: '0.05' }],
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      taxes.push(r.body.taxAmount);
    }
    // round(0.02 × 1/3) = 0.01, round(0.02 × 2/3) − 0.01 = 0.00, 0.02 − 0.01 = 0.01: never more than the line.
    expect(taxes).toEqual(['0.01', '0.00', '0.01']);
    await checkInvariants(t.db, v.entityId);
  });

  it('with perDocument tax, credits each line, one at a time, with the VAT the invoice put on it', async () => {
    expect((await v.put('/v1/settings', { taxCalculation: 'perDocument' })).status).toBe(200);
    try {
      // Three lines of 10.03 at 21 %: round(30.09 × 0.21 = 6.3189) = 6.32, spread 2.11, 2.10, 2.11
      // (each line alone would carry 2.11, 6.33 in all).
      const line = (description: string) => ({
        description,
        quantity: '1',
        unitPrice: '10.03',
        discountRate: '0',
        glAccountCode: '4000',
        taxCode: 'STD',
      });
      const inv = await itemInvoice({ date: '2025-10-01', lines: [line('A'), line('B'), line('C')] });
      expect(inv.taxAmount).toBe('6.32');
      const lines = (await v.get(`/v1/transactions/${inv.transactionId}`)).body.items.map(
        (i: { tax: string }) => i.tax,
      );
      expect(lines).toEqual(['2.11', '2.10', '2.11']);
      const taxes: string[] = [];
      for (const d of ['A', 'B', 'C']) {
        const r = await creditNote({
          fromInvoiceTransactionId: inv.transactionId,
          date: '2025-10-15',
          externalReference: `LINE-${d}`,
          lines: [line(d)],
        });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        taxes.push(r.body.taxAmount);
      }
      expect(taxes).toEqual(['2.11', '2.10', '2.11']);
      await checkInvariants(t.db, v.entityId);
    } finally {
      expect((await v.put('/v1/settings', { taxCalculation: 'perLine' })).status).toBe(200);
    }
  });

  it('reverses the VAT to the account the invoice booked it to, after the tax code moved to another', async () => {
    expect((await v.put('/v1/gl-accounts/2201', { name: 'VAT output 2', type: 'liability' })).status).toBe(201);
    const r3 = await v.put('/v1/tax-codes/R3', { name: 'Rate three', glAccountCode: '2200', rate: '0.10' });
    expect(r3.status, JSON.stringify(r3.body)).toBe(201);
    const inv = await itemInvoice({ date: '2025-08-24', lines: [{ ...goods('1'), taxCode: 'R3' }] });
    expect((await v.put('/v1/tax-codes/R3', { glAccountCode: '2201' })).status).toBe(200);
    const cn = await creditNote({ fromInvoiceTransactionId: inv.transactionId, date: '2025-09-10' });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    const { rows } = await t.db.query<{ gl: string; amount: string }>(
      `SELECT gl_account_code AS gl, amount::text FROM journal_lines WHERE transaction_id = $1 AND role = 'tax'`,
      [cn.body.transactionId],
    );
    expect(rows).toEqual([{ gl: '2200', amount: '1000' }]);
    await checkInvariants(t.db, v.entityId);
  });

  it('refuses to credit more of a line than was invoiced, naming the line, even within the invoice total', async () => {
    const inv = await itemInvoice({
      date: '2025-08-23',
      lines: [
        { ...goods('1'), description: 'Small', unitPrice: '10' },
        { ...goods('1'), description: 'Large', unitPrice: '500' },
      ],
    });
    const posted = async () =>
      Number(
        (
          await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM transactions WHERE entity_id = $1', [
            v.entityId,
          ])
        ).rows[0]!.n,
      );
    const before = await posted();
    const r = await v.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: inv.transactionId,
      date: '2025-09-10',
      lines: [{ ...goods('2'), description: 'Small', unitPrice: '10' }],
    });
    expectError(r, 422, 'CREDIT_NOTE_EXCEEDS_INVOICE', 'lines[0].quantity');
    expect(await posted()).toBe(before);
    // Credited in part by an item credit note, the line cannot be copied whole by a batch credit note.
    const part = await creditNote({
      fromInvoiceTransactionId: inv.transactionId,
      date: '2025-09-10',
      lines: [{ ...goods('0.5'), description: 'Small', unitPrice: '10' }],
    });
    expect(part.status, JSON.stringify(part.body)).toBe(201);
    expect(part.body).toMatchObject({ netAmount: '5.00', taxAmount: '0.50' });
    const batch = await v.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      creditNoteDate: '2025-09-10',
      lineNumbers: [1],
    });
    expectError(batch, 422, 'CREDIT_NOTE_EXCEEDS_INVOICE', 'lineNumbers');
    // A line of goods the invoice did not have is credited at the rate of the invoice's date.
    const other = await creditNote({
      fromInvoiceTransactionId: inv.transactionId,
      date: '2025-09-10',
      lines: [{ ...goods('1'), description: 'Goodwill', unitPrice: '7' }],
    });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
    expect(other.body).toMatchObject({ netAmount: '7.00', taxAmount: '0.70' });
    await checkInvariants(t.db, v.entityId);
  });
});
