/**
 * A credit note that copies an invoice's lines reverses the accounts the invoice used: each line's
 * sales account and the VAT accounts of its tax codes, as posted. Those accounts may have been
 * closed since (`isActive: false` is how an account with postings is closed), and the copy still
 * posted to them, unchecked, where a line of the credit note's own on the same account is refused.
 * Now the credit note is refused with GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST, naming the
 * account, the invoice line (or tax code) and what to do, and nothing is posted: batch credit
 * notes copying an invoice (whole, some lines, allocated to it) and item credit notes alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type TestApp, type TestResponse, createTestApp } from './helpers/app.ts';
import { checkInvariants, invoice, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

let n = 0;
/** An entity with a second sales account 4040 and a tax code T9 on its own VAT account 2250. */
async function entity(): Promise<Client> {
  const c = await t.entity(`CNACC${++n}`, 'EUR', { standardTaxRate: '0.21' });
  await seedCustomer(t.db, c.entityId, 'C1');
  for (const [code, type] of [
    ['4040', 'income'],
    ['2250', 'liability'],
    ['2260', 'liability'],
  ])
    expect((await c.put(`/v1/gl-accounts/${code}`, { name: `Account ${code}`, type })).status).toBe(201);
  expect((await c.put('/v1/tax-codes/T9', { name: 'Nine', rate: '0.09', glAccountCode: '2250' })).status).toBe(201);
  return c;
}

function expectClosed(res: TestResponse, field: string, account: string, says: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  expect(res.body.error.code).toBe('GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST');
  expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual([field]);
  expect(res.body.error.message).toContain(`GL account ${account}`);
  expect(res.body.error.message).toContain(`PUT /v1/gl-accounts/${account}`);
  expect(res.body.error.message).toContain(says);
}

const count = async (c: Client, table: string) =>
  (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE entity_id = $1`, [c.entityId]))
    .rows[0]!.n;
const state = async (c: Client) => [await count(c, 'transactions'), await count(c, 'allocations')];

/** Invoice: line 1 100.00 on 4040 at STD, line 2 50.00 on 4000 at T9. */
async function mixedInvoice(c: Client) {
  const r = await c.post('/v1/sales/batch-invoices', {
    ...invoice('C1', '0'),
    externalReference: 'INV-77',
    lines: [
      { glAccountCode: '4040', taxCode: 'STD', description: 'Shop', netAmount: '100.00' },
      { glAccountCode: '4000', taxCode: 'T9', description: 'Goods', netAmount: '50.00' },
    ],
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { transactionId: number; number: number; grossAmount: string };
}

describe('a batch credit note copying an invoice', () => {
  it('refuses to credit a line whose sales account was closed since, naming the account and the line', async () => {
    const c = await entity();
    const inv = await mixedInvoice(c);
    expect((await c.put('/v1/gl-accounts/4040', { isActive: false })).status).toBe(200);
    const before = await state(c);
    const whole = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      creditNoteDate: '2026-11-10',
      allocateToInvoice: true,
    });
    expectClosed(whole, 'fromInvoiceTransactionId', '4040', `invoice line 1 of Invoice ${inv.number} (INV-77)`);
    expect(whole.body.error.message).toBe(
      `fromInvoiceTransactionId: The credit of invoice line 1 of Invoice ${inv.number} (INV-77) posts to GL account ` +
        '4040 (the account that invoice line was posted to), which is inactive or a header account; make 4040 an ' +
        'active posting account again (PUT /v1/gl-accounts/4040 {"isActive": true, "isPosting": true}); or credit ' +
        "the line with a credit note of its own lines on an active posting account (lines, without copying the invoice's)",
    );
    const line1 = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      lineNumbers: [1],
      creditNoteDate: '2026-11-10',
    });
    expectClosed(line1, 'lineNumbers', '4040', `invoice line 1 of Invoice ${inv.number} (INV-77)`);
    expect(await state(c)).toEqual(before);
    // The other line posts nothing to 4040 and goes through.
    const line2 = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      lineNumbers: [2],
      creditNoteDate: '2026-11-10',
    });
    expect(line2.status, JSON.stringify(line2.body)).toBe(201);
    // Reopened, line 1 credits.
    expect((await c.put('/v1/gl-accounts/4040', { isActive: true })).status).toBe(200);
    const again = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      lineNumbers: [1],
      creditNoteDate: '2026-11-10',
    });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses to reverse VAT to the VAT account the invoice used when it was closed since', async () => {
    const c = await entity();
    const inv = await mixedInvoice(c);
    // T9 moves to 2260; 2250, no longer used, is closed.
    expect((await c.put('/v1/tax-codes/T9', { glAccountCode: '2260' })).status).toBe(200);
    expect((await c.put('/v1/gl-accounts/2250', { isActive: false })).status).toBe(200);
    const before = await state(c);
    const line2 = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      lineNumbers: [2],
      creditNoteDate: '2026-11-10',
    });
    expectClosed(line2, 'lineNumbers', '2250', `VAT on tax code T9`);
    expect(line2.body.error.message).toContain(`the VAT account Invoice ${inv.number} (INV-77) posted tax code T9 to`);
    expect(await state(c)).toEqual(before);
    // Line 1's VAT (STD, 2200) and sales account are open: it credits.
    const line1 = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      lineNumbers: [1],
      creditNoteDate: '2026-11-10',
    });
    expect(line1.status, JSON.stringify(line1.body)).toBe(201);
    await checkInvariants(t.db, c.entityId);
  });
});

describe('an item credit note of an item invoice', () => {
  async function itemInvoice(c: Client) {
    const d = await c.post('/v1/sales/invoices', {
      customerCode: 'C1',
      date: '2026-11-01',
      externalReference: 'SO-1',
      lines: [
        { description: 'Shop', quantity: '2', unitPrice: '50', glAccountCode: '4040', taxCode: 'STD' },
        { description: 'Goods', quantity: '1', unitPrice: '50', glAccountCode: '4000', taxCode: 'T9' },
      ],
    });
    expect(d.status, JSON.stringify(d.body)).toBe(201);
    const p = await c.post(`/v1/sales/invoices/${d.body.draftId}/post`, {});
    expect(p.status, JSON.stringify(p.body)).toBe(201);
    return p.body as { transactionId: number; number: number };
  }

  it('refuses a line on a sales account closed since, naming the invoice line it reverses', async () => {
    const c = await entity();
    const inv = await itemInvoice(c);
    const draft = await c.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: inv.transactionId,
      date: '2026-11-10',
    });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    expect((await c.put('/v1/gl-accounts/4040', { isActive: false })).status).toBe(200);
    const before = await state(c);
    const post = await c.post(`/v1/sales/credit-notes/drafts/${draft.body.draftId}/post`, {});
    expectClosed(post, 'lines[0].glAccountCode', '4040', `invoice line 1 of Invoice ${inv.number} (SO-1)`);
    expect(post.body.error.message).toContain("or change the credit note line's glAccountCode");
    // A new copy is refused when saved, as it would be when posted.
    const copy = await c.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: inv.transactionId,
      date: '2026-11-10',
    });
    expectClosed(copy, 'lines[0].glAccountCode', '4040', `invoice line 1 of Invoice ${inv.number} (SO-1)`);
    expect(await state(c)).toEqual(before);
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses to reverse VAT to the VAT account the invoice used when it was closed since', async () => {
    const c = await entity();
    const inv = await itemInvoice(c);
    expect((await c.put('/v1/tax-codes/T9', { glAccountCode: '2260' })).status).toBe(200);
    expect((await c.put('/v1/gl-accounts/2250', { isActive: false })).status).toBe(200);
    const before = await state(c);
    const copy = await c.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: inv.transactionId,
      date: '2026-11-10',
    });
    expectClosed(copy, 'fromInvoiceTransactionId', '2250', 'VAT on tax code T9');
    expect(copy.body.error.message).toContain(`the VAT account Invoice ${inv.number} (SO-1) posted tax code T9 to`);
    expect(await state(c)).toEqual(before);
    // Crediting only the STD line reverses nothing to 2250.
    const std = await c.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: inv.transactionId,
      date: '2026-11-10',
      lines: [{ description: 'Shop', quantity: '1', unitPrice: '50', glAccountCode: '4040', taxCode: 'STD' }],
    });
    expect(std.status, JSON.stringify(std.body)).toBe(201);
    const posted = await c.post(`/v1/sales/credit-notes/drafts/${std.body.draftId}/post`, {});
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    await checkInvariants(t.db, c.entityId);
  });
});
