import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { addUser, sessionCookieOf, signIn } from './helpers/users.ts';
import { addMember } from '../src/ledger/users.ts';

/*
 * Accounts are global (one e-mail across entities) and an owner is handed the links for the
 * accounts they add. The attack review found that an owner of entity A could add an e-mail not yet
 * known, set its password through the link A was given, and sign in to entity B as whatever B later
 * made that e-mail; and that any owner could add any account and watch its sign-ins. Now an e-mail
 * that already has an account is only invited: it joins when its person accepts with the
 * invitation's link and the account's own password; an owner's set-password link works only while
 * the account is that entity's alone; and an owner sees sign-ins to their own entity only.
 */

const CHOSEN = 'attacker chosen passphrase';
const REAL = 'the real person’s passphrase';

let t: TestApp;
let alpha: Client; // the attacker's entity
let beta: Client;

const tokenOf = (link: string) => new URL(link).searchParams.get('token')!;
const memberships = async (email: string) =>
  (
    await t.db.query<{ code: string }>(
      `SELECT e.code FROM user_memberships m JOIN users u ON u.id = m.user_id JOIN entities e ON e.id = m.entity_id
        WHERE u.email = $1 ORDER BY e.code`,
      [email],
    )
  ).rows.map((r) => r.code);
const signInTo = (email: string, password: string, entityCode?: string) =>
  t.request('POST', '/v1/auth/sign-in', { email, password, ...(entityCode ? { entityCode } : {}) });
const accept = (token: string, password?: string, headers?: Record<string, string>) =>
  t.request('POST', '/v1/auth/accept-invitation', { token, ...(password !== undefined ? { password } : {}) }, headers);

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 10 });
  alpha = await t.entity('AAA');
  beta = await t.entity('BBB');
}, 60_000);
afterAll(async () => t.close());

describe('an owner cannot get an account into another entity', () => {
  it('a password set through one entity’s link does not open the entity that adds the e-mail later', async () => {
    // A's owner adds an e-mail not yet known and sets its password with the link A is given.
    const mine = await alpha.post('/v1/users', { email: 'newhire@beta.example', role: 'viewer' });
    expect(mine.status).toBe(201);
    const set = await t.request('POST', '/v1/auth/set-password', {
      token: tokenOf(mine.body.signInLink),
      password: CHOSEN,
    });
    expect(set.status).toBe(200);
    // B adds the same e-mail as owner: the account exists, so it is only invited.
    const theirs = await beta.post('/v1/users', { email: 'NewHire@beta.example', role: 'owner' });
    expect(theirs.status).toBe(201);
    expect(theirs.body.user).toBeNull();
    expect(theirs.body.invitation).toMatchObject({ email: 'newhire@beta.example', role: 'owner' });
    expect(theirs.body.signInLink).toMatch(/\/sign-in\/accept\?token=lli_/);
    expect(await memberships('newhire@beta.example')).toEqual(['AAA']);
    // The chosen password opens A only.
    const intoB = await signInTo('newhire@beta.example', CHOSEN, 'BBB');
    expect([intoB.status, intoB.body.error.code]).toEqual([404, 'ENTITY_DOES_NOT_EXIST']);
    // B's link goes to the real person, who does not know the password A chose: nothing joins.
    const refused = await accept(tokenOf(theirs.body.signInLink), REAL);
    expect([refused.status, refused.body.error.code]).toEqual([401, 'INVALID_CREDENTIALS']);
    expect(await memberships('newhire@beta.example')).toEqual(['AAA']);
    // B's list says who is invited, and nothing of the account's sign-ins.
    const list = await beta.get('/v1/users');
    expect(list.body.items.map((m: { email: string }) => m.email)).not.toContain('newhire@beta.example');
    expect(list.body.invitations).toEqual([
      {
        userId: theirs.body.invitation.userId,
        email: 'newhire@beta.example',
        role: 'owner',
        createdAt: expect.any(String),
        expiresAt: expect.any(String),
      },
    ]);
  });

  it('a link kept unused does not set the password once the operator has put the account in another entity', async () => {
    const mine = await alpha.post('/v1/users', { email: 'cfo@beta.example', role: 'viewer' });
    // B's owner cannot add it (only invite); the operator can, and does.
    const theirs = await beta.post('/v1/users', { email: 'cfo@beta.example', role: 'owner' });
    expect(theirs.body.invitation).not.toBeNull();
    const { rows } = await t.db.query<{ id: string }>(`SELECT id FROM entities WHERE code = 'BBB'`);
    await addMember(t.db, rows[0]!.id, { email: 'cfo@beta.example', role: 'owner' });
    const used = await t.request('POST', '/v1/auth/set-password', {
      token: tokenOf(mine.body.signInLink),
      password: CHOSEN,
    });
    expect([used.status, used.body.error.code]).toEqual([409, 'SIGN_IN_LINK_NOT_ALLOWED']);
    expect(used.body.error.message).toContain('ledgerlink user link');
    const { rows: hash } = await t.db.query(`SELECT password_hash FROM users WHERE email = 'cfo@beta.example'`);
    expect(hash[0]!.password_hash).toBeNull();
  });

  it('an invitation joins once, with the account’s password, and signs its person in there', async () => {
    const ann = await addUser(t, beta, 'ann@example.com', 'owner', REAL);
    const invited = await alpha.post('/v1/users', { email: 'ann@example.com', role: 'accountant' });
    const token = tokenOf(invited.body.signInLink);
    // Invited is not joined: no access, and her sign-in still opens her own entity.
    expect((await signInTo(ann.email, REAL)).body.entities.map((e: { code: string }) => e.code)).toEqual(['BBB']);
    const joined = await accept(token, REAL);
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    expect(joined.body).toMatchObject({ entity: { code: 'AAA' }, role: 'accountant' });
    expect(joined.body.entities.map((e: { code: string }) => e.code)).toEqual(['AAA', 'BBB']);
    expect((await t.request('GET', '/v1/auth/me', undefined, { cookie: sessionCookieOf(joined) })).status).toBe(200);
    // Once only.
    const again = await accept(token, REAL);
    expect([again.status, again.body.error.code]).toEqual([400, 'SIGN_IN_LINK_INVALID']);
    const audit = await t.db.query(`SELECT action FROM audit_log WHERE action = 'user.invitation-accepted'`);
    expect(audit.rows).toHaveLength(1);
  });

  it('from a session of the account, without its password, only with the session’s CSRF token; not from another’s', async () => {
    const bo = await addUser(t, beta, 'bo@example.com', 'viewer', REAL);
    const eve = await addUser(t, alpha, 'eve@example.com', 'viewer', CHOSEN);
    const invited = await alpha.post('/v1/users', { email: 'bo@example.com', role: 'viewer' });
    const token = tokenOf(invited.body.signInLink);
    const boSession = await signIn(t, bo.email, REAL);
    const eveSession = await signIn(t, eve.email, CHOSEN);
    // Another account's session is not the person invited.
    expect(
      (await accept(token, undefined, { cookie: eveSession.cookie, 'x-csrf-token': eveSession.csrfToken })).body.error
        .code,
    ).toBe('INVALID_CREDENTIALS');
    // The person's session without its CSRF token: a page of another site cannot accept for them.
    expect((await accept(token, undefined, { cookie: boSession.cookie })).body.error.code).toBe('CSRF_TOKEN_INVALID');
    expect(await memberships('bo@example.com')).toEqual(['BBB']);
    const joined = await accept(token, undefined, { cookie: boSession.cookie, 'x-csrf-token': boSession.csrfToken });
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    expect(await memberships('bo@example.com')).toEqual(['AAA', 'BBB']);
  });

  it('a new invitation link replaces the one before; an unknown link is refused and counted', async () => {
    await addUser(t, beta, 'cy@example.com', 'viewer', REAL);
    const first = await alpha.post('/v1/users', { email: 'cy@example.com', role: 'viewer' });
    const second = await alpha.post(`/v1/users/${first.body.invitation.userId}/sign-in-link`, undefined);
    expect(second.status).toBe(201);
    expect(second.body.signInLink).toMatch(/\/sign-in\/accept\?token=lli_/);
    expect((await accept(tokenOf(first.body.signInLink), REAL)).body.error.code).toBe('SIGN_IN_LINK_INVALID');
    expect((await accept(tokenOf(second.body.signInLink), REAL)).status).toBe(200);
    expect((await accept('lli_' + 'x'.repeat(43), REAL)).body.error.code).toBe('SIGN_IN_LINK_INVALID');
  });
});

describe('an owner sees sign-ins to their own entity only', () => {
  it('a member’s last sign-in is the one to this entity, not to another', async () => {
    const dee = await addUser(t, beta, 'dee@example.com', 'viewer', REAL);
    await addUser(t, alpha, 'dee@example.com', 'viewer', REAL); // invited and accepted: a sign-in to AAA
    const lastIn = async (owner: Client) =>
      ((await owner.get('/v1/users')).body.items as { email: string; lastSignInAt: string | null }[]).find(
        (m) => m.email === 'dee@example.com',
      )!.lastSignInAt;
    const inAlpha = await lastIn(alpha);
    expect(inAlpha).not.toBeNull();
    await new Promise((r) => setTimeout(r, 20));
    expect((await signInTo(dee.email, REAL, 'BBB')).status).toBe(200);
    expect(await lastIn(alpha)).toBe(inAlpha);
    expect(Date.parse((await lastIn(beta))!)).toBeGreaterThan(Date.parse(inAlpha!));
  });
});

describe('the invitation page', () => {
  it('shows who is invited where, accepts with the password, then opens the entity; a used link says so', async () => {
    await addUser(t, beta, 'fay@example.com', 'viewer', REAL);
    const invited = await alpha.post('/v1/users', { email: 'fay@example.com', role: 'accountant' });
    const token = tokenOf(invited.body.signInLink);
    const page = await t.request('GET', `/sign-in/accept?token=${token}`);
    expect(page.status).toBe(200);
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    const html = String(page.body);
    expect(html).toContain('<strong>fay@example.com</strong> is invited to join <strong>');
    expect(html).toContain('as <strong>accountant</strong>');
    expect(html).toContain('name="password"');
    const form = (password: string) =>
      t.request('POST', '/sign-in/accept', new URLSearchParams({ token, password }).toString(), {
        'content-type': 'application/x-www-form-urlencoded',
      });
    const wrong = await form('not the password');
    expect(wrong.status).toBe(401);
    expect(String(wrong.body)).toContain('The password is not right.');
    const ok = await form(REAL);
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/');
    const me = await t.request('GET', '/v1/auth/me', undefined, { cookie: sessionCookieOf(ok) });
    expect(me.body).toMatchObject({ entity: { code: 'AAA' }, role: 'accountant' });
    const used = await t.request('GET', `/sign-in/accept?token=${token}`);
    expect(String(used.body)).toContain('This invitation has been accepted, replaced by a newer link, or has expired.');
    expect(String(used.body)).not.toContain('name="password"');
  });
});
