import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';
import { API_KEYS_PER_HOUR } from '../src/api/routes/users.ts';
import { FailedAuthThrottle } from '../src/api/auth-throttle.ts';

/*
 * Issue #14: every way in that takes a secret is throttled per client address (and per account
 * where there is one), with 429, Retry-After and a stable code, and a caller from another address
 * is not held back: entity login, user sign-in, set-password links, bearer tokens and session
 * cookies in general, and API key creation (per user). The OIDC callback shares the sign-in
 * throttle; test/oidc.test.ts hammers it.
 */

let t: TestApp;
let c: Client;
let keys: { entityId: string; partnerKey: string; userKey: string };

beforeAll(async () => {
  t = await createTestApp({ loginMaxFailures: 3, authMaxFailures: 5, passwordScryptLogN: 10 });
  c = await t.entity('RATE', 'EUR');
  const created = await t.request(
    'POST',
    '/v1/admin/entities',
    { code: 'RATE2', name: 'x', baseCurrency: 'EUR' },
    { authorization: `Bearer ${ADMIN_TOKEN}` },
  );
  keys = { entityId: created.body.entityId, partnerKey: created.body.partnerKey, userKey: created.body.userKey };
}, 60_000);
afterAll(async () => t.close());

/** A request from a given client address. */
async function from(
  address: string,
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await t.app.inject({
    method: method as 'GET',
    url,
    remoteAddress: address,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  const type = String(res.headers['content-type'] ?? '');
  return { status: res.statusCode, body: type.includes('json') ? res.json() : res.body, headers: res.headers };
}

function expectThrottled(r: { status: number; body: any; headers: Record<string, unknown> }, code: string): void {
  expect(r.status, JSON.stringify(r.body)).toBe(429);
  expect(r.body.error.code).toBe(code);
  const wait = Number(r.headers['retry-after']);
  expect(wait).toBeGreaterThan(0);
  expect(r.body.error.details.retryAfterSeconds).toBe(wait);
}

describe('entity login (POST /v1/auth/login)', () => {
  it('answers 429 after the failures allowed from an address; another address still logs in', async () => {
    const wrong = { entityId: c.entityId, partnerKey: 'pk_wrong', userKey: 'uk_wrong' };
    for (let i = 0; i < 3; i++) expect((await from('10.0.1.1', 'POST', '/v1/auth/login', wrong)).status).toBe(401);
    expectThrottled(await from('10.0.1.1', 'POST', '/v1/auth/login', { ...keys }), 'LOGIN_THROTTLED');
    expect((await from('10.0.1.2', 'POST', '/v1/auth/login', keys)).status).toBe(200);
  });
});

describe('user sign-in (POST /v1/auth/sign-in)', () => {
  it('answers 429 after the failures allowed for an account and from an address; others still sign in', async () => {
    const u = await addUser(t, c, 'ann@rate.example', 'viewer');
    const v = await addUser(t, c, 'bob@rate.example', 'viewer');
    const wrong = { email: u.email, password: 'not the password at all' };
    for (let i = 0; i < 3; i++) expect((await from('10.0.2.1', 'POST', '/v1/auth/sign-in', wrong)).status).toBe(401);
    // Per address: even the right password of another account is held back from there…
    expectThrottled(
      await from('10.0.2.1', 'POST', '/v1/auth/sign-in', { email: v.email, password: v.password }),
      'LOGIN_THROTTLED',
    );
    // …and per account: the guessed account from elsewhere too; another account from elsewhere is not.
    expectThrottled(
      await from('10.0.2.2', 'POST', '/v1/auth/sign-in', { email: u.email, password: u.password }),
      'LOGIN_THROTTLED',
    );
    expect((await from('10.0.2.3', 'POST', '/v1/auth/sign-in', { email: v.email, password: v.password })).status).toBe(
      200,
    );
  });
});

describe('set-password links (POST /v1/auth/set-password)', () => {
  it('counts a link token that is not valid as a failed sign-in of the address', async () => {
    const added = await c.post('/v1/users', { email: 'cat@rate.example', role: 'viewer' });
    const token = new URL(added.body.signInLink).searchParams.get('token')!;
    const password = 'a long passphrase 4 tests';
    for (let i = 0; i < 3; i++) {
      const r = await from('10.0.3.1', 'POST', '/v1/auth/set-password', { token: `llp_guess${i}`, password });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('SIGN_IN_LINK_INVALID');
    }
    expectThrottled(await from('10.0.3.1', 'POST', '/v1/auth/set-password', { token, password }), 'LOGIN_THROTTLED');
    expect((await from('10.0.3.2', 'POST', '/v1/auth/set-password', { token, password })).status).toBe(200);
  });
});

describe('bearer tokens and session cookies in general', () => {
  it('answers 429 AUTH_THROTTLED to an address that sent too many bad tokens, even with a good one', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await from('10.0.4.1', 'GET', '/v1/customers', undefined, { authorization: `Bearer llt_guess${i}` });
      expect(r.status).toBe(401);
    }
    expectThrottled(
      await from('10.0.4.1', 'GET', '/v1/customers', undefined, { authorization: `Bearer ${c.token}` }),
      'AUTH_THROTTLED',
    );
    // Another address with the same good token is not held back.
    expect(
      (await from('10.0.4.2', 'GET', '/v1/customers', undefined, { authorization: `Bearer ${c.token}` })).status,
    ).toBe(200);
  });

  it('counts guessed admin tokens, user API keys and session cookies alike', async () => {
    const guesses: Record<string, string>[] = [
      { authorization: 'Bearer not-the-admin-token' },
      { authorization: 'Bearer llk_guess' },
      { cookie: 'll_session=guess' },
      { authorization: 'Bearer llk_guess2' },
      { cookie: 'll_session=guess2' },
    ];
    for (const [i, headers] of guesses.entries()) {
      const url = i === 0 ? '/v1/admin/entities/RATE/keys' : '/v1/customers';
      expect((await from('10.0.5.1', 'GET', url, undefined, headers)).status).toBe(401);
    }
    expectThrottled(
      await from('10.0.5.1', 'GET', '/v1/admin/entities/RATE/keys', undefined, {
        authorization: `Bearer ${ADMIN_TOKEN}`,
      }),
      'AUTH_THROTTLED',
    );
  });

  it('does not count a credential that was issued and has ended: a stale tab or an old script behind an office address', async () => {
    const u = await addUser(t, c, 'stale@rate.example', 'viewer');
    const stale = await signIn(t, u.email, u.password);
    const key = await stale.request('POST', '/v1/users/me/api-keys', { name: 'old cron job' });
    expect(key.status).toBe(201);
    expect((await stale.request('DELETE', `/v1/users/me/api-keys/${key.body.id}`)).status).toBe(200);
    // The session passes its end (idle or absolute); its row is kept a day, like its cookie.
    await t.db.query(`UPDATE user_sessions SET expires_at = now() - interval '1 minute' WHERE user_id = $1`, [u.id]);
    const office = '10.0.7.1';
    for (let i = 0; i < 12; i++) {
      const ended = await from(office, 'GET', '/v1/customers', undefined, { cookie: stale.cookie });
      expect(ended.status).toBe(401);
      expect(ended.body.error.message).toMatch(/session has ended/);
      const revoked = await from(office, 'GET', '/v1/customers', undefined, {
        authorization: `Bearer ${key.body.key}`,
      });
      expect(revoked.status).toBe(401);
    }
    // Colleagues at the same address still get in.
    expect((await from(office, 'GET', '/v1/customers', undefined, { authorization: `Bearer ${c.token}` })).status).toBe(
      200,
    );
    // A guessed cookie of the same shape still counts: five and the address is held back.
    for (let i = 0; i < 5; i++) {
      const guess = `ll_session=lls_${String(i).repeat(43)}`;
      expect((await from(office, 'GET', '/v1/customers', undefined, { cookie: guess })).status).toBe(401);
    }
    expectThrottled(
      await from(office, 'GET', '/v1/customers', undefined, { authorization: `Bearer ${c.token}` }),
      'AUTH_THROTTLED',
    );
  });

  it('does not count a request that sends no credential at all', async () => {
    for (let i = 0; i < 10; i++) expect((await from('10.0.6.1', 'GET', '/v1/customers')).status).toBe(401);
    expect(
      (await from('10.0.6.1', 'GET', '/v1/customers', undefined, { authorization: `Bearer ${c.token}` })).status,
    ).toBe(200);
  });

  it('lets an address in again once its failures leave the window, and forgets the oldest addresses past its size', () => {
    let now = 1_000_000;
    const throttle = new FailedAuthThrottle(2, 60, 3, () => now);
    throttle.recordFailure('a');
    now += 10_000;
    throttle.recordFailure('a');
    expect(throttle.retryAfter('a')).toBe(50);
    now += 50_000;
    expect(throttle.retryAfter('a')).toBe(0);
    for (const address of ['b', 'c', 'd', 'e']) {
      throttle.recordFailure(address);
      throttle.recordFailure(address);
    }
    expect(throttle.retryAfter('b')).toBe(0); // forgotten: at most 3 addresses are kept
    expect(throttle.retryAfter('e')).toBe(60);
  });
});

describe('API key creation (POST /v1/users/me/api-keys)', () => {
  it(`refuses key number ${API_KEYS_PER_HOUR + 1} of a user within an hour; another user still creates one`, async () => {
    const u = await addUser(t, c, 'dan@rate.example', 'viewer');
    const v = await addUser(t, c, 'eve@rate.example', 'viewer');
    const dan: Browser = await signIn(t, u.email, u.password);
    const eve: Browser = await signIn(t, v.email, v.password);
    for (let i = 0; i < API_KEYS_PER_HOUR; i++) {
      expect((await dan.request('POST', '/v1/users/me/api-keys', { name: `k${i}` })).status).toBe(201);
    }
    const refused = await dan.request('POST', '/v1/users/me/api-keys', { name: 'one too many' });
    expectThrottled(refused, 'API_KEYS_THROTTLED');
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(3600);
    const { rows } = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM user_api_keys k JOIN users u ON u.id = k.user_id WHERE u.email = $1`,
      [u.email],
    );
    expect(rows[0]!.n).toBe(API_KEYS_PER_HOUR);
    expect((await eve.request('POST', '/v1/users/me/api-keys', { name: 'mine' })).status).toBe(201);
  });
});
