import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listOpenBalances, listOpenItems, refreshOpenItems } from '../src/ledger/reports/open-items.ts';
import { receivablesAging } from '../src/ledger/reports/receivables.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { ledgerSettled, onPostgres } from './helpers/db.ts';
import { checkOpenItemsCache, postInvoice, postReceipt, seedCustomer } from './helpers/ledger.ts';
import { cacheCursor, cursorHeldBy, otherConnection, readsWhileWriting } from './helpers/cache-cursors.ts';

/*
 * The open items cache (migration 0098, src/ledger/reports/open-items.ts) against the ledger: built
 * on the first read, brought up to date by later ones, and never behind what a reader's snapshot
 * sees, whether the horizon is held back by another transaction or another reader holds the
 * refresh. The property tests check it after every step too (checkOpenItemsCache in
 * checkControlAsAt).
 */

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const cursorOf = (entityId: string) => cacheCursor(t.db, 'open_items_cursors', entityId);

async function cacheRow(transactionId: number) {
  const { rows } = await t.db.query<{ outstanding: string; as_of: string; due_date: string | null }>(
    `SELECT outstanding::text, as_of::text, due_date::text FROM open_items_cache WHERE transaction_id = $1`,
    [transactionId],
  );
  return rows[0];
}

async function allocate(c: Client, debit: number, credit: number, amount: string, date: string) {
  const r = await c.post('/v1/allocations', {
    transactionId1: debit,
    transactionId2: credit,
    amount,
    date,
    reference: 'CACHE',
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { allocationId: number };
}

/** Two invoices and two receipts. */
async function post(c: Client, customer: string) {
  const i1 = await postInvoice(c, customer, '100', { invoiceDate: '2026-11-02', dueDate: '2026-11-30' });
  const i2 = await postInvoice(c, customer, '40', { invoiceDate: '2026-11-03', dueDate: '2026-12-03' });
  const r1 = await postReceipt(c, customer, '50', { paymentDate: '2026-11-10' });
  const r2 = await postReceipt(c, customer, '48.40', { paymentDate: '2026-11-11' });
  return { i1, i2, r1, r2 };
}

/** Allocations: part of an invoice, and the whole of another. */
async function settle(c: Client, d: Posted) {
  await allocate(c, d.i1.transactionId, d.r1.transactionId, '30', '2026-11-12');
  await allocate(c, d.i2.transactionId, d.r2.transactionId, '48.40', '2026-11-11');
}

/** A reversal and a due date moved, each the only change to its documents. */
async function amend(c: Client, d: Posted) {
  const un = await c.post('/v1/allocations/unallocate', { transactionIds: [d.r2.transactionId], date: '2026-11-20' });
  expect(un.status, JSON.stringify(un.body)).toBe(200);
  const moved = await c.put(`/v1/transactions/${d.i1.transactionId}/due-date`, { dueDate: '2027-01-31' });
  expect(moved.status).toBe(200);
}

type Posted = Awaited<ReturnType<typeof post>>;

async function changes(c: Client, customer: string) {
  const d = await post(c, customer);
  await settle(c, d);
  await amend(c, d);
  return d;
}

const DATES = ['2026-11-01', '2026-11-02', '2026-11-11', '2026-11-12', '2026-11-19', '2026-11-20', '2026-12-31'];

async function agreesWithLedger(entityId: string) {
  for (const at of DATES) await checkOpenItemsCache(t.db, entityId, at);
}

describe('the open items cache', () => {
  it('is built on the first read, then follows every posting, allocation, reversal and moved due date', async () => {
    const c = await t.entity('OIC1', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    await seedCustomer(t.db, c.entityId, 'B');
    expect(await cursorOf(c.entityId)).toBeNull();
    const first = await changes(c, 'A');
    // On a PostgreSQL shared with other test files, their open transactions can hold the horizon
    // back; the reads would still be right (from the ledger), but the cache rows below would wait.
    await ledgerSettled(t.db);
    expect(await listOpenItems(t.db, c.entityId, '2026-12-31')).not.toHaveLength(0);
    const built = await cursorOf(c.entityId);
    expect(built).not.toBeNull();
    // Outstanding after the reversal; as_of the reversal's date, and the moved due date.
    expect(await cacheRow(first.i2.transactionId)).toEqual({
      outstanding: '4840',
      as_of: '2026-11-20',
      due_date: '2026-12-03',
    });
    expect(await cacheRow(first.i1.transactionId)).toEqual({
      outstanding: '9100',
      as_of: '2026-11-12',
      due_date: '2027-01-31',
    });
    await agreesWithLedger(c.entityId);

    // Nothing changed: a read writes nothing.
    await refreshOpenItems(t.db, c.entityId);
    expect(await cursorOf(c.entityId)).toBe(built);

    // The same again for B, and A's due date moved back: the cursor moves and the rows follow.
    await changes(c, 'B');
    const back = await c.put(`/v1/transactions/${first.i1.transactionId}/due-date`, { dueDate: '2026-11-30' });
    expect(back.status).toBe(200);
    await ledgerSettled(t.db);
    await agreesWithLedger(c.entityId);
    expect(await cursorOf(c.entityId)).not.toBe(built);
    expect((await cacheRow(first.i1.transactionId))?.due_date).toBe('2026-11-30');
  });

  it('ages on the due date as moved, right after the move', async () => {
    const c = await t.entity('OIC2', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    const inv = await postInvoice(c, 'A', '100', { invoiceDate: '2026-10-01', dueDate: '2026-10-31' });
    const before = await receivablesAging(t.db, c.entityId, '2026-12-15');
    expect(before[0]!.aging.days31to60).toBe(12100n);
    const moved = await c.put(`/v1/transactions/${inv.transactionId}/due-date`, { dueDate: '2026-12-31' });
    expect(moved.status).toBe(200);
    const after = await receivablesAging(t.db, c.entityId, '2026-12-15');
    expect(after[0]!.aging).toMatchObject({ current: 12100n, days31to60: 0n });
    expect((await listOpenBalances(t.db, c.entityId, '2026-12-15'))[0]!.dueDate).toBe('2026-12-31');
  });

  it('keeps entities apart', async () => {
    const a = await t.entity('OIC3', 'EUR');
    const b = await t.entity('OIC4', 'EUR');
    await seedCustomer(t.db, a.entityId, 'A');
    await seedCustomer(t.db, b.entityId, 'A');
    await postInvoice(a, 'A', '10');
    await postInvoice(b, 'A', '20');
    await postInvoice(b, 'A', '30');
    expect((await listOpenItems(t.db, a.entityId, '2026-12-31')).map((i) => i.outstanding)).toEqual([1210n]);
    expect((await listOpenItems(t.db, b.entityId, '2026-12-31')).map((i) => i.outstanding)).toEqual([2420n, 3630n]);
  });
});

describe.runIf(onPostgres)('the open items cache beside other transactions (PostgreSQL)', () => {
  const other = otherConnection(() => t.db);

  it('reads from the ledger what an older open transaction keeps below the horizon, then takes it in', async () => {
    const c = await t.entity('OIC5', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    const cached = await post(c, 'A');
    await settle(c, cached);
    await agreesWithLedger(c.entityId);
    const cursor = await cursorOf(c.entityId);
    await other.holdingHorizon(async (xid) => {
      await amend(c, cached);
      await agreesWithLedger(c.entityId);
      await changes(c, 'A');
      await agreesWithLedger(c.entityId);
      expect(await cursorHeldBy(t.db, 'open_items_cursors', c.entityId, xid)).toBe(true);
    });
    await ledgerSettled(t.db);
    await agreesWithLedger(c.entityId);
    expect(await cursorOf(c.entityId)).not.toBe(cursor);
  });

  it('reads from the ledger what it cannot refresh while another reader holds the refresh', async () => {
    const c = await t.entity('OIC6', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    const cached = await post(c, 'A');
    await settle(c, cached);
    await agreesWithLedger(c.entityId);
    const cursor = await cursorOf(c.entityId);
    await other.holdingRefresh('open_items_cursors', c.entityId, async () => {
      await amend(c, cached);
      await agreesWithLedger(c.entityId);
      await changes(c, 'A');
      await agreesWithLedger(c.entityId);
      expect(await cursorOf(c.entityId)).toBe(cursor);
    });
    await ledgerSettled(t.db);
    await agreesWithLedger(c.entityId);
    expect(await cursorOf(c.entityId)).not.toBe(cursor);
  });

  it('agrees with the ledger after concurrent postings, allocations, reversals and reads', async () => {
    const c = await t.entity('OIC7', 'EUR');
    const customers = ['A', 'B', 'C', 'D', 'E', 'F'];
    for (const code of customers) await seedCustomer(t.db, c.entityId, code);
    const writers = Promise.all(customers.map((code) => changes(c, code)));
    const reads = await readsWhileWriting(writers, async () => {
      await listOpenItems(t.db, c.entityId, '2026-12-31');
      await listOpenBalances(t.db, c.entityId, '2026-11-15');
    });
    expect(reads).toBeGreaterThan(0);
    await agreesWithLedger(c.entityId);
  });
});
