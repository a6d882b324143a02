import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp, type TestResponse } from './helpers/app.ts';
import { startOidcProvider, type OidcProviderSim } from './helpers/oidc-provider.ts';
import { addUser } from './helpers/users.ts';
import { allowOutboundHost } from '../src/sync/http.ts';
import { checkConfigText } from '../src/sync/config.ts';

/*
 * Sign-in through an OpenID Connect provider (a local simulator): the code flow with PKCE, state and
 * nonce, and every way a sign-in must be refused — a token signed by another key, for another
 * audience, expired, unsigned, with another nonce; a state replayed or from another browser; an
 * e-mail not verified or unknown — each with its OIDC_* code on the sign-in page, never a 500.
 */

let sim: OidcProviderSim;
let t: TestApp;
let owner: Client;
const PUBLIC = 'http://ledgerlink.test';

beforeAll(async () => {
  sim = await startOidcProvider();
  allowOutboundHost('127.0.0.1', Number(new URL(sim.issuer).port));
  t = await createTestApp({
    passwordScryptLogN: 12,
    publicUrl: PUBLIC,
    oidc: {
      issuer: sim.issuer,
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
      redirectPath: '/sign-in/oidc/callback',
      label: 'Test SSO',
    },
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

function cookies(r: TestResponse): string[] {
  const raw = r.headers['set-cookie'];
  return (Array.isArray(raw) ? raw : raw ? [raw] : []).map(String);
}

/** Starts a sign-in, lets the provider answer, and returns the callback's path with the browser's cookie. */
async function toProviderAndBack(next = '/customers') {
  const start = await t.request('GET', `/sign-in/oidc?next=${encodeURIComponent(next)}`);
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

async function signInVia(next = '/customers') {
  const { callback, browser } = await toProviderAndBack(next);
  const res = await t.request('GET', callback, undefined, { cookie: browser });
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
