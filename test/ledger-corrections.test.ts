import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, invoice, postInvoice, postReceipt, receipt, seedCustomer } from './helpers/ledger.ts';
import { definePipeline } from './helpers/sync.ts';
import { syncServer, upload } from './helpers/uploads.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('FIX', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
  await seedCustomer(t.db, c.entityId, 'US', { currency: 'USD' });
  await seedCustomer(t.db, c.entityId, 'LIM', { creditLimit: 10000n });
});
afterAll(async () => t.close());

async function journal(id: number) {
  const { rows } = await t.db.query<{ role: string; gl_account_code: string; amount: string; base_amount: string }>(
    'SELECT role, gl_account_code, amount, base_amount FROM journal_lines WHERE transaction_id = $1 ORDER BY line_no',
    [id],
  );
  return rows;
}

describe('amounts beyond storage', () => {
  it('answers 400 AMOUNT_OUT_OF_RANGE, never a 500, for a line, a total, a base value and a credit limit', async () => {
    const line = await c.post('/v1/sales/batch-invoices', invoice('C1', '99999999999999999999'));
    expect(line.status).toBe(400);
    expect(line.body.error.code).toBe('AMOUNT_OUT_OF_RANGE');
    expect(line.body.error.details).toEqual([
      { field: 'lines[0].netAmount', message: 'beyond the largest storable value' },
    ]);
    // Each line fits; their total does not.
    const total = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C1', '1'),
      lines: [
        { glAccountCode: '4000', taxCode: 'ZERO', netAmount: '50000000000000000.00' },
        { glAccountCode: '4000', taxCode: 'ZERO', netAmount: '50000000000000000.00' },
      ],
    });
    expect(total.status).toBe(400);
    expect(total.body.error.code).toBe('AMOUNT_OUT_OF_RANGE');
    // The amount fits in USD; at this rate its EUR value does not.
    const base = await c.post('/v1/sales/receipts', receipt('US', '1000000000.00', { exchangeRate: '0.0000000001' }));
    expect(base.status).toBe(400);
    expect(base.body.error.code).toBe('AMOUNT_OUT_OF_RANGE');
    const limit = await c.put('/v1/customers/BIG', { name: 'Big', creditLimit: '99999999999999999999' });
    expect(limit.status).toBe(400);
    expect(limit.body.error.code).toBe('AMOUNT_OUT_OF_RANGE');
    await checkInvariants(t.db, c.entityId);
  });
});

describe('negative invoice lines (discount lines)', () => {
  it('posts an invoice with a discount line when the total is positive', async () => {
    const r = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C1', '1'),
      lines: [
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00', taxRate: '0.21' },
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '-10.00', taxRate: '0.21', description: 'Discount' },
      ],
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ netAmount: '90.00', taxAmount: '18.90', grossAmount: '108.90' });
    expect((await journal(r.body.transactionId)).map((l) => [l.role, l.amount])).toEqual([
      ['control', '10890'],
      ['net', '-10000'],
      ['net', '1000'],
      ['tax', '-1890'],
    ]);
    // A credit note copying it reverses both lines.
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: r.body.transactionId,
      creditNoteDate: '2026-11-05',
    });
    expect(cn.status).toBe(201);
    expect(cn.body.grossAmount).toBe('108.90');
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses a document whose total is not positive, and VAT against the sign of its line', async () => {
    const negative = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C1', '1'),
      lines: [
        { glAccountCode: '4000', taxCode: 'ZERO', netAmount: '10.00' },
        { glAccountCode: '4000', taxCode: 'ZERO', netAmount: '-20.00' },
      ],
    });
    expect(negative.status).toBe(422);
    expect(negative.body.error.code).toBe('DOCUMENT_TOTAL_MUST_BE_POSITIVE');
    const sign = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C1', '1'),
      lines: [
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00', taxRate: '0.21' },
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '-10.00', taxAmount: '2.10' },
      ],
    });
    expect(sign.status).toBe(400);
    expect(sign.body.error.details).toEqual([
      { field: 'lines[1].taxAmount', message: 'must not be positive on a negative line' },
    ]);
  });
});

describe('duplicate references compared trimmed and case-insensitively', () => {
  it('refuses an invoice reference differing only by case or surrounding spaces, and keeps the text as sent', async () => {
    const first = await postInvoice(c, 'C1', '5', { externalReference: 'Inv-Case-1' });
    const dup = await c.post('/v1/sales/batch-invoices', invoice('C1', '5', { externalReference: '  inv-CASE-1 ' }));
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS');
    const { rows } = await t.db.query<{ r: string }>('SELECT external_reference AS r FROM transactions WHERE id = $1', [
      first.transactionId,
    ]);
    expect(rows[0]!.r).toBe('Inv-Case-1');
    // With the check off it posts, and keeps its own spelling.
    const off = await postInvoice(c, 'C1', '5', {
      externalReference: ' inv-case-1',
      performExternalReferenceDuplicateCheck: false,
    });
    const kept = await t.db.query<{ r: string }>('SELECT external_reference AS r FROM transactions WHERE id = $1', [
      off.transactionId,
    ]);
    expect(kept.rows[0]!.r).toBe(' inv-case-1');
  });

  it('refuses a receipt check reference differing only by case, also within one post-pay-allocate bulk call', async () => {
    await postReceipt(c, 'C1', '1.00', { checkReference: 'CHK-ABC' });
    const dup = await c.post('/v1/sales/receipts', receipt('C1', '1.00', { checkReference: 'chk-abc ' }));
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS');
    const query = (ref: string) => ({
      batchInvoice: invoice('C1', '10.00', { externalReference: ref }),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: false,
    });
    const bulk = await c.post('/v1/sales/post-pay-allocate/bulk', {
      queries: [query('BULK-REF'), query('bulk-ref')],
    });
    expect(bulk.status).toBe(200);
    expect(bulk.body.results.map((x: { errorCode?: string }) => x.errorCode ?? null)).toEqual([
      null,
      'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
    ]);
  });

  it('enforces the rule in the database: the unique index is on the trimmed, lower-case reference', async () => {
    const inv = await postInvoice(c, 'C1', '5', { externalReference: 'DB-REF' });
    await expect(
      t.db.query(
        `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                                   external_reference, gross, base_gross, duplicate_checked, created_by)
         SELECT entity_id, 'SI', 'debit', 999999, customer_code, currency, 1, transaction_date, ' db-ref', 1, 1, true, 'test'
           FROM transactions WHERE id = $1`,
        [inv.transactionId],
      ),
    ).rejects.toThrow(/transactions_external_reference_checked|duplicate key/);
  });
});

describe('bankExchangeRate', () => {
  it('books a USD receipt into a EUR bank at the bank rate, the difference to exchange gains and losses', async () => {
    // 108.00 USD at 1.08 clears 100.00 EUR from the control account; at 1.20 the bank got 90.00 EUR.
    const inv = await postInvoice(c, 'US', '108.00', { exchangeRate: '1.08' });
    const r = await c.post(
      '/v1/sales/receipts',
      receipt('US', '130.68', { exchangeRate: '1.08', bankExchangeRate: '1.2' }),
    );
    expect(r.status).toBe(201);
    expect(await journal(r.body.transactionId)).toEqual([
      { role: 'control', gl_account_code: '1100', amount: '-13068', base_amount: '-12100' },
      { role: 'bank', gl_account_code: '1200', amount: '13068', base_amount: '10890' },
      { role: 'fx', gl_account_code: '7900', amount: '0', base_amount: '1210' },
    ]);
    const alloc = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: r.body.transactionId,
      amount: '130.68',
      date: '2026-11-05',
      reference: 'USD',
    });
    expect(alloc.status).toBe(201);
    expect(alloc.body.fxTransactionId).toBeNull();
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses a bankExchangeRate that would be ignored (the bank holds the receipt currency)', async () => {
    await c.put('/v1/gl-accounts/1210', { name: 'USD bank', type: 'asset' });
    await c.put('/v1/bank-accounts/USDBANK', { name: 'USD account', glAccountCode: '1210', currency: 'USD' });
    const r = await c.post(
      '/v1/sales/receipts',
      receipt('US', '10.00', { bankAccountCode: 'USDBANK', exchangeRate: '1.08', bankExchangeRate: '1.2' }),
    );
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('BANK_EXCHANGE_RATE_NOT_APPLICABLE');
    const base = await c.post('/v1/sales/receipts', receipt('C1', '10.00', { bankExchangeRate: '1.5' }));
    expect(base.body.error.code).toBe('BANK_EXCHANGE_RATE_NOT_APPLICABLE');
    // The same rate twice is not ignored, just redundant.
    const same = await c.post(
      '/v1/sales/receipts',
      receipt('US', '10.00', { bankAccountCode: 'USDBANK', exchangeRate: '1.08', bankExchangeRate: '1.08' }),
    );
    expect(same.status).toBe(201);
  });
});

describe('balance report', () => {
  it('says how far over the credit limit the customer is', async () => {
    await postInvoice(c, 'LIM', '100.00');
    const over = await c.get('/v1/customers/LIM/balance?at=2026-12-31');
    expect(over.body).toMatchObject({
      balance: '121.00',
      creditLimit: '100.00',
      overCreditLimit: true,
      overCreditLimitBy: '21.00',
    });
    const none = await c.get('/v1/customers/C1/balance?at=2026-12-31');
    expect(none.body).toMatchObject({ overCreditLimit: false, overCreditLimitBy: '0.00' });
  });
});

describe('messages name documents by number and external reference', () => {
  it('names the fully allocated invoice, not its internal id', async () => {
    const inv = await postInvoice(c, 'C1', '10.00', { externalReference: 'MSG-1' });
    const pay = await postReceipt(c, 'C1', '12.10');
    const body = {
      transactionId1: inv.transactionId,
      transactionId2: pay.transactionId,
      amount: '12.10',
      date: '2026-11-05',
      reference: 'MSG',
    };
    expect((await c.post('/v1/allocations', body)).status).toBe(201);
    const again = await c.post('/v1/allocations', body);
    expect(again.status).toBe(422);
    expect(again.body.error.message).toBe(`Invoice ${inv.number} (MSG-1) is fully allocated`);
  });
});

describe('CSV import with a discount line', () => {
  it('posts an invoice whose discount line is negative', async () => {
    const app = await syncServer(t);
    try {
      const d = await t.entity('CSVD', 'EUR', { standardTaxRate: '0.21' });
      await definePipeline(t.db, 'CSVD', { name: 'files', source: { type: 'file' } });
      const csv = [
        'invoice_reference,customer_id,customer_name,customer_email,invoice_date,due_date,currency,description,product_code,line_description,net_amount,vat_rate,vat_amount,gl_account,tax_code,department',
        'DISC-1,C-9,Nine Ltd,nine@example.com,2026-11-02,,EUR,Tickets,,Ticket,100.00,0.21,,,,',
        'DISC-1,C-9,Nine Ltd,nine@example.com,2026-11-02,,EUR,Tickets,,Loyalty discount,-10.00,0.21,,,,',
      ].join('\n');
      const r = await upload(app, d.token, { pipeline: 'files' }, { name: 'invoices.csv', content: csv });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ kind: 'invoices', failedRows: 0 });
      const { rows } = await t.db.query<{ gross: string; net: string; tax: string }>(
        `SELECT gross::text, net::text, tax::text FROM transactions WHERE entity_id = $1 AND type = 'SI'`,
        [d.entityId],
      );
      expect(rows).toEqual([{ gross: '10890', net: '9000', tax: '1890' }]);
      await checkInvariants(t.db, d.entityId);
    } finally {
      if (app !== t.app) await app.close();
    }
  });
});
