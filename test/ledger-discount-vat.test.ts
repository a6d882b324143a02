/**
 * A settlement discount with `adjustVat` takes VAT back in the proportions of what is left of the
 * invoice per tax code, after the credit notes allocated to it and its earlier discounts. It took
 * the invoice's original mix: on an invoice of one line at 20 % and one zero-rated, a credit note
 * for the 20 % line and then a discount on the (zero-rated) rest still took VAT off output VAT,
 * giving back VAT the credit note had already given back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, postReceipt, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

let n = 0;
const ref = (p: string) => `${p}-${++n}`;

/** A fresh EUR entity at 20 % standard rate, discounts with adjustVat, and customer C1. */
async function entity(): Promise<Client> {
  const c = await t.entity(`DVAT${++n}`, 'EUR', { standardTaxRate: '0.20' });
  await seedCustomer(t.db, c.entityId, 'C1');
  expect((await c.put('/v1/settings', { discountVatTreatment: 'adjustVat' })).status).toBe(200);
  return c;
}

const MIXED = [
  { glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00' },
  { glAccountCode: '4000', taxCode: 'ZERO', netAmount: '100.00' },
];

async function mixedInvoice(c: Client): Promise<number> {
  const inv = await c.post('/v1/sales/batch-invoices', {
    customerCode: 'C1',
    invoiceDate: '2026-05-04',
    externalReference: ref('INV'),
    lines: MIXED,
  });
  expect(inv.status, JSON.stringify(inv.body)).toBe(201);
  expect(inv.body.grossAmount).toBe('220.00');
  return inv.body.transactionId as number;
}

/** Pays `paid` with a `discount` against the invoice; returns the DS transaction's id. */
async function payWithDiscount(c: Client, invoiceId: number, paid: string, discount: string): Promise<number> {
  const rec = await postReceipt(c, 'C1', paid, { paymentDate: '2026-05-10' });
  const alloc = await c.post('/v1/allocations', {
    transactionId1: invoiceId,
    transactionId2: rec.transactionId,
    amount: paid,
    discountAmount: discount,
    date: '2026-05-10',
    reference: ref('prompt payment'),
  });
  expect(alloc.status, JSON.stringify(alloc.body)).toBe(201);
  return alloc.body.discountTransactionId as number;
}

/** The DS journal's discount and VAT lines as [role, account, tax code, amount in cents]. */
async function discountLines(id: number) {
  const { rows } = await t.db.query<{ role: string; gl_account_code: string; tax_code: string | null; amount: string }>(
    `SELECT role, gl_account_code, tax_code, amount FROM journal_lines
      WHERE transaction_id = $1 AND role <> 'control' ORDER BY tax_code, role`,
    [id],
  );
  return rows.map((r) => [r.role, r.gl_account_code, r.tax_code, r.amount]);
}

async function vatTotals(c: Client) {
  const vat = await c.get('/v1/reports/vat?from=2026-05-01&to=2026-05-31');
  expect(vat.status).toBe(200);
  return vat.body as { taxCodes: { taxCode: string; netVat: string }[]; totals: { netVat: string } };
}

async function trialBalanceCredit(c: Client, code: string): Promise<string> {
  const tb = await c.get('/v1/reports/trial-balance?at=2026-05-31');
  const row = tb.body.accounts.find((a: { code: string }) => a.code === code);
  return row ? row.credit : '0.00';
}

describe('adjustVat follows what is left of the invoice per tax code', () => {
  it('takes no VAT back on a zero-rated rest once the 20 % line was credited (the reproduction)', async () => {
    const c = await entity();
    const invoiceId = await mixedInvoice(c);
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: invoiceId,
      lineNumbers: [1],
      creditNoteDate: '2026-05-06',
      externalReference: ref('CN'),
      allocateToInvoice: true,
    });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    // 100.00 zero-rated is left; the customer pays 98.00 and takes 2.00.
    const ds = await payWithDiscount(c, invoiceId, '98.00', '2.00');
    // Before: VAT 2.00 × 20.00 ÷ 220.00 = 0.18 taken off output VAT, which the credit note had zeroed.
    expect(await discountLines(ds)).toEqual([['discount', '4900', 'ZERO', '200']]);
    const vat = await vatTotals(c);
    expect(vat.taxCodes.map((r) => [r.taxCode, r.netVat])).toEqual([
      ['STD', '0.00'],
      ['ZERO', '0.00'],
    ]);
    expect(vat.totals.netVat).toBe('0.00');
    expect(await trialBalanceCredit(c, '2200')).toBe('0.00');
    await checkInvariants(t.db, c.entityId);
  });

  it('follows a plain credit note with its own tax code allocated to the invoice', async () => {
    const c = await entity();
    const invoiceId = await mixedInvoice(c);
    const cn = await c.post('/v1/sales/credit-notes', {
      customerCode: 'C1',
      creditNoteDate: '2026-05-06',
      externalReference: ref('CN'),
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '50.00' }],
    });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    const alloc = await c.post('/v1/allocations', {
      transactionId1: invoiceId,
      transactionId2: cn.body.transactionId,
      amount: '50.00',
      reference: ref('credit'),
    });
    expect(alloc.status, JSON.stringify(alloc.body)).toBe(201);
    // Left: STD 100.00 + 20.00, ZERO 50.00 = 170.00. A 3.40 (2 %) discount: VAT 3.40 × 20 ÷ 170 =
    // 0.40; net 3.00 shared 100:50. (Before: VAT 3.40 × 20 ÷ 220 = 0.31, net shared 1:1.)
    const ds = await payWithDiscount(c, invoiceId, '166.60', '3.40');
    expect(await discountLines(ds)).toEqual([
      ['discount', '4900', 'STD', '200'],
      ['tax', '2200', 'STD', '40'],
      ['discount', '4900', 'ZERO', '100'],
    ]);
    const vat = await vatTotals(c);
    expect(vat.totals.netVat).toBe('19.60');
    expect(await trialBalanceCredit(c, '2200')).toBe('19.60');
    await checkInvariants(t.db, c.entityId);
  });

  it('ignores a credit note on a tax code the invoice does not have, and counts one raised from it once unallocated', async () => {
    const c = await entity();
    expect((await c.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.05', glAccountCode: '2200' })).status).toBe(
      201,
    );
    const invoiceId = await mixedInvoice(c);
    const red = await c.post('/v1/sales/credit-notes', {
      customerCode: 'C1',
      creditNoteDate: '2026-05-06',
      externalReference: ref('CN'),
      lines: [{ glAccountCode: '4000', taxCode: 'RED', netAmount: '10.00' }],
    });
    expect(red.status, JSON.stringify(red.body)).toBe(201);
    const std = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: invoiceId,
      lineNumbers: [1],
      creditNoteDate: '2026-05-06',
      externalReference: ref('CN'),
      allocateToInvoice: true,
    });
    expect(std.status, JSON.stringify(std.body)).toBe(201);
    // The STD credit note is taken off the invoice again: it still credited the invoice's 20 % line
    // (its money is left open, to refund), so that line's VAT is not left to take back again.
    const un = await c.post('/v1/allocations/unallocate', {
      transactionIds: [std.body.transactionId],
      date: '2026-05-07',
    });
    expect(un.body.status ?? un.body.results?.[0]?.status, JSON.stringify(un.body)).toBe('Success');
    const alloc = await c.post('/v1/allocations', {
      transactionId1: invoiceId,
      transactionId2: red.body.transactionId,
      amount: '10.50',
      reference: ref('credit'),
    });
    expect(alloc.status, JSON.stringify(alloc.body)).toBe(201);
    // RED is not on the invoice and the 20 % line was credited: the whole discount is net on ZERO.
    // (Counting only credit notes allocated to the invoice took 11.00 × 20 ÷ 220 = 1.00 VAT back,
    // 21.00 given back on a line that charged 20.00.)
    const ds = await payWithDiscount(c, invoiceId, '198.50', '11.00');
    expect(await discountLines(ds)).toEqual([['discount', '4900', 'ZERO', '1100']]);
    await checkInvariants(t.db, c.entityId);
  });

  it('follows an item credit note for half the 20 % line, and the earlier discount', async () => {
    const c = await entity();
    const d = await c.post('/v1/sales/invoices', {
      customerCode: 'C1',
      date: '2026-05-04',
      externalReference: ref('SO'),
      lines: [
        { description: 'Goods', quantity: '1', unitPrice: '100', glAccountCode: '4000', taxCode: 'STD' },
        { description: 'Books', quantity: '1', unitPrice: '100', glAccountCode: '4000', taxCode: 'ZERO' },
      ],
    });
    expect(d.status, JSON.stringify(d.body)).toBe(201);
    const inv = await c.post(`/v1/sales/invoices/${d.body.draftId}/post`, {});
    expect(inv.status, JSON.stringify(inv.body)).toBe(201);
    const invoiceId = inv.body.transactionId as number;
    const draft = await c.post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: invoiceId,
      date: '2026-05-06',
      externalReference: ref('RMA'),
    });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const lines = draft.body.document.lines
      .slice(0, 1)
      .map((l: Record<string, unknown>) => ({ ...l, quantity: '0.5' }));
    expect(lines[0].taxCode).toBe('STD');
    const changed = await c.put(`/v1/sales/credit-notes/drafts/${draft.body.draftId}`, { lines });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.grossAmount).toBe('60.00');
    const cn = await c.post(`/v1/sales/credit-notes/drafts/${draft.body.draftId}/post`, {});
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    const alloc = await c.post('/v1/allocations', {
      transactionId1: invoiceId,
      transactionId2: cn.body.transactionId,
      amount: '60.00',
      reference: ref('credit'),
    });
    expect(alloc.status, JSON.stringify(alloc.body)).toBe(201);
    // Left: STD 50.00 + 10.00, ZERO 100.00 = 160.00. An 8.00 discount: VAT 8 × 10 ÷ 160 = 0.50,
    // net 7.50 shared 50:100 (before: VAT 8 × 20 ÷ 220 = 0.73).
    const first = await payWithDiscount(c, invoiceId, '72.00', '8.00');
    expect(await discountLines(first)).toEqual([
      ['discount', '4900', 'STD', '250'],
      ['tax', '2200', 'STD', '50'],
      ['discount', '4900', 'ZERO', '500'],
    ]);
    // Left after it: STD 47.50 + 9.50, ZERO 95.00 = 152.00; 4.00 more: VAT 4 × 9.50 ÷ 152 = 0.25.
    const second = await payWithDiscount(c, invoiceId, '76.00', '4.00');
    expect(await discountLines(second)).toEqual([
      ['discount', '4900', 'STD', '125'],
      ['tax', '2200', 'STD', '25'],
      ['discount', '4900', 'ZERO', '250'],
    ]);
    // Output VAT: 20.00 − 10.00 (credit note) − 0.50 − 0.25 = 9.25, the VAT of 37.5 % of 148.00.
    expect(await trialBalanceCredit(c, '2200')).toBe('9.25');
    expect((await vatTotals(c)).totals.netVat).toBe('9.25');
    await checkInvariants(t.db, c.entityId);
  });

  it('takes back at most the VAT left on a code when the discount is larger than what is left', async () => {
    const c = await entity();
    const inv = await c.post('/v1/sales/batch-invoices', {
      customerCode: 'C1',
      invoiceDate: '2026-05-04',
      externalReference: ref('INV'),
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00' }],
    });
    expect(inv.status, JSON.stringify(inv.body)).toBe(201);
    // 92.00 + 18.40 of the 120.00 credited and left open to refund: 8.00 + 1.60 of the supply is left.
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.body.transactionId,
      creditNoteDate: '2026-05-05',
      externalReference: ref('CN'),
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '92.00' }],
    });
    expect(cn.status, JSON.stringify(cn.body)).toBe(201);
    // The invoice still owes 120.00; a 12.00 discount on it takes back the 1.60 left, not
    // 12 × 1.60 ÷ 9.60 = 2.00 (which made 18.40 + 2.00 of the 20.00 charged).
    const ds = await payWithDiscount(c, inv.body.transactionId, '108.00', '12.00');
    expect(await discountLines(ds)).toEqual([
      ['discount', '4900', 'STD', '1040'],
      ['tax', '2200', 'STD', '160'],
    ]);
    expect(await trialBalanceCredit(c, '2200')).toBe('0.00');
    await checkInvariants(t.db, c.entityId);
  });
});
