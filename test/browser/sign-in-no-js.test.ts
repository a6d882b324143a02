import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Served, addUserWithPassword, browserAvailable, createClub, launchBrowser, newPage } from './helpers.ts';

/*
 * Signing in to the dashboard in a Chromium with JavaScript off (as a submit before the deferred
 * app.js has loaded also goes): the browser posts the form itself, with its own Origin and
 * Sec-Fetch-Site, to POST /sign-in; a refusal is the sign-in page with the error, never JSON, and a
 * success lands on the page asked for, signed in.
 */

const available = browserAvailable();
const PASSWORD = 'correct horse battery staple';

let served: Served;
let browser: Browser;

describe.skipIf(!available)('signing in without JavaScript, in Chromium', { timeout: 120_000 }, () => {
  let page: Page;

  beforeAll(async () => {
    served = await (await import('./helpers.ts')).serveDashboard();
    browser = await launchBrowser();
    const owner = await createClub(served, 'NOJS');
    await addUserWithPassword(served, owner, 'nina@example.com', 'accountant', PASSWORD);
    ({ page } = await newPage(browser, { javaScriptEnabled: false }));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('a wrong password comes back as the sign-in page with the error; the right one opens the page asked for', async () => {
    await page.goto(`${served.url}/runs`);
    await page.waitForURL(`${served.url}/sign-in?next=%2Fruns`);

    await page.getByLabel('Email').fill('nina@example.com');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    expect(page.url()).toBe(`${served.url}/sign-in?next=%2Fruns`);
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain(
      'The email or password is not right.',
    );
    // The address is kept; the password is not.
    await expect(page.getByLabel('Email').inputValue()).resolves.toBe('nina@example.com');
    await expect(page.getByLabel('Password').inputValue()).resolves.toBe('');

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${served.url}/runs`);
    await expect(page.locator('header').textContent()).resolves.toContain('nina@example.com');
  });
});
