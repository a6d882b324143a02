import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { allocate, createCustomer, postInvoice, postReceipt, reverseAllocation } from './helpers/fixtures.ts';

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
