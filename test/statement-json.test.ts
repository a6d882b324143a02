import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerStatement, customerStatementJson } from '../src/ledger/reports/statement.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import {
  allocate,
  createCustomer,
  postCreditNote,
  postInvoice,
  postReceipt,
  reverseAllocation,
} from './helpers/fixtures.ts';

/**
 * The statement route writes its JSON itself (customerStatementJson) instead of serialising the
 * Statement object: its text must be exactly JSON.stringify of that object, whatever the items.
 */

let t: TestApp;
let a: Client;

// Before anything, with debits not due yet, overdue in every bucket, and long after.
const DATES = ['2025-12-31', '2026-01-25', '2026-03-15', '2026-04-10', '2026-06-30', '2027-03-01'];

beforeAll(async () => {
  t = await createTestApp();
  a = await t.entity('STJSON', 'EUR');
  const db = t.db;
  const e = a.entityId;

  await createCustomer(db, e, { code: 'MIX', name: 'Mix "&" Söhne \\ Ltd' });
  const i1 = await postInvoice(db, e, { customer: 'MIX', date: '2026-01-05', dueDate: '2026-02-04', gross: '121.00' });
  await postInvoice(db, e, { customer: 'MIX', date: '2026-01-20', dueDate: null, gross: '0.05' });
  const i3 = await postInvoice(db, e, {
    customer: 'MIX',
    date: '2026-03-01',
    dueDate: '2026-03-31',
    gross: '1234567.89',
    tax: '214263.09',
    externalReference: 'Ref "7", \\ & ; </script>',
    description: 'Line 1\nLine 2\t\u001f\u001e\u0001 Café € 💶 \u2028',
  });
  const n1 = await postCreditNote(db, e, { customer: 'MIX', date: '2026-02-10', gross: '21.00' });
  const r1 = await postReceipt(db, e, { customer: 'MIX', date: '2026-04-01', amount: '500.00' });
  await allocate(db, e, { debit: i1, credit: n1, amount: '21.00', date: '2026-02-10' });
  const partial = await allocate(db, e, { debit: i3, credit: r1, amount: '300.00', date: '2026-04-02' });
  await reverseAllocation(db, e, partial, '2026-05-01');
  await allocate(db, e, { debit: i3, credit: r1, amount: '250.50', date: '2026-05-02' });
  // A credit left open on its own: negative amounts in the items and the buckets.
  await postReceipt(db, e, { customer: 'MIX', date: '2026-06-20', amount: '99.99', externalReference: 'ADV' });

  // No decimals, and three.
  await createCustomer(db, e, { code: 'YEN', currency: 'JPY' });
  await postInvoice(db, e, { customer: 'YEN', date: '2026-01-10', gross: '15000', exchangeRate: '160' });
  await postCreditNote(db, e, { customer: 'YEN', date: '2026-05-10', gross: '7', exchangeRate: '160' });
  await createCustomer(db, e, { code: 'KWD', currency: 'KWD' });
  await postInvoice(db, e, { customer: 'KWD', date: '2026-03-10', gross: '10.005', exchangeRate: '0.33' });
  await postReceipt(db, e, { customer: 'KWD', date: '2026-03-11', amount: '0.001', exchangeRate: '0.33' });

  await createCustomer(db, e, { code: 'NONE' });
});

afterAll(async () => {
  await t.close();
});

describe('customerStatementJson', () => {
  for (const code of ['MIX', 'YEN', 'KWD', 'NONE']) {
    it(`is JSON.stringify of the statement of ${code}, on either basis and any date`, async () => {
      for (const upTo of DATES) {
        for (const basis of ['dueDate', 'transactionDate'] as const) {
          const expected = JSON.stringify(await customerStatement(t.db, a.entityId, code, upTo, basis));
          expect(await customerStatementJson(t.db, a.entityId, code, upTo, basis)).toBe(expected);
        }
      }
    });
  }

  it('lists what the fixtures leave open, so the comparison above has items to compare', async () => {
    const mix = await customerStatement(t.db, a.entityId, 'MIX', '2026-06-30', 'dueDate');
    expect(mix.openItems.map((i) => [i.amount, i.outstanding])).toEqual([
      ['121.00', '100.00'],
      ['0.05', '0.05'],
      ['1234567.89', '1234317.39'],
      ['-500.00', '-249.50'],
      ['-99.99', '-99.99'],
    ]);
    const kwd = await customerStatement(t.db, a.entityId, 'KWD', '2026-06-30', 'dueDate');
    expect(kwd.currentBalance).toBe('10.004');
  });

  it('is what the route answers, as JSON', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/customers/MIX/statement?upTo=2026-06-30&basis=transactionDate',
      headers: { authorization: `Bearer ${a.token}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const expected = await customerStatement(t.db, a.entityId, 'MIX', '2026-06-30', 'transactionDate');
    expect(res.body).toBe(JSON.stringify(expected));
  });

  it('refuses a customer the entity does not have, as the object statement does', async () => {
    await expect(customerStatementJson(t.db, a.entityId, 'NOBODY', '2026-06-30', 'dueDate')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const res = await a.get('/v1/customers/NOBODY/statement?upTo=2026-06-30');
    expect(res.status).toBe(404);
  });
});
