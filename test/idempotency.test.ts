import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { definePipeline } from './helpers/sync.ts';
import { multipart, syncServer } from './helpers/uploads.ts';
import { allRoutes } from '../src/api/routes/index.ts';
import { describeIdempotency, idempotencyModeOf, purgeExpired, requestHash } from '../src/api/idempotency.ts';

let t: TestApp;
let app: FastifyInstance;
let c: Client;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

beforeAll(async () => {
  t = await createTestApp({ idempotencyTtlSeconds: 3600 });
  app = await syncServer(t);
  c = await t.entity('IDM', 'EUR');
  await definePipeline(t.db, 'IDM', { name: 'files', source: { type: 'file' } });
  await definePipeline(t.db, 'IDM', { name: 'recs', source: { type: 'records' } });
  await definePipeline(t.db, 'IDM', {
    name: 'till',
    source: { type: 'webhook' },
    webhookSecret: 'whsec_test_0123456789abcdef',
    mode: 'daily-summary',
    options: { summaryCustomer: 'CASH' },
  });
  expect((await c.put('/v1/customers/CASH', { name: 'Cash sales' })).status).toBe(201);
});
afterAll(async () => {
  if (app !== t.app) await app.close();
  await t.close();
});

async function count(table: string): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0]!.n);
}

async function importWithKey(key: string, content: string) {
  const body = multipart({ pipeline: 'files' }, { name: 'invoices.csv', content });
  const res = await app.inject({
    method: 'POST',
    url: '/v1/imports',
    headers: { 'content-type': body.contentType, authorization: `Bearer ${c.token}`, 'idempotency-key': key },
    payload: body.payload,
  });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

describe('answers that hold keys', () => {
  it('never stores an entity key pair; a replay is refused and issues nothing', async () => {
    const key = { ...admin, 'idempotency-key': 'create-SECRET' };
    const body = { code: 'SECRET', name: 'Secret', baseCurrency: 'EUR' };
    const first = await t.request('POST', '/v1/admin/entities', body, key);
    expect(first.status).toBe(201);
    const { rows } = await t.db.query<{ response_body: unknown; holds_secret: boolean; response_status: number }>(
      `SELECT response_body, holds_secret, response_status FROM idempotency_keys WHERE key = 'create-SECRET'`,
    );
    expect(rows).toEqual([{ response_body: null, holds_secret: true, response_status: 201 }]);
    const all = await t.db.query('SELECT response_body FROM idempotency_keys');
    expect(JSON.stringify(all.rows)).not.toContain(first.body.partnerKey);
    const credentials = await count('api_credentials');
    const replay = await t.request('POST', '/v1/admin/entities', body, key);
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe('IDEMPOTENCY_REPLAY_OF_SECRET');
    expect(JSON.stringify(replay.body)).not.toContain(first.body.partnerKey);
    expect(await count('api_credentials')).toBe(credentials);
  });

  it('never stores a fresh key pair either', async () => {
    const key = { ...admin, 'idempotency-key': 'keys-IDM' };
    const first = await t.request('POST', '/v1/admin/entities/IDM/keys', { label: 'ci' }, key);
    expect(first.status).toBe(201);
    const credentials = await count('api_credentials');
    const replay = await t.request('POST', '/v1/admin/entities/IDM/keys', { label: 'ci' }, key);
    expect(replay.body.error.code).toBe('IDEMPOTENCY_REPLAY_OF_SECRET');
    expect(await count('api_credentials')).toBe(credentials);
    const all = await t.db.query('SELECT response_body FROM idempotency_keys');
    expect(JSON.stringify(all.rows)).not.toContain(first.body.userKey);
  });

  it('refuses at the database a stored body marked as holding secrets', async () => {
    await expect(
      t.db.query(
        `INSERT INTO idempotency_keys (scope, key, method, path, request_hash, response_status, response_body, holds_secret, expires_at)
         VALUES ('admin', 'forged', 'POST', '/x', 'h', 201, '{"partnerKey":"pk_x"}', true, now() + interval '1 hour')`,
      ),
    ).rejects.toThrow();
    // Nor its Location, which may carry a token as well.
    await expect(
      t.db.query(
        `INSERT INTO idempotency_keys (scope, key, method, path, request_hash, response_status, response_body, response_location, holds_secret, expires_at)
         VALUES ('admin', 'forged', 'POST', '/x', 'h', 201, 'null', '/x?token=t', true, now() + interval '1 hour')`,
      ),
    ).rejects.toThrow(/idempotency_keys_secret_location_not_stored/);
  });
});

describe('Idempotency-Key on routes that commit their own work', () => {
  it('replays a manual run without starting a second one', async () => {
    const headers = { 'idempotency-key': 'run-1' };
    const runs = await count('runs');
    const first = await c.post('/v1/pipelines/recs/runs', undefined, headers);
    expect(first.status).toBe(202);
    const replay = await c.post('/v1/pipelines/recs/runs', undefined, headers);
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await count('runs')).toBe(runs + 1);
  });

  it('replays a daily summary without a second run', async () => {
    const headers = { 'idempotency-key': 'summary-1' };
    const runs = await count('runs');
    const first = await c.post('/v1/pipelines/till/daily-summary', { date: '2026-01-05' }, headers);
    expect(first.status).toBe(202);
    const replay = await c.post('/v1/pipelines/till/daily-summary', { date: '2026-01-05' }, headers);
    expect(replay.body).toEqual(first.body);
    expect(await count('runs')).toBe(runs + 1);
    const other = await c.post('/v1/pipelines/till/daily-summary', { date: '2026-01-06' }, headers);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('replays an import, and refuses another file under the same key', async () => {
    // C-2 has no customer in the ledger: its invoice is parked, which the retry test below uses.
    const csv =
      'invoice_reference,customer_id,customer_name,customer_email,invoice_date,due_date,currency,description,product_code,line_description,net_amount,vat_rate,vat_amount,gl_account,tax_code,department\n' +
      'IDM-1,C-1,Cash,,2026-01-05,2026-02-05,EUR,Tickets,,Ticket,10.00,0.20,,,,\n' +
      'IDM-2,C-2,,,2026-01-05,2026-02-05,EUR,Tickets,,Ticket,12.00,0.20,,,,\n';
    const runs = await count('runs');
    const first = await importWithKey('import-1', csv);
    expect(first.status).toBe(200);
    const replay = await importWithKey('import-1', csv);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await count('runs')).toBe(runs + 1);
    const other = await importWithKey('import-1', csv.replace('IDM-1', 'IDM-3'));
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('replays an exception retry without a second run', async () => {
    const { rows } = await t.db.query<{ id: string }>(`SELECT id FROM exceptions WHERE status = 'open' LIMIT 1`);
    expect(rows).toHaveLength(1);
    const id = rows[0]!.id;
    const headers = { 'idempotency-key': 'retry-1' };
    const runs = await count('runs');
    const first = await c.post(`/v1/exceptions/${id}/retry`, undefined, headers);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const replay = await c.post(`/v1/exceptions/${id}/retry`, undefined, headers);
    expect(replay.body).toEqual(first.body);
    expect(await count('runs')).toBe(runs + 1);
  });

  it('answers 409 while the first request with the key is still running', async () => {
    await t.db.query(
      `INSERT INTO idempotency_keys (scope, key, method, path, request_hash, response_status, response_body, expires_at)
       VALUES ($1, 'busy', 'POST', '/v1/pipelines/{name}/runs', $2, 0, 'null', now() + interval '1 hour')`,
      [c.entityId, requestHash('POST', '/v1/pipelines/recs/runs', 'null')],
    );
    const r = await c.post('/v1/pipelines/recs/runs', undefined, { 'idempotency-key': 'busy' });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('IDEMPOTENCY_REQUEST_IN_PROGRESS');
  });
});

describe('expiry', () => {
  it('keeps a stored answer for the configured time, then runs the request again and purges the record', async () => {
    const headers = { 'idempotency-key': 'run-expiring' };
    const first = await c.post('/v1/pipelines/recs/runs', undefined, headers);
    const { rows } = await t.db.query<{ ttl: number }>(
      `SELECT extract(epoch FROM expires_at - created_at)::int AS ttl FROM idempotency_keys WHERE key = 'run-expiring'`,
    );
    expect(rows[0]!.ttl).toBe(3600);
    await t.db.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'run-expiring'`);
    const after = await c.post('/v1/pipelines/recs/runs', undefined, headers);
    expect(after.status).toBe(202);
    expect(after.headers['idempotent-replayed']).toBeUndefined();
    expect(after.body.runId).not.toBe(first.body.runId);
    await t.db.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second'`);
    expect(await purgeExpired(t.db)).toBeGreaterThan(0);
    expect(await count('idempotency_keys')).toBe(0);
  });
});

describe('every POST route', () => {
  const posts = allRoutes.filter((r) => r.method === 'POST');

  it('declares what Idempotency-Key does, and the reference says it', () => {
    expect(posts.length).toBeGreaterThan(15);
    for (const route of posts) {
      const mode = idempotencyModeOf(route)!;
      const where = `${route.method} ${route.path}`;
      if (route.auth === 'none') expect(typeof mode, `${where}: anonymous, so it must refuse or ignore`).toBe('object');
      if (typeof mode === 'object') expect(Object.values(mode)[0]!.length, where).toBeGreaterThan(10);
      expect(describeIdempotency(route), where).toMatch(/Idempotency-Key/);
    }
  });

  it('refuses a key where it is documented as refused', async () => {
    const r = await t.request(
      'POST',
      '/v1/auth/login',
      { entityId: c.entityId, partnerKey: 'pk_x', userKey: 'uk_x' },
      { 'idempotency-key': 'login-1' },
    );
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('IDEMPOTENCY_KEY_NOT_SUPPORTED');
  });

  it('runs a transactional write once: a replayed receipt posts nothing again', async () => {
    const headers = { 'idempotency-key': 'receipt-1' };
    const receipt = {
      customerCode: 'CASH',
      paymentDate: '2026-01-05',
      paymentAmount: '10.00',
      bankAccountCode: 'BANK',
      checkReference: 'R-1',
    };
    const first = await c.post('/v1/sales/receipts', receipt, headers);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const transactions = await count('transactions');
    const replay = await c.post('/v1/sales/receipts', receipt, headers);
    expect(replay.body).toEqual(first.body);
    expect(await count('transactions')).toBe(transactions);
  });
});
