import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp, type TestResponse } from './helpers/app.ts';
import { startOidcProvider, type OidcProviderSim } from './helpers/oidc-provider.ts';
import { addUser, signIn } from './helpers/users.ts';
import { checkConfigText } from '../src/sync/config.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * Sign-in through an OpenID Connect provider (a local simulator): the code flow with PKCE, state and
 * nonce, and every way a sign-in must be refused — a token signed by another key, for another
 * audience, expired, unsigned, with another nonce; a state replayed or from another browser; an
 * e-mail not verified or unknown — each with its OIDC_* code on the sign-in page, never a 500; the
 * failures counted in the password sign-in's throttle (per address and per account), and the session
 * opened in the entity a password sign-in would open.
 */

const scope = processScope();
let sim: OidcProviderSim;
let t: TestApp;
let owner: Client;
const PUBLIC = 'http://ledgerlink.test';

beforeAll(async () => {
  sim = await startOidcProvider();
  scope.allowHost('127.0.0.1', Number(new URL(sim.issuer).port));
  t = await createTestApp({
    passwordScryptLogN: 12,
    publicUrl: PUBLIC,
    oidc: oidcConfig(),
    // Every refusal below counts against the one test address; the throttle has its own app further down.
    loginMaxFailures: 1000,
  });
  owner = await t.entity('OIDC', 'EUR');
  await owner.post('/v1/users', { email: 'ida@example.com', role: 'accountant' });
  await addUser(t, owner, 'pat@example.com', 'viewer');
});
afterAll(async () => {
  await t.close();
  await sim.close();
});

const html = (r: { body: unknown }) => String(r.body);

function oidcConfig() {
  return {
    issuer: sim.issuer,
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
    redirectPath: '/sign-in/oidc/callback',
    label: 'Test SSO',
  };
}

function cookies(r: TestResponse): string[] {
  const raw = r.headers['set-cookie'];
  return (Array.isArray(raw) ? raw : raw ? [raw] : []).map(String);
}

/** Starts a sign-in, lets the provider answer, and returns the callback's path with the browser's cookie. */
async function toProviderAndBack(next = '/customers', app: TestApp = t, entity?: string) {
  const start = await app.request(
    'GET',
    `/sign-in/oidc?next=${encodeURIComponent(next)}${entity ? `&entity=${entity}` : ''}`,
  );
  expect(start.status).toBe(303);
  const browser = cookies(start)
    .find((c) => c.startsWith('ll_oidc='))!
    .split(';')[0]!;
  expect(cookies(start)[0]).toMatch(/HttpOnly; SameSite=Lax/);
  const atProvider = await fetch(String(start.headers.location), { redirect: 'manual' });
  expect(atProvider.status).toBe(302);
  const back = new URL(atProvider.headers.get('location')!);
  expect(back.origin).toBe(PUBLIC);
  return { callback: back.pathname + back.search, browser };
}

async function signInVia(next = '/customers', app: TestApp = t, entity?: string) {
  const { callback, browser } = await toProviderAndBack(next, app, entity);
  const res = await app.request('GET', callback, undefined, { cookie: browser });
  return { res, callback, browser, session: cookies(res).find((c) => c.startsWith('ll_session=')) };
}

describe('OIDC sign-in', () => {
  it('offers the provider on the sign-in page', async () => {
    expect(html(await t.request('GET', '/sign-in?next=/runs'))).toContain(
      '<a role="button" class="secondary" href="/sign-in/oidc?next=%2Fruns">Sign in with Test SSO</a>',
    );
  });

  it('signs in a user whose verified e-mail matches, with PKCE, state and nonce, and goes on to next', async () => {
    sim.account = { sub: 'ida-sub', email: 'IDA@example.com', emailVerified: true };
    const { res, session } = await signInVia('/customers');
    expect(res.status, html(res)).toBe(200);
    expect(html(res)).toContain('<meta http-equiv="refresh" content="0;url=/customers"/>');
    expect(session).toMatch(/^ll_session=lls_[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    const a = sim.lastAuthorize!;
    expect(a.get('redirect_uri')).toBe(`${PUBLIC}/sign-in/oidc/callback`);
    expect(a.get('scope')).toBe('openid email');
    expect(a.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.get('nonce')).not.toBe(a.get('state'));
    expect(sim.tokenRequests.at(-1)!.get('code_verifier')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The session works on the dashboard.
    const page = await t.request('GET', '/customers', undefined, { cookie: session!.split(';')[0]! });
    expect(page.status).toBe(200);
    expect(html(page)).toContain('ida@example.com');
    const { rows } = await t.db.query<{ user_id: string; last: Date | null }>(
      `SELECT l.user_id, u.last_sign_in_at AS last FROM user_oidc_links l JOIN users u ON u.id = l.user_id
        WHERE l.issuer = $1 AND l.subject = 'ida-sub'`,
      [sim.issuer],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.last).not.toBeNull();
  });

  it('finds a linked user by issuer and subject after their e-mail at the provider changed; ES256 too', async () => {
    sim.account = { sub: 'ida-sub', email: 'ida.new@example.org', emailVerified: true };
    sim.alg = 'ES256';
    try {
      const { res, session } = await signInVia('/');
      expect(res.status, html(res)).toBe(200);
      const page = await t.request('GET', '/', undefined, { cookie: session!.split(';')[0]! });
      expect(html(page)).toContain('ida@example.com');
    } finally {
      sim.alg = 'RS256';
    }
  });

  const refusals: [string, () => void, number, string, string][] = [
    [
      'a token signed by another key',
      () => (sim.next = { signWithForeignKey: true }),
      401,
      'OIDC_TOKEN_INVALID',
      'signature does not verify',
    ],
    [
      'a token for another audience',
      () => (sim.next = { audience: 'someone-else' }),
      401,
      'OIDC_TOKEN_INVALID',
      'another client (aud)',
    ],
    ['an expired token', () => (sim.next = { expiresInSeconds: -600 }), 401, 'OIDC_TOKEN_INVALID', 'it has expired'],
    ['an unsigned token (alg none)', () => (sim.next = { alg: 'none' }), 401, 'OIDC_TOKEN_INVALID', 'algorithm none'],
    [
      'a shared-secret token (HS256)',
      () => (sim.next = { alg: 'HS256' }),
      401,
      'OIDC_TOKEN_INVALID',
      'algorithm HS256',
    ],
    [
      'a token of another issuer',
      () => (sim.next = { issuer: 'https://evil.example' }),
      401,
      'OIDC_TOKEN_INVALID',
      'another issuer',
    ],
    ['a token with another nonce', () => (sim.next = { nonce: 'not-this-one' }), 401, 'OIDC_TOKEN_INVALID', 'nonce'],
    [
      'an e-mail the provider has not verified',
      () => (sim.account = { sub: 'pat-sub', email: 'pat@example.com', emailVerified: false }),
      403,
      'OIDC_EMAIL_NOT_VERIFIED',
      'has not verified pat@example.com',
    ],
    [
      'an e-mail no user has (no self sign-up)',
      () => (sim.account = { sub: 'stranger', email: 'stranger@example.com', emailVerified: true }),
      403,
      'OIDC_USER_UNKNOWN',
      'No active user has the e-mail stranger@example.com',
    ],
  ];
  for (const [what, arrange, status, code, why] of refusals) {
    it(`refuses ${what}`, async () => {
      sim.account = { sub: 'pat-sub-2', email: 'pat@example.com', emailVerified: true };
      arrange();
      const { res, session } = await signInVia();
      expect(res.status, html(res)).toBe(status);
      expect(html(res)).toContain(`(${code})`);
      expect(html(res)).toContain(why);
      expect(html(res)).toContain('Sign in with Test SSO');
      expect(session).toBeUndefined();
    });
  }

  it('links no identity for an unknown e-mail, and records each refusal in the audit trail', async () => {
    const { rows } = await t.db.query(`SELECT 1 FROM user_oidc_links WHERE subject = 'stranger'`);
    expect(rows).toHaveLength(0);
    const audit = await t.db.query<{ reason: string }>(
      `SELECT after->>'reason' AS reason FROM audit_log WHERE action = 'auth.sign-in-failed' AND after->>'method' = 'oidc'`,
    );
    expect(audit.rows.map((r) => r.reason)).toEqual(
      expect.arrayContaining(['OIDC_TOKEN_INVALID', 'OIDC_EMAIL_NOT_VERIFIED', 'OIDC_USER_UNKNOWN']),
    );
  });

  it('refuses a replayed state, and a return in another browser', async () => {
    sim.account = { sub: 'pat-sub', email: 'pat@example.com', emailVerified: true };
    const first = await signInVia();
    expect(first.res.status).toBe(200);
    const replay = await t.request('GET', first.callback, undefined, { cookie: first.browser });
    expect(replay.status).toBe(400);
    expect(html(replay)).toContain('(OIDC_STATE_INVALID)');
    expect(cookies(replay).some((c) => c.startsWith('ll_session='))).toBe(false);

    const { callback } = await toProviderAndBack();
    const elsewhere = await t.request('GET', callback, undefined, { cookie: 'll_oidc=someone-elses' });
    expect(elsewhere.status).toBe(400);
    expect(html(elsewhere)).toContain('(OIDC_STATE_INVALID)');
    const noState = await t.request('GET', '/sign-in/oidc/callback?code=abc');
    expect(html(noState)).toContain('(OIDC_STATE_INVALID)');
  });

  it('refuses a disabled user, and says so when the provider refused', async () => {
    const members = (await owner.get('/v1/users')).body.items as { id: string; email: string }[];
    const pat = members.find((m) => m.email === 'pat@example.com')!;
    await owner.put(`/v1/users/${pat.id}`, { disabled: true });
    sim.account = { sub: 'pat-sub', email: 'pat@example.com', emailVerified: true };
    const disabled = await signInVia();
    expect(disabled.res.status).toBe(403);
    expect(html(disabled.res)).toContain('(OIDC_USER_UNKNOWN)');
    await owner.put(`/v1/users/${pat.id}`, { disabled: false });

    const start = await t.request('GET', '/sign-in/oidc');
    const browser = cookies(start)[0]!.split(';')[0]!;
    const state = new URL(String(start.headers.location)).searchParams.get('state')!;
    const denied = await t.request('GET', `/sign-in/oidc/callback?error=access_denied&state=${state}`, undefined, {
      cookie: browser,
    });
    expect(denied.status).toBe(400);
    expect(html(denied)).toContain('cancelled or refused at the provider');
    expect(html(denied)).toContain('(OIDC_PROVIDER_ERROR)');
  });
});

describe('the entity an OIDC sign-in opens', () => {
  let mia: { email: string; password: string };
  /** The entity a session cookie acts in, and the entities its user may switch to. */
  async function whereIs(session: string | undefined) {
    const me = await t.request('GET', '/v1/auth/me', undefined, { cookie: session!.split(';')[0]! });
    expect(me.status).toBe(200);
    return {
      entity: me.body.entity.code as string,
      entities: (me.body.entities as { code: string }[]).map((e) => e.code),
    };
  }

  beforeAll(async () => {
    // Mia belongs to three entities; by code, AOIDC comes first and ZOIDC last.
    mia = await addUser(t, owner, 'mia@example.com', 'viewer');
    for (const code of ['ZOIDC', 'AOIDC']) await addUser(t, await t.entity(code, 'EUR'), mia.email, 'accountant');
  });

  it('opens the first entity by code, as a password sign-in without a choice does, with the switcher', async () => {
    sim.account = { sub: 'mia-sub', email: 'mia@example.com', emailVerified: true };
    const { res, session } = await signInVia('/');
    expect(res.status, html(res)).toBe(200);
    const password = await signIn(t, mia.email, mia.password);
    expect(password.signIn.body.entity.code).toBe('AOIDC');
    expect(await whereIs(session)).toEqual({ entity: 'AOIDC', entities: ['AOIDC', 'OIDC', 'ZOIDC'] });
    const page = html(await t.request('GET', '/', undefined, { cookie: session!.split(';')[0]! }));
    expect(page).toContain('id="entity-switch"');
    expect(page).toMatch(/<option value="ZOIDC">/);
  });

  it('opens the entity chosen at sign-in, as entityCode does for a password, and refuses one the user is not in', async () => {
    sim.account = { sub: 'mia-sub', email: 'mia@example.com', emailVerified: true };
    const chosen = await signInVia('/', t, 'ZOIDC');
    expect(chosen.res.status, html(chosen.res)).toBe(200);
    expect((await whereIs(chosen.session)).entity).toBe('ZOIDC');
    expect((await signIn(t, mia.email, mia.password, 'ZOIDC')).signIn.body.entity.code).toBe('ZOIDC');

    // An entity that exists but is not hers: the same code as the password sign-in answers, no session.
    await t.entity('OTHEROIDC', 'EUR');
    const other = await signInVia('/', t, 'OTHEROIDC');
    expect(other.res.status).toBe(404);
    expect(html(other.res)).toContain('(ENTITY_DOES_NOT_EXIST)');
    expect(other.session).toBeUndefined();
    const byPassword = await t.request('POST', '/v1/auth/sign-in', {
      email: mia.email,
      password: mia.password,
      entityCode: 'OTHEROIDC',
    });
    expect(byPassword.status).toBe(404);
    expect(byPassword.body.error.code).toBe('ENTITY_DOES_NOT_EXIST');
    // A code that cannot be one is refused before the trip to the provider.
    const malformed = await t.request('GET', '/sign-in/oidc?entity=not%20a%20code');
    expect(malformed.status).toBe(404);
    expect(html(malformed)).toContain('(ENTITY_DOES_NOT_EXIST)');
  });

  it('carries the entity of the sign-in link to both the password form and the provider button', async () => {
    const page = html(await t.request('GET', '/sign-in?next=/runs&entity=ZOIDC'));
    expect(page).toContain('<input type="hidden" name="entityCode" value="ZOIDC"/>');
    expect(page).toContain('href="/sign-in/oidc?next=%2Fruns&amp;entity=ZOIDC"');
    expect(html(await t.request('GET', '/sign-in'))).not.toContain('name="entityCode"');
  });
});

describe('the sign-in throttle', () => {
  let app: TestApp;
  let ola: { email: string; password: string };
  let ben: { id: string; email: string; password: string };
  let club: Client;
  const ADDRESS = 'address:127.0.0.1';

  async function failures(subject: string): Promise<number> {
    const { rows } = await app.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM login_failures WHERE subject = $1',
      [subject],
    );
    return rows[0]!.n;
  }
  /** Forgets the address's failures, so that what follows shows the account's alone. */
  const forgetAddress = () => app.db.query('DELETE FROM login_failures WHERE subject = $1', [ADDRESS]);

  beforeAll(async () => {
    app = await createTestApp({ passwordScryptLogN: 12, publicUrl: PUBLIC, oidc: oidcConfig(), loginMaxFailures: 3 });
    club = await app.entity('THR', 'EUR');
    ola = await addUser(app, club, 'ola@example.com', 'owner');
    ben = await addUser(app, club, 'ben@example.com', 'viewer');
  });
  afterAll(async () => app.close());
  beforeEach(async () => {
    await app.db.query('DELETE FROM login_failures');
  });

  it('counts bad states, bad tokens and unknown users per address, then refuses as the password sign-in does', async () => {
    const noState = await app.request('GET', '/sign-in/oidc/callback?code=abc');
    expect(html(noState)).toContain('(OIDC_STATE_INVALID)');
    sim.account = { sub: 'ola-sub', email: 'ola@example.com', emailVerified: true };
    sim.next = { signWithForeignKey: true };
    expect(html((await signInVia('/', app)).res)).toContain('(OIDC_TOKEN_INVALID)');
    // A bad token says nothing trustworthy of an account: only the address counts it.
    expect(await failures('user:ola@example.com')).toBe(0);
    sim.account = { sub: 'stranger', email: 'Stranger@example.com', emailVerified: true };
    expect(html((await signInVia('/', app)).res)).toContain('(OIDC_USER_UNKNOWN)');
    expect(await failures('user:stranger@example.com')).toBe(1);
    expect(await failures(ADDRESS)).toBe(3);

    // The right account now, from that address: refused with the password path's code and Retry-After.
    sim.account = { sub: 'ola-sub', email: 'ola@example.com', emailVerified: true };
    const start = await app.request('GET', '/sign-in/oidc');
    expect(start.status).toBe(429);
    expect(Number(start.headers['retry-after'])).toBeGreaterThan(0);
    expect(html(start)).toContain('(LOGIN_THROTTLED)');
    expect(start.headers.location).toBeUndefined();
    const password = await app.request('POST', '/v1/auth/sign-in', { email: ola.email, password: ola.password });
    expect(password.status).toBe(429);
    expect(password.body.error.code).toBe('LOGIN_THROTTLED');
    // Throttled attempts are neither counted nor audited.
    expect(await failures(ADDRESS)).toBe(3);
    const audited = await app.db.query(
      `SELECT 1 FROM audit_log WHERE action = 'auth.sign-in-failed' AND after->>'reason' = 'LOGIN_THROTTLED'`,
    );
    expect(audited.rows).toHaveLength(0);
  });

  it('refuses a return from the provider while the address is throttled, before taking its state', async () => {
    sim.account = { sub: 'ola-sub', email: 'ola@example.com', emailVerified: true };
    const { callback, browser } = await toProviderAndBack('/', app);
    for (let i = 0; i < 3; i++) await app.request('GET', '/sign-in/oidc/callback?state=forged&code=abc');
    const res = await app.request('GET', callback, undefined, { cookie: browser });
    expect(res.status).toBe(429);
    expect(html(res)).toContain('(LOGIN_THROTTLED)');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(cookies(res).some((c) => c.startsWith('ll_session='))).toBe(false);
  });

  it("counts a disabled user's OIDC failures against the account, which then holds back the password too", async () => {
    await club.put(`/v1/users/${ben.id}`, { disabled: true });
    sim.account = { sub: 'ben-sub', email: 'ben@example.com', emailVerified: true };
    for (let i = 0; i < 3; i++) {
      await forgetAddress();
      expect(html((await signInVia('/', app)).res)).toContain('(OIDC_USER_UNKNOWN)');
    }
    expect(await failures('user:ben@example.com')).toBe(3);
    await club.put(`/v1/users/${ben.id}`, { disabled: false });
    await forgetAddress();
    const password = await app.request('POST', '/v1/auth/sign-in', { email: ben.email, password: ben.password });
    expect(password.status).toBe(429);
    expect(password.body.error.code).toBe('LOGIN_THROTTLED');
  });

  it('refuses an OIDC sign-in to an account the password guesses have throttled', async () => {
    for (let i = 0; i < 3; i++) {
      const wrong = await app.request('POST', '/v1/auth/sign-in', { email: ola.email, password: 'not the password' });
      expect(wrong.body.error.code).toBe('INVALID_CREDENTIALS');
    }
    await forgetAddress();
    sim.account = { sub: 'ola-sub', email: 'ola@example.com', emailVerified: true };
    const { res, session } = await signInVia('/', app);
    expect(res.status).toBe(429);
    expect(html(res)).toContain('(LOGIN_THROTTLED)');
    expect(session).toBeUndefined();
    // Once the account's failures have left the window, the same sign-in goes through.
    await app.db.query('DELETE FROM login_failures');
    expect((await signInVia('/', app)).res.status).toBe(200);
  });

  /** Attempts still recorded as under way: every return must end its own, whatever its outcome. */
  async function underWay(): Promise<number> {
    const { rows } = await app.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM login_failures WHERE subject LIKE 'pending:%'`,
    );
    return rows[0]!.n;
  }

  it('holds a burst of parallel returns to the limit: at most 3 codes exchanged, the rest 429 before their state', async () => {
    // Fifteen sign-ins started at the provider, each back with its own state and cookie but a code
    // the provider never issued: each return that gets as far as the exchange is one check.
    sim.account = { sub: 'ola-sub', email: 'ola@example.com', emailVerified: true };
    const returns = [];
    for (let i = 0; i < 15; i++) {
      const { callback, browser } = await toProviderAndBack('/', app);
      returns.push({ callback: callback.replace(/([?&]code=)[^&]+/, `$1bad-burst-${i}`), browser, right: callback });
    }
    const results = await Promise.all(
      returns.map(({ callback, browser }) => app.request('GET', callback, undefined, { cookie: browser })),
    );
    const codes = results.map((r) => `${r.status} ${/\((OIDC_[A-Z_]+|LOGIN_THROTTLED)\)/.exec(html(r))?.[1] ?? ''}`);
    const tally: Record<string, number> = {};
    for (const c of codes) tally[c] = (tally[c] ?? 0) + 1;
    const exchanged = sim.tokenRequests.filter((f) => f.get('code')?.startsWith('bad-burst-')).length;
    expect(exchanged, JSON.stringify(tally)).toBeLessThanOrEqual(3);
    expect(tally['401 OIDC_TOKEN_INVALID'] ?? 0, JSON.stringify(tally)).toBe(exchanged);
    expect(tally['429 LOGIN_THROTTLED'] ?? 0, JSON.stringify(tally)).toBe(15 - exchanged);
    // Refused as a throttled sign-in always is: the sign-in page with the wait, no session.
    for (const r of results.filter((x) => x.status === 429)) {
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(html(r)).toContain('Sign in with Test SSO');
      expect(cookies(r).some((c) => c.startsWith('ll_session='))).toBe(false);
    }
    // Each check that failed is counted once, against the address; none is left under way.
    expect(await failures(ADDRESS)).toBe(exchanged);
    expect(await underWay()).toBe(0);
    // A throttled return was refused before its state was taken: once the failures are gone, it
    // comes back with the code the provider did issue and signs in.
    await app.db.query('DELETE FROM login_failures');
    const held = returns[results.findIndex((r) => r.status === 429)]!;
    const later = await app.request('GET', held.right, undefined, { cookie: held.browser });
    expect(later.status, html(later)).toBe(200);
  });

  it('lets a burst of right returns all sign in, one after another past the limit, and counts none of them', async () => {
    sim.account = { sub: 'ola-sub', email: 'ola@example.com', emailVerified: true };
    const returns = [];
    for (let i = 0; i < 9; i++) returns.push(await toProviderAndBack('/', app));
    const results = await Promise.all(
      returns.map(({ callback, browser }) => app.request('GET', callback, undefined, { cookie: browser })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(9).fill(200));
    expect(results.every((r) => cookies(r).some((c) => c.startsWith('ll_session=')))).toBe(true);
    expect(await failures(ADDRESS)).toBe(0);
    expect(await failures('user:ola@example.com')).toBe(0);
    expect(await underWay()).toBe(0);
  });

  it('ends the attempt of a return whose exchange the provider could not answer, and does not count it', async () => {
    const gone = await startOidcProvider();
    scope.allowHost('127.0.0.1', Number(new URL(gone.issuer).port));
    const other = await createTestApp({
      passwordScryptLogN: 12,
      publicUrl: PUBLIC,
      oidc: { ...oidcConfig(), issuer: gone.issuer, clientId: gone.clientId, clientSecret: gone.clientSecret },
      loginMaxFailures: 3,
    });
    try {
      const { callback, browser } = await toProviderAndBack('/', other);
      // The provider goes away between the redirect and the exchange: not the person's doing.
      await gone.close();
      const res = await other.request('GET', callback, undefined, { cookie: browser });
      expect(res.status).toBe(502);
      expect(html(res)).toContain('(OIDC_PROVIDER_UNAVAILABLE)');
      const { rows } = await other.db.query<{ subject: string }>('SELECT subject FROM login_failures');
      expect(rows).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe('configuration', () => {
  it('answers OIDC_NOT_CONFIGURED without a provider, and OIDC_PROVIDER_UNAVAILABLE when the policy refuses it', async () => {
    const plain = await createTestApp({ passwordScryptLogN: 12 });
    try {
      expect(html(await plain.request('GET', '/sign-in'))).not.toContain('Sign in with');
      const r = await plain.request('GET', '/sign-in/oidc');
      expect(r.status).toBe(404);
      expect(html(r)).toContain('(OIDC_NOT_CONFIGURED)');
    } finally {
      await plain.close();
    }
    // 127.0.0.2 is loopback and not on the allow list: nothing is sent, and the page says why.
    const blocked = await createTestApp({
      passwordScryptLogN: 12,
      oidc: { issuer: 'http://127.0.0.2:9', clientId: 'x', redirectPath: '/sign-in/oidc/callback', label: 'SSO' },
    });
    try {
      const r = await blocked.request('GET', '/sign-in/oidc');
      expect(r.status).toBe(502);
      expect(html(r)).toContain('(OIDC_PROVIDER_UNAVAILABLE)');
      expect(html(r)).toContain('outbound policy');
    } finally {
      await blocked.close();
    }
  });

  it('reads auth.oidc from the YAML file, the client secret from the environment', () => {
    const text = [
      'auth:',
      '  oidc:',
      '    issuer: https://login.example.com/',
      '    clientId: ledgerlink',
      '    clientSecret: ${OIDC_CLIENT_SECRET}',
      '    label: Example Login',
    ].join('\n');
    const ok = checkConfigText(text, { OIDC_CLIENT_SECRET: 's3cret' });
    expect(ok.problems).toEqual([]);
    expect(ok.config!.auth!.oidc).toEqual({
      issuer: 'https://login.example.com',
      clientId: 'ledgerlink',
      clientSecret: 's3cret',
      redirectPath: '/sign-in/oidc/callback',
      label: 'Example Login',
    });
    expect(checkConfigText(text, {}).problems[0]!.message).toContain('OIDC_CLIENT_SECRET');
    const bad = checkConfigText('auth:\n  oidc:\n    issuer: ftp://x\n    clientId: a\n    redirectPath: /v1/x\n', {});
    expect(bad.problems.map((p) => p.field)).toEqual(['auth.oidc.issuer', 'auth.oidc.redirectPath']);
  });
});
