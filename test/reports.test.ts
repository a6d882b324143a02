import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildServer } from '../src/api/server.ts';
import { allRoutes } from '../src/api/routes/index.ts';
import { defineRoute } from '../src/api/route.ts';
import { ADMIN_TOKEN, type Client, createTestApp, type TestApp } from './helpers/app.ts';

import {
  allocate,
  createCustomer,
  payManyInvoices,
  postJournal,
  postCreditNote,
  postFxDifference,
  postGeneralJournal,
  postInvoice,
  postManyInvoices,
  postReceipt,
  reverseAllocation,
} from './helpers/fixtures.ts';

let t: TestApp;
/** The main entity (EUR): customers AGE, RETRO, CRED, NOLIM, NETZERO, SETTLED, ZERO. */
let a: Client;
/** Another entity: must never see A's data. */
let b: Client;
/** A third entity (EUR) for the trial balance, with a USD customer. */
let tb: Client;
const id: Record<string, number> = {};

const UP_TO = '2026-06-30';
/** A's customers by code: those with something open as at UP_TO, then SETTLED and ZERO. */
const OPEN_CUSTOMERS = ['AGE', 'CRED', 'NETZERO', 'NOLIM', 'RETRO'];
const ALL_CUSTOMERS = [...OPEN_CUSTOMERS, 'SETTLED', 'ZERO'];

beforeAll(async () => {
  t = await createTestApp();
  a = await t.entity('REPA', 'EUR');
  b = await t.entity('REPB', 'EUR');
  tb = await t.entity('REPTB', 'EUR');
  const db = t.db;
  const e = a.entityId;

  // AGE: the aging scenario, hand-computed as at 2026-06-30 below.
  await createCustomer(db, e, { code: 'AGE', name: 'Aging Ltd' });
  id.A1 = await postInvoice(db, e, { customer: 'AGE', date: '2025-12-01', dueDate: '2025-12-31', gross: '30.00' });
  id.A2 = await postInvoice(db, e, { customer: 'AGE', date: '2026-03-20', dueDate: null, gross: '80.00' });
  id.A3 = await postInvoice(db, e, {
    customer: 'AGE',
    date: '2026-04-15',
    dueDate: '2026-05-15',
    gross: '242.00',
    tax: '42.00',
    externalReference: 'INV-A3',
    description: 'April fees',
  });
  id.A4 = await postInvoice(db, e, { customer: 'AGE', date: '2026-06-01', dueDate: '2026-07-01', gross: '500.00' });
  id.A5 = await postInvoice(db, e, { customer: 'AGE', date: '2026-01-10', dueDate: '2026-02-09', gross: '121.00' });
  id.R1 = await postReceipt(db, e, {
    customer: 'AGE',
    date: '2026-05-20',
    amount: '300.00',
    externalReference: 'CHQ1',
  });
  await allocate(db, e, { debit: id.A5, credit: id.R1, amount: '121.00', date: '2026-05-20' });
  await allocate(db, e, { debit: id.A3, credit: id.R1, amount: '100.00', date: '2026-05-20' });
  // A credit note carrying a due date: credits still age from their own date.
  id.C1 = await postCreditNote(db, e, { customer: 'AGE', date: '2026-06-25', dueDate: '2026-07-25', gross: '50.00' });

  // RETRO: allocations and a reversal dated around the statement dates.
  await createCustomer(db, e, { code: 'RETRO' });
  id.B1 = await postInvoice(db, e, { customer: 'RETRO', date: '2026-01-05', dueDate: '2026-02-04', gross: '100.00' });
  id.B2 = await postInvoice(db, e, { customer: 'RETRO', date: '2026-02-01', dueDate: '2026-03-03', gross: '200.00' });
  id.N1 = await postCreditNote(db, e, {
    customer: 'RETRO',
    date: '2026-02-10',
    gross: '40.00',
    externalReference: 'CN1',
  });
  id.P1 = await postReceipt(db, e, {
    customer: 'RETRO',
    date: '2026-03-01',
    amount: '250.00',
    externalReference: 'P1',
  });
  id.B3 = await postInvoice(db, e, { customer: 'RETRO', date: '2026-04-10', dueDate: '2026-05-10', gross: '60.00' });
  id.a1 = await allocate(db, e, { debit: id.B1, credit: id.P1, amount: '100.00', date: '2026-03-01', reference: 'a1' });
  id.a2 = await allocate(db, e, { debit: id.B2, credit: id.P1, amount: '150.00', date: '2026-04-15', reference: 'a2' });
  id.a3 = await allocate(db, e, { debit: id.B2, credit: id.N1, amount: '40.00', date: '2026-02-10', reference: 'a3' });
  await reverseAllocation(db, e, id.a3, '2026-04-20');

  // CRED: limit 500.00; NOLIM: limit 0 (none).
  await createCustomer(db, e, { code: 'CRED', creditLimit: '500.00' });
  await postInvoice(db, e, { customer: 'CRED', date: '2026-01-10', dueDate: '2026-02-09', gross: '450.00' });
  await postInvoice(db, e, { customer: 'CRED', date: '2026-02-10', dueDate: '2026-03-12', gross: '100.00' });
  await postReceipt(db, e, { customer: 'CRED', date: '2026-03-01', amount: '50.00' });
  await createCustomer(db, e, { code: 'NOLIM', creditLimit: '0' });
  await postInvoice(db, e, { customer: 'NOLIM', date: '2026-01-10', gross: '1000.00' });

  // NETZERO: nets to zero but has open items; SETTLED: everything allocated; ZERO: nothing posted.
  await createCustomer(db, e, { code: 'NETZERO' });
  await postInvoice(db, e, { customer: 'NETZERO', date: '2026-06-01', dueDate: '2026-07-01', gross: '100.00' });
  await postCreditNote(db, e, { customer: 'NETZERO', date: '2026-06-02', gross: '100.00' });
  await createCustomer(db, e, { code: 'SETTLED' });
  const si = await postInvoice(db, e, { customer: 'SETTLED', date: '2026-01-01', gross: '75.00' });
  const sr = await postReceipt(db, e, { customer: 'SETTLED', date: '2026-01-15', amount: '75.00' });
  await allocate(db, e, { debit: si, credit: sr, amount: '75.00', date: '2026-01-15' });
  await createCustomer(db, e, { code: 'ZERO', name: 'Nothing Posted' });

  // Entity B has a customer with the same code as one of A's.
  await createCustomer(db, b.entityId, { code: 'AGE', name: 'Other entity' });
  id.BX = await postInvoice(db, b.entityId, { customer: 'AGE', date: '2026-01-01', gross: '9.99' });

  // Trial balance entity: EUR and USD customers, an FX difference.
  const te = tb.entityId;
  await createCustomer(db, te, { code: 'T1' });
  await createCustomer(db, te, { code: 'T2', currency: 'USD' });
  id.T1 = await postInvoice(db, te, { customer: 'T1', date: '2026-01-10', gross: '121.00', tax: '21.00' });
  await postReceipt(db, te, { customer: 'T1', date: '2026-01-20', amount: '121.00' });
  await postCreditNote(db, te, { customer: 'T1', date: '2026-02-01', gross: '12.10', tax: '2.10' });
  id.T2 = await postInvoice(db, te, {
    customer: 'T2',
    date: '2026-01-15',
    gross: '108.00',
    exchangeRate: '1.08',
    externalReference: 'US-1',
  });
  id.FX = await postFxDifference(db, te, { customer: 'T2', date: '2026-03-01', baseAmount: '2.00' });
  // A general journal: bank charges, no customer.
  id.GJ = await postGeneralJournal(db, te, { date: '2026-04-15', debit: '7700', credit: '1200', amount: '1.50' });
});
afterAll(async () => t.close());

const statement = (client: Client, code: string, query = '') =>
  client.get(`/v1/customers/${code}/statement${query ? `?${query}` : ''}`);

describe('customer statement', () => {
  it('ages open items by due date, with hand-computed buckets', async () => {
    const r = await statement(a, 'AGE', `upTo=${UP_TO}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      customerCode: 'AGE',
      customerName: 'Aging Ltd',
      currency: 'EUR',
      upTo: UP_TO,
      basis: 'dueDate',
      currentBalance: '623.00',
      aging: {
        current: '500.00', // A4, due tomorrow
        days1to30: '-50.00', // C1, 5 days old
        days31to60: '63.00', // A3 142.00 (46 days overdue) less R1 79.00 (41 days old)
        days61to90: '0.00',
        days91to120: '80.00', // A2, no due date: 102 days from its date
        over120: '30.00', // A1, 181 days overdue
      },
    });
    const items = r.body.openItems;
    expect(items.map((i: any) => i.transactionId)).toEqual([id.A1, id.A2, id.A3, id.R1, id.A4, id.C1]);
    // A receipt (R1) and a credit note (C1) are never due: no days overdue, though aged from their date.
    expect(items.map((i: any) => i.daysOverdue)).toEqual([181, 102, 46, 0, 0, 0]);
    expect(items.map((i: any) => i.bucket)).toEqual([
      'over120',
      'days91to120',
      'days31to60',
      'days31to60',
      'current',
      'days1to30',
    ]);
    expect(items[2]).toEqual({
      transactionId: id.A3,
      type: 'SI',
      number: 3,
      externalReference: 'INV-A3',
      description: 'April fees',
      transactionDate: '2026-04-15',
      dueDate: '2026-05-15',
      amount: '242.00',
      outstanding: '142.00',
      daysOverdue: 46,
      bucket: 'days31to60',
    });
  });

  it('ages by transaction date when asked', async () => {
    const r = await statement(a, 'AGE', `upTo=${UP_TO}&basis=transactionDate`);
    expect(r.body.basis).toBe('transactionDate');
    expect(r.body.aging).toEqual({
      current: '0.00',
      days1to30: '450.00', // A4 500.00 (29 days) less C1 50.00
      days31to60: '-79.00', // R1
      days61to90: '142.00', // A3, 76 days
      days91to120: '80.00', // A2, 102 days
      over120: '30.00', // A1, 211 days
    });
    expect(r.body.currentBalance).toBe('623.00');
    expect(r.body.openItems.map((i: any) => i.daysOverdue)).toEqual([211, 102, 76, 0, 29, 0]);
  });

  it('shows credits negative and partial allocations as what is left', async () => {
    const r = await statement(a, 'AGE', `upTo=${UP_TO}`);
    const byId = new Map(r.body.openItems.map((i: any) => [i.transactionId, i]));
    expect(byId.get(id.R1)).toMatchObject({ type: 'SR', amount: '-300.00', outstanding: '-79.00', dueDate: null });
    expect(byId.get(id.C1)).toMatchObject({ type: 'SN', amount: '-50.00', outstanding: '-50.00', bucket: 'days1to30' });
    expect(byId.has(id.A5)).toBe(false); // fully allocated
  });

  it('reads as it did on an earlier date: later documents, allocations and reversals are ignored', async () => {
    // 2026-04-01: a2 (dated 04-15) not yet made, a3 not yet reversed (04-20), B3 (04-10) not yet posted.
    const early = await statement(a, 'RETRO', 'upTo=2026-04-01');
    expect(early.body.openItems.map((i: any) => [i.transactionId, i.outstanding, i.bucket])).toEqual([
      [id.B2, '160.00', 'days1to30'], // 200 less a3 40; due 03-03, 29 days
      [id.P1, '-150.00', 'days31to60'], // 250 less a1 100; 31 days old
    ]);
    expect(early.body.currentBalance).toBe('10.00');
    expect(early.body.aging).toMatchObject({ days1to30: '160.00', days31to60: '-150.00', current: '0.00' });

    // 2026-04-16: a2 made, a3 still active.
    const mid = await statement(a, 'RETRO', 'upTo=2026-04-16');
    expect(mid.body.openItems.map((i: any) => [i.transactionId, i.outstanding])).toEqual([
      [id.B2, '10.00'],
      [id.B3, '60.00'],
    ]);
    expect(mid.body.currentBalance).toBe('70.00');

    // 2026-04-30: a3 reversed, so the credit note is open again and B2 carries its 40.00 back.
    const late = await statement(a, 'RETRO', 'upTo=2026-04-30');
    expect(late.body.openItems.map((i: any) => [i.transactionId, i.outstanding])).toEqual([
      [id.B2, '50.00'],
      [id.N1, '-40.00'],
      [id.B3, '60.00'],
    ]);
    expect(late.body.currentBalance).toBe('70.00');
  });

  it('carries free text exactly, whatever it contains', async () => {
    const tricky = { externalReference: 'Ref "7", \\ & ;', description: 'Line 1\nLine 2\t\u001f\u001e Café € 💶' };
    const c = await t.entity('REPTEXT');
    await createCustomer(t.db, c.entityId, { code: 'TEXT' });
    const id = await postInvoice(t.db, c.entityId, { customer: 'TEXT', date: '2026-06-01', gross: '1.00', ...tricky });
    const r = await statement(c, 'TEXT', `upTo=${UP_TO}`);
    expect(r.body.openItems).toEqual([expect.objectContaining({ transactionId: id, ...tricky })]);
    const plain = await postInvoice(t.db, c.entityId, { customer: 'TEXT', date: '2026-06-02', gross: '1.00' });
    const again = await statement(c, 'TEXT', `upTo=${UP_TO}`);
    expect(again.body.openItems[1]).toMatchObject({ transactionId: plain, externalReference: '', description: '' });
  });

  it('before any document, is empty with zero buckets', async () => {
    const r = await statement(a, 'AGE', 'upTo=2025-01-01');
    expect(r.body.openItems).toEqual([]);
    expect(r.body.currentBalance).toBe('0.00');
    expect(Object.values(r.body.aging)).toEqual(['0.00', '0.00', '0.00', '0.00', '0.00', '0.00']);
  });

  it('defaults upTo to today and basis to dueDate', async () => {
    const r = await statement(a, 'AGE');
    expect(r.body.upTo).toBe(new Date().toISOString().slice(0, 10));
    expect(r.body.basis).toBe('dueDate');
  });

  it('answers NOT_FOUND for an unknown customer', async () => {
    const r = await statement(a, 'NOBODY');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NOT_FOUND');
  });
});

describe('all customers statements', () => {
  it('lists customers with something open, by code; showZeros adds the rest', async () => {
    const r = await a.get(`/v1/customers/statements?upTo=${UP_TO}`);
    expect(r.status).toBe(200);
    expect(r.body.upTo).toBe(UP_TO);
    expect(r.body.basis).toBe('dueDate');
    expect(r.body.statements.map((s: any) => s.customerCode)).toEqual(OPEN_CUSTOMERS);
    const netzero = r.body.statements.find((s: any) => s.customerCode === 'NETZERO');
    expect(netzero.currentBalance).toBe('0.00');
    expect(netzero.openItems).toHaveLength(2);
    // Each statement is the same as the single-customer one.
    const single = await statement(a, 'AGE', `upTo=${UP_TO}`);
    expect(r.body.statements[0]).toEqual(single.body);

    const all = await a.get(`/v1/customers/statements?upTo=${UP_TO}&showZeros=true&basis=transactionDate`);
    expect(all.body.statements.map((s: any) => s.customerCode)).toEqual(ALL_CUSTOMERS);
    const zero = all.body.statements.find((s: any) => s.customerCode === 'ZERO');
    expect(zero).toMatchObject({ customerName: 'Nothing Posted', currentBalance: '0.00', openItems: [] });
    expect(all.body.statements[0].basis).toBe('transactionDate');
  });

  it('is not captured by a /v1/customers/{code} route', async () => {
    // The customers resource may register GET /v1/customers/{code}; add a stand-in when it has not yet.
    const taken = allRoutes.some((r) => r.method === 'GET' && r.path === '/v1/customers/{code}');
    const standIn = defineRoute({
      method: 'GET',
      path: '/v1/customers/{code}',
      operationId: 'standInCustomer',
      summary: 'stand-in',
      tags: ['test'],
      auth: 'entity',
      params: z.object({ code: z.string() }),
      success: { status: 200, description: 'stand-in' },
      handler: async ({ params }) => ({ standIn: params.code }),
    });
    const app = await buildServer({
      db: t.db,
      config: {
        port: 0,
        host: '127.0.0.1',
        adminToken: ADMIN_TOKEN,
        tokenTtlSeconds: 1200,
        logLevel: 'silent',
        bodyLimitBytes: 1024 * 1024,
      },
      logger: false,
      routes: taken ? [] : [standIn],
    });
    try {
      const res = await app.inject({
        method: 'GET',
        url: `/v1/customers/statements?upTo=${UP_TO}`,
        headers: { authorization: `Bearer ${a.token}` },
      });
      expect(res.statusCode).toBe(200);
      expect(JSON.parse(res.body).statements).toHaveLength(5);
      if (!taken) {
        const other = await app.inject({
          method: 'GET',
          url: '/v1/customers/AGE',
          headers: { authorization: `Bearer ${a.token}` },
        });
        expect(JSON.parse(other.body)).toEqual({ standIn: 'AGE' });
      }
    } finally {
      await app.close();
    }
  });

  it("never includes another entity's customers", async () => {
    const r = await b.get(`/v1/customers/statements?upTo=${UP_TO}`);
    expect(r.body.statements).toHaveLength(1);
    expect(r.body.statements[0]).toMatchObject({
      customerCode: 'AGE',
      customerName: 'Other entity',
      currentBalance: '9.99',
    });
  });
});

describe('aged debtors', () => {
  /** What the aged debtors report must say of a customer: its statement, without the documents. */
  const summaryOf = (s: any) => ({
    customerCode: s.customerCode,
    customerName: s.customerName,
    currency: s.currency,
    openItems: s.openItems.length,
    currentBalance: s.currentBalance,
    aging: s.aging,
  });

  it("gives each customer's statement balance and aging, on either basis and at any date", async () => {
    for (const query of [
      `upTo=${UP_TO}`,
      `upTo=${UP_TO}&basis=transactionDate`,
      'upTo=2026-04-16',
      'upTo=2026-03-01',
    ]) {
      const [report, statements] = await Promise.all([
        a.get(`/v1/reports/aged-debtors?${query}`),
        a.get(`/v1/customers/statements?${query}`),
      ]);
      expect(report.status, query).toBe(200);
      expect(report.body.customers, query).toEqual(statements.body.statements.map(summaryOf));
      expect(report.body.basis).toBe(statements.body.basis);
    }
    const r = await a.get(`/v1/reports/aged-debtors?upTo=${UP_TO}`);
    expect(r.body.customers.map((c: any) => c.customerCode)).toEqual(OPEN_CUSTOMERS);
    // One whose open items net to zero is shown: two documents open, nothing owed.
    expect(r.body.customers[2]).toMatchObject({ customerCode: 'NETZERO', openItems: 2, currentBalance: '0.00' });
  });

  it('totals each currency on its own, and showZeros adds the customers with nothing open', async () => {
    const r = await a.get(`/v1/reports/aged-debtors?upTo=${UP_TO}`);
    const cents = (v: string) => BigInt(v.replace('.', ''));
    const sum = (pick: (c: any) => string) => r.body.customers.reduce((n: bigint, c: any) => n + cents(pick(c)), 0n);
    expect(r.body.totals).toHaveLength(1);
    const [eur] = r.body.totals;
    expect(eur.currency).toBe('EUR');
    expect(eur.customers).toBe(5);
    expect(cents(eur.currentBalance)).toBe(sum((c) => c.currentBalance));
    for (const bucket of Object.keys(eur.aging)) expect(cents(eur.aging[bucket])).toBe(sum((c) => c.aging[bucket]));

    const all = await a.get(`/v1/reports/aged-debtors?upTo=${UP_TO}&showZeros=true`);
    expect(all.body.customers.map((c: any) => c.customerCode)).toEqual(ALL_CUSTOMERS);
    expect(all.body.customers[6]).toEqual({
      customerCode: 'ZERO',
      customerName: 'Nothing Posted',
      currency: 'EUR',
      openItems: 0,
      currentBalance: '0.00',
      aging: {
        current: '0.00',
        days1to30: '0.00',
        days31to60: '0.00',
        days61to90: '0.00',
        days91to120: '0.00',
        over120: '0.00',
      },
    });
    expect(all.body.totals).toEqual(r.body.totals);

    // Two currencies are never added: a EUR customer in credit and a USD one owing.
    const two = await tb.get('/v1/reports/aged-debtors?upTo=2026-12-31');
    expect(two.body.totals.map((x: any) => [x.currency, x.customers, x.currentBalance])).toEqual([
      ['EUR', 1, '-12.10'],
      ['USD', 1, '108.00'],
    ]);
  });

  it("refuses what it cannot read, naming the field, and never shows another entity's customers", async () => {
    for (const [query, field] of [
      ['upTo=2026-02-30', 'query.upTo'],
      ['basis=invoiceDate', 'query.basis'],
      ['showZeros=maybe', 'query.showZeros'],
      ['upto=2026-06-30', 'query'],
    ]) {
      const r = await a.get(`/v1/reports/aged-debtors?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
      expect(r.body.error.details.map((d: any) => d.field).join(' '), query).toContain(field);
    }
    const other = await b.get(`/v1/reports/aged-debtors?upTo=${UP_TO}`);
    expect(other.body.customers).toEqual([
      expect.objectContaining({ customerCode: 'AGE', customerName: 'Other entity', currentBalance: '9.99' }),
    ]);
  });
});

describe('customer balance', () => {
  const balance = (code: string, at?: string) => a.get(`/v1/customers/${code}/balance${at ? `?at=${at}` : ''}`);

  it('leaves credit under the limit', async () => {
    const r = await balance('CRED', '2026-01-31');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      customerCode: 'CRED',
      currency: 'EUR',
      at: '2026-01-31',
      balance: '450.00',
      creditLimit: '500.00',
      creditLeft: '50.00',
      overCreditLimit: false,
      overCreditLimitBy: '0.00',
    });
  });

  it('is over the limit once the balance passes it, and not at exactly the limit', async () => {
    const over = await balance('CRED', '2026-02-10');
    expect(over.body).toMatchObject({ balance: '550.00', creditLeft: '0.00', overCreditLimit: true });
    const at = await balance('CRED', '2026-03-01');
    expect(at.body).toMatchObject({ balance: '500.00', creditLeft: '0.00', overCreditLimit: false });
  });

  it('before anything was posted, has the whole limit left', async () => {
    const r = await balance('CRED', '2025-12-31');
    expect(r.body).toMatchObject({ balance: '0.00', creditLeft: '500.00', overCreditLimit: false });
  });

  it('with limit 0 has no limit: nothing left and never over', async () => {
    const r = await balance('NOLIM', UP_TO);
    expect(r.body).toMatchObject({
      balance: '1000.00',
      creditLimit: '0.00',
      creditLeft: '0.00',
      overCreditLimit: false,
    });
  });

  it('equals the statement balance on any date', async () => {
    for (const date of ['2026-04-01', '2026-04-16', '2026-04-30', UP_TO]) {
      for (const code of ['AGE', 'RETRO']) {
        const s = await statement(a, code, `upTo=${date}`);
        const bal = await balance(code, date);
        expect(bal.body.balance, `${code} ${date}`).toBe(s.body.currentBalance);
      }
    }
  });

  it('answers NOT_FOUND for an unknown customer', async () => {
    expect((await balance('NOBODY')).body.error.code).toBe('NOT_FOUND');
  });
});

describe('trial balance', () => {
  it('shows each account on its side in the base currency, totals equal', async () => {
    const r = await tb.get('/v1/reports/trial-balance?at=2026-03-31');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      at: '2026-03-31',
      currency: 'EUR',
      accounts: [
        // 121.00 − 121.00 − 12.10 + 100.00 (108 USD at 1.08) + 2.00 FX
        { code: '1100', name: 'Debtors control', type: 'asset', debit: '89.90', credit: '0.00' },
        { code: '1200', name: 'Bank current account', type: 'asset', debit: '121.00', credit: '0.00' },
        { code: '2200', name: 'VAT output', type: 'liability', debit: '0.00', credit: '18.90' },
        { code: '4000', name: 'Sales', type: 'income', debit: '0.00', credit: '190.00' },
        { code: '7900', name: 'Exchange gains and losses', type: 'expense', debit: '0.00', credit: '2.00' },
      ],
      totals: { debit: '210.90', credit: '210.90' },
    });
  });

  it('leaves out transactions dated after `at` and accounts that net to zero', async () => {
    const r = await tb.get('/v1/reports/trial-balance?at=2026-01-31');
    expect(r.body.accounts.map((x: any) => [x.code, x.debit, x.credit])).toEqual([
      ['1100', '100.00', '0.00'],
      ['1200', '121.00', '0.00'],
      ['2200', '0.00', '21.00'],
      ['4000', '0.00', '200.00'],
    ]);
    expect(r.body.totals).toEqual({ debit: '221.00', credit: '221.00' });
    const later = await tb.get('/v1/reports/trial-balance?at=2026-04-30');
    expect(later.body.accounts.map((x: any) => [x.code, x.debit, x.credit])).toEqual([
      ['1100', '89.90', '0.00'],
      ['1200', '119.50', '0.00'], // less the general journal's bank charges
      ['2200', '0.00', '18.90'],
      ['4000', '0.00', '190.00'],
      ['7700', '1.50', '0.00'],
      ['7900', '0.00', '2.00'],
    ]);
    expect(later.body.totals).toEqual({ debit: '210.90', credit: '210.90' });
    const empty = await tb.get('/v1/reports/trial-balance?at=2025-12-31');
    expect(empty.body.accounts).toEqual([]);
    expect(empty.body.totals).toEqual({ debit: '0.00', credit: '0.00' });
  });

  it("has totals equal for the main entity too, and only that entity's postings", async () => {
    const r = await a.get(`/v1/reports/trial-balance?at=${UP_TO}`);
    expect(r.body.totals.debit).toBe(r.body.totals.credit);
    // Control account = Σ customer balances of A (not B's 9.99).
    const control = r.body.accounts.find((x: any) => x.code === '1100');
    // AGE 623 + RETRO 70 + CRED 500 + NOLIM 1000 + NETZERO 0 + SETTLED 0
    expect(control.debit).toBe('2193.00');
  });
});

describe('transaction detail', () => {
  it('shows a partly allocated invoice with its items, journal and allocations, reversed ones flagged', async () => {
    const r = await a.get(`/v1/transactions/${id.B2}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      transactionId: id.B2,
      type: 'SI',
      side: 'debit',
      customerCode: 'RETRO',
      currency: 'EUR',
      exchangeRate: '1',
      transactionDate: '2026-02-01',
      dueDate: '2026-03-03',
      net: '200.00',
      tax: '0.00',
      gross: '200.00',
      baseGross: '200.00',
      outstanding: '50.00',
      status: 'partiallyAllocated',
      relatedTransactionId: null,
    });
    expect(Date.parse(r.body.createdAt)).not.toBeNaN();
    expect(r.body.allocations).toEqual([
      {
        allocationId: id.a2,
        transactionId: id.P1,
        type: 'SR',
        number: expect.any(Number),
        externalReference: 'P1',
        amount: '150.00',
        date: '2026-04-15',
        reference: 'a2',
        active: true,
        reversalDate: null,
      },
      {
        allocationId: id.a3,
        transactionId: id.N1,
        type: 'SN',
        number: expect.any(Number),
        externalReference: 'CN1',
        amount: '40.00',
        date: '2026-02-10',
        reference: 'a3',
        active: false,
        reversalDate: '2026-04-20',
      },
    ]);
  });

  it('shows the lines as entered and the journal in document and base currency', async () => {
    const r = await a.get(`/v1/transactions/${id.A3}`);
    expect(r.body.items).toEqual([
      {
        lineNo: 1,
        glAccountCode: '4000',
        taxCode: 'STD',
        taxRate: '0.21',
        description: '',
        departmentId: null,
        net: '200.00',
        tax: '42.00',
        gross: '242.00',
        analysis: {},
      },
    ]);
    expect(
      r.body.lines.map((l: any) => [l.role, l.glAccountCode, l.debit, l.credit, l.baseDebit, l.baseCredit]),
    ).toEqual([
      ['control', '1100', '242.00', '0.00', '242.00', '0.00'],
      ['net', '4000', '0.00', '200.00', '0.00', '200.00'],
      ['tax', '2200', '0.00', '42.00', '0.00', '42.00'],
    ]);
  });

  it('shows a foreign-currency invoice with base amounts in the base currency', async () => {
    const r = await tb.get(`/v1/transactions/${id.T2}`);
    expect(r.body).toMatchObject({
      currency: 'USD',
      exchangeRate: '1.08',
      gross: '108.00',
      baseGross: '100.00',
      outstanding: '108.00',
      status: 'open',
      allocations: [],
    });
    expect(r.body.lines[0]).toMatchObject({ role: 'control', debit: '108.00', baseDebit: '100.00' });
  });

  it('shows allocated, open, FX and general journal states', async () => {
    expect((await a.get(`/v1/transactions/${id.B1}`)).body).toMatchObject({ outstanding: '0.00', status: 'allocated' });
    expect((await a.get(`/v1/transactions/${id.N1}`)).body).toMatchObject({
      side: 'credit',
      outstanding: '40.00',
      status: 'open',
    });
    expect((await a.get(`/v1/transactions/${id.P1}`)).body.allocations.map((x: any) => x.transactionId)).toEqual([
      id.B1,
      id.B2,
    ]);
    const gj = await tb.get(`/v1/transactions/${id.GJ}`);
    expect(gj.body).toMatchObject({ type: 'GJ', side: 'none', customerCode: null, status: 'none', gross: '1.50' });
    const listed = await tb.get('/v1/transactions?type=GJ');
    expect(listed.body.items).toEqual([expect.objectContaining({ transactionId: id.GJ, customerCode: null })]);
    const fx = await tb.get(`/v1/transactions/${id.FX}`);
    expect(fx.body).toMatchObject({ type: 'FX', side: 'none', status: 'none', outstanding: '0.00', baseGross: '2.00' });
    expect(fx.body.lines.map((l: any) => [l.debit, l.credit, l.baseDebit, l.baseCredit])).toEqual([
      ['0.00', '0.00', '2.00', '0.00'],
      ['0.00', '0.00', '0.00', '2.00'],
    ]);
  });

  it("answers NOT_FOUND for another entity's transaction and for one that does not exist", async () => {
    const other = await b.get(`/v1/transactions/${id.A3}`);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('NOT_FOUND');
    expect((await a.get(`/v1/transactions/${id.BX}`)).status).toBe(404);
    expect((await a.get('/v1/transactions/999999999')).status).toBe(404);
  });
});

describe('transaction list', () => {
  it('pages the entity’s transactions by id with outstanding amounts', async () => {
    const r = await a.get('/v1/transactions?customerCode=AGE&pageSize=2&page=2');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ page: 2, pageSize: 2, total: 7 });
    expect(r.body.items).toEqual([
      {
        transactionId: id.A3,
        type: 'SI',
        number: 3,
        customerCode: 'AGE',
        transactionDate: '2026-04-15',
        dueDate: '2026-05-15',
        externalReference: 'INV-A3',
        currency: 'EUR',
        gross: '242.00',
        outstanding: '142.00',
        status: 'partiallyAllocated',
        change: 'created',
        modifiedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      },
      expect.objectContaining({ transactionId: id.A4, outstanding: '500.00', status: 'open' }),
    ]);
    const past = await a.get('/v1/transactions?customerCode=AGE&pageSize=2&page=9');
    expect(past.body).toMatchObject({ items: [], total: 7 });
  });

  it('filters by external reference, type and date range', async () => {
    const byRef = await a.get('/v1/transactions?externalReference=INV-A3');
    expect(byRef.body.items.map((x: any) => x.transactionId)).toEqual([id.A3]);
    const receipts = await a.get('/v1/transactions?type=SR&customerCode=RETRO');
    expect(receipts.body.items.map((x: any) => x.transactionId)).toEqual([id.P1]);
    expect(receipts.body.items[0]).toMatchObject({ outstanding: '0.00', status: 'allocated' });
    const range = await a.get('/v1/transactions?customerCode=RETRO&fromDate=2026-02-01&toDate=2026-03-01');
    expect(range.body.items.map((x: any) => x.transactionId)).toEqual([id.B2, id.N1, id.P1]);
  });

  it("never lists another entity's transactions", async () => {
    const r = await b.get('/v1/transactions');
    expect(r.body.total).toBe(1);
    expect(r.body.items[0].transactionId).toBe(id.BX);
  });
});

describe('validation and access', () => {
  const cases: [string, string][] = [
    ['/v1/customers/AGE/statement?upTo=2026-02-30', 'query.upTo'],
    ['/v1/customers/AGE/statement?basis=age', 'query.basis'],
    ['/v1/customers/age/statement', 'params.code'],
    ['/v1/customers/statements?showZeros=maybe', 'query.showZeros'],
    ['/v1/customers/statements?upTo=30-06-2026', 'query.upTo'],
    ['/v1/customers/AGE/balance?at=2026-13-01', 'query.at'],
    ['/v1/reports/trial-balance?at=yesterday', 'query.at'],
    ['/v1/transactions/abc', 'params.id'],
    ['/v1/transactions/0', 'params.id'],
    ['/v1/transactions/99999999999999999999', 'params.id'],
    ['/v1/transactions?type=XX', 'query.type'],
    ['/v1/transactions?pageSize=501', 'query.pageSize'],
    ['/v1/transactions?fromDate=2026-02-01&toDate=2026-01-01', 'query.toDate'],
    ['/v1/transactions?fromDate=2026-1-1', 'query.fromDate'],
  ];
  for (const [path, field] of cases) {
    it(`refuses ${path} naming ${field}`, async () => {
      const r = await a.get(path);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
      expect(r.body.error.details.map((d: any) => d.field)).toContain(field);
    });
  }

  it('refuses an unknown query parameter rather than ignoring it', async () => {
    const r = await a.get('/v1/customers/AGE/statement?upto=2026-01-01');
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('upto');
  });

  it('needs an entity token', async () => {
    for (const path of [
      `/v1/transactions/${id.A3}`,
      '/v1/transactions',
      '/v1/customers/AGE/statement',
      '/v1/customers/statements',
      '/v1/customers/AGE/balance',
      '/v1/reports/trial-balance',
    ]) {
      const anonymous = await t.request('GET', path);
      expect(anonymous.status, path).toBe(401);
      const admin = await t.request('GET', path, undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect(admin.status, path).toBe(401);
    }
  });

  it('documents every endpoint in the OpenAPI document', async () => {
    const doc = await t.request('GET', '/openapi.json');
    for (const path of [
      '/v1/transactions/{id}',
      '/v1/transactions',
      '/v1/customers/{code}/statement',
      '/v1/customers/statements',
      '/v1/customers/{code}/balance',
      '/v1/reports/trial-balance',
    ]) {
      expect(doc.body.paths[path]?.get, path).toBeDefined();
    }
    const params = doc.body.paths['/v1/customers/{code}/statement'].get.parameters.map((p: any) => p.name);
    expect(params).toEqual(['code', 'upTo', 'basis']);
  });
});

describe('volume', () => {
  // Speed is measured by `npm run bench` (docs/performance.md), not asserted here: this checks that a
  // statement of 10,001 open items, half of them part-paid, comes back complete and right.
  it('answers a complete statement of 10,001 open items', async () => {
    const db = t.db;
    const v = await t.entity('REPVOL', 'EUR');
    await createCustomer(db, v.entityId, { code: 'BIG' });
    const invoices = await postManyInvoices(db, v.entityId, {
      customer: 'BIG',
      count: 10_000,
      lastDate: UP_TO,
      gross: '100.00',
    });
    await payManyInvoices(db, v.entityId, { invoiceIds: invoices.slice(0, 5000), amount: '40.00' });
    await postJournal(db, v.entityId, 'SC', { customer: 'BIG', date: UP_TO, amount: '1.00' });
    const r = await t.app.inject({
      method: 'GET',
      url: `/v1/customers/BIG/statement?upTo=${UP_TO}`,
      headers: { authorization: `Bearer ${v.token}` },
    });
    expect(r.statusCode).toBe(200);
    const body = JSON.parse(r.body);
    expect(body.openItems).toHaveLength(10_001);
    // 5,000 × 60.00 + 5,000 × 100.00 − 1.00
    expect(body.currentBalance).toBe('799999.00');
  });
});
