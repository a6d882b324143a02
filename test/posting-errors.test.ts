import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allRoutes } from '../src/api/routes/index.ts';
import { ACCOUNT_LINE_ERRORS, LINE_POSTING_ERRORS } from '../src/api/routes/posting-errors.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';

/**
 * Every route that posts lines lists the same, complete set of line errors (one shared list), and
 * the codes a purchase line can be refused with are the ones its route lists.
 */

const route = (method: string, path: string) => {
  const r = allRoutes.find((x) => x.method === method && x.path === path);
  if (!r) throw new Error(`no route ${method} ${path}`);
  return r;
};

const documentRoutes: [string, string][] = [
  ['POST', '/v1/sales/batch-invoices'],
  ['POST', '/v1/sales/credit-notes'],
  ['POST', '/v1/sales/draft-invoices'],
  ['POST', '/v1/sales/draft-invoices/{id}/post'],
  ['POST', '/v1/sales/post-pay-allocate'],
  ['POST', '/v1/purchases/invoices'],
  ['POST', '/v1/back-to-back'],
  ['POST', '/v1/intercompany/invoices'],
  ['POST', '/v1/sales/invoices'],
  ['POST', '/v1/sales/invoices/{id}/post'],
  ['POST', '/v1/sales/credit-notes/drafts'],
  ['POST', '/v1/sales/credit-notes/drafts/{id}/post'],
];

describe('route error lists', () => {
  it.each(documentRoutes)('%s %s lists every line posting error', (method, path) => {
    const errors = route(method, path).errors ?? [];
    expect(LINE_POSTING_ERRORS.filter((c) => !errors.includes(c))).toEqual([]);
  });

  it('general journals list every account line error', () => {
    const errors = route('POST', '/v1/journals').errors ?? [];
    expect(ACCOUNT_LINE_ERRORS.filter((c) => !errors.includes(c))).toEqual([]);
  });
});

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('POSTERR', 'EUR');
  expect((await c.put('/v1/suppliers/ACME', { name: 'Acme Supplies' })).status).toBe(201);
  const dim = await c.put('/v1/analysis-dimensions/1', {
    name: 'Region',
    codes: [
      { code: 'NORTH', name: 'North' },
      { code: 'WEST', name: 'West', active: false },
    ],
  });
  expect(dim.status).toBe(201);
});
afterAll(async () => t?.close());

describe('a purchase line refused for its analysis codes', () => {
  it.each([
    ['EAST', 'ANALYSIS_CODE_DOES_NOT_EXIST'],
    ['WEST', 'ANALYSIS_CODE_IS_INACTIVE'],
  ])('analysis %s: %s, listed by the route, nothing posted', async (code, error) => {
    const r = await c.post('/v1/purchases/invoices', {
      supplierCode: 'ACME',
      invoiceDate: '2026-11-03',
      supplierReference: `REF-${code}`,
      lines: [{ glAccountCode: '5000', taxCode: 'STD', netAmount: '100.00', taxRate: '0.21', analysis: { '1': code } }],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error.code).toBe(error);
    expect(r.body.error.details[0].field).toBe('lines[0].analysis.1');
    expect(route('POST', '/v1/purchases/invoices').errors).toContain(error);
    const { rows } = await t.db.query(`SELECT 1 FROM transactions WHERE entity_id = $1`, [c.entityId]);
    expect(rows).toEqual([]);
  });
});
