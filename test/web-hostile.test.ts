import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { definePipeline } from './helpers/sync.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';
import { parkRecords } from '../src/sync/exceptions.ts';

/*
 * The dashboard against a hostile client (docs/notes attack review, findings 3 and 4): a NUL or
 * half a surrogate pair in a path parameter or a posted field is refused 400 the dashboard's way
 * (a page, or a fragment in the flash area for htmx) before anything reaches the database, never a
 * 500; and session cookies that match nothing count in /v1's throttle of failed authentications,
 * which holds a throttled address back from pages and actions too, with the dashboard's 429 page.
 */

let t: TestApp;
let owner: Client;
let ann: Browser;
let exceptionId: number;

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const HTMX = { ...FORM, 'hx-request': 'true' };

beforeAll(async () => {
  // Five refused credentials from an address, and it is held back (docs/security.md).
  t = await createTestApp({ passwordScryptLogN: 10, authMaxFailures: 5 });
  owner = await t.entity('HOST', 'EUR');
  const user = await addUser(t, owner, 'ann@hostile.example', 'owner');
  ann = await signIn(t, user.email, user.password);
  const pipeline = await definePipeline(t.db, 'HOST', { name: 'recs', source: { type: 'records' } });
  await parkRecords(t.db, pipeline.id, owner.entityId, null, [
    { kind: 'invoice', sourceId: 'H-1', reasonCode: 'AMOUNT_INVALID', message: 'bad amount', payload: {} },
  ]);
  const { rows } = await t.db.query<{ id: string }>(`SELECT id FROM exceptions WHERE source_id = 'H-1'`);
  exceptionId = Number(rows[0]!.id);
}, 60_000);
afterAll(async () => t.close());

const html = (r: { body: unknown }) => String(r.body);

/** A request from a given client address (the throttle counts per address). */
async function from(address: string, method: string, url: string, headers: Record<string, string> = {}, body?: string) {
  const res = await t.app.inject({
    method: method as 'GET',
    url,
    remoteAddress: address,
    headers,
    ...(body !== undefined ? { payload: body } : {}),
  });
  const type = String(res.headers['content-type'] ?? '');
  return {
    status: res.statusCode,
    body: type.includes('json') ? res.json() : res.body,
    headers: res.headers as Record<string, unknown>,
  };
}

/** What the database holds that a refused change could have touched. */
async function footprint() {
  const count = async (sql: string) => Number((await t.db.query<{ n: string }>(sql)).rows[0]!.n);
  return {
    users: await count(`SELECT count(*) AS n FROM users`),
    keys: await count(`SELECT count(*) AS n FROM user_api_keys`),
    audit: await count(`SELECT count(*) AS n FROM audit_log`),
    open: await count(`SELECT count(*) AS n FROM exceptions WHERE status = 'open'`),
  };
}

describe('a NUL or half a surrogate pair in a form or a path is refused 400, never a 500', () => {
  it('refuses it in a posted field, on a page or in the flash area, and changes nothing', async () => {
    const before = await footprint();
    const csrf = `_csrf=${ann.csrfToken}`;
    for (const [path, fields] of [
      ['/settings/users', 'email=x%00y@x.y&role=viewer'],
      ['/settings/api-keys', 'name=k%00x'],
      [`/exceptions/${exceptionId}/resolve`, 'note=n%00'],
      // A field's name, too.
      ['/settings/api-keys', 'name=k&na%00me=x'],
    ] as const) {
      const page = await ann.request('POST', path, `${csrf}&${fields}`, FORM);
      expect(page.status, `${path} ${html(page)}`).toBe(400);
      expect(html(page)).toContain('<h1>Could not do that</h1>');
      expect(html(page)).toMatch(/The form holds a character no stored text has \(form\.[^:]+: (key )?contains a NUL/);
      expect(html(page)).toContain('nothing was changed');
      // From htmx: a fragment in the page's flash area, as every refusal not of a region is shown.
      const fragment = await ann.request('POST', path, `${csrf}&${fields}`, HTMX);
      expect(fragment.status).toBe(400);
      expect(fragment.headers['hx-retarget']).toBe('#flash');
      expect(html(fragment)).not.toContain('<html');
      expect(html(fragment)).toContain('(VALIDATION_ERROR)');
    }
    expect(await footprint()).toEqual(before);
  });

  it('refuses a NUL or a lone surrogate in a JSON body sent to an action', async () => {
    const before = await footprint();
    for (const name of ['k\\u0000x', 'k\\ud800x']) {
      const r = await ann.request('POST', '/settings/api-keys', `{"_csrf":"${ann.csrfToken}","name":"${name}"}`, {
        'content-type': 'application/json',
      });
      expect(r.status, html(r)).toBe(400);
      expect(html(r)).toMatch(/form\.name: contains (a NUL character|an unpaired UTF-16 surrogate)/);
    }
    expect(await footprint()).toEqual(before);
  });

  it('answers a page whose path holds a NUL 400 inside the layout, as an unknown code is answered 404', async () => {
    for (const path of [
      '/customers/A%00B',
      '/transactions/%00',
      '/exceptions/%00',
      '/runs/%00',
      '/settings/users/%00',
    ]) {
      const method = path.startsWith('/settings') ? 'POST' : 'GET';
      const r = await ann.request(method, path, method === 'POST' ? `_csrf=${ann.csrfToken}` : undefined, FORM);
      expect([400, 404], `${path} ${html(r)}`).toContain(r.status);
      if (method === 'GET') expect(html(r)).toContain('data-api="/v1/auth/sign-out"'); // the signed-in layout
    }
    const customer = await ann.request('GET', '/customers/A%00B');
    expect(customer.status).toBe(400);
    expect(html(customer)).toContain('The address holds a character no stored text has (params.code: contains a NUL');
    expect((await ann.request('GET', '/customers/NOPE')).status).toBe(404);
  });

  it('leaves a filter holding a NUL to its page, which says it matches nothing', async () => {
    const r = await ann.request('GET', '/customers?search=%00');
    expect(r.status).toBe(200);
    expect(html(r)).toContain('nothing can match it');
  });

  it('sends a visitor without a session to sign in first, whatever the path holds', async () => {
    const r = await t.request('GET', '/customers/A%00B');
    expect(r.status).toBe(303);
    expect(String(r.headers.location)).toMatch(/^\/sign-in\?next=/);
  });
});

describe('session cookies that match nothing count in the throttle of failed authentications', () => {
  const guess = (i: number | string) => ({ cookie: `ll_session=lls_${String(i).repeat(43).slice(0, 43)}` });

  function expectThrottledPage(r: { status: number; body: unknown; headers: Record<string, unknown> }): void {
    expect(r.status, html(r)).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(html(r)).toContain('<h1>Please wait</h1>');
    expect(html(r)).toMatch(/Wait \d+ (seconds|minutes), then reload the page/);
  }

  it('holds an address back from pages after guessed cookies there, even with a good one; /v1 too', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await from('10.9.1.1', 'GET', '/customers', guess(i));
      expect(r.status).toBe(303);
    }
    expectThrottledPage(await from('10.9.1.1', 'GET', '/customers', { cookie: ann.cookie }));
    // One throttle: /v1 refuses the address as well…
    const api = await from('10.9.1.1', 'GET', '/v1/auth/me', { cookie: ann.cookie });
    expect(api.status).toBe(429);
    expect((api.body as { error: { code: string } }).error.code).toBe('AUTH_THROTTLED');
    // …and another address is not held back.
    expect((await from('10.9.1.2', 'GET', '/customers', { cookie: ann.cookie })).status).toBe(200);
  });

  it('holds an address /v1 throttled back from pages and actions (htmx: the flash area)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await from('10.9.2.1', 'GET', '/v1/customers', { authorization: `Bearer llt_guess${i}` });
      expect(r.status).toBe(401);
    }
    expectThrottledPage(await from('10.9.2.1', 'GET', '/', { cookie: ann.cookie }));
    const action = await from(
      '10.9.2.1',
      'POST',
      '/settings/api-keys',
      { cookie: ann.cookie, ...HTMX },
      `_csrf=${ann.csrfToken}&name=k`,
    );
    expect(action.status).toBe(429);
    expect(Number(action.headers['retry-after'])).toBeGreaterThan(0);
    expect(action.headers['hx-retarget']).toBe('#flash');
    expect(html(action)).toContain('(AUTH_THROTTLED)');
  });

  it('counts guessed cookies sent to the sign-in page, which stays open to a throttled address', async () => {
    for (let i = 0; i < 5; i++) expect((await from('10.9.3.1', 'GET', '/sign-in', guess(`s${i}`))).status).toBe(200);
    expectThrottledPage(await from('10.9.3.1', 'GET', '/customers', { cookie: ann.cookie }));
    // The sign-in page is not refused (as POST /v1/auth/sign-in is not): the cookie is not looked at.
    const signInPage = await from('10.9.3.1', 'GET', '/sign-in?next=/customers', { cookie: ann.cookie });
    expect(signInPage.status).toBe(200);
    expect(html(signInPage)).toContain('<form');
  });

  it('does not count a cookie of a session that has ended, nor a request without one', async () => {
    const u = await addUser(t, owner, 'stale@hostile.example', 'viewer');
    const stale = await signIn(t, u.email, u.password);
    await t.db.query(`UPDATE user_sessions SET expires_at = now() - interval '1 minute' WHERE user_id = $1`, [u.id]);
    for (let i = 0; i < 12; i++) {
      expect((await from('10.9.4.1', 'GET', '/customers', { cookie: stale.cookie })).status).toBe(303);
      expect((await from('10.9.4.1', 'GET', '/customers')).status).toBe(303);
    }
    expect((await from('10.9.4.1', 'GET', '/customers', { cookie: ann.cookie })).status).toBe(200);
  });
});
