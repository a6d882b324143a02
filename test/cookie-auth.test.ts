import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { addUser, sessionCookieOf, signIn } from './helpers/users.ts';

/*
 * Browser sessions: the cookie's flags, the CSRF token every change made with it must carry, the
 * origin check, sign-out, switching entity, and the sign-in throttle.
 */
let t: TestApp;
let owner: Client;
let other: Client;
beforeAll(async () => {
  // scrypt with N = 2^10 keeps the suite fast; production stays at 2^17 (and the hash records which).
  t = await createTestApp({ passwordScryptLogN: 10, loginMaxFailures: 3, loginWindowSeconds: 600 });
  owner = await t.entity('CK1');
  other = await t.entity('CK2');
}, 60_000);
afterAll(async () => t.close());

describe('signing in', () => {
  it('sets an HttpOnly, SameSite=Strict cookie on / and answers user, entity, role and CSRF token', async () => {
    const ann = await addUser(t, owner, 'Ann@Example.com', 'accountant');
    const res = await t.request('POST', '/v1/auth/sign-in', { email: 'ann@example.COM', password: ann.password });
    expect(res.status).toBe(200);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^ll_session=lls_[\w-]{43}; /);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/');
    expect(cookie).not.toContain('Secure'); // plain HTTP in tests
    expect(res.body).toMatchObject({
      user: { id: ann.id, email: 'ann@example.com' },
      entity: { code: 'CK1' },
      role: 'accountant',
      entities: [{ code: 'CK1', role: 'accountant' }],
    });
    expect(res.body.csrfToken).toMatch(/^[\w-]{43}$/);
    const expires = Date.parse(res.body.expiresAt) - Date.now();
    expect(expires).toBeGreaterThan(7.9 * 3600 * 1000);
    expect(expires).toBeLessThanOrEqual(8 * 3600 * 1000);
    // The password is stored as scrypt with its parameters, never in clear.
    const { rows } = await t.db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [
      ann.id,
    ]);
    expect(rows[0]!.password_hash).toMatch(/^scrypt\$ln=10,r=8,p=1\$/);
    expect(rows[0]!.password_hash).not.toContain(ann.password);
  });

  it('marks the cookie Secure when the request came over HTTPS', async () => {
    const https = await createTestApp({ passwordScryptLogN: 10, publicUrl: 'https://ll.example.com' });
    try {
      const o = await https.entity('HT1');
      const u = await addUser(https, o, 'sec@example.com', 'viewer');
      const res = await https.request('POST', '/v1/auth/sign-in', { email: u.email, password: u.password });
      expect(String(res.headers['set-cookie'])).toContain('; Secure');
    } finally {
      await https.close();
    }
  });

  it('answers the same INVALID_CREDENTIALS for an unknown e-mail and a wrong password', async () => {
    await addUser(t, owner, 'wrong@example.com', 'viewer');
    const unknown = await t.request('POST', '/v1/auth/sign-in', {
      email: 'nobody@example.com',
      password: 'x'.repeat(12),
    });
    const wrong = await t.request('POST', '/v1/auth/sign-in', { email: 'wrong@example.com', password: 'x'.repeat(12) });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(unknown.headers['set-cookie']).toBeUndefined();
  });
});

describe('CSRF', () => {
  it('refuses a change made with the cookie without the token, with a wrong one, or from another origin', async () => {
    const u = await addUser(t, owner, 'csrf@example.com', 'accountant');
    const b = await signIn(t, u.email, u.password);
    const customer = { name: 'Cust', currency: 'EUR' };
    const none = await t.request('PUT', '/v1/customers/C1', customer, { cookie: b.cookie });
    expect(none.status).toBe(403);
    expect(none.body.error.code).toBe('CSRF_TOKEN_INVALID');
    const wrong = await b.request('PUT', '/v1/customers/C1', customer, { 'x-csrf-token': 'A'.repeat(43) });
    expect(wrong.body.error.code).toBe('CSRF_TOKEN_INVALID');
    const foreign = await b.request('PUT', '/v1/customers/C1', customer, { origin: 'https://evil.example' });
    expect(foreign.body.error.code).toBe('CSRF_TOKEN_INVALID');
    // nothing was written by the refused requests
    expect((await owner.get('/v1/customers/C1')).status).toBe(404);
    const ok = await b.request('PUT', '/v1/customers/C1', customer, { origin: 'http://localhost:80' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    // reads need no token
    expect((await t.request('GET', '/v1/customers/C1', undefined, { cookie: b.cookie })).status).toBe(200);
  });

  it('asks no CSRF token of a bearer token', async () => {
    const r = await owner.put('/v1/customers/C2', { name: 'Cust', currency: 'EUR' });
    expect(r.status).toBe(201);
  });
});

describe('sessions', () => {
  it('signs out: the cookie is cleared and the session refused at once', async () => {
    const u = await addUser(t, owner, 'out@example.com', 'viewer');
    const b = await signIn(t, u.email, u.password);
    expect((await b.request('GET', '/v1/auth/me')).status).toBe(200);
    const noToken = await t.request('POST', '/v1/auth/sign-out', undefined, { cookie: b.cookie });
    expect(noToken.body.error.code).toBe('CSRF_TOKEN_INVALID');
    const out = await b.request('POST', '/v1/auth/sign-out');
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^ll_session=; .*Max-Age=0/);
    const after = await b.request('GET', '/v1/auth/me');
    expect(after.status).toBe(401);
  });

  it('switches entity only to one the user belongs to; the role follows the membership', async () => {
    const u = await addUser(t, owner, 'two@example.com', 'viewer');
    const again = await other.post('/v1/users', { email: 'TWO@example.com', role: 'owner' });
    expect(again.status).toBe(201);
    // The account exists: it is invited, not added, and no link could set its password.
    expect(again.body.user).toBeNull();
    expect(again.body.invitation).toMatchObject({ userId: u.id, email: 'two@example.com', role: 'owner' });
    expect(again.body.signInLink).toMatch(/\/sign-in\/accept\?token=lli_/);
    const token = new URL(again.body.signInLink).searchParams.get('token');
    expect((await t.request('POST', '/v1/auth/accept-invitation', { token, password: u.password })).status).toBe(200);
    const b = await signIn(t, u.email, u.password);
    expect(b.signIn.body.entity.code).toBe('CK1'); // the first by code
    expect(b.signIn.body.entities.map((e: { code: string }) => e.code)).toEqual(['CK1', 'CK2']);
    const blocked = await b.request('PUT', '/v1/customers/V1', { name: 'x', currency: 'EUR' });
    expect(blocked.body.error.code).toBe('FORBIDDEN_ROLE');
    const notMember = await b.request('POST', '/v1/auth/entity', { entityCode: 'NOPE' });
    expect(notMember.status).toBe(404);
    const moved = await b.request('POST', '/v1/auth/entity', { entityCode: 'CK2' });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body).toMatchObject({ entity: { code: 'CK2' }, role: 'owner' });
    const me = await b.request('GET', '/v1/auth/me');
    expect(me.body).toMatchObject({ entity: { code: 'CK2' }, role: 'owner', csrfToken: b.csrfToken });
    expect((await b.request('PUT', '/v1/customers/V1', { name: 'x', currency: 'EUR' })).status).toBe(201);
    expect((await other.get('/v1/customers/V1')).status).toBe(200);
  });

  it('ends a session idle longer than the idle timeout', async () => {
    const u = await addUser(t, owner, 'idle@example.com', 'viewer');
    const b = await signIn(t, u.email, u.password);
    await t.db.query(
      `UPDATE user_sessions SET last_seen_at = now() - interval '9 hours'
        WHERE user_id = $1`,
      [u.id],
    );
    expect((await b.request('GET', '/v1/auth/me')).status).toBe(401);
  });

  it('ends a session at its absolute end however active', async () => {
    const u = await addUser(t, owner, 'max@example.com', 'viewer');
    const b = await signIn(t, u.email, u.password);
    await t.db.query(`UPDATE user_sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1`, [u.id]);
    expect((await b.request('GET', '/v1/auth/me')).status).toBe(401);
  });
});

describe('sign-in throttle', () => {
  it('refuses further sign-ins for an account after too many failures, even with the right password', async () => {
    const u = await addUser(t, owner, 'throttle@example.com', 'viewer');
    for (let i = 0; i < 3; i++) {
      const r = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/sign-in',
        payload: { email: u.email, password: 'wrong password ' + i },
        remoteAddress: `10.0.0.${i + 1}`,
      });
      expect(r.statusCode).toBe(401);
    }
    const r = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/sign-in',
      payload: { email: u.email, password: u.password },
      remoteAddress: '10.0.0.9',
    });
    expect(r.statusCode).toBe(429);
    expect(JSON.parse(r.body).error.code).toBe('LOGIN_THROTTLED');
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(r.headers['set-cookie']).toBeUndefined();
  });

  it('refuses further sign-ins from an address after too many failures', async () => {
    const u = await addUser(t, owner, 'addr@example.com', 'viewer');
    for (let i = 0; i < 3; i++) {
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/sign-in',
        payload: { email: `guess${i}@example.com`, password: 'x'.repeat(12) },
        remoteAddress: '10.9.9.9',
      });
    }
    const r = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/sign-in',
      payload: { email: u.email, password: u.password },
      remoteAddress: '10.9.9.9',
    });
    expect(r.statusCode).toBe(429);
    const elsewhere = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/sign-in',
      payload: { email: u.email, password: u.password },
      remoteAddress: '10.9.9.10',
    });
    expect(elsewhere.statusCode).toBe(200);
    expect(sessionCookieOf({ status: 200, body: null, headers: elsewhere.headers })).toMatch(/^ll_session=lls_/);
  });
});
