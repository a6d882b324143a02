/**
 * The accounts the ledger posts to by itself — the entity's account roles (discount allowed,
 * exchange gains and losses, unrealised exchange differences) and a deferral schedule's deferred
 * and revenue accounts — are checked when posting, as a tax code's and a bank account's are:
 * setup refuses to close them, but data from before that rule may hold them inactive or as header
 * accounts, and postings still went to them. Now the posting is refused (422, naming the account
 * and what to do) and nothing is posted; a release run posts the other releases and lists the one
 * it could not post.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type TestApp, type TestResponse, createTestApp } from './helpers/app.ts';
import { checkInvariants, invoice, postInvoice, postReceipt, receipt, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

let n = 0;
async function entity(): Promise<Client> {
  const c = await t.entity(`ROLE${++n}`, 'EUR', { standardTaxRate: '0.21' });
  await seedCustomer(t.db, c.entityId, 'C1');
  await seedCustomer(t.db, c.entityId, 'U1', { currency: 'USD' });
  return c;
}

/** Puts the account in a state setup now refuses, as data stored before the rule may hold it. */
async function closeBehindSetup(c: Client, code: string, column: 'is_active' | 'is_posting') {
  await t.db.query(`UPDATE gl_accounts SET ${column} = false WHERE entity_id = $1 AND code = $2`, [c.entityId, code]);
}

function expectClosed(res: TestResponse, field: string, account: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  expect(res.body.error.code).toBe('GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST');
  expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual([field]);
  expect(res.body.error.message).toContain(`GL account ${account}`);
  expect(res.body.error.message).toContain(`PUT /v1/gl-accounts/${account}`);
}

async function count(c: Client, sql: string): Promise<number> {
  const { rows } = await t.db.query<{ n: number }>(sql, [c.entityId]);
  return rows[0]!.n;
}
const postings = (c: Client) => count(c, 'SELECT count(*)::int AS n FROM transactions WHERE entity_id = $1');
const allocations = (c: Client) => count(c, 'SELECT count(*)::int AS n FROM allocations WHERE entity_id = $1');
const linesOn = (c: Client, code: string) =>
  t.db
    .query<{ n: number }>(
      'SELECT count(*)::int AS n FROM journal_lines WHERE entity_id = $1 AND gl_account_code = $2',
      [c.entityId, code],
    )
    .then((r) => r.rows[0]!.n);

describe('role accounts closed before the rules', () => {
  it('refuses a settlement discount to an inactive discount-allowed account (the reproduction)', async () => {
    const c = await entity();
    const inv = await postInvoice(c, 'C1', '100.00');
    const rec = await postReceipt(c, 'C1', '118.58');
    await closeBehindSetup(c, '4900', 'is_active');
    const before = [await postings(c), await allocations(c)];
    const res = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '118.58',
      discountAmount: '2.42',
      reference: 'prompt payment',
    });
    expectClosed(res, 'discountAmount', '4900');
    expect(res.body.error.message).toBe(
      "discountAmount: The settlement discount posts to GL account 4900 (the entity's discountAllowed account), " +
        'which is inactive or a header account; make 4900 an active posting account again ' +
        '(PUT /v1/gl-accounts/4900 {"isActive": true, "isPosting": true}); the entity\'s account roles cannot be changed',
    );
    expect([await postings(c), await allocations(c)]).toEqual(before);
    expect(await linesOn(c, '4900')).toBe(0);
    // Without a discount the allocation posts nothing to 4900 and goes through.
    const plain = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '100.00',
      reference: 'part payment',
    });
    expect(plain.status, JSON.stringify(plain.body)).toBe(201);
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses exchange differences to a header exchange gains and losses account, in every posting path', async () => {
    const c = await entity();
    const inv = await postInvoice(c, 'U1', '100.00', { exchangeRate: '1.10' });
    const rec = await postReceipt(c, 'U1', '121.00', { exchangeRate: '1.20' });
    await closeBehindSetup(c, '7900', 'is_posting');
    const before = [await postings(c), await allocations(c)];
    const alloc = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '121.00',
      reference: 'payment',
    });
    expectClosed(alloc, 'amount', '7900');
    const bankRate = await c.post(
      '/v1/sales/receipts',
      receipt('U1', '12.10', { exchangeRate: '1.10', bankExchangeRate: '1.20' }),
    );
    expectClosed(bankRate, 'bankExchangeRate', '7900');
    const ppa = await c.post('/v1/sales/post-pay-allocate', {
      batchInvoice: invoice('U1', '100.00', { exchangeRate: '1.10' }),
      receipt: receipt('U1', '121.00', { exchangeRate: '1.20' }),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: true,
      allocationReference: 'ppa',
    });
    expectClosed(ppa, 'allocationAmount', '7900');
    expect([await postings(c), await allocations(c)]).toEqual(before);
    expect(await linesOn(c, '7900')).toBe(0);
    // Reopened, the same allocation posts its exchange difference there.
    expect((await c.put('/v1/gl-accounts/7900', { isPosting: true })).status).toBe(200);
    const again = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '121.00',
      reference: 'payment',
    });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.fxTransactionId).not.toBeNull();
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses to unallocate a discount or an exchange difference whose account was closed, reversing nothing', async () => {
    const c = await entity();
    const inv = await postInvoice(c, 'C1', '100.00');
    const rec = await postReceipt(c, 'C1', '118.58');
    const alloc = await c.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '118.58',
      discountAmount: '2.42',
      reference: 'prompt payment',
    });
    expect(alloc.status, JSON.stringify(alloc.body)).toBe(201);
    await closeBehindSetup(c, '4900', 'is_active');
    const before = await postings(c);
    const un = await c.post('/v1/allocations/unallocate', { transactionIds: [inv.transactionId] });
    expect(un.status, JSON.stringify(un.body)).toBe(200);
    const result = un.body.results?.[0] ?? un.body;
    expect(result.status).toBe('Failure');
    expect(result.errorCode).toBe('GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST');
    expect(result.errorMessage).toContain('GL account 4900');
    expect(await postings(c)).toBe(before);
    expect(await count(c, 'SELECT count(*)::int AS n FROM allocation_reversals WHERE entity_id = $1')).toBe(0);
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses a revaluation to an inactive unrealised exchange account, claiming nothing', async () => {
    const c = await entity();
    expect((await c.put('/v1/currencies/USD/rates/2026-11-01', { rate: '1.10' })).status).toBe(201);
    await postInvoice(c, 'U1', '100.00', { exchangeRate: '1.10' });
    expect((await c.put('/v1/currencies/USD/rates/2026-11-30', { rate: '1.20' })).status).toBe(201);
    await closeBehindSetup(c, '7910', 'is_active');
    const before = await postings(c);
    expectClosed(await c.post('/v1/revaluations', { at: '2026-11-30' }), 'at', '7910');
    expect(await postings(c)).toBe(before);
    expect(await count(c, 'SELECT count(*)::int AS n FROM revaluations WHERE entity_id = $1')).toBe(0);
    expect((await c.put('/v1/gl-accounts/7910', { isActive: true })).status).toBe(200);
    expect((await c.post('/v1/revaluations', { at: '2026-11-30' })).status).toBe(201);
  });
});

describe('deferral accounts closed before the rules', () => {
  async function deferred(c: Client, revenue: string) {
    const res = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C1', '300.00'),
      lines: [
        {
          glAccountCode: revenue,
          taxCode: 'STD',
          netAmount: '300.00',
          deferral: { months: 3, startDate: '2026-11-30' },
        },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { transactionId: number; number: number };
  }

  it('a release run posts the releases it can and lists, with the reason, one whose revenue account was closed', async () => {
    const c = await entity();
    expect((await c.put('/v1/gl-accounts/4030', { name: 'Subscriptions', type: 'income' })).status).toBe(201);
    const open = await deferred(c, '4000');
    const shut = await deferred(c, '4030');
    await closeBehindSetup(c, '4030', 'is_active');
    const run = await c.post('/v1/deferrals/release?upTo=2026-11-30', {});
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.released.map((r: { invoiceTransactionId: number }) => r.invoiceTransactionId)).toEqual([
      open.transactionId,
    ]);
    expect(run.body.failed).toEqual([
      {
        releaseId: expect.any(Number),
        invoiceTransactionId: shut.transactionId,
        invoiceNumber: shut.number,
        lineNo: 1,
        seq: 1,
        dueDate: '2026-11-30',
        glAccountCode: '4030',
        code: 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        message: expect.stringMatching(
          /^Release 1 of 3 of Invoice \d+ \(INV-\w+\) line 1 posts to GL account 4030 \(its revenue account\), which is inactive or a header account; make 4030 an active posting account again/,
        ),
      },
    ]);
    expect(await linesOn(c, '4030')).toBe(0);
    // It stays due: reopened, the next run posts it, and only it.
    expect((await c.put('/v1/gl-accounts/4030', { isActive: true })).status).toBe(200);
    const next = await c.post('/v1/deferrals/release?upTo=2026-11-30', {});
    expect(next.body.failed).toEqual([]);
    expect(next.body.released.map((r: { invoiceTransactionId: number }) => r.invoiceTransactionId)).toEqual([
      shut.transactionId,
    ]);
    await checkInvariants(t.db, c.entityId);
  });

  it('a closed deferred revenue account holds every release back, and refuses a credit note of the line', async () => {
    const c = await entity();
    const inv = await deferred(c, '4000');
    await closeBehindSetup(c, '2300', 'is_posting');
    const run = await c.post('/v1/deferrals/release?upTo=2027-01-31', {});
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.released).toEqual([]);
    expect(run.body.failed.map((f: { seq: number; glAccountCode: string }) => [f.seq, f.glAccountCode])).toEqual([
      [1, '2300'],
      [2, '2300'],
      [3, '2300'],
    ]);
    const before = await postings(c);
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      creditNoteDate: '2026-12-15',
      externalReference: 'CN-DEF',
    });
    expectClosed(cn, 'fromInvoiceTransactionId', '2300');
    expect(await postings(c)).toBe(before);
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses a back-dated credit note that would reverse a release onto a revenue account closed since', async () => {
    const c = await entity();
    expect((await c.put('/v1/gl-accounts/4030', { name: 'Subscriptions', type: 'income' })).status).toBe(201);
    const inv = await deferred(c, '4030');
    expect((await c.post('/v1/deferrals/release?upTo=2027-01-31', {})).body.released).toHaveLength(3);
    // Every release posted, no schedule still uses 4030: setup lets it close.
    expect((await c.put('/v1/gl-accounts/4030', { isActive: false })).status).toBe(200);
    const before = await postings(c);
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      creditNoteDate: '2026-12-15',
      externalReference: 'CN-BACK',
    });
    expectClosed(cn, 'fromInvoiceTransactionId', '4030');
    expect(await postings(c)).toBe(before);
    await checkInvariants(t.db, c.entityId);
  });
});
