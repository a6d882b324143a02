import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, postReceipt, seedCustomer } from './helpers/ledger.ts';
import { today } from '../src/domain/dates.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('CNB', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
});
afterAll(async () => t.close());

/** An invoice of two lines: 100.00 + 21.00 VAT and 50.00 + 10.50 VAT, gross 181.50. */
async function twoLineInvoice(ref: string) {
  const r = await c.post('/v1/sales/batch-invoices', {
    customerCode: 'C1',
    invoiceDate: '2026-11-01',
    externalReference: ref,
    lines: [
      { glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00', taxRate: '0.21' },
      { glAccountCode: '4000', taxCode: 'STD', netAmount: '50.00', taxRate: '0.21' },
    ],
  });
  expect(r.status).toBe(201);
  return r.body as { transactionId: number; number: number; grossAmount: string };
}

async function creditNote(body: Record<string, unknown>) {
  return c.post('/v1/sales/credit-notes', { creditNoteDate: '2026-11-10', ...body });
}

async function journal(id: number) {
  const { rows } = await t.db.query<{ role: string; gl_account_code: string; amount: string }>(
    'SELECT role, gl_account_code, amount FROM journal_lines WHERE transaction_id = $1 ORDER BY line_no',
    [id],
  );
  return rows;
}

describe('credit notes bounded by their invoice', () => {
  it('refuses crediting a whole invoice twice, naming the invoice by number and reference', async () => {
    const inv = await twoLineInvoice('INV-TWICE');
    expect((await creditNote({ fromInvoiceTransactionId: inv.transactionId })).status).toBe(201);
    const again = await creditNote({ fromInvoiceTransactionId: inv.transactionId });
    expect(again.status).toBe(422);
    expect(again.body.error.code).toBe('CREDIT_NOTE_EXCEEDS_INVOICE');
    expect(again.body.error.message).toContain(`Invoice ${inv.number} (INV-TWICE)`);
    expect(again.body.error.message).toContain('lines 1, 2 were already credited');
    await checkInvariants(t.db, c.entityId);
  });

  it('bounds selected lines per line, and the total across credit notes with their own lines', async () => {
    const inv = await twoLineInvoice('INV-LINES');
    const first = await creditNote({ fromInvoiceTransactionId: inv.transactionId, lineNumbers: [1] });
    expect(first.status).toBe(201);
    expect(first.body.grossAmount).toBe('121.00');
    const line1Again = await creditNote({ fromInvoiceTransactionId: inv.transactionId, lineNumbers: [1] });
    expect(line1Again.status).toBe(422);
    expect(line1Again.body.error.code).toBe('CREDIT_NOTE_EXCEEDS_INVOICE');
    expect(line1Again.body.error.details).toEqual([{ field: 'lineNumbers', message: 'line 1 already credited' }]);
    // 60.50 is left; a credit note with its own lines of 61.00 is too much, 60.50 is exactly right.
    const tooMuch = await creditNote({
      fromInvoiceTransactionId: inv.transactionId,
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '61.00' }],
    });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.error.details).toMatchObject({ available: '60.50', alreadyCredited: '121.00' });
    const rest = await creditNote({
      fromInvoiceTransactionId: inv.transactionId,
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '60.50' }],
    });
    expect(rest.status).toBe(201);
    // Nothing is left: even line 2, never copied, cannot be credited now.
    const line2 = await creditNote({ fromInvoiceTransactionId: inv.transactionId, lineNumbers: [2] });
    expect(line2.body.error.code).toBe('CREDIT_NOTE_EXCEEDS_INVOICE');
  });

  it('refuses over-crediting in the database too', async () => {
    const inv = await twoLineInvoice('INV-DB');
    expect((await creditNote({ fromInvoiceTransactionId: inv.transactionId })).status).toBe(201);
    const { rows } = await t.db.query<{ id: string }>(`SELECT id FROM transactions WHERE related_transaction_id = $1`, [
      inv.transactionId,
    ]);
    // A second credit note row for the same invoice, written past the posting code.
    await expect(
      t.db.query(
        `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                                   gross, base_gross, related_transaction_id, created_by)
         SELECT entity_id, 'SN', 'credit', 999999, customer_code, currency, 1, transaction_date, 100, 100, $1, 'test'
           FROM transactions WHERE id = $2`,
        [inv.transactionId, rows[0]!.id],
      ),
    ).rejects.toThrow(/more than its gross/);
  });

  it('reverses the VAT account the invoice used, even after the tax code moved account and was deactivated', async () => {
    await c.put('/v1/gl-accounts/2210', { name: 'VAT output (new)', type: 'liability' });
    await c.put('/v1/tax-codes/OLD', { name: 'Old rate', rate: '0.21', glAccountCode: '2200' });
    const inv = await c.post('/v1/sales/batch-invoices', {
      customerCode: 'C1',
      invoiceDate: '2026-11-01',
      lines: [{ glAccountCode: '4000', taxCode: 'OLD', netAmount: '100.00' }],
    });
    expect(inv.status).toBe(201);
    await c.put('/v1/tax-codes/OLD', { glAccountCode: '2210' });
    await c.put('/v1/tax-codes/OLD', { isActive: false });
    const cn = await creditNote({ fromInvoiceTransactionId: inv.body.transactionId });
    expect(cn.status).toBe(201);
    expect(await journal(cn.body.transactionId)).toEqual([
      { role: 'control', gl_account_code: '1100', amount: '-12100' },
      { role: 'net', gl_account_code: '4000', amount: '10000' },
      { role: 'tax', gl_account_code: '2200', amount: '2100' },
    ]);
  });

  it('dates the credit note today when creditNoteDate is omitted', async () => {
    const inv = await twoLineInvoice('INV-TODAY');
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      lineNumbers: [2],
    });
    expect(cn.status).toBe(201);
    const { rows } = await t.db.query<{ d: string }>(
      'SELECT transaction_date::text AS d FROM transactions WHERE id = $1',
      [cn.body.transactionId],
    );
    expect(rows[0]!.d).toBe(today());
  });

  it('leaves the credit note open, and says so, when the invoice is already settled', async () => {
    const inv = await twoLineInvoice('INV-PAID');
    const pay = await postReceipt(c, 'C1', '181.50', { paymentDate: '2026-11-02' });
    const alloc = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: pay.transactionId,
      amount: '181.50',
      date: '2026-11-02',
      reference: 'PAID',
    });
    expect(alloc.status).toBe(201);
    const cn = await creditNote({
      fromInvoiceTransactionId: inv.transactionId,
      lineNumbers: [2],
      externalReference: 'CN-PAID',
      allocateToInvoice: true,
    });
    expect(cn.status).toBe(201);
    expect(cn.body).toMatchObject({ allocated: false, allocation: null, grossAmount: '60.50' });
    expect(cn.body.reason).toContain(`Invoice ${inv.number} (INV-PAID) is already settled`);
    expect(cn.body.reason).toContain('refund it with a debit journal');
    await checkInvariants(t.db, c.entityId);
  });

  it('allocates what is outstanding and says the rest is left open', async () => {
    const inv = await twoLineInvoice('INV-PART');
    const pay = await postReceipt(c, 'C1', '150.00', { paymentDate: '2026-11-02' });
    await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: pay.transactionId,
      amount: '150.00',
      date: '2026-11-02',
      reference: 'PART',
    });
    const cn = await creditNote({
      fromInvoiceTransactionId: inv.transactionId,
      lineNumbers: [2],
      allocateToInvoice: true,
    });
    expect(cn.status).toBe(201);
    expect(cn.body.allocated).toBe(true);
    expect(cn.body.allocation.amount).toBe('31.50');
    expect(cn.body.reason).toContain('left open for 29.00');
    const whole = await twoLineInvoice('INV-WHOLE');
    const full = await creditNote({ fromInvoiceTransactionId: whole.transactionId, allocateToInvoice: true });
    expect(full.body).toMatchObject({ allocated: true, reason: null });
    await checkInvariants(t.db, c.entityId);
  });
});
