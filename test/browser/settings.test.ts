import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OidcProviderSim, startOidcProvider } from '../helpers/oidc-provider.ts';
import {
  type Served,
  addUserWithPassword,
  browserAvailable,
  createClub,
  inspect,
  launchBrowser,
  screenshot,
  newPage,
} from './helpers.ts';
import { freePort } from '../helpers/process.ts';
import { processScope } from '../helpers/scoped.ts';

/*
 * Settings in a real Chromium: an owner adds a user (the one-time link shown once, copied), changes a
 * role, and changes a setting (a wrong IBAN refused beside its field first); every role's API keys;
 * and signing in through an OIDC provider (the local simulator), refused for an unknown e-mail.
 * Every page is checked with axe-core and saved at 1280 and 390 px under test-results/screenshots/.
 */

const scope = processScope();
const available = browserAvailable();
const PASSWORD = 'correct horse battery staple';

let served: Served;
let browser: Browser;
let sim: OidcProviderSim;
let owner: Record<string, string>;

describe.skipIf(!available)('settings and OIDC sign-in in Chromium', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    sim = await startOidcProvider();
    scope.allowHost('127.0.0.1', Number(new URL(sim.issuer).port));
    const port = await freePort();
    served = await (
      await import('./helpers.ts')
    ).serveDashboard({
      port,
      config: {
        publicUrl: `http://127.0.0.1:${port}`,
        oidc: {
          issuer: sim.issuer,
          clientId: sim.clientId,
          clientSecret: sim.clientSecret,
          redirectPath: '/sign-in/oidc/callback',
          label: 'Harbour Login',
        },
      },
    });
    browser = await launchBrowser();
    owner = await createClub(served, 'SET');
    await addUserWithPassword(served, owner, 'olga@example.com', 'owner', PASSWORD);
    // Ida signs in only through the provider: she never sets a password.
    expect(
      (await served.api('POST', '/v1/users', { email: 'ida@example.com', role: 'accountant' }, owner)).status,
    ).toBe(201);
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await sim?.close();
  });

  it('lets an owner add a user, change a role and change a setting', async () => {
    const test = 'settings';
    const { context, page } = await newPage(browser);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: served.url });
    await page.goto(`${served.url}/sign-in`);
    await page.getByLabel('Email').fill('olga@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${served.url}/`);
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL(`${served.url}/settings`);
    await inspect(page, test, '01-settings');

    // Add a user: the link is shown once, and copied with the button.
    await page.getByLabel('E-mail', { exact: true }).fill('nina@example.com');
    await page.getByLabel('Role', { exact: true }).selectOption('accountant');
    await page.getByRole('button', { name: 'Add user' }).click();
    const link = page.locator('#new-sign-in-link');
    await link.waitFor();
    expect(await link.inputValue()).toMatch(/\/sign-in\/set-password\?token=llp_/);
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await link.inputValue());
    await inspect(page, test, '02-user-added');

    // Change her role.
    await page.getByLabel('Role of nina@example.com').selectOption('viewer');
    await page.getByRole('button', { name: 'Change role of nina@example.com' }).click();
    await page.getByText('nina@example.com is now viewer.').waitFor();
    const users = await served.api('GET', '/v1/users', undefined, owner);
    expect(users.body.items.find((m: { email: string }) => m.email === 'nina@example.com').role).toBe('viewer');
    // The owner cannot leave the entity without an owner.
    await page.getByLabel('Role of olga@example.com').selectOption('viewer');
    await page.getByRole('button', { name: 'Change role of olga@example.com' }).click();
    await page.getByText('LAST_OWNER').waitFor();
    await screenshot(page, test, '03-last-owner');

    // A setting: a wrong IBAN is refused beside its field, nothing is saved; corrected, both are saved.
    await page.getByLabel('VAT tolerance per line').fill('0.05');
    await page.getByLabel('IBAN').fill('BE00 1234');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('#setting-branding-iban-error').waitFor();
    expect(await page.locator('#setting-branding-iban-error').textContent()).toBe(
      'Must be an IBAN: two letters, two check digits and 11 to 30 letters or digits',
    );
    expect(await page.getByLabel('IBAN').getAttribute('aria-invalid')).toBe('true');
    expect((await served.api('GET', '/v1/settings', undefined, owner)).body.vatTolerance).toBe('1');
    await inspect(page, test, '04-setting-refused');
    await page.getByLabel('IBAN').fill('BE71 0961 2345 6769');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Saved: VAT tolerance per line, IBAN.').waitFor();
    const settings = (await served.api('GET', '/v1/settings', undefined, owner)).body;
    expect(settings.vatTolerance).toBe('0.05');
    expect(settings.branding.iban).toBe('BE71096123456769');
    await inspect(page, test, '05-setting-saved');

    // Your API keys: shown once, listed without the key.
    await page.getByRole('link', { name: 'API keys', exact: true }).click();
    await page.waitForURL(`${served.url}/settings/api-keys`);
    await inspect(page, test, '06-api-keys-empty');
    await page.getByLabel('Name').fill('nightly export');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.locator('#new-api-key').inputValue();
    expect(key).toMatch(/^llk_/);
    expect((await served.api('GET', '/v1/customers', undefined, { authorization: `Bearer ${key}` })).status).toBe(200);
    await inspect(page, test, '07-api-key-created');
    await page.reload();
    expect(await page.content()).not.toContain(key);
    await context.close();
  });

  it('signs in through the OIDC provider, and refuses an e-mail no user has', async () => {
    const test = 'oidc';
    const { context, page } = await newPage(browser);
    sim.account = { sub: 'stranger', email: 'stranger@example.com', emailVerified: true };
    await page.goto(`${served.url}/runs`);
    await page.waitForURL(/\/sign-in\?next=%2Fruns$/);
    await page.getByRole('button', { name: 'Sign in with Harbour Login' }).click();
    await page.getByText('OIDC_USER_UNKNOWN').waitFor();
    await inspect(page, test, '01-unknown-email');

    sim.account = { sub: 'ida-1', email: 'ida@example.com', emailVerified: true };
    await page.goto(`${served.url}/sign-in?next=%2Fruns`);
    await page.getByRole('button', { name: 'Sign in with Harbour Login' }).click();
    await page.waitForURL(`${served.url}/runs`);
    expect(await page.locator('.who').textContent()).toContain('ida@example.com');
    // An accountant has no Settings, and the server refuses the page.
    expect(
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Settings' }).count(),
    ).toBe(0);
    await inspect(page, test, '02-signed-in');
    const refused = await page.goto(`${served.url}/settings`);
    expect(refused?.status()).toBe(403);
    await inspect(page, test, '03-settings-refused');
    await context.close();
  });
});
