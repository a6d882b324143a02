import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, invoice, postInvoice, postReceipt, receipt, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('SALES', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
  await seedCustomer(t.db, c.entityId, 'C2', { creditDays: 14, endOfMonth: true });
});
afterAll(async () => t.close());

async function tx(id: number) {
  const { rows } = await t.db.query<any>('SELECT * FROM transactions WHERE id = $1', [id]);
  const lines = await t.db.query<any>(
    'SELECT role, gl_account_code, amount, base_amount FROM journal_lines WHERE transaction_id = $1 ORDER BY line_no',
    [id],
  );
  return { ...rows[0], lines: lines.rows };
}

describe('batch invoices', () => {
  it('posts a balanced journal, computes tax half-up, numbers gaplessly and defaults the due date', async () => {
    const a = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C2', '10.05'),
      invoiceDate: '2026-02-10',
      lines: [
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '10.05', taxRate: '0.21' },
        { glAccountCode: '4000', taxCode: 'ZERO', netAmount: 5, taxRate: '0' },
      ],
    });
    expect(a.status).toBe(201);
    // 10.05 × 0.21 = 2.1105 → 2.11; gross 10.05 + 5 + 2.11
    expect(a.body).toMatchObject({
      netAmount: '15.05',
      taxAmount: '2.11',
      grossAmount: '17.16',
      dueDate: '2026-03-14',
    });
    const posted = await tx(a.body.transactionId);
    expect(posted.lines).toEqual([
      { role: 'control', gl_account_code: '1100', amount: '1716', base_amount: '1716' },
      { role: 'net', gl_account_code: '4000', amount: '-1005', base_amount: '-1005' },
      { role: 'net', gl_account_code: '4000', amount: '-500', base_amount: '-500' },
      { role: 'tax', gl_account_code: '2200', amount: '-211', base_amount: '-211' },
    ]);
    const b = await postInvoice(c, 'C1', '1');
    expect(b.number).toBe(a.body.number + 1);
  });

  it('uses a given tax amount as is', async () => {
    const r = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C1', '10.05'),
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '10.05', taxRate: '0.21', taxAmount: '2.10' }],
    });
    expect(r.body.taxAmount).toBe('2.10');
  });

  it('refuses a duplicate external reference per customer, but not for another customer or with the check off', async () => {
    await postInvoice(c, 'C1', '5', { externalReference: 'DUP-1' });
    const dup = await c.post('/v1/sales/batch-invoices', invoice('C1', '5', { externalReference: 'DUP-1' }));
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS');
    await postInvoice(c, 'C2', '5', { externalReference: 'DUP-1' });
    await postInvoice(c, 'C1', '5', { externalReference: 'DUP-1', performExternalReferenceDuplicateCheck: false });
  });

  it('never passes amounts through a float and refuses too many decimals', async () => {
    const precise = await c.post(
      '/v1/sales/batch-invoices',
      '{"customerCode":"C1","invoiceDate":"2026-11-01","lines":[{"glAccountCode":"4000","taxCode":"ZERO","netAmount":90071992547409.93,"taxRate":"0"}]}',
      {
        'content-type': 'application/json',
      },
    );
    expect(precise.status).toBe(201);
    expect(precise.body.grossAmount).toBe('90071992547409.93');
    const bad = await c.post('/v1/sales/batch-invoices', invoice('C1', '1.005'));
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('AMOUNT_HAS_TOO_MANY_DECIMALS');
    expect(bad.body.error.details[0].field).toBe('lines[0].netAmount');
  });

  it('enforces the credit limit when asked', async () => {
    await seedCustomer(t.db, c.entityId, 'LIM', { creditLimit: 10000n });
    await postInvoice(c, 'LIM', '80', { lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '80' }] });
    const over = await c.post('/v1/sales/batch-invoices', {
      ...invoice('LIM', '30'),
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '30' }],
      enforceCreditLimit: true,
    });
    expect(over.status).toBe(422);
    expect(over.body.error.code).toBe('CUSTOMER_CREDIT_LIMIT_EXCEEDED');
    const ok = await c.post('/v1/sales/batch-invoices', {
      ...invoice('LIM', '20'),
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '20' }],
      enforceCreditLimit: true,
    });
    expect(ok.status).toBe(201);
  });

  it('names unknown references', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [invoice('NOPE', '1'), 'CUSTOMER_CODE_DOES_NOT_EXIST', 'customerCode'],
      [
        { ...invoice('C1', '1'), lines: [{ glAccountCode: '9998', taxCode: 'STD', netAmount: '1' }] },
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        'lines[0].glAccountCode',
      ],
      [
        { ...invoice('C1', '1'), lines: [{ glAccountCode: '1000', taxCode: 'STD', netAmount: '1' }] },
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        'lines[0].glAccountCode',
      ],
      [
        { ...invoice('C1', '1'), lines: [{ glAccountCode: '4000', taxCode: 'NOTAX', netAmount: '1' }] },
        'TAX_CODE_DOES_NOT_EXIST',
        'lines[0].taxCode',
      ],
      [
        {
          ...invoice('C1', '1'),
          lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1', departmentId: 'NODEPT' }],
        },
        'DEPARTMENT_DOES_NOT_EXIST',
        'lines[0].departmentId',
      ],
    ];
    const before = await t.db.query('SELECT count(*) FROM transactions');
    for (const [body, code, field] of cases) {
      const r = await c.post('/v1/sales/batch-invoices', body);
      expect(r.status, code).toBe(422);
      expect(r.body.error.code).toBe(code);
      expect(r.body.error.details[0].field).toBe(field);
    }
    expect((await t.db.query('SELECT count(*) FROM transactions')).rows).toEqual(before.rows);
  });
});

describe('receipts and allocations', () => {
  it('allocates partially, accumulates, refuses over-allocation and full allocation', async () => {
    const inv = await postInvoice(c, 'C1', '100'); // 121.00
    const rec = await postReceipt(c, 'C1', '150');
    const a1 = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '21',
      date: '2026-11-05',
      reference: 'A1',
    });
    expect(a1.status).toBe(201);
    expect(a1.body.outstanding[String(inv.transactionId)]).toBe('100.00');
    const over = await c.post('/v1/allocations', {
      transactionId1: rec.transactionId,
      transactionId2: inv.transactionId,
      amount: '100.01',
      date: '2026-11-05',
      reference: 'A2',
    });
    expect(over.body.error.code).toBe('TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT');
    const a2 = await c.post('/v1/allocations', {
      transactionId1: rec.transactionId,
      transactionId2: inv.transactionId,
      amount: '100',
      date: '2026-11-06',
      reference: 'A2',
    });
    expect(a2.status).toBe(201);
    const full = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '1',
      date: '2026-11-06',
      reference: 'A3',
    });
    expect(full.body.error.code).toBe('TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION');
    await checkInvariants(t.db, c.entityId);
  });

  it('gives a settlement discount and reverses it on unallocation', async () => {
    const inv = await postInvoice(c, 'C1', '100'); // 121.00
    const rec = await postReceipt(c, 'C1', '118');
    const a = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '118',
      discountAmount: '3',
      date: '2026-11-05',
      reference: 'D1',
    });
    expect(a.status).toBe(201);
    expect(a.body.outstanding[String(inv.transactionId)]).toBe('0.00');
    expect(a.body.discountTransactionId).toBeTypeOf('number');
    const ds = await tx(a.body.discountTransactionId);
    expect(ds.lines).toEqual([
      { role: 'control', gl_account_code: '1100', amount: '-300', base_amount: '-300' },
      { role: 'discount', gl_account_code: '4900', amount: '300', base_amount: '300' },
    ]);
    const u = await c.post('/v1/allocations/unallocate', { transactionIds: [inv.transactionId, 999999] });
    expect(u.status).toBe(200);
    expect(u.body.status).toBe('Failure');
    expect(u.body.results[0].status).toBe('Success');
    expect(u.body.results[0].reversedAllocationIds).toHaveLength(2);
    expect(u.body.results[1].errorCode).toBe('TRANSACTION_DOES_NOT_EXIST');
    const { rows } = await t.db.query<any>(
      `SELECT coalesce(sum(base_amount), 0) AS s FROM journal_lines WHERE entity_id = $1 AND gl_account_code = '4900'
         AND transaction_id IN ($2, (SELECT id FROM transactions WHERE type = 'DX' AND related_transaction_id = $2))`,
      [c.entityId, a.body.discountTransactionId],
    );
    expect(rows[0].s).toBe('0');
    const reversals = async () =>
      (
        await t.db.query(`SELECT after FROM audit_log WHERE entity_id = $1 AND action = 'allocation.reversed'`, [
          c.entityId,
        ])
      ).rows.length;
    expect(await reversals()).toBe(1);
    const again = await c.post('/v1/allocations/unallocate', { transactionIds: [inv.transactionId] });
    expect(again.body.results[0].errorCode).toBe('TRANSACTION_HAS_NO_ACTIVE_ALLOCATIONS');
    // Nothing reversed, nothing in the trail.
    expect(await reversals()).toBe(1);
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses incompatible, cross-customer and missing-reference allocations', async () => {
    const i1 = await postInvoice(c, 'C1', '10');
    const i2 = await postInvoice(c, 'C1', '10');
    const r2 = await postReceipt(c, 'C2', '10');
    const base = { amount: '1', date: '2026-11-05', reference: 'X' };
    expect(
      (await c.post('/v1/allocations', { ...base, transactionId1: i1.transactionId, transactionId2: i2.transactionId }))
        .body.error.code,
    ).toBe('TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES');
    expect(
      (await c.post('/v1/allocations', { ...base, transactionId1: i1.transactionId, transactionId2: r2.transactionId }))
        .body.error.code,
    ).toBe('TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS');
    const r1 = await postReceipt(c, 'C1', '10');
    expect(
      (
        await c.post('/v1/allocations', {
          ...base,
          reference: '',
          transactionId1: i1.transactionId,
          transactionId2: r1.transactionId,
        })
      ).body.error.code,
    ).toBe('TRANSACTION_ALLOCATION_REFERENCE_IS_NULL');
    expect(
      (
        await c.post('/v1/allocations', {
          ...base,
          amount: '0',
          transactionId1: i1.transactionId,
          transactionId2: r1.transactionId,
        })
      ).body.error.code,
    ).toBe('TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO');
  });
});

describe('credit notes and refunds', () => {
  it('copies selected invoice lines and allocates to the invoice', async () => {
    const inv = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C1', '0'),
      lines: [
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '50', taxRate: '0.21' },
        { glAccountCode: '4000', taxCode: 'STD', netAmount: '30', taxRate: '0.21' },
      ],
    });
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.body.transactionId,
      lineNumbers: [2],
      creditNoteDate: '2026-11-10',
      allocateToInvoice: true,
    });
    expect(cn.status).toBe(201);
    expect(cn.body.grossAmount).toBe('36.30');
    expect(cn.body.allocation.outstanding[String(inv.body.transactionId)]).toBe('60.50');
    const missing = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.body.transactionId,
      lineNumbers: [3],
      creditNoteDate: '2026-11-10',
    });
    expect(missing.body.error.code).toBe('INVOICE_LINE_DOES_NOT_EXIST');
    await checkInvariants(t.db, c.entityId);
  });

  it('refunds a receipt with a debit journal allocated against it', async () => {
    const rec = await postReceipt(c, 'C1', '40');
    const sd = await c.post('/v1/sales/debit-journals', {
      customerCode: 'C1',
      transactionDate: '2026-11-12',
      externalReference: 'RF-1',
      lines: [{ bankAccountCode: 'BANK', amount: '40' }],
    });
    expect(sd.status).toBe(201);
    const a = await c.post('/v1/allocations', {
      transactionId1: sd.body.transactionId,
      transactionId2: rec.transactionId,
      amount: '40',
      date: '2026-11-12',
      reference: 'RF-1',
    });
    expect(a.status).toBe(201);
    await checkInvariants(t.db, c.entityId);
  });
});

describe('post, pay and allocate', () => {
  it('posts invoice, receipt and allocation atomically and defaults the allocation', async () => {
    const r = await c.post('/v1/sales/post-pay-allocate', {
      batchInvoice: invoice('C1', '100', { externalReference: 'PPA-1' }),
      receipt: receipt('C1', '200', { checkReference: 'PPA-R1' }),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: true,
      allocationReference: 'PPA-1',
      clientUniqueReference: 'cur-1',
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ allocatedAmount: '121.00', clientUniqueReference: 'cur-1' });
    const { rows } = await t.db.query<any>('SELECT allocation_date FROM allocations WHERE id = $1', [
      r.body.allocationId,
    ]);
    expect(rows[0].allocation_date).toBe('2026-11-05');
  });

  it('posts nothing when the receipt duplicate check fails', async () => {
    const before = (await t.db.query<any>('SELECT count(*) AS n FROM transactions')).rows[0].n;
    const r = await c.post('/v1/sales/post-pay-allocate', {
      batchInvoice: invoice('C1', '100', { externalReference: 'PPA-2' }),
      receipt: receipt('C1', '121', { checkReference: 'PPA-R1' }),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: true,
      allocationReference: 'PPA-2',
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS');
    expect((await t.db.query<any>('SELECT count(*) AS n FROM transactions')).rows[0].n).toBe(before);
  });

  it('checks the rules of the query', async () => {
    const flags = {
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
    };
    expect((await c.post('/v1/sales/post-pay-allocate', { ...flags, performAllocation: false })).body.error.code).toBe(
      'NOTHING_TO_POST',
    );
    expect(
      (
        await c.post('/v1/sales/post-pay-allocate', {
          ...flags,
          performAllocation: true,
          batchInvoice: invoice('C1', '1'),
          allocationReference: 'x',
        })
      ).body.error.code,
    ).toBe('ALLOCATION_REQUIRES_INVOICE_AND_RECEIPT');
    expect(
      (
        await c.post('/v1/sales/post-pay-allocate', {
          ...flags,
          performAllocation: false,
          batchInvoice: invoice('C1', '1'),
          receipt: receipt('C2', '1'),
        })
      ).body.error.code,
    ).toBe('INVOICE_AND_RECEIPT_CUSTOMER_MISMATCH');
    const tooMuch = await c.post('/v1/sales/post-pay-allocate', {
      ...flags,
      performAllocation: true,
      batchInvoice: invoice('C1', '10'),
      receipt: receipt('C1', '5'),
      allocationReference: 'x',
      allocationAmount: '6',
    });
    expect(tooMuch.body.error.code).toBe('TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT');
  });

  it('bulk: each query atomic, overall status, results in order', async () => {
    const flags = {
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: true,
    };
    const r = await c.post('/v1/sales/post-pay-allocate/bulk', {
      queries: [
        {
          ...flags,
          batchInvoice: invoice('C1', '10', { externalReference: 'B-1' }),
          receipt: receipt('C1', '12.10'),
          allocationReference: 'B-1',
          clientUniqueReference: 'q1',
        },
        {
          ...flags,
          batchInvoice: invoice('C1', '10', { externalReference: 'B-1' }),
          receipt: receipt('C1', '12.10'),
          allocationReference: 'B-1',
          clientUniqueReference: 'q2',
        },
        { ...flags, batchInvoice: { customerCode: 'C1' }, clientUniqueReference: 'q3' },
        {
          ...flags,
          batchInvoice: invoice('C2', '10', { externalReference: 'B-1' }),
          receipt: receipt('C2', '12.10'),
          allocationReference: 'B-1',
          clientUniqueReference: 'q4',
        },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('Failure');
    expect(r.body.results.map((x: any) => [x.clientUniqueReference, x.status, x.errorCode ?? null])).toEqual([
      ['q1', 'Success', null],
      ['q2', 'Failure', 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS'],
      ['q3', 'Failure', 'VALIDATION_ERROR'],
      ['q4', 'Success', null],
    ]);
    await checkInvariants(t.db, c.entityId);
  });
});

describe('idempotency and immutability', () => {
  it('replays the first response for the same key and body, refuses another body', async () => {
    const body = invoice('C1', '7', { externalReference: 'IDEM-1' });
    const h = { 'idempotency-key': 'key-1' };
    const first = await c.post('/v1/sales/batch-invoices', body, h);
    const second = await c.post('/v1/sales/batch-invoices', body, h);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');
    const other = await c.post('/v1/sales/batch-invoices', { ...body, description: 'changed' }, h);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const { rows } = await t.db.query<any>(
      `SELECT count(*) AS n FROM transactions WHERE external_reference = 'IDEM-1'`,
    );
    expect(rows[0].n).toBe('1');
  });

  it('refuses to update or delete posted rows at the database', async () => {
    await expect(t.db.query(`UPDATE transactions SET gross = gross + 1`)).rejects.toThrow(/cannot be changed/);
    await expect(t.db.query(`DELETE FROM journal_lines`)).rejects.toThrow(/cannot be changed/);
    await expect(t.db.query(`DELETE FROM allocations`)).rejects.toThrow(/cannot be changed/);
  });
});
