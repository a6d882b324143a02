import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, seedCustomer } from './helpers/ledger.ts';
import { definePipeline, syncService } from './helpers/sync.ts';
import { listRunRecords } from '../src/sync/runs.ts';

/*
 * Issue #11, currencies: dated exchange rates per entity, the rate in force on a document's date
 * when it sends none (EXCHANGE_RATE_MISSING when there is none), and the period-end revaluation of
 * open items in foreign currencies, posted and reversed the next day, once per date.
 */

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

let n = 0;
const ref = (p: string) => `${p}-${++n}`;

/** A GBP entity with customers in EUR, USD and GBP. */
async function gbpEntity(): Promise<Client> {
  const c = await t.entity(`CUR${++n}`, 'GBP', { standardTaxRate: '0.2' });
  await seedCustomer(t.db, c.entityId, 'EU1', { currency: 'EUR' });
  await seedCustomer(t.db, c.entityId, 'US1', { currency: 'USD' });
  await seedCustomer(t.db, c.entityId, 'GB1', { currency: 'GBP' });
  return c;
}

async function putRates(c: Client, currency: string, rates: Record<string, string>): Promise<void> {
  for (const [date, rate] of Object.entries(rates)) {
    const r = await c.put(`/v1/currencies/${currency}/rates/${date}`, { rate });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
}

/** An invoice of `net` at the zero rate, so the gross is the net and the amounts stay readable. */
const invoice = (customerCode: string, date: string, net: string, extra: Record<string, unknown> = {}) => ({
  customerCode,
  invoiceDate: date,
  externalReference: ref('INV'),
  lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: net }],
  ...extra,
});

const receipt = (customerCode: string, date: string, amount: string, extra: Record<string, unknown> = {}) => ({
  customerCode,
  checkReference: ref('PAY'),
  paymentAmount: amount,
  bankAccountCode: 'BANK',
  paymentDate: date,
  ...extra,
});

async function txRow(id: number) {
  const { rows } = await t.db.query<{
    exchange_rate: string;
    base_gross: string;
    type: string;
    transaction_date: string;
  }>(
    `SELECT exchange_rate::text AS exchange_rate, base_gross::text AS base_gross, type, transaction_date::text AS transaction_date
       FROM transactions WHERE id = $1`,
    [id],
  );
  return rows[0]!;
}

async function count(c: Client, table: 'transactions' | 'exchange_rates' | 'revaluations'): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE entity_id = $1`, [
    c.entityId,
  ]);
  return Number(rows[0]!.n);
}

describe('dated exchange rates', () => {
  it('sets, replaces and lists rates; refuses the base currency; audits every change', async () => {
    const c = await gbpEntity();
    const created = await c.put('/v1/currencies/EUR/rates/2026-01-01', { rate: '1.1500' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ currency: 'EUR', date: '2026-01-01', rate: '1.15' });
    await putRates(c, 'EUR', { '2026-06-01': '1.18', '2026-12-31': '1.2' });
    const replaced = await c.put('/v1/currencies/EUR/rates/2026-06-01', { rate: '1.19' });
    expect(replaced.status).toBe(200);
    expect(replaced.body.rate).toBe('1.19');
    const same = await c.put('/v1/currencies/EUR/rates/2026-06-01', { rate: '1.190' });
    expect([same.status, same.body.rate]).toEqual([200, '1.19']);

    const all = await c.get('/v1/currencies/EUR/rates');
    expect(all.body).toEqual([
      { currency: 'EUR', date: '2026-01-01', rate: '1.15' },
      { currency: 'EUR', date: '2026-06-01', rate: '1.19' },
      { currency: 'EUR', date: '2026-12-31', rate: '1.2' },
    ]);
    const some = await c.get('/v1/currencies/EUR/rates?from=2026-02-01&to=2026-12-30');
    expect(some.body).toEqual([{ currency: 'EUR', date: '2026-06-01', rate: '1.19' }]);
    const list = await c.get('/v1/currencies');
    expect(list.body).toEqual({
      baseCurrency: 'GBP',
      currencies: [
        { currency: 'EUR', latestRate: { date: '2026-12-31', rate: '1.2' }, rateCount: 3, customerCount: 1 },
        { currency: 'USD', latestRate: null, rateCount: 0, customerCount: 1 },
      ],
    });

    const base = await c.put('/v1/currencies/GBP/rates/2026-01-01', { rate: '1' });
    expect(base.status).toBe(422);
    expect(base.body.error.code).toBe('EXCHANGE_RATE_FOR_BASE_CURRENCY');
    expect(base.body.error.details).toEqual([{ field: 'params.code', message: 'the base currency takes no rates' }]);
    // The database refuses it too, whatever the path.
    await expect(
      t.db.query(
        `INSERT INTO exchange_rates (entity_id, currency, rate_date, rate, created_by) VALUES ($1, 'GBP', '2026-01-01', 1, 'x')`,
        [c.entityId],
      ),
    ).rejects.toThrow(/base currency/);
    expect(await count(c, 'exchange_rates')).toBe(3);

    const { rows: audit } = await t.db.query<{ action: string; object_id: string; before: unknown; after: unknown }>(
      `SELECT action, object_id, before, after FROM audit_log WHERE entity_id = $1 AND object_type = 'exchangeRate' ORDER BY id`,
      [c.entityId],
    );
    expect(audit.map((a) => [a.action, a.object_id])).toEqual([
      ['exchangeRate.created', 'EUR/2026-01-01'],
      ['exchangeRate.created', 'EUR/2026-06-01'],
      ['exchangeRate.created', 'EUR/2026-12-31'],
      ['exchangeRate.updated', 'EUR/2026-06-01'],
    ]);
    expect(audit[3]).toMatchObject({ before: { rate: '1.18' }, after: { rate: '1.19' } });
  });

  it('refuses bad rates, dates and currencies with 400 and stores nothing', async () => {
    const c = await gbpEntity();
    const cases: [string, unknown, string][] = [
      ['/v1/currencies/EUR/rates/2026-01-01', { rate: '0' }, 'body.rate'],
      ['/v1/currencies/EUR/rates/2026-01-01', { rate: '-1.1' }, 'body.rate'],
      ['/v1/currencies/EUR/rates/2026-01-01', { rate: '1.12345678901' }, 'body.rate'],
      ['/v1/currencies/EUR/rates/2026-01-01', { rate: '0.0000001' }, 'body.rate'],
      ['/v1/currencies/EUR/rates/2026-01-01', { rate: '1000001' }, 'body.rate'],
      ['/v1/currencies/EUR/rates/2026-02-30', { rate: '1.1' }, 'params.date'],
      ['/v1/currencies/XXY/rates/2026-01-01', { rate: '1.1' }, 'params.code'],
      ['/v1/currencies/eur/rates/2026-01-01', { rate: '1.1' }, 'params.code'],
    ];
    for (const [path, body, field] of cases) {
      const r = await c.put(path, body);
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
    expect(await count(c, 'exchange_rates')).toBe(0);
    const reversed = await c.get('/v1/currencies/EUR/rates?from=2026-02-01&to=2026-01-01');
    expect(reversed.status).toBe(400);
  });

  it('keeps rates per entity: another entity neither sees nor uses them', async () => {
    const a = await gbpEntity();
    const b = await gbpEntity();
    await putRates(a, 'EUR', { '2026-01-01': '1.15' });
    expect((await b.get('/v1/currencies/EUR/rates')).body).toEqual([]);
    const r = await b.post('/v1/sales/batch-invoices', invoice('EU1', '2026-03-10', '100.00'));
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('EXCHANGE_RATE_MISSING');
  });
});

describe('a document without a rate takes the rate in force on its date', () => {
  let c: Client;
  beforeAll(async () => {
    c = await gbpEntity();
    await putRates(c, 'EUR', { '2026-01-01': '1.15', '2026-06-01': '1.18' });
  });

  it('before the first rate: EXCHANGE_RATE_MISSING on exchangeRate, nothing posted', async () => {
    const before = await count(c, 'transactions');
    const r = await c.post('/v1/sales/batch-invoices', invoice('EU1', '2025-12-31', '115.00'));
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('EXCHANGE_RATE_MISSING');
    expect(r.body.error.details).toEqual([{ field: 'exchangeRate', message: 'no EUR rate in force on 2025-12-31' }]);
    expect(await count(c, 'transactions')).toBe(before);
  });

  it('on the day of a rate, and between two rates', async () => {
    const onDay = await c.post('/v1/sales/batch-invoices', invoice('EU1', '2026-06-01', '118.00'));
    expect(onDay.status).toBe(201);
    expect(await txRow(onDay.body.transactionId)).toMatchObject({ exchange_rate: '1.1800000000', base_gross: '10000' });
    const dayBefore = await c.post('/v1/sales/batch-invoices', invoice('EU1', '2026-05-31', '115.00'));
    expect(await txRow(dayBefore.body.transactionId)).toMatchObject({
      exchange_rate: '1.1500000000',
      base_gross: '10000',
    });
    const between = await c.post('/v1/sales/batch-invoices', invoice('EU1', '2026-03-10', '100.00'));
    // 100.00 EUR ÷ 1.15 = 86.956… → 86.96 GBP
    expect(await txRow(between.body.transactionId)).toMatchObject({
      exchange_rate: '1.1500000000',
      base_gross: '8696',
    });
    await checkInvariants(t.db, c.entityId);
  });

  it('an explicit rate wins, and is still checked against the plausible band', async () => {
    const explicit = await c.post(
      '/v1/sales/batch-invoices',
      invoice('EU1', '2026-03-10', '116.00', { exchangeRate: '1.16' }),
    );
    expect(explicit.status).toBe(201);
    expect(await txRow(explicit.body.transactionId)).toMatchObject({
      exchange_rate: '1.1600000000',
      base_gross: '10000',
    });
    const absurd = await c.post(
      '/v1/sales/batch-invoices',
      invoice('EU1', '2026-03-10', '10.00', { exchangeRate: '5' }),
    );
    expect(absurd.status).toBe(422);
    expect(absurd.body.error.code).toBe('EXCHANGE_RATE_IMPLAUSIBLE');
    // A base-currency document still takes 1 and refuses any other rate.
    const gbp = await c.post(
      '/v1/sales/batch-invoices',
      invoice('GB1', '2026-03-10', '10.00', { exchangeRate: '1.1' }),
    );
    expect(gbp.body.error.code).toBe('EXCHANGE_RATE_MUST_BE_ONE');
  });

  it('every posting path: receipts, credit notes, journals, drafts and post-pay-allocate', async () => {
    const early = '2025-12-15';
    const date = '2026-07-01';
    const paths: [string, (d: string) => unknown, string][] = [
      ['/v1/sales/receipts', (d) => receipt('EU1', d, '118.00'), 'exchangeRate'],
      [
        '/v1/sales/credit-notes',
        (d) => ({
          customerCode: 'EU1',
          creditNoteDate: d,
          externalReference: ref('CN'),
          lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '11.80' }],
        }),
        'exchangeRate',
      ],
      [
        '/v1/sales/debit-journals',
        (d) => ({
          customerCode: 'EU1',
          transactionDate: d,
          externalReference: ref('SD'),
          lines: [{ bankAccountCode: 'BANK', amount: '23.60' }],
        }),
        'exchangeRate',
      ],
      ['/v1/sales/draft-invoices', (d) => invoice('EU1', d, '59.00'), 'exchangeRate'],
      [
        '/v1/sales/post-pay-allocate',
        (d) => ({
          batchInvoice: invoice('EU1', d, '35.40'),
          receipt: receipt('EU1', d, '35.40'),
          performExternalReferenceDuplicateCheckOnInvoice: true,
          performExternalReferenceDuplicateCheckOnReceipt: true,
          performAllocation: true,
          allocationReference: ref('AL'),
        }),
        'batchInvoice.exchangeRate',
      ],
    ];
    for (const [path, body, field] of paths) {
      const before = await count(c, 'transactions');
      const missing = await c.post(path, body(early));
      expect(missing.status, `${path}: ${JSON.stringify(missing.body)}`).toBe(422);
      expect(missing.body.error.code).toBe('EXCHANGE_RATE_MISSING');
      expect(missing.body.error.details[0].field).toBe(field);
      expect(await count(c, 'transactions')).toBe(before);
      const ok = await c.post(path, body(date));
      expect(ok.status, `${path}: ${JSON.stringify(ok.body)}`).toBe(201);
    }
    // Each document took 1.18, the rate in force on 2026-07-01: 118.00 → 100.00, 11.80 → 10.00 …
    const { rows } = await t.db.query<{ type: string; rate: string; gross: string; base: string }>(
      `SELECT type, exchange_rate::text AS rate, gross::text AS gross, base_gross::text AS base FROM transactions
        WHERE entity_id = $1 AND transaction_date = '2026-07-01' AND type IN ('SI', 'SR', 'SN', 'SD') ORDER BY id`,
      [c.entityId],
    );
    expect(rows).toEqual([
      { type: 'SR', rate: '1.1800000000', gross: '11800', base: '10000' },
      { type: 'SN', rate: '1.1800000000', gross: '1180', base: '1000' },
      { type: 'SD', rate: '1.1800000000', gross: '2360', base: '2000' },
      { type: 'SI', rate: '1.1800000000', gross: '3540', base: '3000' },
      { type: 'SR', rate: '1.1800000000', gross: '3540', base: '3000' },
    ]);
    // The draft posts at the rate in force on its invoice date, not at a rate set since for a later day.
    const drafts = await c.get('/v1/sales/draft-invoices?status=draft');
    const draft = drafts.body.items[0];
    await putRates(c, 'EUR', { '2026-07-02': '1.3' });
    const posted = await c.post(`/v1/sales/draft-invoices/${draft.draftId}/post`, {});
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    expect(await txRow(posted.body.transactionId)).toMatchObject({ exchange_rate: '1.1800000000', base_gross: '5000' });
    await checkInvariants(t.db, c.entityId);
  });
});

describe('a sync', () => {
  it('books a record without a rate at the rate in force, and parks one dated before any rate', async () => {
    const c = await t.entity('CURSYNC', 'EUR', { standardTaxRate: '0.21' });
    await putRates(c, 'USD', { '2026-03-01': '1.1' });
    const pipeline = await definePipeline(t.db, 'CURSYNC', { name: 'fx', source: { type: 'records' } });
    const record = (id: string, invoiceDate: string) => ({
      record: {
        kind: 'invoice',
        sourceId: id,
        externalReference: id,
        customerSourceId: 'K1',
        invoiceDate,
        currency: 'USD',
        description: '',
        lines: [{ description: 'Service', netAmount: '110.00', vatRate: '0' }],
      } as never,
    });
    const runId = await syncService(t.db).processRecords(pipeline, 'import', 'test', [
      { record: { kind: 'customer', sourceId: 'K1', name: 'Yankee', currency: 'USD' } as never },
      record('EARLY', '2026-02-28'),
      record('MARCH', '2026-03-10'),
    ]);
    const records = await listRunRecords(t.db, runId, 100, 0);
    const outcome = (id: string) => records.find((r) => r.kind === 'invoice' && r.sourceId === id)?.outcome;
    expect([outcome('EARLY'), outcome('MARCH')]).toEqual(['parked', 'created']);
    const { rows: parked } = await t.db.query<{ source_id: string; reason_code: string; field: string | null }>(
      `SELECT source_id, reason_code, field FROM exceptions WHERE pipeline_id = $1 AND status = 'open'`,
      [pipeline.id],
    );
    expect(parked).toEqual([
      { source_id: 'EARLY', reason_code: 'EXCHANGE_RATE_MISSING', field: 'batchInvoice.exchangeRate' },
    ]);
    const { rows } = await t.db.query<{ rate: string; base: string }>(
      `SELECT exchange_rate::text AS rate, base_gross::text AS base FROM transactions WHERE entity_id = $1`,
      [c.entityId],
    );
    expect(rows).toEqual([{ rate: '1.1000000000', base: '10000' }]);
  });
});

describe('bulk post-pay-allocate', () => {
  it('looks up each query on its own date; only the query without a rate fails', async () => {
    const c = await gbpEntity();
    await putRates(c, 'USD', { '2026-03-01': '1.25' });
    const query = (date: string) => ({
      batchInvoice: invoice('US1', date, '125.00'),
      receipt: receipt('US1', date, '125.00'),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: true,
      allocationReference: ref('AL'),
    });
    const r = await c.post('/v1/sales/post-pay-allocate/bulk', {
      queries: [query('2026-03-01'), query('2026-02-28'), query('2026-04-15')],
    });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: { status: string; errorCode?: string }) => [x.status, x.errorCode])).toEqual([
      ['Success', undefined],
      ['Failure', 'EXCHANGE_RATE_MISSING'],
      ['Success', undefined],
    ]);
    const { rows } = await t.db.query<{ rate: string; base: string }>(
      `SELECT DISTINCT exchange_rate::text AS rate, base_gross::text AS base FROM transactions
        WHERE entity_id = $1 AND type IN ('SI', 'SR')`,
      [c.entityId],
    );
    expect(rows).toEqual([{ rate: '1.2500000000', base: '10000' }]);
    await checkInvariants(t.db, c.entityId);
  });
});

/**
 * The worked example of docs/ledger.md "Currencies and revaluation" (base GBP):
 * - EUR rates 1.15 from 2026-01-01, 1.18 from 2026-06-01, 1.20 from 2026-12-31; USD 1.30 from
 *   2026-12-01, 1.28 from 2026-12-15.
 * - EU1: invoice 1,150.00 EUR on 2026-03-10 (1.15 → 1,000.00 GBP), half paid on 2026-07-15 (575.00
 *   EUR at 1.18 → 487.29 GBP; the allocation clears 500.00 of the invoice and realises 12.71).
 * - US1: invoice 1,000.00 USD on 2026-11-20 at an explicit 1.25 (800.00 GBP); an unallocated
 *   receipt of 260.00 USD on 2026-12-05 (1.30 → 200.00 GBP).
 * - GB1: invoice 100.00 GBP (no exchange difference, but in the control account).
 */
describe('revaluation', () => {
  let c: Client;
  beforeAll(async () => {
    c = await gbpEntity();
    await putRates(c, 'EUR', { '2026-01-01': '1.15', '2026-06-01': '1.18', '2026-12-31': '1.2' });
    await putRates(c, 'USD', { '2026-12-01': '1.3', '2026-12-15': '1.28' });
    const eu = await c.post(
      '/v1/sales/batch-invoices',
      invoice('EU1', '2026-03-10', '1150.00', { externalReference: 'EU-INV' }),
    );
    const pay = await c.post('/v1/sales/receipts', receipt('EU1', '2026-07-15', '575.00'));
    const alloc = await c.post('/v1/allocations', {
      transactionId1: eu.body.transactionId,
      transactionId2: pay.body.transactionId,
      amount: '575.00',
      reference: 'part payment',
    });
    expect(alloc.status, JSON.stringify(alloc.body)).toBe(201);
    const us = await c.post(
      '/v1/sales/batch-invoices',
      invoice('US1', '2026-11-20', '1000.00', { exchangeRate: '1.25', externalReference: 'US-INV' }),
    );
    expect(us.status).toBe(201);
    expect((await c.post('/v1/sales/receipts', receipt('US1', '2026-12-05', '260.00'))).status).toBe(201);
    expect((await c.post('/v1/sales/batch-invoices', invoice('GB1', '2026-12-01', '100.00'))).status).toBe(201);
  });

  it('reports the unrealised differences per item, customer, currency and in total', async () => {
    const r = await c.get('/v1/reports/revaluation?at=2026-12-31');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.rates).toEqual([
      { currency: 'EUR', rate: '1.2', date: '2026-12-31' },
      { currency: 'USD', rate: '1.28', date: '2026-12-15' },
    ]);
    expect(r.body.customers).toMatchObject([
      {
        customerCode: 'EU1',
        currency: 'EUR',
        rate: '1.2',
        outstanding: '575.00',
        baseOutstanding: '500.00',
        revaluedBase: '479.17', // 575.00 ÷ 1.20 = 479.1666…
        difference: '-20.83',
        items: [{ type: 'SI', externalReference: 'EU-INV', bookedRate: '1.15', outstanding: '575.00' }],
      },
      {
        customerCode: 'US1',
        currency: 'USD',
        rate: '1.28',
        outstanding: '740.00',
        baseOutstanding: '600.00',
        revaluedBase: '578.12',
        difference: '-21.88',
        items: [
          {
            type: 'SI',
            outstanding: '1000.00',
            baseOutstanding: '800.00',
            revaluedBase: '781.25',
            difference: '-18.75',
          },
          // 260.00 ÷ 1.28 = 203.125 → 203.13 (half-up), a credit: −203.13 against −200.00
          {
            type: 'SR',
            outstanding: '-260.00',
            baseOutstanding: '-200.00',
            revaluedBase: '-203.13',
            difference: '-3.13',
          },
        ],
      },
    ]);
    expect(r.body.currencies).toEqual([
      {
        currency: 'EUR',
        outstanding: '575.00',
        baseOutstanding: '500.00',
        revaluedBase: '479.17',
        difference: '-20.83',
      },
      {
        currency: 'USD',
        outstanding: '740.00',
        baseOutstanding: '600.00',
        revaluedBase: '578.12',
        difference: '-21.88',
      },
    ]);
    expect(r.body.totals).toEqual({ baseOutstanding: '1100.00', revaluedBase: '1057.29', difference: '-42.71' });
    expect(r.body.controlAccount).toEqual({
      controlAccount: '1200.00',
      openItems: '1200.00',
      revaluation: '0.00',
      difference: '0.00',
    });
    // Before the last EUR rate, 1.18 is in force; before any USD rate the report cannot be made.
    const nov = await c.get('/v1/reports/revaluation?at=2026-11-30');
    expect(nov.status).toBe(422);
    expect(nov.body.error.code).toBe('EXCHANGE_RATE_MISSING');
    expect(nov.body.error.details).toEqual([{ field: 'query.at', message: 'no USD rate in force on 2026-11-30' }]);
    const oct = await c.get('/v1/reports/revaluation?at=2026-10-31');
    expect(oct.body.customers).toMatchObject([
      { customerCode: 'EU1', rate: '1.18', revaluedBase: '487.29', difference: '-12.71' },
    ]);
  });

  it('refuses a date without rates or in a locked period, and posts nothing', async () => {
    const missing = await c.post('/v1/revaluations', { at: '2026-11-30' });
    expect(missing.status).toBe(422);
    expect(missing.body.error.code).toBe('EXCHANGE_RATE_MISSING');
    expect(missing.body.error.details[0].field).toBe('at');
    expect(await count(c, 'revaluations')).toBe(0);
    expect((await c.put('/v1/settings', { lockDate: '2026-12-31' })).status).toBe(200);
    const locked = await c.post('/v1/revaluations', { at: '2026-12-31' });
    expect(locked.status).toBe(422);
    expect(locked.body.error.code).toBe('PERIOD_LOCKED');
    expect((await c.put('/v1/settings', { lockDate: null })).status).toBe(200);
    expect(await count(c, 'revaluations')).toBe(0);
  });

  it('posts the differences on the date and reverses them the next day, once per date', async () => {
    const before = await count(c, 'transactions');
    const r = await c.post('/v1/revaluations', { at: '2026-12-31' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({
      at: '2026-12-31',
      reversalDate: '2027-01-01',
      created: true,
      baseCurrency: 'GBP',
      totalDifference: '-42.71',
      postings: [
        { customerCode: 'EU1', currency: 'EUR', rate: '1.2', difference: '-20.83' },
        { customerCode: 'US1', currency: 'USD', rate: '1.28', difference: '-21.88' },
      ],
    });
    expect(await count(c, 'transactions')).toBe(before + 4);

    // Each journal balances and moves base currency only: control against 7910.
    const { rows: lines } = await t.db.query<{ date: string; gl: string; amount: string; base: string }>(
      `SELECT t.transaction_date::text AS date, j.gl_account_code AS gl, j.amount::text AS amount, j.base_amount::text AS base
         FROM journal_lines j JOIN transactions t ON t.id = j.transaction_id
        WHERE t.entity_id = $1 AND t.type = 'RV' ORDER BY t.id, j.line_no`,
      [c.entityId],
    );
    expect(lines).toEqual([
      { date: '2026-12-31', gl: '1100', amount: '0', base: '-2083' },
      { date: '2026-12-31', gl: '7910', amount: '0', base: '2083' },
      { date: '2026-12-31', gl: '1100', amount: '0', base: '-2188' },
      { date: '2026-12-31', gl: '7910', amount: '0', base: '2188' },
      { date: '2027-01-01', gl: '1100', amount: '0', base: '2083' },
      { date: '2027-01-01', gl: '7910', amount: '0', base: '-2083' },
      { date: '2027-01-01', gl: '1100', amount: '0', base: '2188' },
      { date: '2027-01-01', gl: '7910', amount: '0', base: '-2188' },
    ]);

    // An RV reads like any transaction: no customer side, nothing to allocate.
    const rv = await c.get(`/v1/transactions/${r.body.postings[0].transactionId}`);
    expect(rv.status, JSON.stringify(rv.body)).toBe(200);
    expect(rv.body).toMatchObject({ type: 'RV', customerCode: 'EU1', transactionDate: '2026-12-31' });
    const reversal = await c.get(`/v1/transactions/${r.body.postings[0].reversalTransactionId}`);
    expect(reversal.body).toMatchObject({ type: 'RV', customerCode: 'EU1', transactionDate: '2027-01-01' });

    // The same date again: the same revaluation, nothing posted.
    const again = await c.post('/v1/revaluations', { at: '2026-12-31' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...r.body, created: false });
    expect(await count(c, 'transactions')).toBe(before + 4);
    // The database holds one per date whatever the path.
    await expect(
      t.db.query(
        `INSERT INTO revaluations (entity_id, at_date, reversal_date, created_by) VALUES ($1, '2026-12-31', '2027-01-01', 'x')`,
        [c.entityId],
      ),
    ).rejects.toThrow(/revaluations_one_per_date/);
    const { rows: audit } = await t.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM audit_log WHERE entity_id = $1 AND action = 'revaluation.posted'`,
      [c.entityId],
    );
    expect(audit[0]!.n).toBe('1');
  });

  it('moves the control account on the date and brings it back the next day', async () => {
    const tb = async (at: string) => {
      const r = await c.get(`/v1/reports/trial-balance?at=${at}`);
      return Object.fromEntries(
        (r.body.accounts as { code: string; debit: string; credit: string }[]).map((a) => [
          a.code,
          [a.debit, a.credit],
        ]),
      );
    };
    const yearEnd = await tb('2026-12-31');
    expect(yearEnd['1100']).toEqual(['1157.29', '0.00']); // 1,200.00 − 42.71
    expect(yearEnd['7910']).toEqual(['42.71', '0.00']); // an unrealised loss
    const next = await tb('2027-01-01');
    expect(next['1100']).toEqual(['1200.00', '0.00']);
    expect(next['7910']).toBeUndefined();

    const atYearEnd = await c.get('/v1/reports/revaluation?at=2026-12-31');
    expect(atYearEnd.body.controlAccount).toEqual({
      controlAccount: '1157.29',
      openItems: '1200.00',
      revaluation: '-42.71',
      difference: '0.00',
    });
    // The open items keep their booked base amounts: the report of the same date is unchanged.
    expect(atYearEnd.body.totals).toEqual({
      baseOutstanding: '1100.00',
      revaluedBase: '1057.29',
      difference: '-42.71',
    });
    const after = await c.get('/v1/reports/revaluation?at=2027-01-01');
    expect(after.body.controlAccount).toEqual({
      controlAccount: '1200.00',
      openItems: '1200.00',
      revaluation: '0.00',
      difference: '0.00',
    });
    await checkInvariants(t.db, c.entityId);
  });

  // Found by test/ledger-combined.property.test.ts: the control lines of purchase invoices (the
  // creditors' control account, migration 0082) were counted as debtors control, so an entity that
  // had received a purchase invoice never reconciled.
  it('reconciles the debtors control without the creditors control of purchase invoices', async () => {
    const e = await gbpEntity();
    expect((await e.put('/v1/suppliers/ACME', { name: 'Acme' })).status).toBe(201);
    const purchase = await e.post('/v1/purchases/invoices', {
      supplierCode: 'ACME',
      invoiceDate: '2026-11-02',
      supplierReference: 'P-1',
      lines: [{ glAccountCode: '5000', taxCode: 'STD', netAmount: '80.00', taxRate: '0' }],
    });
    expect(purchase.status, JSON.stringify(purchase.body)).toBe(201);
    expect((await e.post('/v1/sales/batch-invoices', invoice('GB1', '2026-11-03', '50.00'))).status).toBe(201);
    const r = await e.get('/v1/reports/revaluation?at=2026-12-31');
    expect(r.body.controlAccount).toEqual({
      controlAccount: '50.00',
      openItems: '50.00',
      revaluation: '0.00',
      difference: '0.00',
    });
    await checkInvariants(t.db, e.entityId);
  });

  it('two concurrent requests for one date post one revaluation', async () => {
    const e = await gbpEntity();
    await putRates(e, 'EUR', { '2026-01-01': '1.15', '2026-12-31': '1.2' });
    expect((await e.post('/v1/sales/batch-invoices', invoice('EU1', '2026-03-10', '115.00'))).status).toBe(201);
    const [x, y] = await Promise.all([
      e.post('/v1/revaluations', { at: '2026-12-31' }),
      e.post('/v1/revaluations', { at: '2026-12-31' }),
    ]);
    expect([x.status, y.status].sort()).toEqual([200, 201]);
    expect(x.body.revaluationId).toBe(y.body.revaluationId);
    // 115.00 ÷ 1.20 = 95.83 against 100.00 booked: a 4.17 loss, posted once and reversed once.
    expect(x.body.totalDifference).toBe('-4.17');
    const { rows } = await t.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM transactions WHERE entity_id = $1 AND type = 'RV'`,
      [e.entityId],
    );
    expect(rows[0]!.n).toBe('2');
    await checkInvariants(t.db, e.entityId);
  });

  it('a revaluation with nothing to revalue posts nothing but is kept for its date', async () => {
    const e = await gbpEntity();
    const r = await e.post('/v1/revaluations', { at: '2026-12-31' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ created: true, postings: [], totalDifference: '0.00' });
    expect(await count(e, 'transactions')).toBe(0);
    expect((await e.post('/v1/revaluations', { at: '2026-12-31' })).status).toBe(200);
  });

  it('replays a retried request with the same Idempotency-Key', async () => {
    const e = await gbpEntity();
    const headers = { 'idempotency-key': 'reval-2026-12-31' };
    const first = await e.post('/v1/revaluations', { at: '2026-12-31' }, headers);
    const second = await e.post('/v1/revaluations', { at: '2026-12-31' }, headers);
    expect(second.status).toBe(first.status);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');
  });
});
