import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/database.ts';
import { glBalances, glBalancesFromLedger, refreshGlBalances } from '../src/ledger/reports/gl-balances.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { ledgerSettled, onPostgres } from './helpers/db.ts';
import { checkGlBalancesCache, postInvoice, postReceipt, seedCustomer } from './helpers/ledger.ts';
import { cacheCursor, cursorHeldBy, otherConnection, readsWhileWriting } from './helpers/cache-cursors.ts';

/*
 * The GL balances cache (migration 0109, src/ledger/reports/gl-balances.ts) against the journal
 * lines: built on the first read, added to by later ones (a back-dated document to its own day),
 * rebuilt when its cursor is deleted, and never behind or ahead of what a reader's snapshot sees,
 * whether another transaction holds the horizon back, another reader holds the refresh, or
 * postings and reads run at once. The property tests check it after every step too
 * (checkGlBalancesCache in checkControlAsAt), and `ledgerlink verify` does (glBalancesCache).
 */

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const cursorOf = (entityId: string) => cacheCursor(t.db, 'gl_balances_cursors', entityId);

/** The cached sums of one day, by account. */
async function day(entityId: string, date: string): Promise<Record<string, string>> {
  const { rows } = await t.db.query<{ code: string; amount: string }>(
    `SELECT gl_account_code AS code, base_amount::text AS amount FROM gl_daily_balances
      WHERE entity_id = $1 AND balance_date = $2::date ORDER BY 1`,
    [entityId, date],
  );
  return Object.fromEntries(rows.map((r) => [r.code, r.amount]));
}

/** Two invoices and a receipt, in November. */
async function post(c: Client, customer: string) {
  await postInvoice(c, customer, '100', { invoiceDate: '2026-11-02', dueDate: '2026-11-30' });
  await postInvoice(c, customer, '40', { invoiceDate: '2026-11-03', dueDate: '2026-12-03' });
  await postReceipt(c, customer, '50', { paymentDate: '2026-11-10' });
}

const DATES = ['2026-10-15', '2026-11-01', '2026-11-02', '2026-11-03', '2026-11-10', '2026-12-31'];

async function agreesWithLedger(entityId: string) {
  for (const at of DATES) await checkGlBalancesCache(t.db, entityId, at);
}

/** The trial balance's accounts as at a date, `code balance` each. */
const balances = async (entityId: string, at: string) =>
  (await glBalances(t.db, entityId, at)).map((b) => `${b.code} ${b.balance}`);

describe('the GL balances cache', () => {
  it('is built on the first read, then takes in each posting once, a back-dated one on its own day', async () => {
    const c = await t.entity('GLC1', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    expect(await cursorOf(c.entityId)).toBeNull();
    await post(c, 'A');
    await ledgerSettled(t.db);
    await agreesWithLedger(c.entityId);
    const built = await cursorOf(c.entityId);
    expect(built).not.toBeNull();
    // The day of the first invoice: 121.00 on the debtors control, 100.00 of sales, 21.00 of VAT.
    expect(Object.values(await day(c.entityId, '2026-11-02')).sort()).toEqual(['-10000', '-2100', '12100']);

    // Nothing posted: a read writes nothing.
    await refreshGlBalances(t.db, c.entityId);
    expect(await cursorOf(c.entityId)).toBe(built);

    // A document dated before everything cached: its lines go to its own day, the later days stay.
    const later = await day(c.entityId, '2026-11-10');
    await postInvoice(c, 'A', '10', { invoiceDate: '2026-10-20', dueDate: '2026-11-20' });
    expect(await balances(c.entityId, '2026-10-31')).toHaveLength(3);
    await ledgerSettled(t.db);
    await agreesWithLedger(c.entityId);
    expect(await cursorOf(c.entityId)).not.toBe(built);
    expect(Object.values(await day(c.entityId, '2026-10-20')).sort()).toEqual(['-1000', '-210', '1210']);
    expect(await day(c.entityId, '2026-11-10')).toEqual(later);
    expect(await balances(c.entityId, '2026-10-19')).toEqual([]);
  });

  it('is rebuilt, not added to twice, when its cursor is deleted', async () => {
    const c = await t.entity('GLC2', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    await post(c, 'A');
    await ledgerSettled(t.db);
    const before = await balances(c.entityId, '2026-12-31');
    expect(before).not.toEqual([]);
    await t.db.query(`DELETE FROM gl_balances_cursors WHERE entity_id = $1`, [c.entityId]);
    // Without a cursor the sums left behind are not read: every line is.
    expect(await balances(c.entityId, '2026-12-31')).toEqual(before);
    await ledgerSettled(t.db);
    await agreesWithLedger(c.entityId);
    expect(await cursorOf(c.entityId)).not.toBeNull();
  });

  it('counts nothing twice when a refresh commits between a reader’s refresh and its query', async () => {
    const c = await t.entity('GLC8', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    await post(c, 'A');
    await ledgerSettled(t.db);
    await refreshGlBalances(t.db, c.entityId);
    const before = await cursorOf(c.entityId);
    // Just before the reader's query: another posting, and another reader's refresh that takes it in.
    let interposed = false;
    const reader: Queryable = {
      inTransaction: false,
      exec: (sql) => t.db.exec(sql),
      transaction: (fn) => t.db.transaction(fn),
      async query(sql, params) {
        if (!interposed && sql.includes('FROM totals s JOIN gl_accounts')) {
          interposed = true;
          await postInvoice(c, 'A', '7', { invoiceDate: '2026-11-05' });
          await ledgerSettled(t.db);
          await refreshGlBalances(t.db, c.entityId);
          expect(await cursorOf(c.entityId)).not.toBe(before);
        }
        return t.db.query(sql, params);
      },
    };
    const got = await glBalances(reader, c.entityId, '2026-12-31');
    expect(interposed).toBe(true);
    expect(got).toEqual(await glBalancesFromLedger(t.db, c.entityId, '2026-12-31'));
  });

  it('keeps entities apart', async () => {
    const a = await t.entity('GLC3', 'EUR');
    const b = await t.entity('GLC4', 'EUR');
    await seedCustomer(t.db, a.entityId, 'A');
    await seedCustomer(t.db, b.entityId, 'A');
    await postInvoice(a, 'A', '10');
    await postInvoice(b, 'A', '20');
    await postInvoice(b, 'A', '30');
    const totals = async (id: string) =>
      (await glBalances(t.db, id, '2026-12-31')).map((x) => x.balance).filter((v) => v > 0n);
    expect(await totals(a.entityId)).toEqual([1210n]);
    expect(await totals(b.entityId)).toEqual([6050n]);
  });
});

describe.runIf(onPostgres)('the GL balances cache beside other transactions (PostgreSQL)', () => {
  const other = otherConnection(() => t.db);

  it('reads from the ledger what an older open transaction keeps below the horizon, then takes it in', async () => {
    const c = await t.entity('GLC5', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    await post(c, 'A');
    await agreesWithLedger(c.entityId);
    const cursor = await cursorOf(c.entityId);
    await other.holdingHorizon(async (xid) => {
      await post(c, 'A');
      await agreesWithLedger(c.entityId);
      expect(await cursorHeldBy(t.db, 'gl_balances_cursors', c.entityId, xid)).toBe(true);
    });
    await ledgerSettled(t.db);
    await agreesWithLedger(c.entityId);
    expect(await cursorOf(c.entityId)).not.toBe(cursor);
  });

  it('reads from the ledger what it cannot refresh while another reader holds the refresh', async () => {
    const c = await t.entity('GLC6', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    await post(c, 'A');
    await agreesWithLedger(c.entityId);
    const cursor = await cursorOf(c.entityId);
    await other.holdingRefresh('gl_balances_cursors', c.entityId, async () => {
      await post(c, 'A');
      await agreesWithLedger(c.entityId);
      expect(await cursorOf(c.entityId)).toBe(cursor);
    });
    await ledgerSettled(t.db);
    await agreesWithLedger(c.entityId);
    expect(await cursorOf(c.entityId)).not.toBe(cursor);
  });

  it('agrees with the journal lines after concurrent postings and refreshing reads', async () => {
    const c = await t.entity('GLC7', 'EUR');
    const customers = ['A', 'B', 'C', 'D', 'E', 'F'];
    for (const code of customers) await seedCustomer(t.db, c.entityId, code);
    const writers = Promise.all(customers.map((code) => post(c, code)));
    const reads = await readsWhileWriting(writers, () => glBalances(t.db, c.entityId, '2026-12-31'));
    expect(reads).toBeGreaterThan(0);
    await agreesWithLedger(c.entityId);
  });
});
