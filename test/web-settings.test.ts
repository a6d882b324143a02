import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';
import { settingsPatch } from '../src/web/routes/settings.ts';
import { updateAllSettings } from '../src/ledger/settings.ts';

/*
 * Settings and users in the dashboard: owners only (refused on the server, not just hidden), every
 * change with the CSRF token, a settings save that sends only what changed, secrets shown once.
 */

let t: TestApp;
let entity: Client;
let olga: Browser; // owner
let anna: Browser; // accountant
let vic: Browser; // viewer
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
  entity = await t.entity('SETW', 'EUR');
  const o = await addUser(t, entity, 'olga@example.com', 'owner');
  const a = await addUser(t, entity, 'anna@example.com', 'accountant');
  const v = await addUser(t, entity, 'vic@example.com', 'viewer');
  olga = await signIn(t, o.email, o.password);
  anna = await signIn(t, a.email, a.password);
  vic = await signIn(t, v.email, v.password);
});
afterAll(async () => t.close());

const html = (r: { body: unknown }) => String(r.body);
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

const decode = (text: string) =>
  text
    .replace(/<[^>]+>/g, '')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
/** The text of the element whose id is `id`, as a person reads it; null when there is none. */
function textOf(page: string, id: string): string | null {
  const m = new RegExp(`<(\\w+)[^>]*\\bid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(page);
  return m ? decode(m[2]!).trim() : null;
}
/** The opening tag of the form control whose id is `id`. */
function control(page: string, id: string): string {
  return new RegExp(`<(?:input|select|textarea)[^>]*\\bid="${id}"[^>]*>`).exec(page)?.[0] ?? '';
}
/** The control is marked invalid and described by its message (and its help, when it has one). */
function expectMarked(page: string, id: string, errorId: string): void {
  const tag = control(page, id);
  expect(tag, id).toContain('aria-invalid="true"');
  expect(/aria-describedby="([^"]*)"/.exec(tag)?.[1]?.split(' '), id).toContain(errorId);
}

describe('who may', () => {
  it('shows Settings to owners only, and refuses the page and its changes to others on the server', async () => {
    const page = await olga.request('GET', '/settings');
    expect(page.status).toBe(200);
    expect(html(page)).toContain('href="/settings" aria-current="page"');
    expect(html(page)).toContain('anna@example.com');
    for (const who of [anna, vic]) {
      expect(html(await who.request('GET', '/'))).not.toContain('href="/settings"');
      const refused = await who.request('GET', '/settings');
      expect(refused.status).toBe(403);
      expect(html(refused)).toContain('FORBIDDEN_ROLE');
      const add = await who.request('POST', '/settings/users', form({ email: 'x@example.com', role: 'owner' }), FORM);
      expect(add.status).toBe(403);
      const put = await who.request(
        'POST',
        '/settings/entity',
        form({ vatTolerance: '5', 'was.vatTolerance': '1' }),
        FORM,
      );
      expect(put.status).toBe(403);
    }
    const members = await entity.get('/v1/users');
    expect(members.body.items.map((m: { email: string }) => m.email)).not.toContain('x@example.com');
    expect((await entity.get('/v1/settings')).body.vatTolerance).toBe('1');
  });

  it('serves its pages and fragments without an inline script or style, under the strict CSP', async () => {
    const answers = [
      await olga.request('GET', '/settings'),
      await vic.request('GET', '/settings/api-keys'),
      await olga.request('POST', '/settings/entity', form({ vatTolerance: 'x', 'was.vatTolerance': '1' }), FORM),
    ];
    for (const r of answers) {
      expect(String(r.headers['content-security-policy'])).toContain("script-src 'self'");
      expect(html(r)).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html(r)).not.toMatch(/\sstyle=/);
      expect(html(r)).not.toMatch(/\son[a-z]+=/);
    }
  });

  it('refuses a change without the CSRF token', async () => {
    const noToken = await t.request('POST', '/settings/users', form({ email: 'csrf@example.com', role: 'viewer' }), {
      cookie: olga.cookie,
      ...FORM,
    });
    expect(noToken.status).toBe(403);
    expect(html(noToken)).toContain('CSRF_TOKEN_INVALID');
    const wrong = await t.request(
      'POST',
      '/settings/entity',
      form({ vatTolerance: '7', 'was.vatTolerance': '1', _csrf: 'x' }),
      {
        cookie: olga.cookie,
        ...FORM,
      },
    );
    expect(wrong.status).toBe(403);
    const keys = await t.request('POST', '/settings/api-keys', form({ name: 'k' }), { cookie: vic.cookie, ...FORM });
    expect(keys.status).toBe(403);
    expect(
      (await entity.get('/v1/users')).body.items.some((m: { email: string }) => m.email === 'csrf@example.com'),
    ).toBe(false);
    expect((await entity.get('/v1/settings')).body.vatTolerance).toBe('1');
  });
});

describe('users', () => {
  it('adds a user and shows the sign-in link once; a second add of the same e-mail is refused', async () => {
    const added = await olga.request(
      'POST',
      '/settings/users',
      form({ email: 'Nina@Example.com', role: 'accountant' }),
      FORM,
    );
    expect(added.status).toBe(200);
    const link = /value="(http:\/\/[^"]+set-password\?token=[^"]+)"/.exec(html(added))?.[1];
    expect(link).toBeDefined();
    expect(html(added)).toContain('shown only now');
    // The link works once: it sets the password.
    const token = new URL(link!.replace(/&amp;/g, '&')).searchParams.get('token')!;
    const set = await t.request('POST', '/v1/auth/set-password', { token, password: 'a long passphrase 4 tests' });
    expect(set.status).toBe(200);
    // The page never shows it again.
    const page = await olga.request('GET', '/settings');
    expect(html(page)).toContain('nina@example.com');
    expect(html(page)).not.toContain(token);
    const again = await olga.request(
      'POST',
      '/settings/users',
      form({ email: 'nina@example.com', role: 'viewer' }),
      FORM,
    );
    expect(again.status).toBe(409);
    expect(html(again)).toContain('USER_ALREADY_MEMBER');
    const bad = await olga.request('POST', '/settings/users', form({ email: 'not-an-address', role: 'viewer' }), FORM);
    expect(bad.status).toBe(400);
    expect(html(bad)).toMatch(/id="new-email-error"[^>]*>Enter an e-mail address such as ann@example.com<\/small>/);
    expect(html(bad)).toContain('value="not-an-address"');
    // Audited as the owner, as the API would.
    const { rows } = await t.db.query<{ actor: string }>(
      `SELECT actor FROM audit_log WHERE action = 'user.added' AND after->>'email' = 'nina@example.com'`,
    );
    expect(rows[0]?.actor).toMatch(/^user:/);
  });

  it('changes a role, disables and enables, and never removes the last owner', async () => {
    const members = (await entity.get('/v1/users')).body.items as { id: string; email: string }[];
    const annaId = members.find((m) => m.email === 'anna@example.com')!.id;
    const olgaId = members.find((m) => m.email === 'olga@example.com')!.id;
    const demoted = await olga.request('POST', `/settings/users/${annaId}`, form({ role: 'viewer' }), FORM);
    expect(demoted.status).toBe(200);
    expect(html(demoted)).toContain('anna@example.com is now viewer');
    const disabled = await olga.request('POST', `/settings/users/${annaId}`, form({ disabled: 'true' }), FORM);
    expect(html(disabled)).toContain('anna@example.com is disabled');
    expect((await anna.request('GET', '/')).status).toBe(303); // her session ended
    const enabled = await olga.request('POST', `/settings/users/${annaId}`, form({ disabled: 'false' }), FORM);
    expect(html(enabled)).toContain('anna@example.com is enabled');
    const last = await olga.request('POST', `/settings/users/${olgaId}`, form({ role: 'accountant' }), FORM);
    expect(last.status).toBe(409);
    expect(html(last)).toContain('LAST_OWNER');
    const lastOff = await olga.request('POST', `/settings/users/${olgaId}`, form({ disabled: 'true' }), FORM);
    expect(lastOff.status).toBe(409);
    const after = (await entity.get('/v1/users')).body.items as { email: string; role: string; disabled: boolean }[];
    expect(after.find((m) => m.email === 'olga@example.com')).toMatchObject({ role: 'owner', disabled: false });
    expect(after.find((m) => m.email === 'anna@example.com')).toMatchObject({ role: 'viewer', disabled: false });
    // A member who has set a password gets no new link from an owner.
    const link = await olga.request('POST', `/settings/users/${annaId}/sign-in-link`, '', FORM);
    expect(link.status).toBe(409);
    expect(html(link)).toContain('SIGN_IN_LINK_NOT_ALLOWED');
    // Last sign-in is shown once recorded.
    expect(html(await olga.request('GET', '/settings'))).toMatch(/<time dateTime="[^"]+">/i);
  });
});

describe('entity settings', () => {
  it('sends only the fields changed: a concurrent change to another field stays', async () => {
    const page = html(await olga.request('GET', '/settings'));
    expect(page).toMatch(/<label for="setting-vatTolerance">VAT tolerance per line<\/label>/);
    expect(page).toContain('id="setting-vatTolerance-help"');
    // Someone else changes the footer after the page was shown.
    await entity.put('/v1/settings', { branding: { footer: 'Registered in Ghent' } });
    const saved = await olga.request(
      'POST',
      '/settings/entity',
      form({
        vatTolerance: '0.05',
        'was.vatTolerance': '1',
        'branding.footer': '',
        'was.branding.footer': '',
        'branding.iban': '',
        'was.branding.iban': '',
        lockDate: '',
        'was.lockDate': '',
      }),
      FORM,
    );
    expect(saved.status).toBe(200);
    expect(html(saved)).toContain('Saved: VAT tolerance per line.');
    const now = (await entity.get('/v1/settings')).body;
    expect(now.vatTolerance).toBe('0.05');
    expect(now.branding.footer).toBe('Registered in Ghent');
    expect(now.lockDate).toBeNull();
    const { rows } = await t.db.query<{ before: unknown; after: unknown }>(
      `SELECT before, after FROM audit_log WHERE action = 'settings.updated' ORDER BY id DESC LIMIT 1`,
    );
    expect(rows[0]).toEqual({ before: { vatTolerance: '1' }, after: { vatTolerance: '0.05' } });
  });

  it('shows a validation error beside its field in words, and saves nothing', async () => {
    const r = await olga.request(
      'POST',
      '/settings/entity',
      form({ 'branding.iban': 'BE00 1234', 'was.branding.iban': '', lockDate: '2026-01-31', 'was.lockDate': '' }),
      FORM,
    );
    expect(r.status).toBe(400);
    expect(html(r)).toMatch(
      /id="setting-branding-iban-error"[^>]*>Must be an IBAN: two letters, two check digits and 11 to 30 letters or digits<\/small>/,
    );
    expect(html(r)).toContain('aria-invalid="true"');
    expect(html(r)).toContain('value="BE00 1234"');
    const now = (await entity.get('/v1/settings')).body;
    expect(now.branding.iban).toBeNull();
    expect(now.lockDate).toBeNull(); // not saved either: the change is all or nothing
    const badDate = await olga.request(
      'POST',
      '/settings/entity',
      form({ lockDate: '2026-02-30', 'was.lockDate': '' }),
      FORM,
    );
    expect(badDate.status).toBe(400);
    expect(html(badDate)).toContain('id="setting-lockDate-error"');
  });

  it('clears a field emptied, and sends an address whole', () => {
    expect(
      settingsPatch({
        'branding.companyName': '',
        'was.branding.companyName': 'Old Ltd',
        'branding.address.city': 'Gent',
        'was.branding.address.city': 'Ghent',
        'branding.address.street': 'Kouter 1',
        'was.branding.address.street': 'Kouter 1',
        taxRounding: 'halfUp',
        'was.taxRounding': 'halfUp',
      }),
    ).toEqual({
      patch: { branding: { companyName: null, address: { street: 'Kouter 1', city: 'Gent' } } },
      changed: ['branding.companyName', 'branding.address.city'],
    });
  });
});

describe('API keys', () => {
  it('lets every role create a key shown once, lists it without the key, and revokes it', async () => {
    const page = await vic.request('GET', '/settings/api-keys');
    expect(page.status).toBe(200);
    expect(html(page)).toContain('You have no API keys');
    const tooHigh = await vic.request('POST', '/settings/api-keys', form({ name: 'x', role: 'owner' }), FORM);
    expect(tooHigh.status).toBe(422);
    expect(html(tooHigh)).toContain('API_KEY_ROLE_TOO_HIGH');
    const created = await vic.request('POST', '/settings/api-keys', form({ name: 'nightly export' }), FORM);
    expect(created.status).toBe(200);
    const key = /value="(llk_[^"]+)"/.exec(html(created))?.[1];
    expect(key).toBeDefined();
    expect((await t.request('GET', '/v1/customers', undefined, { authorization: `Bearer ${key}` })).status).toBe(200);
    const list = html(await vic.request('GET', '/settings/api-keys'));
    expect(list).toContain('nightly export');
    expect(list).not.toContain(key!);
    const id = /\/settings\/api-keys\/([0-9a-f-]{36})\/revoke/.exec(list)![1];
    // Another user cannot revoke it.
    const other = await olga.request('POST', `/settings/api-keys/${id}/revoke`, '', FORM);
    expect(other.status).toBe(404);
    const revoked = await vic.request('POST', `/settings/api-keys/${id}/revoke`, '', FORM);
    expect(html(revoked)).toContain('Revoked');
    expect((await t.request('GET', '/v1/customers', undefined, { authorization: `Bearer ${key}` })).status).toBe(401);
  });
});

describe('refusals in words, beside their fields', () => {
  it('adding a user: an empty or too long e-mail is said beside the field, which is marked; what was typed stays', async () => {
    const empty = html(await olga.request('POST', '/settings/users', form({ email: '', role: 'viewer' }), FORM));
    expect(textOf(empty, 'new-email-error')).toBe('Enter the e-mail address of the person to add');
    expectMarked(empty, 'new-email', 'new-email-error');
    expect(empty).not.toMatch(/Too small|expected string|VALIDATION_ERROR/);
    const long = `${'a'.repeat(290)}@example.com`;
    const tooLong = await olga.request('POST', '/settings/users', form({ email: long, role: 'accountant' }), FORM);
    expect(tooLong.status).toBe(400);
    expect(textOf(html(tooLong), 'new-email-error')).toBe('At most 254 characters (this has 302)');
    expect(control(html(tooLong), 'new-email')).toContain(`value="${long}"`);
    expect(html(tooLong)).toMatch(/<option value="accountant" selected/);
  });

  it('API keys: a blank or too long name is said beside the name, not as a banner, and what was typed stays', async () => {
    const blank = await vic.request('POST', '/settings/api-keys', form({ name: '   ' }), FORM);
    expect(blank.status).toBe(400);
    expect(textOf(html(blank), 'key-name-error')).toBe('Give the key a name');
    expectMarked(html(blank), 'key-name', 'key-name-error');
    expect(html(blank)).not.toContain('notice-error');
    expect(html(blank)).not.toMatch(/Too small|name:/);
    const name = 'n'.repeat(300);
    const long = html(await vic.request('POST', '/settings/api-keys', form({ name }), FORM));
    expect(textOf(long, 'key-name-error')).toBe('At most 100 characters (this has 300)');
    expect(control(long, 'key-name')).toContain(`value="${name}"`);
    // A refusal that is not about what was typed stays a notice, with its code.
    const tooHigh = html(await vic.request('POST', '/settings/api-keys', form({ name: 'x', role: 'owner' }), FORM));
    expect(textOf(tooHigh, 'key-role-error')).toBe('At most viewer (API_KEY_ROLE_TOO_HIGH)');
    expect(control(tooHigh, 'key-name')).toContain('value="x"');
    expect((await entity.get('/v1/users')).status).toBe(200);
  });

  it('API keys: revoking asks first, naming the key', async () => {
    await vic.request('POST', '/settings/api-keys', form({ name: 'to be revoked' }), FORM);
    const page = html(await vic.request('GET', '/settings/api-keys'));
    expect(page).toMatch(
      /<form[^>]*hx-post="\/settings\/api-keys\/[0-9a-f-]{36}\/revoke"[^>]*hx-confirm="Revoke the key “to be revoked”\?/,
    );
  });

  it('entity settings: every wrong value is refused at once, each beside its field, in the dashboard and the API', async () => {
    const before = (await entity.get('/v1/settings')).body;
    const r = await olga.request(
      'POST',
      '/settings/entity',
      form({
        vatTolerance: '-1',
        'was.vatTolerance': before.vatTolerance,
        exchangeRateTolerance: 'abc',
        'was.exchangeRateTolerance': before.exchangeRateTolerance,
        'branding.iban': 'BE71 0961 2345 6768',
        'was.branding.iban': '',
        'branding.bic': 'XYZ',
        'was.branding.bic': '',
        'branding.footer': 'Saved with the rest or not at all',
        'was.branding.footer': '',
      }),
      FORM,
    );
    expect(r.status).toBe(400);
    const page = html(r);
    expect(textOf(page, 'setting-vatTolerance-error')).toBe('Must be a non-negative decimal such as "1"');
    expect(textOf(page, 'setting-exchangeRateTolerance-error')).toBe('Must be a non-negative decimal such as "0.5"');
    expect(textOf(page, 'setting-branding-iban-error')).toBe('IBAN has wrong check digits');
    expect(textOf(page, 'setting-branding-bic-error')).toBe('Must be a BIC of 8 or 11 letters and digits');
    for (const f of ['vatTolerance', 'exchangeRateTolerance', 'branding-iban', 'branding-bic'])
      expectMarked(page, `setting-${f}`, `setting-${f}-error`);
    expect(page).toContain('Correct the 4 fields marked below.');
    expect(control(page, 'setting-branding-bic')).toContain('value="XYZ"');
    expect((await entity.get('/v1/settings')).body).toEqual(before);

    // The API refuses the same change once, naming all four (the same code, a detail per field).
    const api = await entity.put('/v1/settings', {
      vatTolerance: '-1',
      exchangeRateTolerance: 'abc',
      branding: { iban: 'BE71 0961 2345 6768', bic: 'XYZ' },
    });
    expect(api.status).toBe(400);
    expect(api.body.error.code).toBe('VALIDATION_ERROR');
    expect(api.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      'body.branding.bic',
      'body.branding.iban',
      'body.exchangeRateTolerance',
      'body.vatTolerance',
    ]);
    expect((await entity.get('/v1/settings')).body).toEqual(before);
  });

  it('a tolerance too big for the column is said to be too big, not to be no decimal', async () => {
    const big = '99999999999999999999';
    const page = html(
      await olga.request('POST', '/settings/entity', form({ vatTolerance: big, 'was.vatTolerance': '1' }), FORM),
    );
    expect(textOf(page, 'setting-vatTolerance-error')).toBe(
      'VAT tolerance per line is too big: at most 14 digits before the decimal point',
    );
    const api = await entity.put('/v1/settings', { exchangeRateTolerance: big });
    expect(api.status).toBe(400);
    expect(api.body.error.details).toEqual([
      { field: 'body.exchangeRateTolerance', message: 'is too big: at most 14 digits before the decimal point' },
    ]);
    // Fourteen digits is what the column holds: taken.
    const most = await entity.put('/v1/settings', { vatTolerance: '99999999999999.5' });
    expect(most.status, JSON.stringify(most.body)).toBe(200);
    expect(most.body.vatTolerance).toBe('99999999999999.5');
    expect((await entity.put('/v1/settings', { vatTolerance: '1' })).status).toBe(200);
  });

  it('the ledger refuses a change naming every wrong value, and saves none of it', async () => {
    const before = (await entity.get('/v1/settings')).body;
    const change = updateAllSettings(t.db, entity.entityId, {
      lockDate: '2026-02-30',
      vatTolerance: '-1',
      exchangeRateTolerance: '1.12345678',
      branding: { iban: 'BE71 0961 2345 6768', bic: 'XYZ', companyName: 'Not saved Ltd' },
    });
    await expect(change).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      details: [
        { field: 'lockDate', message: '2026-02-30 does not exist: February 2026 has 28 days' },
        { field: 'vatTolerance', message: 'must be a non-negative decimal such as "1"' },
        { field: 'exchangeRateTolerance', message: 'must have at most 6 decimals' },
        { field: 'branding.iban', message: 'has wrong check digits' },
        { field: 'branding.bic', message: 'must be a BIC of 8 or 11 letters and digits' },
      ],
    });
    expect((await entity.get('/v1/settings')).body).toEqual(before);
    // A lock date out of the ledger's range, alone, keeps its own code.
    await expect(updateAllSettings(t.db, entity.entityId, { lockDate: '1899-12-31' })).rejects.toMatchObject({
      code: 'DATE_OUT_OF_RANGE',
      details: [{ field: 'lockDate' }],
    });
  });
});
