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

async function loginFrom(address: string, body: Record<string, unknown>) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    remoteAddress: address,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

async function newEntity(code: string) {
  const r = await t.request('POST', '/v1/admin/entities', { code, name: code, baseCurrency: 'EUR' }, admin);
  expect(r.status).toBe(201);
  return r.body as { entityId: string; keyId: string; partnerKey: string; userKey: string };
}

describe('login throttling and revocation', () => {
  it('throttles failed logins per entity id with Retry-After, even for the right keys, and audits each failure', async () => {
    const e = await newEntity('THR');
    const wrong = { entityId: e.entityId, partnerKey: e.partnerKey, userKey: 'uk_wrong' };
    // 10 failures (the default) from ten addresses: one entity id, so the address limit is not what trips.
    for (let i = 0; i < 10; i++) expect((await loginFrom(`10.1.0.${i}`, wrong)).status).toBe(401);
    const throttled = await loginFrom('10.1.0.99', { ...wrong, userKey: e.userKey });
    expect(throttled.status).toBe(429);
    expect(throttled.body.error.code).toBe('LOGIN_THROTTLED');
    const retryAfter = Number(throttled.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(throttled.body.error.details.retryAfterSeconds).toBe(retryAfter);
    const { rows } = await t.db.query<{ after: unknown }>(
      `SELECT after FROM audit_log WHERE action = 'auth.login-failed' AND after->>'entityId' = $1`,
      [e.entityId],
    );
    expect(rows).toHaveLength(10);
    expect(JSON.stringify(rows)).not.toContain('uk_wrong');
    expect(JSON.stringify(rows)).not.toContain(e.partnerKey);
    // Once the failures leave the window, the right keys log in again.
    await t.db.query(`UPDATE login_failures SET failed_at = failed_at - interval '16 minutes'`);
    expect((await loginFrom('10.1.0.99', { ...wrong, userKey: e.userKey })).status).toBe(200);
  });

  it('throttles one address trying many entity ids', async () => {
    const e = await newEntity('THR2');
    for (let i = 0; i < 10; i++) {
      const r = await loginFrom('10.2.0.1', {
        entityId: `00000000-0000-0000-0000-00000000000${i}`,
        partnerKey: 'pk_x',
        userKey: 'uk_x',
      });
      expect(r.status).toBe(401);
    }
    const r = await loginFrom('10.2.0.1', { entityId: e.entityId, partnerKey: e.partnerKey, userKey: e.userKey });
    expect(r.status).toBe(429);
    expect(
      (await loginFrom('10.2.0.2', { entityId: e.entityId, partnerKey: e.partnerKey, userKey: e.userKey })).status,
    ).toBe(200);
  });

  it('ends a session at logout', async () => {
    const client = await t.entity();
    expect((await client.get('/v1/gl-accounts/1100')).status).toBe(200);
    const out = await client.post('/v1/auth/logout', undefined);
    expect(out.status).toBe(204);
    const after = await client.get('/v1/gl-accounts/1100');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('UNAUTHORIZED');
  });

  it('lists key pairs by id and revokes one, ending its sessions at once while the other pair works', async () => {
    const e = await newEntity('REV');
    const second = await t.request('POST', '/v1/admin/entities/REV/keys', { label: 'second' }, admin);
    expect(second.status).toBe(201);
    const listed = await t.request('GET', '/v1/admin/entities/REV/keys', undefined, admin);
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((k: { keyId: string }) => k.keyId)).toEqual([e.keyId, second.body.keyId]);
    expect(JSON.stringify(listed.body)).not.toContain(e.partnerKey);
    const first = await loginFrom('10.3.0.1', { entityId: e.entityId, partnerKey: e.partnerKey, userKey: e.userKey });
    const other = await loginFrom('10.3.0.1', {
      entityId: e.entityId,
      partnerKey: second.body.partnerKey,
      userKey: second.body.userKey,
    });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    expect((await t.request('GET', '/v1/gl-accounts/1100', undefined, bearer(first.body.token))).status).toBe(200);

    const revoked = await t.request('DELETE', `/v1/admin/entities/REV/keys/${e.keyId}`, undefined, admin);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect((await t.request('GET', '/v1/gl-accounts/1100', undefined, bearer(first.body.token))).status).toBe(401);
    expect((await t.request('GET', '/v1/gl-accounts/1100', undefined, bearer(other.body.token))).status).toBe(200);
    const again = await loginFrom('10.3.0.1', { entityId: e.entityId, partnerKey: e.partnerKey, userKey: e.userKey });
    expect(again.status).toBe(401);
    // Revoking twice changes nothing; an unknown pair is 404 naming the field.
    const twice = await t.request('DELETE', `/v1/admin/entities/REV/keys/${e.keyId}`, undefined, admin);
    expect(twice.body.revokedAt).toBe(revoked.body.revokedAt);
    const unknown = await t.request(
      'DELETE',
      '/v1/admin/entities/REV/keys/00000000-0000-0000-0000-000000000000',
      undefined,
      admin,
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.details[0].field).toBe('params.keyId');
  });
});
