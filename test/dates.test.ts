import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, invoice, postInvoice, postReceipt, receipt, seedCustomer } from './helpers/ledger.ts';
import { findEntityById } from '../src/ledger/entities.ts';
import { postReceipt as postReceiptDirect } from '../src/ledger/posting/receipts.ts';
import { allocate } from '../src/ledger/posting/allocations.ts';
import { sqlState } from '../src/db/database.ts';
import { updateSettings } from '../src/ledger/settings.ts';
import { onPostgres } from './helpers/db.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('DATES', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
  await seedCustomer(t.db, c.entityId, 'USD1', { currency: 'USD' });
});
afterAll(async () => t.close());

async function allocationRow(id: number) {
  const { rows } = await t.db.query<{ allocation_date: string; fx_transaction_id: string | null }>(
    'SELECT allocation_date::text AS allocation_date, fx_transaction_id FROM allocations WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

async function transactionDate(id: number | string) {
  const { rows } = await t.db.query<{ d: string }>(
    'SELECT transaction_date::text AS d FROM transactions WHERE id = $1',
    [id],
  );
  return rows[0]!.d;
}

async function statementAndBalance(client: Client, code: string, at: string) {
  const s = await client.get(`/v1/customers/${code}/statement?upTo=${at}`);
  const b = await client.get(`/v1/customers/${code}/balance?at=${at}`);
  return { statement: s.body.currentBalance as string, balance: b.body.balance as string };
}

describe('allocation dates', () => {
  it('refuses an allocation dated before either document, and defaults it to the later of the two', async () => {
    const cl = await t.entity('DATES-A', 'EUR');
    await seedCustomer(t.db, cl.entityId, 'C1');
    const rec = await postReceipt(cl, 'C1', '121', { paymentDate: '2026-03-01' });
    const inv = await postInvoice(cl, 'C1', '100', { invoiceDate: '2026-03-20' }); // 121.00
    const early = await cl.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '121',
      date: '2026-03-01',
      reference: 'EARLY',
    });
    expect(early.status).toBe(422);
    expect(early.body.error.code).toBe('ALLOCATION_DATE_BEFORE_TRANSACTION');
    expect(early.body.error.details).toMatchObject({ transactionId: inv.transactionId, transactionDate: '2026-03-20' });
    const { rows } = await t.db.query('SELECT 1 FROM allocations WHERE entity_id = $1', [cl.entityId]);
    expect(rows).toHaveLength(0);

    const a = await cl.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '121',
      reference: 'DEFAULT',
    });
    expect(a.status).toBe(201);
    expect((await allocationRow(a.body.allocationId)).allocation_date).toBe('2026-03-20');
    // The auditor's reproduction: on 03-10 the customer has paid 121.00 and owes nothing yet.
    expect(await statementAndBalance(cl, 'C1', '2026-03-10')).toEqual({ statement: '-121.00', balance: '-121.00' });
    expect(await statementAndBalance(cl, 'C1', '2026-03-20')).toEqual({ statement: '0.00', balance: '0.00' });
    await checkInvariants(t.db, cl.entityId);
  });

  it('post-pay-allocate defaults the allocation and its exchange difference to the later document, never before it', async () => {
    const query = (extra: Record<string, unknown>) => ({
      batchInvoice: invoice('USD1', '100', { invoiceDate: '2026-03-20', exchangeRate: '1.10' }), // 121.00 USD = 110.00 EUR
      receipt: receipt('USD1', '121', { paymentDate: '2026-03-01', exchangeRate: '1.21' }), // 121.00 USD = 100.00 EUR
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: true,
      allocationReference: 'PPA',
      ...extra,
    });
    const early = await c.post('/v1/sales/post-pay-allocate', query({ allocationDate: '2026-03-19' }));
    expect(early.status).toBe(422);
    expect(early.body.error.code).toBe('ALLOCATION_DATE_BEFORE_TRANSACTION');

    const r = await c.post('/v1/sales/post-pay-allocate', query({}));
    expect(r.status).toBe(201);
    const alloc = await allocationRow(r.body.allocationId);
    expect(alloc.allocation_date).toBe('2026-03-20');
    expect(alloc.fx_transaction_id).not.toBeNull();
    // The exchange difference is booked on the allocation's date, not on the earlier receipt's.
    expect(await transactionDate(alloc.fx_transaction_id!)).toBe('2026-03-20');
    await checkInvariants(t.db, c.entityId);

    // An unallocation may not be dated before the allocation it reverses; on or after it, the
    // exchange difference is reversed on the unallocation's date.
    const before = await c.post('/v1/allocations/unallocate', {
      transactionIds: [r.body.invoiceTransactionId],
      date: '2026-03-10',
    });
    expect(before.body.results[0]).toMatchObject({
      status: 'Failure',
      errorCode: 'UNALLOCATION_DATE_BEFORE_ALLOCATION',
    });
    const reversals = await t.db.query('SELECT 1 FROM allocation_reversals WHERE allocation_id = $1', [
      r.body.allocationId,
    ]);
    expect(reversals.rows).toHaveLength(0);
    await checkInvariants(t.db, c.entityId);
    const ok = await c.post('/v1/allocations/unallocate', {
      transactionIds: [r.body.invoiceTransactionId],
      date: '2026-03-25',
    });
    expect(ok.body.results[0].status).toBe('Success');
    const { rows } = await t.db.query<{ d: string }>(
      `SELECT transaction_date::text AS d FROM transactions WHERE type = 'FX' AND related_transaction_id = $1`,
      [alloc.fx_transaction_id],
    );
    expect(rows).toEqual([{ d: '2026-03-25' }]);
    await checkInvariants(t.db, c.entityId);
  });

  it("allocates a credit note dated before its invoice on the invoice's date", async () => {
    const inv = await postInvoice(c, 'C1', '50', { invoiceDate: '2026-05-20' });
    const cn = await c.post('/v1/sales/credit-notes', {
      creditNoteDate: '2026-05-05',
      fromInvoiceTransactionId: inv.transactionId,
      allocateToInvoice: true,
      externalReference: 'CN-EARLY',
    });
    expect(cn.status).toBe(201);
    const { rows } = await t.db.query<{ d: string }>(
      'SELECT allocation_date::text AS d FROM allocations WHERE credit_transaction_id = $1',
      [cn.body.transactionId],
    );
    expect(rows).toEqual([{ d: '2026-05-20' }]);
    await checkInvariants(t.db, c.entityId);
  });

  it('the database refuses an allocation dated before a document whatever the path', async () => {
    const rec = await postReceipt(c, 'C1', '10', { paymentDate: '2026-06-01' });
    const inv = await postInvoice(c, 'C1', '10', { invoiceDate: '2026-06-10' });
    const err = await t.db
      .query(
        `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount,
                                  debit_base_amount, credit_base_amount, allocation_date, reference, created_by)
         VALUES ($1, 'C1', $2, $3, 100, 100, 100, '2026-06-05', 'RAW', 'test')`,
        [c.entityId, inv.transactionId, rec.transactionId],
      )
      .catch((e: unknown) => e);
    expect(sqlState(err)).toBe('LLADB');
  });
});

describe('the lock date', () => {
  it('refuses posting, allocating and reversing on or before it, drafts included, and answers it in settings', async () => {
    const cl = await t.entity('DATES-L', 'EUR');
    await seedCustomer(t.db, cl.entityId, 'C1');
    expect((await cl.get('/v1/settings')).body).toMatchObject({
      lockDate: null,
      discountVatTreatment: 'gross',
      vatTolerance: '1',
      exchangeRateTolerance: '0.5',
      taxCalculation: 'perLine',
      taxRounding: 'halfUp',
    });
    // Documents of the period, posted while it is open.
    const inv = await postInvoice(cl, 'C1', '100', { invoiceDate: '2026-03-10' });
    const rec = await postReceipt(cl, 'C1', '121', { paymentDate: '2026-03-12' });
    const inv2 = await postInvoice(cl, 'C1', '10', { invoiceDate: '2026-03-01' });
    const rec2 = await postReceipt(cl, 'C1', '12.10', { paymentDate: '2026-03-02' });
    const a2 = await cl.post('/v1/allocations', {
      transactionId1: inv2.transactionId,
      transactionId2: rec2.transactionId,
      amount: '12.10',
      date: '2026-03-02',
      reference: 'IN-PERIOD',
    });
    expect(a2.status).toBe(201);
    const draft = await cl.post('/v1/sales/draft-invoices', { ...invoice('C1', '5', { invoiceDate: '2026-03-31' }) });
    expect(draft.status).toBe(201);
    const trialBefore = (await cl.get('/v1/reports/trial-balance?at=2026-03-31')).body;

    const put = await cl.put('/v1/settings', { lockDate: '2026-03-31' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      lockDate: '2026-03-31',
      discountVatTreatment: 'gross',
      vatTolerance: '1',
      exchangeRateTolerance: '0.5',
      taxCalculation: 'perLine',
      taxRounding: 'halfUp',
    });
    expect((await cl.get('/v1/settings')).body).toMatchObject({
      lockDate: '2026-03-31',
      discountVatTreatment: 'gross',
      vatTolerance: '1',
      exchangeRateTolerance: '0.5',
      taxCalculation: 'perLine',
      taxRounding: 'halfUp',
    });

    const locked = (r: { status: number; body: any }) => {
      expect(r.status).toBe(422);
      expect(r.body.error.code).toBe('PERIOD_LOCKED');
    };
    locked(await cl.post('/v1/sales/batch-invoices', invoice('C1', '1', { invoiceDate: '2026-03-31' })));
    locked(await cl.post('/v1/sales/receipts', receipt('C1', '1', { paymentDate: '2026-01-15' })));
    locked(
      await cl.post('/v1/sales/credit-notes', {
        creditNoteDate: '2026-03-31',
        fromInvoiceTransactionId: inv.transactionId,
      }),
    );
    locked(
      await cl.post('/v1/sales/debit-journals', {
        customerCode: 'C1',
        transactionDate: '2026-03-20',
        externalReference: 'REFUND',
        lines: [{ bankAccountCode: 'BANK', amount: '1' }],
      }),
    );
    locked(
      await cl.post('/v1/sales/post-pay-allocate', {
        batchInvoice: invoice('C1', '1', { invoiceDate: '2026-04-02' }),
        receipt: receipt('C1', '1.21', { paymentDate: '2026-03-30' }),
        performExternalReferenceDuplicateCheckOnInvoice: true,
        performExternalReferenceDuplicateCheckOnReceipt: true,
        performAllocation: false,
      }),
    );
    locked(
      await cl.post('/v1/allocations', {
        transactionId1: inv.transactionId,
        transactionId2: rec.transactionId,
        amount: '121',
        date: '2026-03-31',
        reference: 'LOCKED',
      }),
    );
    // Defaulted to the later document (03-12), which is locked too.
    locked(
      await cl.post('/v1/allocations', {
        transactionId1: inv.transactionId,
        transactionId2: rec.transactionId,
        amount: '121',
        reference: 'LOCKED',
      }),
    );
    const unalloc = await cl.post('/v1/allocations/unallocate', {
      transactionIds: [inv2.transactionId],
      date: '2026-03-31',
    });
    expect(unalloc.body.results[0]).toMatchObject({ status: 'Failure', errorCode: 'PERIOD_LOCKED' });
    locked(await cl.post(`/v1/sales/draft-invoices/${draft.body.draftId}/post`, {}));
    locked(await cl.post('/v1/sales/draft-invoices', { ...invoice('C1', '5', { invoiceDate: '2026-02-01' }) }));
    // Nothing in the locked period changed.
    expect((await cl.get('/v1/reports/trial-balance?at=2026-03-31')).body).toEqual(trialBefore);

    // After the lock date, the same documents settle and reverse.
    const a = await cl.post('/v1/allocations', {
      transactionId1: inv.transactionId,
      transactionId2: rec.transactionId,
      amount: '121',
      date: '2026-04-01',
      reference: 'OPEN',
    });
    expect(a.status).toBe(201);
    const u = await cl.post('/v1/allocations/unallocate', { transactionIds: [inv2.transactionId], date: '2026-04-01' });
    expect(u.body.results[0].status).toBe('Success');
    expect((await cl.post('/v1/sales/receipts', receipt('C1', '1', { paymentDate: '2026-04-01' }))).status).toBe(201);
    expect((await cl.get('/v1/reports/trial-balance?at=2026-03-31')).body).toEqual(trialBefore);

    // The database refuses a locked date whatever the path.
    const err = await t.db
      .query(
        `INSERT INTO allocation_reversals (allocation_id, entity_id, reversal_date, created_by)
         VALUES ($1, $2, '2026-03-31', 'test')`,
        [a.body.allocationId, cl.entityId],
      )
      .catch((e: unknown) => e);
    expect(sqlState(err)).toBe('LLPLK');

    // Reopening the books: null clears the lock date; an absent field leaves it alone.
    expect((await cl.put('/v1/settings', {})).body).toMatchObject({
      lockDate: '2026-03-31',
      discountVatTreatment: 'gross',
      vatTolerance: '1',
      exchangeRateTolerance: '0.5',
      taxCalculation: 'perLine',
      taxRounding: 'halfUp',
    });
    expect((await cl.put('/v1/settings', { lockDate: null })).body).toMatchObject({
      lockDate: null,
      discountVatTreatment: 'gross',
      vatTolerance: '1',
      exchangeRateTolerance: '0.5',
      taxCalculation: 'perLine',
      taxRounding: 'halfUp',
    });
    expect((await cl.post(`/v1/sales/draft-invoices/${draft.body.draftId}/post`, {})).status).toBe(201);
    const audit = await t.db.query<{ after: unknown }>(
      `SELECT after FROM audit_log WHERE entity_id = $1 AND action = 'settings.updated' ORDER BY id`,
      [cl.entityId],
    );
    // Only what changed is in the audit trail.
    expect(audit.rows.map((r) => r.after)).toContainEqual({ lockDate: '2026-03-31' });
    await checkInvariants(t.db, cl.entityId);
  });

  it('is checked by the ledger for callers that do not pass through the HTTP schemas', async () => {
    const cl = await t.entity('DATES-D', 'EUR');
    await seedCustomer(t.db, cl.entityId, 'C1');
    const entity = (await findEntityById(t.db, cl.entityId))!;
    await cl.put('/v1/settings', { lockDate: '2026-06-30' });
    const ctx = { db: t.db, entity, actor: 'test' };
    const input = (paymentDate: string) => ({
      customerCode: 'C1',
      checkReference: `R-${paymentDate}`,
      paymentAmount: '10',
      paymentDate,
    });
    await expect(
      t.db.transaction((db) => postReceiptDirect({ ...ctx, db }, input('2026-06-30'), true)),
    ).rejects.toMatchObject({ code: 'PERIOD_LOCKED' });
    await expect(
      t.db.transaction((db) => postReceiptDirect({ ...ctx, db }, input('1899-12-31'), true)),
    ).rejects.toMatchObject({ code: 'DATE_OUT_OF_RANGE' });
    await expect(
      t.db.transaction((db) => postReceiptDirect({ ...ctx, db }, input('2026-02-30'), true)),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR', message: expect.stringContaining('does not exist') });
    const rec = await t.db.transaction((db) => postReceiptDirect({ ...ctx, db }, input('2026-07-02'), true));
    const inv = await postInvoice(cl, 'C1', '10', { invoiceDate: '2026-07-05' });
    // What the sync engine does today: the payment's own date, before the invoice.
    await expect(
      t.db.transaction((db) =>
        allocate(
          { ...ctx, db },
          {
            transactionId1: inv.transactionId,
            transactionId2: rec.id,
            amount: '10',
            date: '2026-07-02',
            reference: 'S',
          },
        ),
      ),
    ).rejects.toMatchObject({ code: 'ALLOCATION_DATE_BEFORE_TRANSACTION' });
    const ok = await t.db.transaction((db) =>
      allocate(
        { ...ctx, db },
        { transactionId1: inv.transactionId, transactionId2: rec.id, amount: '10', reference: 'S' },
      ),
    );
    expect((await allocationRow(ok.allocationId)).allocation_date).toBe('2026-07-05');
  });
});

describe('the lock date under concurrency (PostgreSQL)', () => {
  // A posting reads the lock date FOR SHARE: one that starts while the lock date is being changed
  // waits for the change and then sees it, so nothing lands in a period locked meanwhile.
  it.skipIf(!onPostgres)('a posting waiting on a lock date change is refused by the new date', async () => {
    const cl = await t.entity('DATES-R', 'EUR');
    await seedCustomer(t.db, cl.entityId, 'C1');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let updated!: () => void;
    const done = new Promise<void>((resolve) => (updated = resolve));
    const locking = t.db.transaction(async (db) => {
      await updateSettings(db, cl.entityId, { lockDate: '2026-03-31' });
      updated();
      await gate;
    });
    await done;
    const posting = cl.post('/v1/sales/receipts', receipt('C1', '10', { paymentDate: '2026-03-15' }));
    // Release the lock date change only once the posting is seen waiting behind it.
    for (let i = 0; i < 100; i++) {
      const { rows } = await t.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (rows[0]!.n !== '0') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    release();
    await locking;
    const res = await posting;
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('PERIOD_LOCKED');
    const { rows } = await t.db.query('SELECT 1 FROM transactions WHERE entity_id = $1', [cl.entityId]);
    expect(rows).toHaveLength(0);
  });
});

describe('dates that do not exist or are out of range', () => {
  it('names an impossible date and refuses dates outside 1900-01-01..2999-12-31', async () => {
    const bad = await c.post('/v1/sales/batch-invoices', invoice('C1', '1', { invoiceDate: '2026-02-30' }));
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_ERROR');
    expect(bad.body.error.message).toContain('2026-02-30 does not exist');
    expect(bad.body.error.message).not.toContain('YYYY-MM-DD');
    const leap = await c.post('/v1/sales/receipts', receipt('C1', '1', { paymentDate: '2025-02-29' }));
    expect(leap.body.error.message).toContain('February 2025 has 28 days');
    for (const date of ['1899-12-31', '3000-01-01']) {
      const r = await c.post('/v1/sales/batch-invoices', invoice('C1', '1', { invoiceDate: date }));
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('DATE_OUT_OF_RANGE');
    }
    const lock = await c.put('/v1/settings', { lockDate: '0999-12-31' });
    expect(lock.body.error.code).toBe('DATE_OUT_OF_RANGE');
    const format = await c.post('/v1/sales/batch-invoices', invoice('C1', '1', { invoiceDate: '2026-3-1' }));
    expect(format.body.error).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(format.body.error.message).toContain('YYYY-MM-DD');
    expect((await c.post('/v1/sales/batch-invoices', invoice('C1', '1', { invoiceDate: '1900-01-01' }))).status).toBe(
      201,
    );
    expect((await c.post('/v1/sales/batch-invoices', invoice('C1', '1', { invoiceDate: '2999-12-31' }))).status).toBe(
      201,
    );
  });
});
