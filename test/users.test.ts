import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';

/*
 * Named users and their roles through the API: what a viewer, an accountant and an owner reach;
 * the entity key pair stays owner; users' API keys; the last owner; set-password; disabling.
 */
let t: TestApp;
let keyPair: Client;
let viewer: Browser;
let accountant: Browser;
let ownerUser: Browser;
let ids: { viewer: string; accountant: string; owner: string };
beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 10 });
  keyPair = await t.entity('US1');
  const v = await addUser(t, keyPair, 'viewer@example.com', 'viewer');
  const a = await addUser(t, keyPair, 'accountant@example.com', 'accountant');
  const o = await addUser(t, keyPair, 'owner@example.com', 'owner');
  ids = { viewer: v.id, accountant: a.id, owner: o.id };
  viewer = await signIn(t, v.email, v.password);
  accountant = await signIn(t, a.email, a.password);
  ownerUser = await signIn(t, o.email, o.password);
}, 60_000);
afterAll(async () => t.close());

const customer = { name: 'Customer', currency: 'EUR' };

describe('roles', () => {
  it('a viewer reads but gets FORBIDDEN_ROLE on a change and on an owner route, and nothing changes', async () => {
    expect((await viewer.request('GET', '/v1/gl-accounts')).status).toBe(200);
    const post = await viewer.request('PUT', '/v1/customers/VW1', customer);
    expect(post.status).toBe(403);
    expect(post.body.error.code).toBe('FORBIDDEN_ROLE');
    expect(post.body.error.message).toContain('accountant');
    expect(post.body.error.details.requiredRole).toBe('accountant');
    expect((await keyPair.get('/v1/customers/VW1')).status).toBe(404);
    const users = await viewer.request('GET', '/v1/users');
    expect(users.status).toBe(403);
    expect(users.body.error.details.requiredRole).toBe('owner');
  });

  it('an accountant posts but does not manage users, settings or the chart', async () => {
    expect((await accountant.request('PUT', '/v1/customers/AC1', customer)).status).toBe(201);
    const add = await accountant.request('POST', '/v1/users', { email: 'x@example.com', role: 'viewer' });
    expect(add.body.error.code).toBe('FORBIDDEN_ROLE');
    const settings = await accountant.request('PUT', '/v1/settings', {});
    expect(settings.body.error.code).toBe('FORBIDDEN_ROLE');
    const gl = await accountant.request('PUT', '/v1/gl-accounts/9999', { name: 'x', type: 'EXPENSE' });
    expect(gl.body.error.code).toBe('FORBIDDEN_ROLE');
    const { rows } = await t.db.query(`SELECT 1 FROM users WHERE email = 'x@example.com'`);
    expect(rows).toHaveLength(0);
  });

  it('an owner user manages users; the entity key pair is still owner of everything', async () => {
    const list = await ownerUser.request('GET', '/v1/users');
    expect(list.status).toBe(200);
    expect(list.body.items.map((u: { email: string }) => u.email)).toEqual([
      'accountant@example.com',
      'owner@example.com',
      'viewer@example.com',
    ]);
    expect((await keyPair.get('/v1/users')).status).toBe(200);
    expect((await keyPair.put('/v1/customers/KP1', customer)).status).toBe(201);
    const me = await keyPair.get('/v1/auth/me');
    expect(me.body).toMatchObject({ user: null, role: 'owner', entity: { code: 'US1' }, csrfToken: null });
  });

  it('documents each route’s least role in the OpenAPI document', async () => {
    const doc = await t.request('GET', '/openapi.json');
    expect(doc.body.paths['/v1/users'].get['x-required-role']).toBe('owner');
    expect(doc.body.paths['/v1/customers/{code}'].put['x-required-role']).toBe('accountant');
    expect(doc.body.paths['/v1/customers/{code}'].get['x-required-role']).toBe('viewer');
  });
});

describe('adding users and setting passwords', () => {
  it('gives a new user a one-time link; the token is stored hashed and works once', async () => {
    const added = await ownerUser.request('POST', '/v1/users', { email: 'New.User@Example.com', role: 'accountant' });
    expect(added.status).toBe(201);
    expect(added.body.user).toMatchObject({ email: 'new.user@example.com', role: 'accountant', hasPassword: false });
    const link = new URL(added.body.signInLink);
    expect(link.pathname).toBe('/sign-in/set-password');
    const token = link.searchParams.get('token')!;
    expect(Date.parse(added.body.signInLinkExpiresAt) - Date.now()).toBeGreaterThan(23.9 * 3600 * 1000);
    const stored = await t.db.query('SELECT token_hash FROM user_sign_in_tokens');
    expect(JSON.stringify(stored.rows)).not.toContain(token);
    const audit = await t.db.query(`SELECT after FROM audit_log WHERE action = 'user.added'`);
    expect(JSON.stringify(audit.rows)).not.toContain(token);

    const dup = await ownerUser.request('POST', '/v1/users', { email: 'NEW.user@example.com', role: 'viewer' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('USER_ALREADY_MEMBER');

    for (const [password, why] of [
      ['short pw', 'at least 12'],
      ['password1234', 'commonly used'],
      ['x new.user@example.com x', 'e-mail'],
    ] as const) {
      const weak = await t.request('POST', '/v1/auth/set-password', { token, password });
      expect(weak.status, password).toBe(422);
      expect(weak.body.error.code).toBe('PASSWORD_TOO_WEAK');
      expect(weak.body.error.details[0].field).toBe('body.password');
      expect(weak.body.error.message).toContain(why);
    }
    // a refused password left the link usable
    const ok = await t.request('POST', '/v1/auth/set-password', { token, password: 'a good long passphrase' });
    expect(ok.status).toBe(200);
    const again = await t.request('POST', '/v1/auth/set-password', { token, password: 'another long passphrase' });
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('SIGN_IN_LINK_INVALID');
    const b = await signIn(t, 'new.user@example.com', 'a good long passphrase');
    expect(b.signIn.body.role).toBe('accountant');
    const wrong = await t.request('POST', '/v1/auth/sign-in', {
      email: 'new.user@example.com',
      password: 'another long passphrase',
    });
    expect(wrong.status).toBe(401);
  });

  it('gives an owner a new link only for a user who has no password and no other entity', async () => {
    const added = await keyPair.post('/v1/users', { email: 'lost@example.com', role: 'viewer' });
    const again = await ownerUser.request('POST', `/v1/users/${added.body.user.id}/sign-in-link`);
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.signInLink).not.toBe(added.body.signInLink);
    const token = new URL(again.body.signInLink).searchParams.get('token')!;
    expect(
      (await t.request('POST', '/v1/auth/set-password', { token, password: 'a good long passphrase' })).status,
    ).toBe(200);
    const withPassword = await ownerUser.request('POST', `/v1/users/${added.body.user.id}/sign-in-link`);
    expect(withPassword.status).toBe(409);
    expect(withPassword.body.error.code).toBe('SIGN_IN_LINK_NOT_ALLOWED');
    expect((await accountant.request('POST', `/v1/users/${ids.viewer}/sign-in-link`)).body.error.code).toBe(
      'FORBIDDEN_ROLE',
    );
    // Added here, then by another entity: only invited there (no link that sets a password), so the
    // account is still this entity's alone, and its owner may still give it a new link.
    const second = await t.entity('US2');
    const shared = await keyPair.post('/v1/users', { email: 'shared@example.com', role: 'viewer' });
    const inSecond = await second.post('/v1/users', { email: 'shared@example.com', role: 'viewer' });
    expect(inSecond.body.user).toBeNull();
    expect(inSecond.body.signInLink).toMatch(/\/sign-in\/accept\?token=lli_/);
    expect((await keyPair.post(`/v1/users/${shared.body.user.id}/sign-in-link`, undefined)).status).toBe(201);
    // Once it belongs to the other entity too, neither owner may hand out a link that sets its password.
    const invitation = new URL(inSecond.body.signInLink).searchParams.get('token');
    const set = new URL(
      (await keyPair.post(`/v1/users/${shared.body.user.id}/sign-in-link`, undefined)).body.signInLink,
    ).searchParams.get('token');
    expect(
      (await t.request('POST', '/v1/auth/set-password', { token: set, password: 'a good long passphrase' })).status,
    ).toBe(200);
    expect(
      (
        await t.request('POST', '/v1/auth/accept-invitation', {
          token: invitation,
          password: 'a good long passphrase',
        })
      ).status,
    ).toBe(200);
    for (const owner of [keyPair, second]) {
      const refused = await owner.post(`/v1/users/${shared.body.user.id}/sign-in-link`, undefined);
      expect(refused.body.error.code).toBe('SIGN_IN_LINK_NOT_ALLOWED');
    }
  });

  it('refuses an expired link', async () => {
    const added = await keyPair.post('/v1/users', { email: 'late@example.com', role: 'viewer' });
    const token = new URL(added.body.signInLink).searchParams.get('token')!;
    await t.db.query(`UPDATE user_sign_in_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`);
    const r = await t.request('POST', '/v1/auth/set-password', { token, password: 'a good long passphrase' });
    expect(r.body.error.code).toBe('SIGN_IN_LINK_INVALID');
  });
});

describe('the last owner', () => {
  it('cannot be demoted or disabled; with a second owner it can', async () => {
    const lone = await createTestApp({ passwordScryptLogN: 10 });
    try {
      const kp = await lone.entity('LO1');
      const o = await addUser(lone, kp, 'only@example.com', 'owner');
      const demote = await kp.put(`/v1/users/${o.id}`, { role: 'accountant' });
      expect(demote.status).toBe(409);
      expect(demote.body.error.code).toBe('LAST_OWNER');
      const disable = await kp.put(`/v1/users/${o.id}`, { disabled: true });
      expect(disable.body.error.code).toBe('LAST_OWNER');
      const second = await addUser(lone, kp, 'second@example.com', 'accountant');
      expect((await kp.put(`/v1/users/${second.id}`, { role: 'owner' })).status).toBe(200);
      const now = await kp.put(`/v1/users/${o.id}`, { role: 'viewer' });
      expect(now.status).toBe(200);
      expect(now.body).toMatchObject({ role: 'viewer', disabled: false });
      // and the second is now the last one
      expect((await kp.put(`/v1/users/${second.id}`, { disabled: true })).body.error.code).toBe('LAST_OWNER');
    } finally {
      await lone.close();
    }
  });
});

describe('API keys', () => {
  it('are shown once, authenticate as the user with their own role, and stop at once on revoke', async () => {
    const created = await accountant.request('POST', '/v1/users/me/api-keys', { name: 'export', role: 'viewer' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const key = created.body.key as string;
    expect(key).toMatch(/^llk_/);
    const { rows } = await t.db.query('SELECT key_hash FROM user_api_keys');
    expect(JSON.stringify(rows)).not.toContain(key);
    const auth = { authorization: `Bearer ${key}` };
    const me = await t.request('GET', '/v1/auth/me', undefined, auth);
    expect(me.body).toMatchObject({ user: { id: ids.accountant }, role: 'viewer', csrfToken: null });
    expect((await t.request('GET', '/v1/gl-accounts', undefined, auth)).status).toBe(200);
    // the key's role (viewer), not the user's (accountant); no CSRF token asked of a bearer key
    const put = await t.request('PUT', '/v1/customers/AK1', customer, auth);
    expect(put.body.error.code).toBe('FORBIDDEN_ROLE');
    const list = await accountant.request('GET', '/v1/users/me/api-keys');
    expect(list.body.items).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(key);
    const del = await accountant.request('DELETE', `/v1/users/me/api-keys/${created.body.id}`);
    expect(del.status).toBe(200);
    const after = await t.request('GET', '/v1/gl-accounts', undefined, auth);
    expect(after.status).toBe(401);
    // Revoked again (a retry): the same answer, and nothing more in the trail.
    const again = await accountant.request('DELETE', `/v1/users/me/api-keys/${created.body.id}`);
    expect(again.body).toEqual(del.body);
    const revocations = await t.db.query(
      `SELECT 1 FROM audit_log WHERE action = 'user.api-key-revoked' AND object_id = $1`,
      [created.body.id],
    );
    expect(revocations.rows).toHaveLength(1);
  });

  it('cannot be given a role above the user’s, nor be created by the key pair or another key', async () => {
    const high = await accountant.request('POST', '/v1/users/me/api-keys', { name: 'x', role: 'owner' });
    expect(high.status).toBe(422);
    expect(high.body.error.code).toBe('API_KEY_ROLE_TOO_HIGH');
    const byKeyPair = await keyPair.post('/v1/users/me/api-keys', { name: 'x' });
    expect(byKeyPair.body.error.code).toBe('USER_REQUIRED');
    const k = await accountant.request('POST', '/v1/users/me/api-keys', { name: 'writer' });
    expect(k.body.role).toBe('accountant');
    const byKey = await t.request(
      'POST',
      '/v1/users/me/api-keys',
      { name: 'x' },
      {
        authorization: `Bearer ${k.body.key}`,
      },
    );
    expect(byKey.body.error.code).toBe('USER_REQUIRED');
    // an accountant key posts
    const put = await t.request('PUT', '/v1/customers/AK2', customer, { authorization: `Bearer ${k.body.key}` });
    expect(put.status).toBe(201);
  });
});

describe('disabling a user', () => {
  it('stops their sessions and API keys at once, and sign-in; enabling lets them sign in again', async () => {
    const u = await addUser(t, keyPair, 'leaver@example.com', 'accountant');
    const b = await signIn(t, u.email, u.password);
    const k = await b.request('POST', '/v1/users/me/api-keys', { name: 'script' });
    const auth = { authorization: `Bearer ${k.body.key}` };
    expect((await t.request('GET', '/v1/gl-accounts', undefined, auth)).status).toBe(200);
    const off = await ownerUser.request('PUT', `/v1/users/${u.id}`, { disabled: true });
    expect(off.status).toBe(200);
    expect(off.body.disabled).toBe(true);
    expect((await b.request('GET', '/v1/gl-accounts')).status).toBe(401);
    expect((await t.request('GET', '/v1/gl-accounts', undefined, auth)).status).toBe(401);
    const again = await t.request('POST', '/v1/auth/sign-in', { email: u.email, password: u.password });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('INVALID_CREDENTIALS');
    const audit = await t.db.query<{ before: unknown; after: unknown }>(
      `SELECT before, after FROM audit_log WHERE action = 'user.updated' AND object_id = $1`,
      [u.id],
    );
    expect(audit.rows[0]).toMatchObject({ before: { disabled: false }, after: { disabled: true } });
    expect((await ownerUser.request('PUT', `/v1/users/${u.id}`, { disabled: false })).status).toBe(200);
    expect((await signIn(t, u.email, u.password)).signIn.body.role).toBe('accountant');
    // the old session stays ended; the key (never revoked) works again with the membership
    expect((await b.request('GET', '/v1/gl-accounts')).status).toBe(401);
  });

  it('demoting a user limits their sessions at the next request', async () => {
    const u = await addUser(t, keyPair, 'demoted@example.com', 'accountant');
    const b = await signIn(t, u.email, u.password);
    expect((await b.request('PUT', '/v1/customers/DM1', customer)).status).toBe(201);
    await keyPair.put(`/v1/users/${u.id}`, { role: 'viewer' });
    expect((await b.request('PUT', '/v1/customers/DM2', customer)).body.error.code).toBe('FORBIDDEN_ROLE');
  });
});
