import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Served,
  addUserWithPassword,
  browserAvailable,
  createClub,
  inspect,
  launchBrowser,
  newPage,
  signIn,
} from './helpers.ts';

/*
 * The Transactions and Audit log pages in a real Chromium: searching, paging to older transactions,
 * opening an invoice with its journal and its PDF inline, and the audit log with an entry opened to
 * its before and after. Every page is checked with axe-core and saved as screenshots (1280, 390 px).
 */

const available = browserAvailable();
const PASSWORD = 'correct horse battery staple';

let served: Served;
let browser: Browser;
let owner: Record<string, string>;

describe.skipIf(!available)('transactions and audit log in Chromium', { timeout: 120_000 }, () => {
  let page: Page;

  beforeAll(async () => {
    served = await (await import('./helpers.ts')).serveDashboard();
    browser = await launchBrowser();
    owner = await createClub(served, 'TXB');
    for (const [code, name] of [
      ['ACME', 'Acme Rowing Ltd'],
      ['BOLT', 'Bolt Sailing <Club>'],
    ]) {
      const r = await served.api('PUT', `/v1/customers/${code}`, { name }, owner);
      expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
    }
    const acme = await served.api('GET', '/v1/customers/ACME', undefined, owner);
    await served.api(
      'PUT',
      '/v1/customers/ACME',
      { name: 'Acme Rowing Limited', rowVersion: acme.body.rowVersion },
      owner,
    );
    // 55 invoices: more than a page (50), so there are older ones to page to.
    for (let i = 1; i <= 55; i++) {
      const r = await served.api(
        'POST',
        '/v1/sales/batch-invoices',
        {
          customerCode: i % 5 === 0 ? 'BOLT' : 'ACME',
          invoiceDate: `2026-10-${String(1 + (i % 28)).padStart(2, '0')}`,
          externalReference: `SO-${String(1000 + i)}`,
          description: `Boat hire ${i}`,
          lines: [
            {
              glAccountCode: '4000',
              taxCode: 'STD',
              description: 'Boat hire',
              netAmount: `${i * 10}.00`,
              taxRate: '0.21',
            },
          ],
        },
        owner,
      );
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const receipt = await served.api(
      'POST',
      '/v1/sales/receipts',
      {
        customerCode: 'BOLT',
        checkReference: 'PAY-BOLT-1',
        paymentAmount: '60.50',
        bankAccountCode: 'BANK',
        paymentDate: '2026-11-05',
        description: 'Transfer',
      },
      owner,
    );
    expect(receipt.status, JSON.stringify(receipt.body)).toBe(201);
    await addUserWithPassword(served, owner, 'olga@example.com', 'owner', PASSWORD);

    ({ page } = await newPage(browser));
    await signIn(page, served.url, 'olga@example.com', PASSWORD);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('searches transactions and pages to older ones', async () => {
    const test = 'transactions';
    await page.getByRole('link', { name: 'Transactions' }).click();
    await page.waitForURL(`${served.url}/transactions`);
    const rows = page.locator('table.transactions tbody tr');
    expect(await rows.count()).toBe(50);
    // Newest first: the receipt was posted last.
    expect(await rows.first().locator('td').nth(1).textContent()).toMatch(/^Sales receipt \d+$/);
    await inspect(page, test, '01-list');
    await page.getByRole('link', { name: 'Older →' }).click();
    await page.waitForURL(/after=\d+/);
    expect(await rows.count()).toBe(6);
    await inspect(page, test, '02-older');
    await page.getByRole('link', { name: '↑ Newest' }).click();
    await page.waitForURL(`${served.url}/transactions`);
    expect(await rows.count()).toBe(50);
    expect(await rows.first().locator('td').nth(1).textContent()).toMatch(/^Sales receipt \d+$/);

    await page.goto(`${served.url}/transactions`);
    await page.getByLabel('Customer code').fill('bolt');
    await page.getByLabel('Type').selectOption('SI');
    await page.getByLabel('Date from').fill('2026-10-01');
    await page.getByLabel('Date to').fill('2026-10-31');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/customer=bolt/);
    expect(await rows.count()).toBe(11);
    for (const text of await rows.locator('td[data-label="Customer"]').allTextContents()) expect(text).toBe('BOLT');
    await inspect(page, test, '03-searched');

    await page.goto(`${served.url}/transactions`);
    await page.getByLabel('Reference starts with').fill('so-102');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/reference=so-102/);
    expect(await rows.count()).toBe(10);
    await page.getByLabel('Reference starts with').fill('NO-SUCH-REF');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No transaction matches this search').waitFor();
    await inspect(page, test, '04-empty');
  });

  it('opens an invoice: its journal lines and its PDF inline', async () => {
    const test = 'transaction-detail';
    await page.goto(`${served.url}/transactions?reference=SO-1012`);
    const link = page.locator('table.transactions tbody a[href^="/transactions/"]').first();
    const pdf = page.waitForResponse((r) => /\/v1\/transactions\/\d+\/pdf$/.test(r.url()));
    await link.click();
    await page.waitForURL(/\/transactions\/\d+$/);
    const answer = await pdf;
    expect(answer.status()).toBe(200);
    expect(answer.headers()['content-type']).toBe('application/pdf');
    expect(answer.frame().parentFrame()).not.toBeNull();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toMatch(/^Sales invoice \d+/);
    // Net 120.00, VAT 25.20: the control account debited 145.20, sales and VAT credited.
    const journal = page.locator('table.journal tbody tr');
    expect(await journal.count()).toBe(3);
    expect(await journal.nth(0).textContent()).toContain('€145.20');
    expect(await page.locator('table.journal').textContent()).toContain('€25.20');
    expect(await page.locator('iframe.pdf').getAttribute('title')).toMatch(/as PDF$/);
    await page.getByRole('link', { name: /Acme Rowing Limited/ }).waitFor();
    await inspect(page, test, '01-invoice');
    await page.getByRole('link', { name: /Acme Rowing Limited/ }).click();
    await page.waitForURL(/\/customers\/ACME$/);
  });

  it('shows the audit log, an entry opened to its before and after', async () => {
    const test = 'audit';
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.waitForURL(`${served.url}/audit`);
    expect(await page.locator('ol.audit-entries > li').count()).toBe(50);
    await inspect(page, test, '01-list');
    await page.getByLabel('Action').fill('customer.updated');
    await page.getByLabel('Object id').fill('ACME');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/action=customer.updated/);
    const entries = page.locator('ol.audit-entries > li');
    expect(await entries.count()).toBe(1);
    await entries.first().locator('summary').click();
    const changed = entries.first().locator('tr.changed');
    await changed.first().waitFor();
    expect(await changed.locator('del').textContent()).toBe('Acme Rowing Ltd');
    expect(await changed.locator('ins').textContent()).toBe('Acme Rowing Limited');
    await inspect(page, test, '02-entry-open');
  });
});
