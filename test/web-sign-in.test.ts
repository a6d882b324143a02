import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { addUser, sessionCookieOf, signIn } from './helpers/users.ts';

/*
 * The sign-in form without JavaScript (or submitted before /assets/app.js has loaded): the browser
 * posts it urlencoded to POST /sign-in, which signs in as POST /v1/auth/sign-in does (its throttle,
 * its cookie) and answers pages, never JSON: on to the page asked for, or the form with the error.
 */
let t: TestApp;
let owner: Client;
let ann: { email: string; password: string };

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 10, loginMaxFailures: 3, loginWindowSeconds: 600 });
  owner = await t.entity('FORM', 'EUR');
  ann = await addUser(t, owner, 'ann@example.com', 'accountant');
});
afterAll(async () => t.close());

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  t.request('POST', path, form(fields), { ...FORM, ...headers });
const html = (r: { body: unknown }) => String(r.body);
/** The text of the element whose id is `id` (tags dropped); null when there is none. */
function textOf(page: string, id: string): string | null {
  const m = new RegExp(`<(\\w+)[^>]*\\bid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(page);
  return m ? m[2]!.replace(/<[^>]+>/g, '').trim() : null;
}
/** The opening tag of the form control whose id is `id`. */
const control = (page: string, id: string) => new RegExp(`<input[^>]*\\bid="${id}"[^>]*>`).exec(page)?.[0] ?? '';

describe('signing out', () => {
  it('lands on the sign-in page, which says so', async () => {
    const b = await signIn(t, ann.email, ann.password);
    const page = html(await b.request('GET', '/'));
    expect(page).toContain('data-api="/v1/auth/sign-out" data-next="/sign-in?signed-out=1"');
    expect(html(await t.request('GET', '/sign-in?signed-out=1'))).toContain('You are signed out.');
    expect(html(await t.request('GET', '/sign-in'))).not.toContain('You are signed out.');
  });
});

describe('POST /sign-in, the form without JavaScript', () => {
  it('the form posts to it, and carries the page to go back to', async () => {
    const page = html(await t.request('GET', '/sign-in?next=%2Fruns%3Fstatus%3Dfailed'));
    expect(page).toContain('method="post" action="/sign-in?next=%2Fruns%3Fstatus%3Dfailed"');
    expect(html(await t.request('GET', '/sign-in'))).toContain('action="/sign-in"');
  });

  it('signs in: the session cookie, then 303 to the page asked for, which it opens', async () => {
    const r = await post(
      '/sign-in?next=%2Fruns',
      { email: 'ANN@example.com', password: ann.password },
      {
        origin: 'http://localhost:80',
        'sec-fetch-site': 'same-origin',
      },
    );
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/runs');
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/^ll_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    const runs = await t.request('GET', '/runs', undefined, { cookie: sessionCookieOf(r) });
    expect(runs.status).toBe(200);
    expect(html(runs)).toContain('ann@example.com');
  });

  it('goes only to a path of this site', async () => {
    const r = await post('/sign-in?next=%2F%2Fevil.example%2F', { email: ann.email, password: ann.password });
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/');
  });

  it('goes to the overview, never a server error, for a next that no Location header can hold', async () => {
    for (const next of ['/%00', '/%01', '/%E2%82%AC', '/a%0Db']) {
      const r = await post(`/sign-in?next=${encodeURIComponent(decodeURIComponent(next))}`, {
        email: ann.email,
        password: ann.password,
      });
      expect(r.status, next).toBe(303);
      expect(r.headers.location, next).toBe('/');
      // Signed in already: the page goes on at once, to the same place.
      const again = await t.request('GET', `/sign-in?next=${next}`, undefined, {
        cookie: String(r.headers['set-cookie']).split(';')[0]!,
      });
      expect([again.status, again.headers.location], next).toEqual([303, '/']);
    }
  });

  it('a wrong password shows the form again with the error, the address kept, and no cookie', async () => {
    const r = await post('/sign-in?next=%2Fruns', { email: 'nobody@example.com', password: 'wrong' });
    expect(r.status).toBe(401);
    expect(String(r.headers['content-type'])).toMatch(/^text\/html/);
    expect(r.headers['set-cookie']).toBeUndefined();
    const page = html(r);
    expect(page).toContain('The email or password is not right.');
    expect(page).toContain('INVALID_CREDENTIALS');
    expect(page).toContain('value="nobody@example.com"');
    expect(page).toContain('action="/sign-in?next=%2Fruns"');
    expect(page).not.toContain('wrong');
  });

  it('an empty form is asked for again, each field said beside it in words, not answered with JSON', async () => {
    const r = await post('/sign-in', { email: '', password: '' });
    expect(r.status).toBe(400);
    const page = html(r);
    expect(textOf(page, 'email-error')).toBe('Enter your e-mail address');
    expect(textOf(page, 'password-error')).toBe('Enter your password');
    for (const id of ['email', 'password']) {
      expect(control(page, id)).toContain('aria-invalid="true"');
      expect(control(page, id)).toContain(`aria-describedby="${id}-error"`);
    }
    expect(page).not.toMatch(/Too small|expected string|VALIDATION_ERROR/);
  });

  it('a too long or wrong e-mail address is said beside it, kept as typed, the password not', async () => {
    const long = `${'a'.repeat(288)}@example.com`;
    const page = html(await post('/sign-in', { email: long, password: 'secret words' }));
    expect(textOf(page, 'email-error')).toBe('At most 254 characters (this has 300)');
    expect(control(page, 'email')).toContain(`value="${long}"`);
    expect(control(page, 'password')).not.toContain('aria-invalid');
    expect(page).not.toContain('secret words');
    const wrong = html(await post('/sign-in', { email: 'ann.example.com', password: 'x' }));
    expect(textOf(wrong, 'email-error')).toBe('Enter an e-mail address such as ann@example.com');
  });

  it('refuses a form posted from another site (login CSRF), signing no one in', async () => {
    for (const headers of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }] as Record<
      string,
      string
    >[]) {
      const r = await post('/sign-in', { email: ann.email, password: ann.password }, headers);
      expect(r.status).toBe(403);
      expect(r.headers['set-cookie']).toBeUndefined();
      expect(html(r)).toContain('CSRF_TOKEN_INVALID');
    }
  });

  it('counts in the same throttle as POST /v1/auth/sign-in, and says so in the page', async () => {
    const own = await createTestApp({ passwordScryptLogN: 10, loginMaxFailures: 3, loginWindowSeconds: 600 });
    try {
      const u = await addUser(own, await own.entity('THRO', 'EUR'), 'throttled@example.com', 'viewer');
      const postTo = (fields: Record<string, string>) => own.request('POST', '/sign-in', form(fields), FORM);
      for (let i = 0; i < 2; i++) expect((await postTo({ email: u.email, password: 'nope' })).status).toBe(401);
      // The third failure through the API: the two ways add up.
      expect((await own.request('POST', '/v1/auth/sign-in', { email: u.email, password: 'nope' })).status).toBe(401);
      const r = await postTo({ email: u.email, password: u.password });
      expect(r.status).toBe(429);
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(r.headers['set-cookie']).toBeUndefined();
      expect(html(r)).toContain('Too many failed attempts.');
      expect(html(r)).toContain('LOGIN_THROTTLED');
      // And the API's sign-in is throttled by the form's failures alike.
      expect((await own.request('POST', '/v1/auth/sign-in', { email: u.email, password: u.password })).status).toBe(
        429,
      );
    } finally {
      await own.close();
    }
  });
});

describe('POST /sign-in/set-password, the one-time link without JavaScript', () => {
  /** A user added by the owner, with the token of the link the owner was given. */
  async function invited(email: string): Promise<string> {
    const added = await owner.post('/v1/users', { email, role: 'viewer' });
    expect(added.status).toBe(201);
    return new URL(added.body.signInLink as string).searchParams.get('token')!;
  }

  it('the form posts to it, with the token in a hidden field rather than the address', async () => {
    const token = await invited('form-link@example.com');
    const page = html(await t.request('GET', `/sign-in/set-password?token=${token}`));
    expect(page).toContain('method="post" action="/sign-in/set-password"');
    expect(page).toContain(`name="token" value="${token}"`);
  });

  it('sets the password, 303 to the sign-in page, which then signs in with it; the link works once', async () => {
    const email = 'form-set@example.com';
    const token = await invited(email);
    const password = 'a passphrase set without scripts';
    const r = await post('/sign-in/set-password', { token, password }, { 'sec-fetch-site': 'same-origin' });
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/sign-in?password=set');
    expect(html(await t.request('GET', '/sign-in?password=set'))).toContain('Your password is set.');
    const signedIn = await post('/sign-in', { email, password });
    expect(signedIn.status).toBe(303);

    const again = await post('/sign-in/set-password', { token, password: 'another long passphrase' });
    expect(again.status).toBe(400);
    const page = html(again);
    expect(page).toContain('This link has been used or has expired');
    expect(page).toContain('SIGN_IN_LINK_INVALID');
    // A used token is not offered again, and the password set stays.
    expect(page).not.toContain(token);
    expect(page).not.toContain('<form');
    expect((await post('/sign-in', { email, password })).status).toBe(303);
  });

  it('a weak password shows the form again with the policy, the link still usable', async () => {
    const email = 'form-weak@example.com';
    const token = await invited(email);
    const weak = await post('/sign-in/set-password', { token, password: 'short' });
    expect(weak.status).toBe(422);
    expect(String(weak.headers['content-type'])).toMatch(/^text\/html/);
    const page = html(weak);
    expect(textOf(page, 'password-error')).toBe('At least 12 characters (PASSWORD_TOO_WEAK)');
    expect(control(page, 'password')).toContain('aria-invalid="true"');
    expect(control(page, 'password')).toContain('aria-describedby="password-help password-error"');
    expect(page).toContain(`name="token" value="${token}"`);
    expect(page).not.toContain('value="short"');
    const empty = await post('/sign-in/set-password', { token, password: '' });
    expect(empty.status).toBe(400);
    expect(textOf(html(empty), 'password-error')).toBe('Enter the new password you want');
    const ok = await post('/sign-in/set-password', { token, password: 'now a long enough one' });
    expect(ok.status).toBe(303);
  });

  it('refuses a form posted from another site, setting nothing', async () => {
    const email = 'form-csrf@example.com';
    const token = await invited(email);
    const r = await post(
      '/sign-in/set-password',
      { token, password: 'chosen by another site' },
      { origin: 'https://evil.example' },
    );
    expect(r.status).toBe(403);
    expect(html(r)).toContain('CSRF_TOKEN_INVALID');
    // The link is untouched: its owner sets a password with it.
    expect((await post('/sign-in/set-password', { token, password: 'chosen by its owner' })).status).toBe(303);
    expect((await post('/sign-in', { email, password: 'chosen by another site' })).status).toBe(401);
  });
});

describe('GET /sign-in/set-password: a link that cannot set a password says so at once', () => {
  it('shows no form for a used or unknown link, and counts an unknown one in the sign-in throttle', async () => {
    const own = await createTestApp({ passwordScryptLogN: 10, loginMaxFailures: 3, loginWindowSeconds: 600 });
    try {
      const club = await own.entity('LINK', 'EUR');
      const invite = async (email: string) => {
        const added = await club.post('/v1/users', { email, role: 'viewer' });
        return new URL(added.body.signInLink as string).searchParams.get('token')!;
      };
      const used = await invite('used-link@example.com');
      const fresh = await invite('fresh-link@example.com');
      const open = (token: string) => own.request('GET', `/sign-in/set-password?token=${encodeURIComponent(token)}`);

      // Unused: the form, and looking at it does not use it.
      for (let i = 0; i < 2; i++) expect(html(await open(used))).toContain('action="/sign-in/set-password"');
      const set = await own.request('POST', '/v1/auth/set-password', { token: used, password: 'a long passphrase' });
      expect(set.status).toBe(200);

      const page = await open(used);
      expect(page.status).toBe(200);
      expect(html(page)).toContain('<meta name="referrer" content="no-referrer"/>');
      expect(html(page)).toContain('This link has been used or has expired');
      expect(html(page)).toContain('Ask an owner of your entity for a new one.');
      expect(html(page)).not.toContain('<form');
      expect(html(page)).not.toContain(used);
      expect(html(await open('llp_not-a-token-anyone-was-given'))).not.toContain('<form');

      // Two failures so far from this address; the third is the limit: then no link is looked at.
      expect(html(await open('llp_another-guess'))).not.toContain('<form');
      const throttled = await open(fresh);
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
      expect(html(throttled)).toContain('Too many failed attempts from this address.');
      expect(html(throttled)).not.toContain('<form');
    } finally {
      await own.close();
    }
  });
});
