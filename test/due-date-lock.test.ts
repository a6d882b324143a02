import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { invoice, seedCustomer } from './helpers/ledger.ts';

/**
 * The lock date holds for due dates too: a document dated on or before it keeps its due date, so
 * the statements and aged reports of the locked period never change afterwards. A document dated
 * after it can still have its due date moved.
 */

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('DUELOCK', 'EUR', { standardTaxRate: '0.21' });
  await seedCustomer(t.db, c.entityId, 'C1');
});
afterAll(async () => t?.close());

async function post(invoiceDate: string, dueDate: string): Promise<number> {
  const r = await c.post('/v1/sales/batch-invoices', invoice('C1', '100.00', { invoiceDate, dueDate }));
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.transactionId as number;
}

const statement = async (upTo: string) => (await c.get(`/v1/customers/C1/statement?upTo=${upTo}`)).body;

describe('moving a due date in a locked period', () => {
  let january = 0;
  let april = 0;

  it('is refused with PERIOD_LOCKED on dueDate, changing nothing, for a document dated on or before the lock date', async () => {
    january = await post('2025-01-10', '2025-02-09');
    const march = await post('2025-03-31', '2025-04-30');
    april = await post('2025-04-10', '2025-05-10');
    expect((await c.put('/v1/settings', { lockDate: '2025-03-31' })).status).toBe(200);
    const before = await statement('2025-02-28');
    expect(before.aging).toMatchObject({ days1to30: '121.00' });
    for (const [id, date] of [
      [january, '2025-01-10'],
      [march, '2025-03-31'],
    ] as const) {
      const r = await c.put(`/v1/transactions/${id}/due-date`, { dueDate: '2025-06-30' });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error).toMatchObject({
        code: 'PERIOD_LOCKED',
        details: { field: 'dueDate', date, lockDate: '2025-03-31' },
      });
    }
    expect((await c.get(`/v1/transactions/${january}`)).body.dueDate).toBe('2025-02-09');
    expect(await statement('2025-02-28')).toEqual(before);
    // The same due date again changes nothing, so it is no change of the locked period.
    const same = await c.put(`/v1/transactions/${january}/due-date`, { dueDate: '2025-02-09' });
    expect([same.status, same.body.changed]).toEqual([200, false]);
  });

  it('moves the due date of a document dated after the lock date', async () => {
    const r = await c.put(`/v1/transactions/${april}/due-date`, { dueDate: '2025-06-30' });
    expect([r.status, r.body.changed, r.body.dueDate]).toEqual([200, true, '2025-06-30']);
  });

  it('is refused by the database too, for a path that did not check', async () => {
    await expect(
      t.db.query(`UPDATE transactions SET due_date = '2025-06-30' WHERE id = $1`, [january]),
    ).rejects.toThrow(/locked/);
    expect((await c.get(`/v1/transactions/${january}`)).body.dueDate).toBe('2025-02-09');
  });

  it('moves it again once the period is reopened', async () => {
    expect((await c.put('/v1/settings', { lockDate: null })).status).toBe(200);
    const r = await c.put(`/v1/transactions/${january}/due-date`, { dueDate: '2025-06-30' });
    expect([r.status, r.body.changed]).toEqual([200, true]);
  });
});
