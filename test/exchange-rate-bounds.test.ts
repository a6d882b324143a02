import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, seedCustomer } from './helpers/ledger.ts';
import { definePipeline, syncService } from './helpers/sync.ts';
import { getRun, listRunRecords } from '../src/sync/runs.ts';
import { Dec } from '../src/domain/money.ts';
import { rateBand } from '../src/ledger/posting/rate-bounds.ts';

/*
 * Issue #9: an exchangeRate of "0.0000001" booked a 12.10 USD invoice as 121,000,000.00 EUR. A
 * rate outside the band around the last known rate of its currency is refused unless confirmed.
 */

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

let n = 0;
/** A fresh EUR entity with a USD customer, so each test starts without a known USD rate. */
async function usdEntity(): Promise<Client> {
  const c = await t.entity(`FX${++n}`, 'EUR', { standardTaxRate: '0.21' });
  await seedCustomer(t.db, c.entityId, 'US1', { currency: 'USD' });
  return c;
}

const invoice = (rate: string, extra: Record<string, unknown> = {}) => ({
  customerCode: 'US1',
  invoiceDate: '2026-03-10',
  externalReference: `INV-${++n}`,
  exchangeRate: rate,
  lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '10.00', taxRate: '0.21' }],
  ...extra,
});

async function postedCount(c: Client): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM transactions WHERE entity_id = $1', [
    c.entityId,
  ]);
  return Number(rows[0]!.n);
}

describe('the reproduction', () => {
  it('refuses 0.0000001 with no known rate (422, code, field), and books it when confirmed', async () => {
    const c = await usdEntity();
    const refused = await c.post('/v1/sales/batch-invoices', invoice('0.0000001'));
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('EXCHANGE_RATE_IMPLAUSIBLE');
    expect(refused.body.error.details).toMatchObject({
      field: 'exchangeRate',
      exchangeRate: '0.0000001',
      lastKnownRate: null,
      lowest: '0.000001',
      highest: '1000000',
    });
    expect(await postedCount(c)).toBe(0);

    const confirmed = await c.post('/v1/sales/batch-invoices', invoice('0.0000001', { confirmExchangeRate: true }));
    expect(confirmed.status).toBe(201);
    const { rows } = await t.db.query<{ base_gross: string }>(
      'SELECT base_gross::text AS base_gross FROM transactions WHERE id = $1',
      [confirmed.body.transactionId],
    );
    expect(rows[0]!.base_gross).toBe('12100000000'); // 121,000,000.00 EUR, as the caller confirmed
    await checkInvariants(t.db, c.entityId);
  });

  it('refuses a rate no column holds, confirmed or not, on every document and journal (400, field), posting nothing', async () => {
    const c = await usdEntity();
    // numeric(20, 10) holds ten digits before the point: 12345678901 was a database error and a 500.
    const cases: [string, Record<string, unknown>][] = [
      ['/v1/sales/batch-invoices', invoice('12345678901', { confirmExchangeRate: true })],
      [
        '/v1/sales/receipts',
        {
          customerCode: 'US1',
          paymentDate: '2026-03-10',
          checkReference: 'R-BIG',
          paymentAmount: '10.00',
          exchangeRate: '99999999999.9999999999',
          confirmExchangeRate: true,
        },
      ],
      [
        '/v1/journals',
        {
          date: '2026-03-10',
          currency: 'USD',
          exchangeRate: 10_000_000_000,
          confirmExchangeRate: true,
          lines: [
            { glAccountCode: '7700', debit: '1.00' },
            { glAccountCode: '1200', credit: '1.00' },
          ],
        },
      ],
    ];
    for (const [path, body] of cases) {
      const r = await c.post(path, body);
      expect([r.status, r.body.error?.code, r.body.error?.details?.[0]?.field], path).toEqual([
        400,
        'VALIDATION_ERROR',
        'body.exchangeRate',
      ]);
      expect(r.body.error.message).toContain('below 10000000000');
    }
    expect(await postedCount(c)).toBe(0);
    // The largest the column holds is booked when confirmed.
    const largest = await c.post(
      '/v1/sales/batch-invoices',
      invoice('9999999999.9999999999', { confirmExchangeRate: true }),
    );
    expect(largest.status, JSON.stringify(largest.body)).toBe(201);
  });

  it('refuses a rate far from the last known one, naming that rate, and books one within the band', async () => {
    const c = await usdEntity();
    expect((await c.post('/v1/sales/batch-invoices', invoice('1.08'))).status).toBe(201);
    // Within ±50 % of 1.08 (0.54 … 1.62): booked, and it is the last known rate from now on.
    expect((await c.post('/v1/sales/batch-invoices', invoice('1.5'))).status).toBe(201);
    const far = await c.post('/v1/sales/batch-invoices', invoice('2.3'));
    expect(far.status).toBe(422);
    expect(far.body.error.code).toBe('EXCHANGE_RATE_IMPLAUSIBLE');
    expect(far.body.error.details).toMatchObject({
      field: 'exchangeRate',
      lastKnownRate: '1.5',
      lastKnownDate: '2026-03-10',
      lowest: '0.75',
      highest: '2.25',
    });
    expect(far.body.error.message).toMatch(/last known rate 1\.5/);
    // The band's edges are plausible.
    expect((await c.post('/v1/sales/batch-invoices', invoice('2.25'))).status).toBe(201);
    expect(await postedCount(c)).toBe(3);
  });
});

describe('the setting', () => {
  it('shows the default, changes the band, and refuses a tolerance that is not a fraction', async () => {
    const c = await usdEntity();
    expect((await c.get('/v1/settings')).body.exchangeRateTolerance).toBe('0.5');
    expect((await c.post('/v1/sales/batch-invoices', invoice('1'))).status).toBe(201);
    expect((await c.post('/v1/sales/batch-invoices', invoice('1.6'))).status).toBe(422);

    const put = await c.put('/v1/settings', { exchangeRateTolerance: '0.1' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ exchangeRateTolerance: '0.1', vatTolerance: '1', lockDate: null });
    const narrow = await c.post('/v1/sales/batch-invoices', invoice('1.2'));
    expect(narrow.status).toBe(422);
    expect(narrow.body.error.details).toMatchObject({ lowest: '0.9', highest: '1.1' });
    expect((await c.post('/v1/sales/batch-invoices', invoice('1.1'))).status).toBe(201);

    expect((await c.put('/v1/settings', { exchangeRateTolerance: '2' })).status).toBe(200);
    // Last known is now 1.1: ±200 % reaches 3.3, and anything positive below.
    expect((await c.post('/v1/sales/batch-invoices', invoice('3.2'))).status).toBe(201);

    const bad = await c.put('/v1/settings', { exchangeRateTolerance: '-1' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('body.exchangeRateTolerance');
    expect((await c.get('/v1/settings')).body.exchangeRateTolerance).toBe('2');
  });
});

describe('every posting path', () => {
  it('receipts, credit notes, journals and drafts are refused alike and booked when confirmed', async () => {
    const c = await usdEntity();
    expect((await c.post('/v1/sales/batch-invoices', invoice('1.08'))).status).toBe(201);
    const receipt = (rate: string, extra: Record<string, unknown> = {}) => ({
      customerCode: 'US1',
      checkReference: `R-${++n}`,
      paymentAmount: '5.00',
      paymentDate: '2026-03-11',
      exchangeRate: rate,
      ...extra,
    });
    const creditNote = (rate: string, extra: Record<string, unknown> = {}) => ({
      customerCode: 'US1',
      creditNoteDate: '2026-03-11',
      externalReference: `CN-${++n}`,
      exchangeRate: rate,
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1.00', taxRate: '0.21' }],
      ...extra,
    });
    const journal = (rate: string, extra: Record<string, unknown> = {}) => ({
      customerCode: 'US1',
      transactionDate: '2026-03-11',
      externalReference: `J-${++n}`,
      exchangeRate: rate,
      lines: [{ glAccountCode: '4000', amount: '1.00' }],
      ...extra,
    });
    const paths: [string, (rate: string, extra?: Record<string, unknown>) => unknown][] = [
      ['/v1/sales/receipts', receipt],
      ['/v1/sales/credit-notes', creditNote],
      ['/v1/sales/debit-journals', journal],
      ['/v1/sales/credit-journals', journal],
    ];
    for (const [path, body] of paths) {
      const r = await c.post(path, body('0.0000001'));
      expect([path, r.status, r.body.error?.code, r.body.error?.details?.lastKnownRate]).toEqual([
        path,
        422,
        'EXCHANGE_RATE_IMPLAUSIBLE',
        '1.08',
      ]);
      expect([path, (await c.post(path, body('0.0000001', { confirmExchangeRate: true }))).status]).toEqual([
        path,
        201,
      ]);
      // The confirmed rate is now the last known one: restore a sane one for the next path.
      expect(
        (
          await c.post(
            '/v1/sales/batch-invoices',
            invoice('1.08', { invoiceDate: '2026-03-11', confirmExchangeRate: true }),
          )
        ).status,
      ).toBe(201);
    }

    const draft = await c.post('/v1/sales/draft-invoices', invoice('9'));
    expect(draft.status).toBe(201);
    const posted = await c.post(`/v1/sales/draft-invoices/${draft.body.id ?? draft.body.draftId}/post`, {});
    expect(posted.status).toBe(422);
    expect(posted.body.error.code).toBe('EXCHANGE_RATE_IMPLAUSIBLE');
    await checkInvariants(t.db, c.entityId);
  });

  it('bulk post-pay-allocate refuses only the query with the implausible rate', async () => {
    const c = await usdEntity();
    expect((await c.post('/v1/sales/batch-invoices', invoice('1.08'))).status).toBe(201);
    const query = (rate: string) => ({
      batchInvoice: invoice(rate),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: false,
      clientUniqueReference: `Q-${++n}`,
    });
    const r = await c.post('/v1/sales/post-pay-allocate/bulk', {
      queries: [query('1.1'), query('0.0000001'), query('1.05')],
    });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: { status: string; errorCode?: string }) => [x.status, x.errorCode])).toEqual([
      ['Success', undefined],
      ['Failure', 'EXCHANGE_RATE_IMPLAUSIBLE'],
      ['Success', undefined],
    ]);
    expect(r.body.results[1].errorDetails).toMatchObject({ field: 'batchInvoice.exchangeRate', lastKnownRate: '1.08' });
    expect(await postedCount(c)).toBe(3);
  });
});

describe('bankExchangeRate', () => {
  /** The trial balance line of one GL account, in base minor units. */
  async function baseBalance(c: Client, code: string): Promise<string> {
    const { rows } = await t.db.query<{ b: string }>(
      `SELECT coalesce(sum(base_amount), 0)::text AS b FROM journal_lines WHERE entity_id = $1 AND gl_account_code = $2`,
      [c.entityId, code],
    );
    return rows[0]!.b;
  }
  const receipt = (extra: Record<string, unknown>) => ({
    customerCode: 'US1',
    checkReference: `U-BANKRATE-${++n}`,
    paymentAmount: '12.10',
    paymentDate: '2026-04-03',
    exchangeRate: '1.08',
    ...extra,
  });

  it('is checked like exchangeRate on a receipt into the base-currency bank (the reproduction), and booked when confirmed', async () => {
    const c = await usdEntity();
    expect((await c.put('/v1/currencies/USD/rates/2026-01-01', { rate: '1.08' })).status).toBe(201);
    // 0.0000001 moved the bank by 121,000,000.00 EUR, with an FX line to match.
    const absurd = await c.post('/v1/sales/receipts', receipt({ bankExchangeRate: '0.0000001' }));
    expect(absurd.status, JSON.stringify(absurd.body)).toBe(422);
    expect(absurd.body.error.code).toBe('EXCHANGE_RATE_IMPLAUSIBLE');
    expect(absurd.body.error.details).toMatchObject({
      field: 'bankExchangeRate',
      exchangeRate: '0.0000001',
      lastKnownRate: null,
      lowest: '0.000001',
      highest: '1000000',
    });
    // Above the absolute band too, and with the document's rate taken from the dated rates.
    const huge = await c.post('/v1/sales/receipts', receipt({ exchangeRate: undefined, bankExchangeRate: '2000000' }));
    expect([huge.status, huge.body.error?.code, huge.body.error?.details?.field]).toEqual([
      422,
      'EXCHANGE_RATE_IMPLAUSIBLE',
      'bankExchangeRate',
    ]);
    expect(await postedCount(c)).toBe(0);
    expect(await baseBalance(c, '1200')).toBe('0');

    // The same confirmation as exchangeRate's books it, as the caller confirmed.
    const confirmed = await c.post(
      '/v1/sales/receipts',
      receipt({ bankExchangeRate: '0.0000001', confirmExchangeRate: true }),
    );
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(201);
    expect(await baseBalance(c, '1200')).toBe('12100000000');
    await checkInvariants(t.db, c.entityId);
  });

  it('takes the band around the last known rate, as exchangeRate does', async () => {
    const c = await usdEntity();
    expect((await c.post('/v1/sales/batch-invoices', invoice('1.08'))).status).toBe(201);
    const far = await c.post('/v1/sales/receipts', receipt({ bankExchangeRate: '1.7' }));
    expect(far.status).toBe(422);
    expect(far.body.error.code).toBe('EXCHANGE_RATE_IMPLAUSIBLE');
    expect(far.body.error.details).toMatchObject({
      field: 'bankExchangeRate',
      exchangeRate: '1.7',
      lastKnownRate: '1.08',
      lowest: '0.54',
      highest: '1.62',
    });
    expect(far.body.error.message).toMatch(/^bankExchangeRate: 1\.7 USD per EUR is outside 0\.54 … 1\.62/);
    // Within the band: the bank takes what arrived, the difference goes to exchange gains and losses.
    const near = await c.post('/v1/sales/receipts', receipt({ bankExchangeRate: '1.2' }));
    expect(near.status, JSON.stringify(near.body)).toBe(201);
    expect(await baseBalance(c, '1200')).toBe('1008'); // 12.10 USD ÷ 1.2
    expect(await baseBalance(c, '7900')).toBe('112'); // 11.20 − 10.08 EUR
    await checkInvariants(t.db, c.entityId);
  });

  it('is checked on the receipt of post-pay-allocate, alone and in bulk', async () => {
    const c = await usdEntity();
    expect((await c.post('/v1/sales/batch-invoices', invoice('1.08'))).status).toBe(201);
    const query = (bankExchangeRate: string, extra: Record<string, unknown> = {}) => ({
      batchInvoice: invoice('1.08'),
      receipt: receipt({ paymentAmount: '5.00', bankExchangeRate }),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: false,
      clientUniqueReference: `Q-${++n}`,
      ...extra,
    });
    const before = await postedCount(c);
    const one = await c.post('/v1/sales/post-pay-allocate', query('0.0000001'));
    expect(one.status, JSON.stringify(one.body)).toBe(422);
    expect(one.body.error.code).toBe('EXCHANGE_RATE_IMPLAUSIBLE');
    expect(one.body.error.details).toMatchObject({ field: 'receipt.bankExchangeRate', lastKnownRate: '1.08' });
    expect(await postedCount(c)).toBe(before);

    const bulk = await c.post('/v1/sales/post-pay-allocate/bulk', {
      queries: [query('1.1'), query('0.0000001'), query('1000')],
    });
    expect(bulk.status).toBe(200);
    expect(bulk.body.results.map((x: { status: string; errorCode?: string }) => [x.status, x.errorCode])).toEqual([
      ['Success', undefined],
      ['Failure', 'EXCHANGE_RATE_IMPLAUSIBLE'],
      ['Failure', 'EXCHANGE_RATE_IMPLAUSIBLE'],
    ]);
    expect(bulk.body.results[2].errorDetails).toMatchObject({ field: 'receipt.bankExchangeRate', highest: '1.62' });
    expect(await postedCount(c)).toBe(before + 2);
    await checkInvariants(t.db, c.entityId);
  });
});

describe('a sync', () => {
  it('parks a record with an implausible rate with its reason, and books the records around it', async () => {
    const c = await t.entity('FXSYNC', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'FXSYNC', { name: 'fx', source: { type: 'records' } });
    const record = (id: string, rate: string) => ({
      record: {
        kind: 'invoice',
        sourceId: id,
        externalReference: id,
        customerSourceId: 'K1',
        invoiceDate: '2026-03-10',
        currency: 'USD',
        exchangeRate: rate,
        description: '',
        lines: [{ description: 'Service', netAmount: '10.00', vatRate: '0.21' }],
      } as never,
    });
    const runId = await syncService(t.db).processRecords(pipeline, 'import', 'test', [
      { record: { kind: 'customer', sourceId: 'K1', name: 'Yankee', currency: 'USD' } as never },
      record('GOOD-1', '1.08'),
      record('ABSURD', '0.0000001'),
      record('GOOD-2', '1.09'),
    ]);
    expect((await getRun(t.db, runId))!.status).toBe('partial');
    const records = await listRunRecords(t.db, runId, 100, 0);
    const outcome = (id: string) => records.find((r) => r.kind === 'invoice' && r.sourceId === id);
    expect(outcome('GOOD-1')).toMatchObject({ outcome: 'created' });
    expect(outcome('GOOD-2')).toMatchObject({ outcome: 'created' });
    expect(outcome('ABSURD')).toMatchObject({ outcome: 'parked' });
    const { rows: parked } = await t.db.query<{ source_id: string; reason_code: string; field: string | null }>(
      `SELECT source_id, reason_code, field FROM exceptions WHERE pipeline_id = $1 AND status = 'open'`,
      [pipeline.id],
    );
    expect(parked).toEqual([
      { source_id: 'ABSURD', reason_code: 'EXCHANGE_RATE_IMPLAUSIBLE', field: 'batchInvoice.exchangeRate' },
    ]);
    const { rows } = await t.db.query<{ external_reference: string }>(
      `SELECT external_reference FROM transactions WHERE entity_id = $1 ORDER BY id`,
      [c.entityId],
    );
    expect(rows.map((r) => r.external_reference)).toEqual(['GOOD-1', 'GOOD-2']);
  });
});

describe('rateBand', () => {
  it('is ±tolerance around the last known rate, never below zero, and absolute without one', () => {
    const band = (last: string | null, tol: string) => {
      const b = rateBand(last ? { rate: last, date: '2026-01-01' } : null, new Dec(tol));
      return [b.lowest.toFixed(), b.highest.toFixed()];
    };
    expect(band('1.08', '0.5')).toEqual(['0.54', '1.62']);
    expect(band('160', '0.25')).toEqual(['120', '200']);
    expect(band('1.08', '1.5')).toEqual(['0', '2.7']);
    expect(band(null, '0.5')).toEqual(['0.000001', '1000000']);
  });
});
