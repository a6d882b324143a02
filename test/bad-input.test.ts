import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allRoutes } from '../src/api/routes/index.ts';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { seedCustomer } from './helpers/ledger.ts';

/**
 * Every endpoint, fed malformed input: a 4xx with a stable error code, never a 5xx, and nothing in
 * the database changes. Routes come from the registry, so a new endpoint is covered by default.
 */
let t: TestApp;
let c: Client;
const TABLES = [
  'transactions',
  'journal_lines',
  'allocations',
  'customers',
  'gl_accounts',
  'tax_codes',
  'pipelines',
  'runs',
  'exceptions',
  'idempotency_keys',
];

async function snapshot() {
  const out: Record<string, string> = {};
  for (const table of TABLES) {
    const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    out[table] = rows[0]!.n;
  }
  return out;
}

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('BAD', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
});
afterAll(async () => t.close());

function fill(path: string, value: string) {
  return path.replace(/\{(\w+)\}/g, value);
}

const MALFORMED_BODIES: [string, string][] = [
  ['an array', '[]'],
  ['a string', '"hello"'],
  ['unknown fields', '{"noSuchField": 1, "another": {"x": [1.5]}}'],
  [
    'wrong types everywhere',
    '{"customerCode": 12, "lines": "x", "amount": {}, "transactionIds": "1", "name": false, "date": 20261121}',
  ],
  ['broken JSON', '{"a": '],
];

describe('bad input on every endpoint', () => {
  const routes = allRoutes.filter((r) => r.auth !== 'none' || r.path.startsWith('/v1/auth'));

  it('covers every route in the registry', () => {
    expect(routes.length).toBeGreaterThan(50);
  });

  for (const route of routes) {
    if (route.body && route.method !== 'GET') {
      it(`${route.method} ${route.path}: malformed bodies answer 4xx and change nothing`, async () => {
        const auth = { authorization: `Bearer ${route.auth === 'admin' ? ADMIN_TOKEN : c.token}` };
        const before = await snapshot();
        for (const [what, body] of MALFORMED_BODIES) {
          const r = await t.request(route.method, fill(route.path, 'X1'), body, {
            'content-type': 'application/json',
            ...auth,
          });
          expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBeGreaterThanOrEqual(400);
          expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBeLessThan(500);
          expect(typeof r.body?.error?.code, what).toBe('string');
        }
        expect(await snapshot()).toEqual(before);
      });
    }
    if (route.params || route.query) {
      it(`${route.method} ${route.path}: malformed path and query answer 4xx`, async () => {
        const auth = { authorization: `Bearer ${route.auth === 'admin' ? ADMIN_TOKEN : c.token}` };
        const before = await snapshot();
        for (const value of ['%00', 'a%20b', '-1', '99999999999999999999', 'lower-case']) {
          const url =
            fill(route.path, value) + (route.query ? '?page=abc&pageSize=-5&upTo=2026-13-45&at=x&from=yesterday' : '');
          const body = route.method === 'GET' ? undefined : route.body ? '{}' : undefined;
          const r = await t.request(route.method, url, body, {
            ...(body ? { 'content-type': 'application/json' } : {}),
            ...auth,
          });
          expect(r.status, `${url}: ${JSON.stringify(r.body)}`).toBeLessThan(500);
          if (r.status >= 400) expect(typeof r.body?.error?.code).toBe('string');
        }
        expect(await snapshot()).toEqual(before);
      });
    }
  }
});
