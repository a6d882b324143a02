import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePipeline } from '../helpers/sync.ts';
import { upload } from '../helpers/uploads.ts';
import {
  type Served,
  addUserWithPassword,
  browserAvailable,
  createClub,
  expectAccessible,
  inspect,
  launchBrowser,
  newPage,
  signIn,
} from './helpers.ts';

/*
 * Forms and messages in a real Chromium, as an accountant meets them: each refusal beside its field
 * in words (the field marked invalid and described by it, what was typed kept), every wrong setting
 * at once, no retry offered where it cannot work, a new result replacing an old notice, keyboard
 * focus kept somewhere sensible after htmx swaps a region, a used link saying so at once, signing
 * out said, and revoking a key asked first.
 */

const available = browserAvailable();
const PASSWORD = 'correct horse battery staple';

let served: Served;
let browser: Browser;
let owner: Record<string, string>;

/** The id of the element that has keyboard focus, or its tag when it has none. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const e = document.activeElement;
    return e ? e.id || e.tagName.toLowerCase() : null;
  });
/** The text of the element that has keyboard focus; when focus is on <body> (lost), says so instead. */
const focusedText = (page: Page) =>
  page.evaluate(() => {
    const e = document.activeElement;
    return e && e !== document.body ? e.textContent : 'focus on <body>';
  });
/** The accessible description of a field: the texts of the elements its aria-describedby names. */
const description = (page: Page, selector: string) =>
  page.locator(selector).evaluate((e) =>
    (e.getAttribute('aria-describedby') ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent?.trim() ?? '')
      .join(' | '),
  );

describe.skipIf(!available)('forms and messages in Chromium', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    served = await (await import('./helpers.ts')).serveDashboard();
    browser = await launchBrowser();
    owner = await createClub(served, 'FRM');
    await addUserWithPassword(served, owner, 'olga@example.com', 'owner', PASSWORD);
    await definePipeline(served.db, 'FRM', { name: 'files', source: { type: 'file' } });
    // A file with a row that cannot be read, and two invoices for customers not booked yet.
    const csv = [
      'invoice_reference,customer_id,invoice_date,currency,description,line_description,net_amount,vat_rate',
      'BAD-1,C-1,06/11/2026,EUR,Cap,Cap,10.00,0.21',
      'NEEDS-1,C-404,2026-11-06,EUR,Socks,Socks,5.00,0.21',
      'NEEDS-2,C-405,2026-11-06,EUR,Shirt,Shirt,6.00,0.21',
      '',
    ].join('\n');
    const token = owner.authorization!.replace(/^Bearer /, '');
    const imported = await upload(served.app, token, { pipeline: 'files' }, { name: 'club.csv', content: csv });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('signs in: each refusal beside its field in words, focus on the first; signing out says so', async () => {
    const test = 'forms-sign-in';
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${served.url}/sign-in`);
      await page.getByLabel('Password').fill('typed');
      await page.getByLabel('Password').fill('');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.locator('#email-error:not([hidden])').waitFor();
      expect(await page.locator('#email-error').textContent()).toBe('Enter your e-mail address');
      expect(await page.locator('#password-error').textContent()).toBe('Enter your password');
      expect(await page.getByLabel('Email').getAttribute('aria-invalid')).toBe('true');
      expect(await description(page, '#email')).toBe('Enter your e-mail address');
      expect(await description(page, '#password')).toBe('Enter your password');
      await expect.poll(() => focused(page)).toBe('email');
      expect(await page.locator('form').textContent()).not.toMatch(/Too small|expected string|body\./);
      await inspect(page, test, '01-empty');

      // Too long: the limit in words; what was typed stays; the password, given now, is no longer marked.
      const long = `${'a'.repeat(288)}@example.com`;
      await page.getByLabel('Email').fill(long);
      await page.getByLabel('Password').fill('some password');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByText('At most 254 characters (this has 300)').waitFor();
      expect(await page.getByLabel('Email').inputValue()).toBe(long);
      expect(await page.getByLabel('Password').inputValue()).toBe('some password');
      expect(await page.locator('#password-error').isHidden()).toBe(true);
      expect(await page.getByLabel('Password').getAttribute('aria-invalid')).toBeNull();
      expect(await page.getByLabel('Password').getAttribute('aria-describedby')).toBeNull();

      await page.getByLabel('Email').fill('olga.example.com');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByText('Enter an e-mail address such as ann@example.com').waitFor();

      // A refusal of no field: said in the form's box, and the field marked before is no longer.
      await page.getByLabel('Email').fill('olga@example.com');
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.locator('[data-error="form"]:not(:empty)').waitFor();
      expect(await page.locator('[data-error="form"]').textContent()).toContain('The email or password is not right.');
      expect(await page.locator('#email-error').isHidden()).toBe(true);
      expect(await page.getByLabel('Email').getAttribute('aria-invalid')).toBeNull();

      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(`${served.url}/`);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/\/sign-in\?signed-out=1$/);
      expect(await page.getByRole('status').textContent()).toContain('You are signed out.');
      await expectAccessible(page, 'signed out');
    } finally {
      await context.close();
    }
  });

  it('sets a password: a weak one refused beside the field; a used link offers no form', async () => {
    const { context, page } = await newPage(browser);
    try {
      const added = await served.api('POST', '/v1/users', { email: 'ida@example.com', role: 'viewer' }, owner);
      const given = new URL(added.body.signInLink as string);
      const link = `${served.url}${given.pathname}${given.search}`;
      await page.goto(link);
      await page.getByLabel('New password').fill('password');
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.locator('#password-error:not([hidden])').waitFor();
      expect(await page.locator('#password-error').textContent()).toBe('At least 12 characters (PASSWORD_TOO_WEAK)');
      expect(await description(page, '#password')).toBe(
        'At least 12 characters; not your email address and not a common password. | At least 12 characters (PASSWORD_TOO_WEAK)',
      );
      await expect.poll(() => focused(page)).toBe('password');
      await page.getByLabel('New password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.waitForURL(/\/sign-in\?password=set$/);

      await page.goto(link);
      await page.getByText('This link has been used or has expired').waitFor();
      expect(await page.locator('form[data-api="/v1/auth/set-password"]').count()).toBe(0);
      expect(await page.getByLabel('New password').count()).toBe(0);
      await expectAccessible(page, 'used link');
    } finally {
      await context.close();
    }
  });

  it('API keys: a blank or too long name beside the field, focus on it; revoking asks first', async () => {
    const test = 'forms-api-keys';
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, served.url, 'olga@example.com', PASSWORD);
      await page.goto(`${served.url}/settings/api-keys`);
      // By keyboard: the name, blanks typed, Enter.
      await page.getByLabel('Name').focus();
      await page.keyboard.type('   ');
      await page.keyboard.press('Enter');
      await page.locator('#key-name-error').waitFor();
      expect(await page.locator('#key-name-error').textContent()).toBe('Give the key a name');
      expect(await description(page, '#key-name')).toContain('Give the key a name');
      expect(await page.getByLabel('Name').getAttribute('aria-invalid')).toBe('true');
      await expect.poll(() => focused(page)).toBe('key-name');
      expect(await page.locator('#api-keys-region .notice-error').count()).toBe(0);
      await inspect(page, test, '01-blank-name');

      const name = 'n'.repeat(300);
      await page.getByLabel('Name').fill(name);
      await page.getByRole('button', { name: 'Create key' }).click();
      await page.getByText('At most 100 characters (this has 300)').waitFor();
      expect(await page.getByLabel('Name').inputValue()).toBe(name);

      await page.getByLabel('Name').fill('nightly export');
      await page.getByRole('button', { name: 'Create key' }).click();
      await page.locator('#new-api-key').waitFor();

      // Revoking asks first; declined, the key stays.
      const asked: string[] = [];
      page.once('dialog', (d) => {
        asked.push(d.message());
        void d.dismiss();
      });
      await page.getByRole('button', { name: 'Revoke nightly export' }).click();
      await expect.poll(() => asked.length).toBe(1);
      expect(asked[0]).toContain('Revoke the key “nightly export”?');
      expect(await page.getByText('Revoked: the key is refused from now on.').count()).toBe(0);
      page.once('dialog', (d) => void d.accept());
      await page.getByRole('button', { name: 'Revoke nightly export' }).click();
      await page.getByText('Revoked: the key is refused from now on.').waitFor();
      // The button pressed went with the old HTML: focus is on what happened, not on <body>.
      await expect.poll(() => focusedText(page)).toContain('Revoked');
    } finally {
      await context.close();
    }
  });

  it('entity settings: every wrong value marked at once, focus on the first', async () => {
    const test = 'forms-settings';
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, served.url, 'olga@example.com', PASSWORD);
      await page.goto(`${served.url}/settings`);
      await page.getByLabel('VAT tolerance per line').fill('-1');
      await page.getByLabel('Plausible band').fill('abc');
      await page.getByLabel('IBAN').fill('BE71 0961 2345 6768');
      await page.getByLabel('BIC').fill('XYZ');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.locator('#setting-branding-bic-error').waitFor();
      const errors = {
        'setting-vatTolerance': 'Must be a non-negative decimal such as "1"',
        'setting-exchangeRateTolerance': 'Must be a non-negative decimal such as "0.5"',
        'setting-branding-iban': 'IBAN has wrong check digits',
        'setting-branding-bic': 'Must be a BIC of 8 or 11 letters and digits',
      };
      for (const [id, message] of Object.entries(errors)) {
        expect(await page.locator(`#${id}`).getAttribute('aria-invalid'), id).toBe('true');
        expect(await description(page, `#${id}`), id).toContain(message);
      }
      expect(await page.getByText('Correct the 4 fields marked below.').count()).toBe(1);
      await expect.poll(() => focused(page)).toBe('setting-vatTolerance');
      expect(await page.getByLabel('BIC').inputValue()).toBe('XYZ');
      expect((await served.api('GET', '/v1/settings', undefined, owner)).body.vatTolerance).toBe('1');
      await inspect(page, test, '01-four-refused');
    } finally {
      await context.close();
    }
  });

  it('exceptions: no retry where it cannot work, a new result replaces an old notice, focus after a swap', async () => {
    const test = 'forms-exceptions';
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, served.url, 'olga@example.com', PASSWORD);
      await page.goto(`${served.url}/exceptions`);
      const unreadable = page.locator('table.exceptions tbody tr', { hasText: 'IMPORT_ROW_INVALID' });
      expect(await unreadable.locator('input[type="checkbox"]').count()).toBe(0);
      expect(await unreadable.textContent()).toContain('Cannot be retried: correct the file and import it again.');
      expect(await page.locator('input[name="id"]').count()).toBe(2);

      // Nothing selected: said in the list, where the results go.
      await page.getByRole('button', { name: 'Retry selected' }).click();
      const region = page.locator('#exceptions-region');
      await region.getByText('Select at least one exception to retry.').waitFor();
      for (const box of await page.locator('input[name="id"]').all()) await box.check();
      await page.getByRole('button', { name: 'Retry selected' }).click();
      await region.getByText('Retried 2: 0 went through, 2 still open.').waitFor();
      expect(await page.getByText('Select at least one exception to retry.').count()).toBe(0);

      // A refusal shown at the top (no CSRF token) is gone once the next change has its result.
      const token = await page.locator('meta[name="csrf-token"]').getAttribute('content');
      const setToken = (value: string | null) =>
        page.evaluate((v) => {
          if (v === null) document.body.removeAttribute('hx-headers');
          else document.body.setAttribute('hx-headers', JSON.stringify({ 'X-CSRF-Token': v }));
          document.querySelectorAll<HTMLInputElement>('input[name="_csrf"]').forEach((input) => {
            input.value = v ?? '';
          });
        }, value);
      await setToken(null);
      await page.locator('input[name="id"]').first().check();
      await page.getByRole('button', { name: 'Retry selected' }).click();
      await page.locator('#flash [role="alert"]').waitFor();
      expect(await page.locator('#flash').textContent()).toContain('CSRF_TOKEN_INVALID');
      await setToken(token);
      await page.locator('input[name="id"]').first().check();
      await page.getByRole('button', { name: 'Retry selected' }).click();
      await region.getByText('Retried 1: 0 went through, 1 still open.').waitFor();
      expect(await page.locator('#flash').innerHTML()).toBe('');

      // The row of the file: no "Retry now", what to do in words, the commands as code.
      await unreadable.getByRole('link').first().click();
      await page.waitForURL(/\/exceptions\/\d+$/);
      expect(await page.getByRole('button', { name: 'Retry now' }).count()).toBe(0);
      const panel = page.locator('#exception-panel');
      expect(await panel.locator('code', { hasText: 'ledgerlink import FILE --pipeline files' }).count()).toBe(1);
      expect(await panel.textContent()).not.toContain('`');
      await inspect(page, test, '01-cannot-retry');

      // One that waits for its customer: retried, parked again; then, by keyboard, an empty note.
      await page.goto(`${served.url}/exceptions`);
      await page.locator('table.exceptions tbody tr', { hasText: 'NEEDS-1' }).getByRole('link').first().click();
      await page.waitForURL(/\/exceptions\/\d+$/);
      await page.getByRole('button', { name: 'Retry now' }).click();
      await page.getByText('the record was parked again').waitFor();
      await page.getByRole('button', { name: 'Retry now' }).focus();
      await page.keyboard.press('Tab');
      await expect.poll(() => focused(page)).toBe('resolve-note');
      await page.keyboard.type('   ');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await page.locator('#resolve-note-error').waitFor();
      expect(await page.getByText('the record was parked again').count()).toBe(0);
      expect(await page.locator('#flash').innerHTML()).toBe('');
      expect(await description(page, '#resolve-note')).toBe(
        'Write a note saying why it is resolved (for example, how it was booked)',
      );
      await expect.poll(() => focused(page)).toBe('resolve-note');
      await inspect(page, test, '02-note-refused');

      await page.keyboard.press('Control+A');
      await page.keyboard.type('Booked by hand as invoice 1042.');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await panel.getByText('Resolved.').waitFor();
      // Focus is on the result, not on <body>. It moves when htmx settles the swap, a moment after the
      // text is in the page, so the check waits for it.
      await expect.poll(() => focusedText(page)).toContain('Resolved.');
    } finally {
      await context.close();
    }
  });
});
