import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { addUser, sessionCookieOf } from './helpers/users.ts';

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

  it('an empty form is asked for again, not answered with JSON', async () => {
    const r = await post('/sign-in', { email: '', password: '' });
    expect(r.status).toBe(400);
    expect(html(r)).toContain('Enter your email address and your password.');
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
