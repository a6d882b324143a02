import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import {
  allocate,
  createCustomer,
  postInvoice,
  postCreditNote,
  postJournal,
  postReceipt,
  reverseAllocation,
} from './helpers/fixtures.ts';

let t: TestApp;
/** The entity queried. */
let a: Client;
/** Another entity with look-alike data: its rows must never appear in A's answers. */
let b: Client;
const id: Record<string, number> = {};

function expectError(res: { status: number; body: any }, status: number, code: string, field?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  if (field !== undefined) expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
}

async function putCustomer(c: Client, code: string, body: Record<string, unknown>) {
  const res = await c.put(`/v1/customers/${code}`, body);
  if (res.status !== 201 && res.status !== 200) throw new Error(`customer ${code}: ${JSON.stringify(res.body)}`);
  return res.body as { rowVersion: number };
}

/** Sets when a customer was last changed, so modified-since answers do not depend on the clock. */
async function setModified(c: Client, code: string, at: string) {
  await t.db.query('UPDATE customers SET updated_at = $3::timestamptz WHERE entity_id = $1 AND code = $2', [
    c.entityId,
    code,
    at,
  ]);
}

const codes = (res: { body: { items: { code: string }[] } }) => res.body.items.map((c) => c.code);

beforeAll(async () => {
  t = await createTestApp();
  a = await t.entity('QRYA', 'EUR');
  b = await t.entity('QRYB', 'EUR');

  await putCustomer(a, 'ADA', { name: 'Ada', email: 'Ada@Example.com' });
  await putCustomer(a, 'ADA2', { name: 'Ada again', email: 'ada@example.com' });
  await putCustomer(a, 'BOB', { name: 'Bob', email: 'bob@example.com' });
  await putCustomer(a, 'NOMAIL', { name: 'No mail' });
  await putCustomer(b, 'ADA', { name: 'Ada at B', email: 'ada@example.com' });

  // Allocations: customer ALC with two invoices, a receipt and three allocations on three dates.
  const e = a.entityId;
  await createCustomer(t.db, e, { code: 'ALC' });
  await createCustomer(t.db, e, { code: 'OTHER' });
  id.I1 = await postInvoice(t.db, e, { customer: 'ALC', date: '2026-01-05', gross: '100.00', externalReference: 'I1' });
  id.I2 = await postInvoice(t.db, e, { customer: 'ALC', date: '2026-01-06', gross: '200.00', externalReference: 'I2' });
  id.R1 = await postReceipt(t.db, e, {
    customer: 'ALC',
    date: '2026-02-01',
    amount: '300.00',
    externalReference: 'R1',
  });
  id.A1 = await allocate(t.db, e, { debit: id.I1, credit: id.R1, amount: '100.00', date: '2026-02-01' });
  id.A2 = await allocate(t.db, e, { debit: id.I2, credit: id.R1, amount: '50.00', date: '2026-02-28' });
  id.A3 = await allocate(t.db, e, { debit: id.I2, credit: id.R1, amount: '25.50', date: '2026-03-01' });
  await reverseAllocation(t.db, e, id.A2, '2026-03-10');
  id.O1 = await postInvoice(t.db, e, { customer: 'OTHER', date: '2026-02-01', gross: '10.00' });
  id.OR = await postReceipt(t.db, e, { customer: 'OTHER', date: '2026-02-01', amount: '10.00' });
  id.A4 = await allocate(t.db, e, { debit: id.O1, credit: id.OR, amount: '10.00', date: '2026-02-15' });

  // B: an allocation inside the same dates, which A must not see.
  await createCustomer(t.db, b.entityId, { code: 'ALC' });
  id.BI = await postInvoice(t.db, b.entityId, { customer: 'ALC', date: '2026-01-05', gross: '100.00' });
  id.BR = await postReceipt(t.db, b.entityId, { customer: 'ALC', date: '2026-02-01', amount: '100.00' });
  id.BA = await allocate(t.db, b.entityId, { debit: id.BI, credit: id.BR, amount: '100.00', date: '2026-02-01' });
});
afterAll(async () => t.close());

describe('customers by e-mail', () => {
  it('matches the whole address in any case, in this entity only', async () => {
    const res = await a.get('/v1/customers?email=ADA%40example.COM');
    expect(res.status).toBe(200);
    expect(codes(res)).toEqual(['ADA', 'ADA2']);
    expect(res.body.total).toBe(2);
    expect(res.body.items[0].email).toBe('Ada@Example.com');
  });

  it('does not match part of an address', async () => {
    expect((await a.get('/v1/customers?email=example.com')).body.total).toBe(0);
    expect((await a.get('/v1/customers?email=ada%40example.co')).body.total).toBe(0);
  });

  it('treats % and _ as plain characters', async () => {
    expect((await a.get('/v1/customers?email=%25%40example.com')).body.total).toBe(0);
    expect((await a.get('/v1/customers?email=_da%40example.com')).body.total).toBe(0);
  });

  it('refuses an empty address rather than listing everyone', async () => {
    expectError(await a.get('/v1/customers?email='), 400, 'VALIDATION_ERROR', 'query.email');
  });
});

describe('customers modified since', () => {
  beforeAll(async () => {
    await setModified(a, 'ADA', '2026-01-01T00:00:00Z');
    await setModified(a, 'ADA2', '2026-03-01T12:00:00Z');
    await setModified(a, 'BOB', '2026-03-01T12:00:00.000001Z');
    await setModified(a, 'NOMAIL', '2025-06-01T00:00:00Z');
    await setModified(a, 'ALC', '2025-06-01T00:00:00Z');
    await setModified(a, 'OTHER', '2025-06-01T00:00:00Z');
    await setModified(b, 'ADA', '2026-06-01T00:00:00Z');
  });

  it('lists those changed at or after the instant, inclusive', async () => {
    const res = await a.get('/v1/customers?modifiedSince=2026-03-01T12:00:00Z');
    expect(res.status).toBe(200);
    expect(codes(res)).toEqual(['ADA2', 'BOB']);
  });

  it('reads the offset: 13:00+01:00 is 12:00Z', async () => {
    expect(codes(await a.get('/v1/customers?modifiedSince=2026-03-01T13:00:00%2B01:00'))).toEqual(['ADA2', 'BOB']);
    expect(codes(await a.get('/v1/customers?modifiedSince=2026-03-01T12:00:00-00:01'))).toEqual([]);
  });

  it('combines with the e-mail filter and pages', async () => {
    const res = await a.get('/v1/customers?email=ada%40example.com&modifiedSince=2026-02-01T00:00:00Z');
    expect(codes(res)).toEqual(['ADA2']);
    const paged = await a.get('/v1/customers?modifiedSince=2025-01-01T00:00:00Z&pageSize=2&page=2');
    expect(paged.body).toMatchObject({ page: 2, pageSize: 2, total: 6 });
    expect(codes(paged)).toEqual(['ALC', 'BOB']);
  });

  it('finds a customer again once it is updated through the API', async () => {
    const { rowVersion } = (await a.get('/v1/customers/NOMAIL')).body;
    const since = (await t.db.query<{ now: string }>("SELECT (now() - interval '1 second')::text AS now")).rows[0]!.now;
    expect(codes(await a.get(`/v1/customers?modifiedSince=2026-04-01T00:00:00Z`))).toEqual([]);
    await putCustomer(a, 'NOMAIL', { phone: '+353 1 555 0100', rowVersion });
    const iso = new Date(since).toISOString();
    expect(codes(await a.get(`/v1/customers?modifiedSince=${iso}`))).toEqual(['NOMAIL']);
    await setModified(a, 'NOMAIL', '2025-06-01T00:00:00Z');
  });

  it.each([
    ['2026-03-01', 'a date without a time'],
    ['2026-03-01T12:00:00', 'a time without an offset'],
    ['2026-02-30T12:00:00Z', 'a day that does not exist'],
    ['0000-01-01T00:00:00Z', 'year 0'],
    ['yesterday', 'words'],
  ])('refuses %s (%s) with the field named', async (value) => {
    expectError(
      await a.get(`/v1/customers?modifiedSince=${encodeURIComponent(value)}`),
      400,
      'VALIDATION_ERROR',
      'query.modifiedSince',
    );
  });
});

describe('allocations between two dates', () => {
  it('lists them by allocation date, both ends inclusive, with both sides and reversals', async () => {
    const res = await a.get('/v1/allocations?from=2026-02-01&to=2026-02-28');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ page: 1, pageSize: 100, total: 3 });
    expect(res.body.items.map((x: { allocationId: number }) => x.allocationId)).toEqual([id.A1, id.A2, id.A4]);
    const reversed = res.body.items[1];
    expect(reversed).toMatchObject({
      allocationId: id.A2,
      customerCode: 'ALC',
      currency: 'EUR',
      debit: { transactionId: id.I2, type: 'SI', externalReference: 'I2' },
      credit: { transactionId: id.R1, type: 'SR', externalReference: 'R1' },
      amount: '50.00',
      date: '2026-02-28',
      active: false,
      reversalDate: '2026-03-10',
    });
    expect(res.body.items[0]).toMatchObject({ amount: '100.00', active: true, reversalDate: null });
    expect(typeof res.body.items[0].createdAt).toBe('string');
  });

  it('never shows another entity’s allocations', async () => {
    const res = await a.get('/v1/allocations?from=2026-01-01&to=2026-12-31&pageSize=500');
    const ids = res.body.items.map((x: { allocationId: number }) => x.allocationId);
    expect(ids).toEqual([id.A1, id.A2, id.A3, id.A4]);
    expect(ids).not.toContain(id.BA);
    expect((await b.get('/v1/allocations')).body.total).toBe(1);
  });

  it('filters by customer and by whether the allocation is still in force', async () => {
    const alc = await a.get('/v1/allocations?customerCode=ALC&active=true');
    expect(alc.body.items.map((x: { allocationId: number }) => x.allocationId)).toEqual([id.A1, id.A3]);
    expect(alc.body.items[1].amount).toBe('25.50');
    const reversed = await a.get('/v1/allocations?active=false');
    expect(reversed.body.items.map((x: { allocationId: number }) => x.allocationId)).toEqual([id.A2]);
    const oneDay = await a.get('/v1/allocations?from=2026-03-01&to=2026-03-01');
    expect(oneDay.body.items.map((x: { allocationId: number }) => x.allocationId)).toEqual([id.A3]);
  });

  it('pages in allocation id order', async () => {
    const res = await a.get('/v1/allocations?pageSize=3&page=2');
    expect(res.body).toMatchObject({ page: 2, pageSize: 3, total: 4 });
    expect(res.body.items.map((x: { allocationId: number }) => x.allocationId)).toEqual([id.A4]);
  });

  it.each([
    ['from=2026-03-01&to=2026-02-01', 'to'],
    ['from=2026-02-30', 'from'],
    ['to=01/02/2026', 'to'],
    ['form=2026-02-01', 'form'],
    ['active=maybe', 'active'],
    ['transactionId=0', 'transactionId'],
    ['transactionId=99999999999999999999', 'transactionId'],
  ])('refuses %s with the field %s named', async (query, field) => {
    const res = await a.get(`/v1/allocations?${query}`);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(JSON.stringify(res.body.error.details)).toContain(field);
  });
});

describe('allocations by transaction', () => {
  it('lists every allocation the transaction took part in, on either side', async () => {
    const receipt = await a.get(`/v1/transactions/${id.R1}/allocations`);
    expect(receipt.status).toBe(200);
    expect(receipt.body.items.map((x: { allocationId: number }) => x.allocationId)).toEqual([id.A1, id.A2, id.A3]);
    const invoice = await a.get(`/v1/transactions/${id.I2}/allocations?active=true`);
    expect(invoice.body.items.map((x: { allocationId: number }) => x.allocationId)).toEqual([id.A3]);
    expect((await a.get(`/v1/allocations?transactionId=${id.I1}`)).body.items[0].allocationId).toBe(id.A1);
  });

  it('answers an empty page for a transaction without allocations', async () => {
    const lone = await postInvoice(t.db, a.entityId, { customer: 'OTHER', date: '2026-04-01', gross: '5.00' });
    const res = await a.get(`/v1/transactions/${lone}/allocations`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], page: 1, pageSize: 100, total: 0 });
  });

  it('answers 404 for another entity’s transaction or one that does not exist', async () => {
    expectError(await a.get(`/v1/transactions/${id.BI}/allocations`), 404, 'NOT_FOUND');
    expectError(await a.get('/v1/transactions/987654321/allocations'), 404, 'NOT_FOUND');
    expectError(await a.get('/v1/transactions/abc/allocations'), 400, 'VALIDATION_ERROR', 'params.id');
  });
});

describe('statements and balances for a list of customer codes', () => {
  beforeAll(async () => {
    const e = a.entityId;
    await createCustomer(t.db, e, { code: 'LST1', creditLimit: '150.00' });
    await createCustomer(t.db, e, { code: 'LST2' });
    await createCustomer(t.db, e, { code: 'LST3' });
    await createCustomer(t.db, e, { code: 'LSTUSD', currency: 'USD' });
    id.L1 = await postInvoice(t.db, e, {
      customer: 'LST1',
      date: '2026-05-01',
      dueDate: '2026-05-31',
      gross: '120.00',
    });
    id.L1b = await postInvoice(t.db, e, {
      customer: 'LST1',
      date: '2026-06-10',
      dueDate: '2026-07-10',
      gross: '80.00',
    });
    id.L1r = await postReceipt(t.db, e, { customer: 'LST1', date: '2026-06-15', amount: '20.00' });
    id.L2 = await postInvoice(t.db, e, { customer: 'LST2', date: '2026-06-01', dueDate: '2026-07-01', gross: '40.00' });
    id.L2r = await postReceipt(t.db, e, { customer: 'LST2', date: '2026-06-02', amount: '40.00' });
    await allocate(t.db, e, { debit: id.L2, credit: id.L2r, amount: '40.00', date: '2026-06-02' });
    id.LU = await postInvoice(t.db, e, { customer: 'LSTUSD', date: '2026-06-01', gross: '7.5' });
    // Dated after the statement date: left out of everything below.
    await postInvoice(t.db, e, { customer: 'LST3', date: '2026-07-15', gross: '999.00' });
  });

  it('gives the balances of the customers named, in code order, each in its currency', async () => {
    const res = await a.get('/v1/customers/balances?codes=LSTUSD,LST3,LST1,LST2&at=2026-06-30');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.at).toBe('2026-06-30');
    expect(res.body.balances).toEqual([
      {
        customerCode: 'LST1',
        currency: 'EUR',
        at: '2026-06-30',
        balance: '180.00',
        creditLimit: '150.00',
        creditLeft: '0.00',
        overCreditLimit: true,
        overCreditLimitBy: '30.00',
      },
      expect.objectContaining({ customerCode: 'LST2', balance: '0.00', creditLimit: '0.00', overCreditLimit: false }),
      expect.objectContaining({ customerCode: 'LST3', balance: '0.00' }),
      expect.objectContaining({ customerCode: 'LSTUSD', currency: 'USD', balance: '7.50' }),
    ]);
  });

  it('agrees with the one-customer balance for each', async () => {
    const many = (await a.get('/v1/customers/balances?codes=LST1,LST2,LSTUSD&at=2026-06-30')).body.balances;
    for (const b1 of many) {
      const one = await a.get(`/v1/customers/${b1.customerCode}/balance?at=2026-06-30`);
      expect(one.body).toEqual(b1);
    }
  });

  it('gives the statements of the customers named, even those with nothing open', async () => {
    const res = await a.get('/v1/customers/statements?codes=LST2,LST1&upTo=2026-06-30');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.statements.map((s: { customerCode: string }) => s.customerCode)).toEqual(['LST1', 'LST2']);
    const [s1, s2] = res.body.statements;
    expect(s1.currentBalance).toBe('180.00');
    expect(s1.openItems.map((i: { transactionId: number }) => i.transactionId)).toEqual([id.L1, id.L1b, id.L1r]);
    // 120.00 due 05-31 is 30 days late; the receipt (−20.00) ages from its own date, 15 days; 80.00 is not due.
    expect(s1.aging).toMatchObject({ current: '80.00', days1to30: '100.00', days31to60: '0.00' });
    expect(s2).toMatchObject({ currentBalance: '0.00', openItems: [] });
    const single = await a.get('/v1/customers/LST1/statement?upTo=2026-06-30');
    expect(single.body).toEqual(s1);
  });

  it('leaves out customers not named, where the whole list shows them', async () => {
    const all = await a.get('/v1/customers/statements?upTo=2026-06-30');
    expect(all.body.statements.map((s: { customerCode: string }) => s.customerCode)).toContain('ALC');
    const named = await a.get('/v1/customers/statements?codes=LST1&upTo=2026-06-30');
    expect(named.body.statements.map((s: { customerCode: string }) => s.customerCode)).toEqual(['LST1']);
  });

  it('answers 404 naming every code this entity does not have, another entity’s included', async () => {
    await createCustomer(t.db, b.entityId, { code: 'BONLY' });
    for (const path of ['/v1/customers/balances', '/v1/customers/statements']) {
      const res = await a.get(`${path}?codes=LST1,NOPE,BONLY`);
      expectError(res, 404, 'NOT_FOUND');
      expect(res.body.error.details.customerCodes).toEqual(['NOPE', 'BONLY']);
    }
  });

  it.each([
    ['codes=', 'empty'],
    ['codes=LST1,,LST2', 'an empty code'],
    ['codes=lst1', 'lower case'],
    ['codes=LST1,LST1', 'a repeated code'],
    [`codes=${Array.from({ length: 501 }, (_, i) => `C${i}`).join(',')}`, '501 codes'],
    ['codes=LST1&at=2026-13-01', 'a bad date'],
    ['at=2026-06-30', 'no codes'],
  ])('refuses balances?%s (%s) with a 400', async (query) => {
    const res = await a.get(`/v1/customers/balances?${query}`);
    expectError(res, 400, 'VALIDATION_ERROR');
    expect(JSON.stringify(res.body.error.details)).toMatch(/query\.(codes|at)/);
  });

  it('refuses a bad list on the statements too', async () => {
    expectError(await a.get('/v1/customers/statements?codes=LST1,LST1'), 400, 'VALIDATION_ERROR', 'query.codes');
  });
});

describe('changes a posted document accepts: dispute flag and due date', () => {
  async function audits(objectId: number | undefined) {
    const { rows } = await t.db.query<{ action: string; before: any; after: any; actor: string }>(
      `SELECT action, before, after, actor FROM audit_log WHERE entity_id = $1 AND object_type = 'transaction'
         AND object_id = $2 ORDER BY id`,
      [a.entityId, String(objectId)],
    );
    return rows;
  }

  beforeAll(async () => {
    const e = a.entityId;
    await createCustomer(t.db, e, { code: 'AMD' });
    id.D1 = await postInvoice(t.db, e, { customer: 'AMD', date: '2026-05-01', dueDate: '2026-05-31', gross: '100.00' });
    id.DR = await postReceipt(t.db, e, { customer: 'AMD', date: '2026-05-02', amount: '1.00' });
    id.DN = await postInvoice(t.db, e, { customer: 'AMD', date: '2026-05-01', dueDate: null, gross: '1.00' });
  });

  it('flags a document as disputed, shows it on the transaction and audits before and after', async () => {
    const res = await a.post(`/v1/transactions/${id.D1}/dispute`, { disputed: true, reason: 'Goods damaged' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      transactionId: id.D1,
      type: 'SI',
      disputed: true,
      disputeReason: 'Goods damaged',
      changed: true,
    });
    const read = (await a.get(`/v1/transactions/${id.D1}`)).body;
    expect(read).toMatchObject({ disputed: true, disputeReason: 'Goods damaged', gross: '100.00' });
    const trail = await audits(id.D1);
    expect(trail).toHaveLength(1);
    expect(trail[0]).toMatchObject({
      action: 'transaction.disputed',
      before: { transactionId: id.D1, disputed: false, disputeReason: null },
      after: { transactionId: id.D1, disputed: true, disputeReason: 'Goods damaged' },
    });
  });

  it('writes nothing when the flag already reads so, and clears the reason with the flag', async () => {
    const again = await a.post(`/v1/transactions/${id.D1}/dispute`, { disputed: true, reason: 'Goods damaged' });
    expect(again.body.changed).toBe(false);
    expect(await audits(id.D1)).toHaveLength(1);
    const cleared = await a.post(`/v1/transactions/${id.D1}/dispute`, { disputed: false, reason: 'ignored' });
    expect(cleared.body).toMatchObject({ disputed: false, disputeReason: null, changed: true });
    expect((await audits(id.D1)).at(-1)).toMatchObject({
      action: 'transaction.undisputed',
      after: { disputed: false, disputeReason: null },
    });
  });

  it('moves the due date, which the statement then ages from', async () => {
    const before = (await a.get('/v1/customers/AMD/statement?upTo=2026-06-30')).body;
    const item = (s: any) => s.openItems.find((i: { transactionId: number }) => i.transactionId === id.D1);
    expect(item(before)).toMatchObject({ dueDate: '2026-05-31', daysOverdue: 30, bucket: 'days1to30' });
    const res = await a.put(`/v1/transactions/${id.D1}/due-date`, { dueDate: '2026-07-15' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ dueDate: '2026-07-15', transactionDate: '2026-05-01', changed: true });
    const after = (await a.get('/v1/customers/AMD/statement?upTo=2026-06-30')).body;
    expect(item(after)).toMatchObject({ dueDate: '2026-07-15', daysOverdue: 0, bucket: 'current' });
    expect(after.currentBalance).toBe(before.currentBalance);
    expect((await a.get(`/v1/transactions/${id.D1}`)).body.dueDate).toBe('2026-07-15');
    expect((await audits(id.D1)).at(-1)).toMatchObject({
      action: 'transaction.due_date_changed',
      before: { dueDate: '2026-05-31' },
      after: { dueDate: '2026-07-15' },
    });
  });

  it('refuses a due date before the document date, on documents without one, and on others', async () => {
    const count = (await audits(id.D1)).length;
    expectError(
      await a.put(`/v1/transactions/${id.D1}/due-date`, { dueDate: '2026-04-30' }),
      422,
      'DUE_DATE_BEFORE_TRANSACTION_DATE',
      'dueDate',
    );
    expectError(
      await a.put(`/v1/transactions/${id.DR}/due-date`, { dueDate: '2026-07-01' }),
      422,
      'TRANSACTION_DUE_DATE_CANNOT_CHANGE',
    );
    expectError(
      await a.put(`/v1/transactions/${id.DN}/due-date`, { dueDate: '2026-07-01' }),
      422,
      'TRANSACTION_DUE_DATE_CANNOT_CHANGE',
    );
    expectError(await a.put(`/v1/transactions/${id.D1}/due-date`, { dueDate: '2026-02-30' }), 400, 'VALIDATION_ERROR');
    expectError(await a.put(`/v1/transactions/${id.D1}/due-date`, {}), 400, 'VALIDATION_ERROR', 'body.dueDate');
    expect((await a.get(`/v1/transactions/${id.D1}`)).body.dueDate).toBe('2026-07-15');
    expect(await audits(id.D1)).toHaveLength(count);
  });

  it('refuses bad dispute bodies and documents the ledger makes itself', async () => {
    const discount = await postJournal(t.db, a.entityId, 'DS', { customer: 'AMD', date: '2026-05-03', amount: '1.00' });
    expectError(
      await a.post(`/v1/transactions/${discount}/dispute`, { disputed: true }),
      422,
      'TRANSACTION_CANNOT_BE_DISPUTED',
    );
    expectError(
      await a.post(`/v1/transactions/${id.D1}/dispute`, { reason: 'x' }),
      400,
      'VALIDATION_ERROR',
      'body.disputed',
    );
    expectError(
      await a.post(`/v1/transactions/${id.D1}/dispute`, { disputed: true, reason: 'x'.repeat(501) }),
      400,
      'VALIDATION_ERROR',
      'body.reason',
    );
    expectError(
      await a.post(`/v1/transactions/${id.D1}/dispute`, { disputed: 'yes' }),
      400,
      'VALIDATION_ERROR',
      'body.disputed',
    );
  });

  it('answers 404 for another entity’s document and changes nothing there', async () => {
    expectError(await a.post(`/v1/transactions/${id.BI}/dispute`, { disputed: true }), 404, 'NOT_FOUND');
    expectError(await a.put(`/v1/transactions/${id.BI}/due-date`, { dueDate: '2026-12-31' }), 404, 'NOT_FOUND');
    const theirs = (await b.get(`/v1/transactions/${id.BI}`)).body;
    expect(theirs).toMatchObject({ disputed: false });
  });

  it('keeps every other column of a posted document unchangeable in the database', async () => {
    await expect(t.db.query('UPDATE transactions SET gross = gross + 1 WHERE id = $1', [id.D1!])).rejects.toThrow(
      /cannot be changed/,
    );
    await expect(
      t.db.query("UPDATE transactions SET due_date = '2026-08-01', description = 'x' WHERE id = $1", [id.D1!]),
    ).rejects.toThrow(/cannot be changed/);
    await expect(t.db.query('UPDATE transactions SET due_date = NULL WHERE id = $1', [id.D1!])).rejects.toThrow(
      /moved, not added or removed/,
    );
    await expect(t.db.query("UPDATE transactions SET due_date = '2026-01-01' WHERE id = $1", [id.D1!])).rejects.toThrow(
      /before the document date/,
    );
    await expect(t.db.query('DELETE FROM transactions WHERE id = $1', [id.D1!])).rejects.toThrow(/cannot be changed/);
    const row = (
      await t.db.query<{ gross: string; due_date: string }>(
        'SELECT gross::text, due_date::text FROM transactions WHERE id = $1',
        [id.D1!],
      )
    ).rows[0];
    expect(row).toEqual({ gross: '10000', due_date: '2026-07-15' });
  });
});

describe('transactions modified since', () => {
  /** An instant between the "before" and "since" documents, from the database's own clock. */
  let t0: string;
  const ids: Record<string, number> = {};
  const changes = (res: { body: { items: { transactionId: number; change: string }[] } }) =>
    Object.fromEntries(res.body.items.map((i) => [i.transactionId, i.change]));

  beforeAll(async () => {
    const e = a.entityId;
    await createCustomer(t.db, e, { code: 'MOD' });
    ids.old = await postInvoice(t.db, e, {
      customer: 'MOD',
      date: '2026-04-01',
      dueDate: '2026-05-01',
      gross: '100.00',
    });
    ids.full = await postInvoice(t.db, e, { customer: 'MOD', date: '2026-04-01', gross: '60.00' });
    ids.part = await postInvoice(t.db, e, { customer: 'MOD', date: '2026-04-01', gross: '80.00' });
    ids.quiet = await postInvoice(t.db, e, { customer: 'MOD', date: '2026-04-01', gross: '10.00' });
    ids.both = await postInvoice(t.db, e, {
      customer: 'MOD',
      date: '2026-04-01',
      dueDate: '2026-05-01',
      gross: '15.00',
    });
    t0 = (
      await t.db.query<{ at: string }>(
        `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`,
      )
    ).rows[0]!.at;
    await new Promise((r) => setTimeout(r, 5));
    ids.fresh = await postInvoice(t.db, e, { customer: 'MOD', date: '2026-04-02', gross: '20.00' });
    const amended = await a.put(`/v1/transactions/${ids.old}/due-date`, { dueDate: '2026-06-30' });
    expect(amended.status, JSON.stringify(amended.body)).toBe(200);
    // Credited in full by two notes; the other only in part.
    ids.cn1 = await postCreditNote(t.db, e, {
      customer: 'MOD',
      date: '2026-04-03',
      gross: '40.00',
      relatedTransactionId: ids.full,
    });
    ids.cn2 = await postCreditNote(t.db, e, {
      customer: 'MOD',
      date: '2026-04-03',
      gross: '20.00',
      relatedTransactionId: ids.full,
    });
    ids.cn3 = await postCreditNote(t.db, e, {
      customer: 'MOD',
      date: '2026-04-03',
      gross: '30.00',
      relatedTransactionId: ids.part,
    });
    // Changed twice since: amended, then credited in full; and posted, then credited in full. Each is
    // listed once, as what happened last.
    expect((await a.put(`/v1/transactions/${ids.both}/due-date`, { dueDate: '2026-07-31' })).status).toBe(200);
    ids.cn4 = await postCreditNote(t.db, e, {
      customer: 'MOD',
      date: '2026-04-03',
      gross: '15.00',
      relatedTransactionId: ids.both,
    });
    ids.short = await postInvoice(t.db, e, { customer: 'MOD', date: '2026-04-02', gross: '5.00' });
    ids.cn5 = await postCreditNote(t.db, e, {
      customer: 'MOD',
      date: '2026-04-03',
      gross: '5.00',
      relatedTransactionId: ids.short,
    });
    // Another entity's change in the same window.
    await createCustomer(t.db, b.entityId, { code: 'MOD' });
    ids.other = await postInvoice(t.db, b.entityId, { customer: 'MOD', date: '2026-04-02', gross: '20.00' });
  });

  it('lists what was posted, amended or reversed at or after the instant, and says which', async () => {
    const res = await a.get(`/v1/transactions?modifiedSince=${t0}&pageSize=100`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(changes(res)).toEqual({
      [ids.old!]: 'updated',
      [ids.full!]: 'reversed',
      [ids.fresh!]: 'created',
      [ids.cn1!]: 'created',
      [ids.cn2!]: 'created',
      [ids.cn3!]: 'created',
      [ids.both!]: 'reversed',
      [ids.cn4!]: 'created',
      [ids.short!]: 'reversed',
      [ids.cn5!]: 'created',
    });
    expect(res.body.total).toBe(10);
    expect(res.body.items.map((i: { transactionId: number }) => i.transactionId)).toEqual([
      ids.old,
      ids.full,
      ids.both,
      ids.fresh,
      ids.cn1,
      ids.cn2,
      ids.cn3,
      ids.cn4,
      ids.short,
      ids.cn5,
    ]);
    for (const item of res.body.items) expect(item.modifiedAt >= t0, `${item.modifiedAt} vs ${t0}`).toBe(true);
    // The invoice is reversed when its second note is posted.
    const full = res.body.items.find((i: { transactionId: number }) => i.transactionId === ids.full);
    const cn2 = (await a.get(`/v1/transactions?modifiedSince=${t0}&type=SN&pageSize=100`)).body.items.find(
      (i: { transactionId: number }) => i.transactionId === ids.cn2,
    );
    expect(full.modifiedAt).toBe(cn2.modifiedAt);
  });

  it('says what last happened to each document in every listing', async () => {
    const res = await a.get('/v1/transactions?customerCode=MOD&pageSize=100');
    expect(changes(res)).toMatchObject({ [ids.quiet!]: 'created', [ids.part!]: 'created', [ids.full!]: 'reversed' });
  });

  it('combines with the other filters and pages, counting only what matches', async () => {
    const invoices = await a.get(`/v1/transactions?modifiedSince=${t0}&type=SI&pageSize=2`);
    expect(invoices.body.total).toBe(5);
    expect(invoices.body.items.map((i: { transactionId: number }) => i.transactionId)).toEqual([ids.old, ids.full]);
    const second = await a.get(`/v1/transactions?modifiedSince=${t0}&type=SI&pageSize=2&page=2`);
    expect(second.body.items.map((i: { transactionId: number }) => i.transactionId)).toEqual([ids.both, ids.fresh]);
    const third = await a.get(`/v1/transactions?modifiedSince=${t0}&type=SI&pageSize=2&page=3`);
    expect(third.body.items.map((i: { transactionId: number }) => i.transactionId)).toEqual([ids.short]);
  });

  it('pages newest first by cursor through posted, amended and reversed alike, each once', async () => {
    const seen: number[] = [];
    let after: number | null = null;
    do {
      const res: { status: number; body: { items: { transactionId: number }[]; nextCursor: number | null } } =
        await a.get(`/v1/transactions?modifiedSince=${t0}&order=desc&pageSize=3${after ? `&after=${after}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((i) => i.transactionId));
      after = res.body.nextCursor;
    } while (after !== null);
    expect(seen).toEqual(
      [ids.old, ids.full, ids.both, ids.fresh, ids.cn1, ids.cn2, ids.cn3, ids.cn4, ids.short, ids.cn5].reverse(),
    );
  });

  it('lists nothing after the last change, and refuses an instant without an offset', async () => {
    const later = new Date(Date.now() + 60_000).toISOString();
    expect((await a.get(`/v1/transactions?modifiedSince=${later}`)).body).toMatchObject({ items: [], total: 0 });
    expectError(
      await a.get('/v1/transactions?modifiedSince=2026-04-01T00:00:00'),
      400,
      'VALIDATION_ERROR',
      'query.modifiedSince',
    );
    expectError(
      await a.get('/v1/transactions?modifiedSince=yesterday'),
      400,
      'VALIDATION_ERROR',
      'query.modifiedSince',
    );
  });
});
