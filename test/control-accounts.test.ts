import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, invoice, postInvoice, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('CTRL', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
});
afterAll(async () => t.close());

async function controlBalance(code = '1100'): Promise<string> {
  const { rows } = await t.db.query<{ b: string }>(
    `SELECT coalesce(sum(base_amount), 0)::text AS b FROM journal_lines WHERE entity_id = $1 AND gl_account_code = $2`,
    [c.entityId, code],
  );
  return rows[0]!.b;
}

describe('control accounts', () => {
  it('marks the debtors control account of a new entity as a control account', async () => {
    const r = await c.get('/v1/gl-accounts/1100');
    expect(r.body).toMatchObject({ code: '1100', isControl: true });
    expect((await c.get('/v1/gl-accounts/4000')).body.isControl).toBe(false);
  });

  it('refuses an invoice line on the debtors control account (the control would stop agreeing with what is owed)', async () => {
    const before = await controlBalance();
    const r = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C1', '100.00'),
      lines: [{ glAccountCode: '1100', taxCode: 'STD', netAmount: '100.00', taxRate: '0.21' }],
    });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('GLACCOUNT_IS_CONTROL_ACCOUNT');
    expect(r.body.error.details).toEqual([{ field: 'lines[0].glAccountCode', message: 'control account' }]);
    expect(await controlBalance()).toBe(before);
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses a credit note line and a journal line on a control account', async () => {
    const cn = await c.post('/v1/sales/credit-notes', {
      customerCode: 'C1',
      creditNoteDate: '2026-11-02',
      lines: [{ glAccountCode: '1100', taxCode: 'ZERO', netAmount: '10.00' }],
    });
    expect(cn.status).toBe(422);
    expect(cn.body.error.code).toBe('GLACCOUNT_IS_CONTROL_ACCOUNT');
    const j = await c.post('/v1/sales/credit-journals', {
      customerCode: 'C1',
      transactionDate: '2026-11-02',
      lines: [{ glAccountCode: '1100', amount: '10.00' }],
    });
    expect(j.status).toBe(422);
    expect(j.body.error.code).toBe('GLACCOUNT_IS_CONTROL_ACCOUNT');
  });

  it('refuses a tax code or bank account on a control account', async () => {
    const tax = await c.put('/v1/tax-codes/BAD', { name: 'Bad', rate: '0.1', glAccountCode: '1100' });
    expect(tax.status).toBe(422);
    expect(tax.body.error.code).toBe('GLACCOUNT_IS_CONTROL_ACCOUNT');
    const move = await c.put('/v1/tax-codes/STD', { glAccountCode: '1100' });
    expect(move.body.error.code).toBe('GLACCOUNT_IS_CONTROL_ACCOUNT');
    const bank = await c.put('/v1/bank-accounts/B2', { name: 'B2', glAccountCode: '1100', currency: 'EUR' });
    expect(bank.body.error.code).toBe('GLACCOUNT_IS_CONTROL_ACCOUNT');
  });

  it('refuses in the database too: a journal line or tax code on a control account', async () => {
    await expect(
      t.db.query(`UPDATE tax_codes SET gl_account_code = '1100' WHERE entity_id = $1 AND code = 'ZERO'`, [c.entityId]),
    ).rejects.toThrow(/control account/);
    const inv = await postInvoice(c, 'C1', '1.00');
    // The journal is immutable, so try a fresh line: any non-control line on 1100 is refused.
    await expect(
      t.db.query(
        `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, amount, base_amount)
         VALUES ($1, $2, 99, 'net', '1100', 0, 0)`,
        [inv.transactionId, c.entityId],
      ),
    ).rejects.toThrow(/control account/);
  });

  it("keeps a customer's control account once it has postings, and only ever a control account", async () => {
    await c.put('/v1/gl-accounts/1150', { name: 'Debtors control (export)', type: 'asset', isControl: true });
    const created = await c.put('/v1/customers/NEWC', { name: 'New customer', controlGlAccountCode: '4000' });
    expect(created.status).toBe(422);
    expect(created.body.error.code).toBe('GLACCOUNT_IS_NOT_CONTROL_ACCOUNT');
    const ok = await c.put('/v1/customers/NEWC', { name: 'New customer', controlGlAccountCode: '1150' });
    expect(ok.status).toBe(201);
    // No postings yet: it may move.
    const moved = await c.put('/v1/customers/NEWC', { controlGlAccountCode: '1100', rowVersion: ok.body.rowVersion });
    expect(moved.status).toBe(200);
    await postInvoice(c, 'NEWC', '10.00');
    const locked = await c.put('/v1/customers/NEWC', {
      controlGlAccountCode: '1150',
      rowVersion: moved.body.rowVersion,
    });
    expect(locked.status).toBe(422);
    expect(locked.body.error.code).toBe('CUSTOMER_CONTROL_ACCOUNT_LOCKED');
    await expect(
      t.db.query(`UPDATE customers SET control_gl_account_code = '1150' WHERE entity_id = $1 AND code = 'NEWC'`, [
        c.entityId,
      ]),
    ).rejects.toThrow(/cannot change/);
    await checkInvariants(t.db, c.entityId);
  });

  it('keeps a control account with a balance active, and a control account in use a control account', async () => {
    await postInvoice(c, 'C1', '50.00');
    expect(await controlBalance()).not.toBe('0');
    const off = await c.put('/v1/gl-accounts/1100', { isActive: false });
    expect(off.status).toBe(422);
    expect(off.body.error.code).toBe('GLACCOUNT_CONTROL_ACCOUNT_IN_USE');
    const unmark = await c.put('/v1/gl-accounts/1100', { isControl: false });
    expect(unmark.status).toBe(422);
    expect(unmark.body.error.code).toBe('GLACCOUNT_CONTROL_ACCOUNT_IN_USE');
    // An account with sales postings cannot become a control account either.
    const mark = await c.put('/v1/gl-accounts/4000', { isControl: true });
    expect(mark.body.error.code).toBe('GLACCOUNT_CONTROL_ACCOUNT_IN_USE');
    // A control account without a balance may be deactivated.
    await c.put('/v1/gl-accounts/1160', { name: 'Unused control', type: 'asset', isControl: true });
    expect((await c.put('/v1/gl-accounts/1160', { isActive: false })).status).toBe(200);
  });
});
