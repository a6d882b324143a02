/**
 * Operations that lock several customers take the locks in one global order, and a deadlock or
 * serialization failure that still happens is retried: concurrent requests answer 2xx or 4xx,
 * never 500. The races need real concurrency, so they run on PostgreSQL (DATABASE_URL) only;
 * PGlite has one connection and serialises every transaction.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { checkInvariants, invoice, receipt, seedCustomer } from './helpers/ledger.ts';
import { retryConflicts } from '../src/db/database.ts';

describe('retryConflicts', () => {
  const conflict = (code: string) => Object.assign(new Error(code), { code });

  it('runs a transaction again after a deadlock or serialization failure, and only then', async () => {
    let calls = 0;
    const value = await retryConflicts(async () => {
      calls++;
      if (calls === 1) throw conflict('40P01');
      if (calls === 2) throw conflict('40001');
      return 'done';
    });
    expect([value, calls]).toEqual(['done', 3]);

    calls = 0;
    await expect(
      retryConflicts(async () => {
        calls++;
        throw conflict('23505');
      }),
    ).rejects.toThrow('23505');
    expect(calls).toBe(1);
  });

  it('gives up after a bounded number of attempts', async () => {
    let calls = 0;
    await expect(
      retryConflicts(async () => {
        calls++;
        throw conflict('40P01');
      }, 3),
    ).rejects.toThrow('40P01');
    expect(calls).toBe(3);
  });
});

describe.skipIf(!onPostgres)('concurrent multi-customer operations on PostgreSQL', () => {
  let t: TestApp;
  let c: Client;
  let baseUrl: string;

  beforeAll(async () => {
    t = await createTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    c = await t.entity('DEADLOCK', 'EUR', { standardTaxRate: '0.21' });
  });
  afterAll(async () => {
    await t.close();
  });

  async function post(path: string, body: unknown) {
    const res = await fetch(baseUrl + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** `n` invoices of 121.00 for the customer, each paid and allocated; their transaction ids. */
  async function allocated(customer: string, n: number): Promise<number[]> {
    const r = await c.post('/v1/sales/post-pay-allocate/bulk', {
      queries: Array.from({ length: n }, (_, i) => ({
        batchInvoice: invoice(customer, '100', { externalReference: `${customer}-INV-${i}` }),
        receipt: receipt(customer, '121', { checkReference: `${customer}-PAY-${i}` }),
        performExternalReferenceDuplicateCheckOnInvoice: true,
        performExternalReferenceDuplicateCheckOnReceipt: true,
        performAllocation: true,
        allocationReference: `${customer}-${i}`,
      })),
    });
    expect(r.body.status).toBe('Success');
    return r.body.results.map((x: { invoiceTransactionId: number }) => x.invoiceTransactionId);
  }

  async function balances() {
    const { rows } = await t.db.query<{ customer_code: string; balance: string }>(
      `SELECT customer_code, sum(CASE WHEN side = 'debit' THEN gross ELSE -gross END)::text AS balance
         FROM transactions WHERE entity_id = $1 AND side <> 'none' GROUP BY customer_code ORDER BY customer_code`,
      [c.entityId],
    );
    return rows;
  }

  it('80 concurrent unallocations of [C1 tx, C2 tx] and [C2 tx, C1 tx]: all 2xx, each allocation reversed once, balances right', async () => {
    await seedCustomer(t.db, c.entityId, 'C1');
    await seedCustomer(t.db, c.entityId, 'C2');
    // Each request reverses an allocation of each customer, so every one of them holds both
    // customers' locks: half take C1 then C2, the other half C2 then C1.
    const c1 = await allocated('C1', 80);
    const c2 = await allocated('C2', 80);
    const results = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        post('/v1/allocations/unallocate', {
          transactionIds: i % 2 === 0 ? [c1[i]!, c2[i]!] : [c2[i]!, c1[i]!],
          date: '2026-11-06',
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    for (const s of statuses) expect(s).toBeLessThan(500);
    // Each allocation was reversed by exactly one request; the others found nothing left to reverse.
    expect(results.map((r) => r.body?.status)).toEqual(Array(80).fill('Success'));
    const reversed = results.flatMap((r) => r.body.results.flatMap((x: any) => x.reversedAllocationIds));
    expect(new Set(reversed).size).toBe(160);
    const { rows } = await t.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM allocation_reversals WHERE entity_id = $1`,
      [c.entityId],
    );
    expect(rows[0]!.n).toBe('160');
    // Invoices of 121.00 less receipts of 121.00, allocated or not.
    expect(await balances()).toEqual([
      { customer_code: 'C1', balance: '0' },
      { customer_code: 'C2', balance: '0' },
    ]);
    await checkInvariants(t.db, c.entityId);
  });
});
