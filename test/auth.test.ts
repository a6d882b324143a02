import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestApp, type TestApp } from './helpers/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('entities and login', () => {
  it('creates an entity and logs in with its keys', async () => {
    const created = await t.request(
      'POST',
      '/v1/admin/entities',
      { code: 'ACME', name: 'Acme', baseCurrency: 'EUR' },
      admin,
    );
    expect(created.status).toBe(201);
    expect(created.body.partnerKey).toMatch(/^pk_/);
    const login = await t.request('POST', '/v1/auth/login', {
      entityId: created.body.entityId,
      partnerKey: created.body.partnerKey,
      userKey: created.body.userKey,
    });
    expect(login.status).toBe(200);
    const expires = Date.parse(login.body.expiresAt) - Date.now();
    expect(expires).toBeGreaterThan(19 * 60 * 1000);
    expect(expires).toBeLessThanOrEqual(20 * 60 * 1000);
    // keys are stored hashed, never in clear
    const { rows } = await t.db.query<{ partner_key_hash: string }>('SELECT partner_key_hash FROM api_credentials');
    expect(JSON.stringify(rows)).not.toContain(created.body.partnerKey);
  });

  it('refuses entity creation without the admin token, with a duplicate code, or a bad currency', async () => {
    expect((await t.request('POST', '/v1/admin/entities', { code: 'X1', name: 'x', baseCurrency: 'EUR' })).status).toBe(
      401,
    );
    const wrong = await t.request(
      'POST',
      '/v1/admin/entities',
      { code: 'X1', name: 'x', baseCurrency: 'EUR' },
      { authorization: 'Bearer nope' },
    );
    expect(wrong.body.error.code).toBe('ADMIN_TOKEN_REQUIRED');
    await t.request('POST', '/v1/admin/entities', { code: 'DUP', name: 'x', baseCurrency: 'EUR' }, admin);
    const dup = await t.request('POST', '/v1/admin/entities', { code: 'DUP', name: 'x', baseCurrency: 'EUR' }, admin);
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('ENTITY_CODE_ALREADY_EXISTS');
    const ccy = await t.request('POST', '/v1/admin/entities', { code: 'CCY', name: 'x', baseCurrency: 'EUX' }, admin);
    expect(ccy.status).toBe(400);
    expect(ccy.body.error.details[0].field).toBe('body.baseCurrency');
  });

  it('answers INVALID_CREDENTIALS for any wrong part, without saying which', async () => {
    const created = await t.request(
      'POST',
      '/v1/admin/entities',
      { code: 'CREDS', name: 'c', baseCurrency: 'GBP' },
      admin,
    );
    const good = {
      entityId: created.body.entityId,
      partnerKey: created.body.partnerKey,
      userKey: created.body.userKey,
    };
    const variants = [
      { ...good, partnerKey: 'pk_wrong' },
      { ...good, userKey: 'uk_wrong' },
      { ...good, entityId: '00000000-0000-0000-0000-000000000000' },
      { ...good, entityId: 'not-a-uuid' },
    ];
    const bodies = [];
    for (const v of variants) {
      const r = await t.request('POST', '/v1/auth/login', v);
      expect(r.status).toBe(401);
      bodies.push(r.body);
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0].error.code).toBe('INVALID_CREDENTIALS');
  });

  it('rejects missing, unknown and expired tokens', async () => {
    const client = await t.entity();
    expect((await t.request('GET', '/v1/gl-accounts/1100')).body.error.code).toBe('UNAUTHORIZED');
    expect(
      (await t.request('GET', '/v1/gl-accounts/1100', undefined, { authorization: 'Bearer llt_nope' })).body.error.code,
    ).toBe('UNAUTHORIZED');
    await t.db.query(`INSERT INTO audit_log (actor, action) VALUES ('test', 'noop')`);
    await t.db.query(`UPDATE sessions SET expires_at = now() - interval '1 second'`);
    const expired = await client.get('/v1/gl-accounts/1100');
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('TOKEN_EXPIRED');
  });

  it('serves health, the OpenAPI document and the reference page', async () => {
    const health = await t.request('GET', '/health');
    expect(health.body.status).toBe('ok');
    const doc = await t.request('GET', '/openapi.json');
    expect(doc.body.openapi).toBe('3.1.0');
    expect(doc.body.paths['/v1/auth/login'].post.requestBody.content['application/json'].schema.required).toEqual([
      'entityId',
      'partnerKey',
      'userKey',
    ]);
    const page = await t.request('GET', '/docs');
    expect(String(page.body)).toContain('POST');
    expect(String(page.body)).toContain('INVALID_CREDENTIALS');
  });

  it('answers JSON errors for unknown routes and malformed bodies, never a 5xx', async () => {
    expect((await t.request('GET', '/v1/nope')).body.error.code).toBe('ROUTE_NOT_FOUND');
    const bad = await t.request('POST', '/v1/auth/login', '{"entityId":', { 'content-type': 'application/json' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_JSON');
    const text = await t.request('POST', '/v1/auth/login', 'hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
  });
});
