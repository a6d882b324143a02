import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
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

/**
 * Hostile values, one field at a time, in an otherwise valid request (the route's documented
 * example): amounts beyond bigint, NUL bytes, lone surrogates, huge and deeply nested values.
 * Whatever the field, the answer is a 4xx with a code, or a success; never a 5xx.
 */
const HOSTILE: unknown[] = [
  '92233720368547758.07',
  '-92233720368547758.08',
  '9223372036854775807',
  '99999999999999999999999999.99',
  '1e400',
  '0.0000000001',
  '',
  ' ',
  'a\u0000b',
  '\u0000',
  '\ud800',
  'x\udc00',
  '2026-02-30',
  '0000-01-01',
  'x'.repeat(70_000),
  -1,
  0,
  1e308,
  true,
  null,
  [],
  {},
  JSON.parse('['.repeat(20) + ']'.repeat(20)),
];

function fuzzValues(seed: number): unknown[] {
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.stringMatching(/^-?\d{1,25}(\.\d{1,12})?$/),
    fc.constantFrom('\ud800', '\u0000', '\uffff', '\u202e', "'; DROP TABLE customers; --"),
  );
  return fc.sample(fc.oneof(text, fc.integer(), fc.double()), { seed, numRuns: 4 });
}

/** Every path to a leaf (and to each object and array) of a JSON value. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => [[...prefix, i], ...paths(v, [...prefix, i])]);
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])]);
  }
  return [];
}

function withValue(base: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(base) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
  return copy;
}

describe('hostile values in every field of every route', () => {
  const seed = Number(process.env.FUZZ_SEED ?? 20261121);
  const routes = allRoutes.filter((r) => r.body && r.method !== 'GET' && !r.rawBody && r.auth !== 'none');

  it(`never answers 5xx (seed ${seed})`, async () => {
    await seedCustomer(t.db, c.entityId, 'CUST001');
    const failures: string[] = [];
    let n = 0;
    for (const route of routes) {
      const base = (route.example ?? {}) as Record<string, unknown>;
      const fields = paths(base);
      // Schema fields the example leaves out are tried too.
      const shape = (route.body as unknown as { shape?: Record<string, unknown> }).shape ?? {};
      for (const key of Object.keys(shape)) if (!(key in base)) fields.push([key]);
      const auth = { authorization: `Bearer ${route.auth === 'admin' ? ADMIN_TOKEN : c.token}` };
      for (const field of fields) {
        for (const value of [...HOSTILE, ...fuzzValues(seed + n)]) {
          n++;
          const body = withValue(base, field, value);
          const url = fill(route.path, route.path.includes('{id}') ? '1' : 'X1');
          const r = await t.request(route.method, url, JSON.stringify(body), {
            'content-type': 'application/json',
            'idempotency-key': `fuzz-${n}`,
            ...auth,
          });
          if (r.status >= 500 || (r.status >= 400 && typeof r.body?.error?.code !== 'string')) {
            failures.push(
              `${route.method} ${route.path} ${field.join('.')}=${JSON.stringify(value).slice(0, 60)}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`,
            );
          }
        }
      }
    }
    expect(n).toBeGreaterThan(500);
    expect(failures, `seed ${seed}`).toEqual([]);
  }, 600_000);

  it('refuses entity creation with a standard tax rate above 1', async () => {
    const r = await t.request(
      'POST',
      '/v1/admin/entities',
      { code: 'RATE', name: 'x', baseCurrency: 'EUR', standardTaxRate: '1.5' },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].field).toBe('body.standardTaxRate');
  });

  it('refuses a deeply nested body with an Idempotency-Key on draft post and cancel', async () => {
    for (const action of ['post', 'cancel']) {
      const r = await t.request(
        'POST',
        `/v1/sales/draft-invoices/1/${action}`,
        '['.repeat(50_000) + ']'.repeat(50_000),
        {
          'content-type': 'application/json',
          'idempotency-key': `deep-${action}`,
          authorization: `Bearer ${c.token}`,
        },
      );
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('INVALID_JSON');
    }
  });
});
