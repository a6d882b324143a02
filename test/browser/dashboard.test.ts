import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../../src/connectors/ixpole/simulator.ts';
import { definePipeline } from '../helpers/sync.ts';
import {
  type Served,
  addUserWithPassword,
  browserAvailable,
  createClub,
  expectAccessible,
  inspect,
  launchBrowser,
  screenshot,
  newPage,
  signIn,
} from './helpers.ts';

/*
 * The dashboard in a real Chromium against the real server: signing in through a one-time link,
 * running a pipeline and watching it finish, fixing and retrying exceptions, and the refusals (a
 * viewer's change, a change without the CSRF token). Every page visited is checked with axe-core and
 * saved as screenshots at 1280 and 390 px under test-results/screenshots/.
 */

const available = browserAvailable();
const PASSWORD = 'correct horse battery staple';

let served: Served;
let browser: Browser;
let sim: IxpoleSimulator;
let owner: Record<string, string>;
let accountantLink: string;
let ghost: string;
let ghost2: string;

// A browser on a busy two-core machine: each step is given time, the whole file still takes about two minutes.
describe.skipIf(!available)('the dashboard in Chromium', { timeout: 120_000 }, () => {
  let page: Page;

  beforeAll(async () => {
    served = await (await import('./helpers.ts')).serveDashboard();
    browser = await launchBrowser();
    owner = await createClub(served, 'WEB');

    // A sales system whose pages come slowly (the run takes a few seconds to watch) and that has
    // lost one customer: that customer's invoices are parked until it is back.
    sim = await startIxpoleSimulator({ seed: 3, instalments: 30, customers: 6, products: 3, pageSize: 5 });
    sim.control.delay({ ms: 300, route: 'instalments' });
    ghost = String(sim.instalmentAt(0).CustomerId);
    sim.control.missingCustomers.add(ghost);
    for (let i = 1; ghost2 === undefined; i++)
      if (String(sim.instalmentAt(i).CustomerId) !== ghost) ghost2 = String(sim.instalmentAt(i).CustomerId);
    sim.control.missingCustomers.add(ghost2);
    await definePipeline(served.db, 'WEB', {
      name: 'shop',
      source: { type: 'ixpole', baseUrl: sim.url, apiKey: sim.apiKey, timeoutMs: 10_000 },
      schedule: '0 6 * * *',
      options: { invoiceMode: 'final' },
    });

    const accountant = await served.api('POST', '/v1/users', { email: 'anna@example.com', role: 'accountant' }, owner);
    expect(accountant.status, JSON.stringify(accountant.body)).toBe(201);
    accountantLink = new URL(accountant.body.signInLink).pathname + new URL(accountant.body.signInLink).search;
    await addUserWithPassword(served, owner, 'victor@example.com', 'viewer', PASSWORD);

    ({ page } = await newPage(browser));
  });

  afterAll(async () => {
    await browser?.close();
    await sim?.close();
    await served?.close();
  });

  it('signs a new user in through the one-time link', async () => {
    const test = 'sign-in';
    await page.goto(`${served.url}/runs?status=failed`);
    // Not signed in: the sign-in page, which brings them back where they were going.
    await page.waitForURL(/\/sign-in\?next=%2Fruns%3Fstatus%3Dfailed$/);
    await inspect(page, test, '01-sign-in');

    await page.goto(`${served.url}${accountantLink}`);
    await expect(page.getByRole('heading', { name: 'Set your password' }).isVisible()).resolves.toBe(true);
    await inspect(page, test, '02-set-password');
    await page.getByLabel('New password').fill('password');
    await page.getByRole('button', { name: 'Set password' }).click();
    // Too short and too common: refused, said in the form.
    await page.locator('[data-error]:not(:empty)').waitFor();
    await screenshot(page, test, '03-password-refused');
    await page.getByLabel('New password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.waitForURL(/\/sign-in\?password=set/);

    await page.getByLabel('Email').fill('anna@example.com');
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.locator('[data-error]:not(:empty)');
    await error.waitFor();
    expect(await error.textContent()).toContain('email or password is not right');
    await inspect(page, test, '04-wrong-password');

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${served.url}/`);
    expect(await page.locator('.entity-name').textContent()).toBe('Harbour Sports Club');
    expect(await page.locator('.who').textContent()).toContain('anna@example.com');
    expect(await page.locator('.role-badge').textContent()).toBe('accountant');
    await inspect(page, test, '05-overview-before-any-run');
  });

  it('runs a pipeline and shows its progress live until it finishes', async () => {
    const test = 'run-pipeline';
    await page.goto(`${served.url}/runs`);
    await expect(page.locator('table').count()).resolves.toBe(0);
    await inspect(page, test, '01-runs-empty');
    await page.getByRole('button', { name: 'Run shop now' }).click();

    // The fragment polls every second: it is seen unfinished, with counts that move, then finished.
    const progress = page.locator('#progress-shop .run-progress');
    await progress.waitFor();
    const seen = new Set<string>();
    const fetched = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const status = (await progress.getAttribute('data-status')) ?? '';
      seen.add(status);
      fetched.add((await progress.locator('dl.counts dd').first().textContent()) ?? '');
      if (status === 'running' && !seen.has('screenshot')) {
        seen.add('screenshot');
        await screenshot(page, test, '02-running');
      }
      if (['succeeded', 'partial', 'failed'].includes(status)) break;
      await page.waitForTimeout(500);
    }
    expect([...seen]).toContain('running');
    expect(fetched.size, `counts seen: ${[...fetched].join(', ')}`).toBeGreaterThan(1);
    expect(await progress.getAttribute('data-status')).toBe('partial');
    expect(await progress.textContent()).toContain('Partly parked');
    await inspect(page, test, '03-finished');

    await progress.getByRole('link', { name: /Run of shop/ }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    expect(await page.locator('tbody tr').count()).toBeGreaterThan(10);
    // Every record with its outcome: the lost customer's invoices parked, with the source's answer.
    expect(await page.locator('tbody .badge-parked').count()).toBeGreaterThan(0);
    expect(await page.locator('tbody .badge-created').count()).toBeGreaterThan(0);
    expect(await page.getByText(`iXpole has no customer ${ghost} (404)`).count()).toBeGreaterThan(0);
    await inspect(page, test, '04-run-detail');

    await page.getByRole('link', { name: 'Overview' }).click();
    await page.waitForURL(`${served.url}/`);
    const row = page.locator('table.pipelines tbody tr').first();
    expect(await row.textContent()).toContain('Partly parked');
    expect(await row.locator('time').count()).toBe(2); // the last run and the next scheduled one
    expect(await page.locator('.big-number').first().textContent()).not.toBe('0');
    expect(await page.locator('#posted-chart-title').count()).toBe(1);
    expect(await page.getByText(/Owed by \d+ customers? in EUR/).count()).toBe(1);
    await inspect(page, test, '05-overview');
  });

  it('cancels a running run: it says so, stops after the page in hand and ends cancelled', async () => {
    const test = 'cancel-run';
    await page.goto(`${served.url}/runs`);
    // The next listing pages come slowly: the run is still reading when it is cancelled.
    sim.control.reset();
    sim.control.missingCustomers.add(ghost);
    sim.control.missingCustomers.add(ghost2);
    sim.control.delay({ ms: 2500, route: 'instalments', times: 2 });
    sim.control.delay({ ms: 300, route: 'instalments' });
    await page.getByRole('button', { name: 'Run shop now' }).click();
    const progress = page.locator('#progress-shop .run-progress');
    await progress.waitFor();
    for (let i = 0; i < 40 && (await progress.getAttribute('data-status')) !== 'running'; i++)
      await page.waitForTimeout(250);
    expect(await progress.getAttribute('data-status')).toBe('running');
    const confirmed: string[] = [];
    page.once('dialog', (d) => {
      confirmed.push(d.message());
      void d.accept();
    });
    await progress.getByRole('button', { name: 'Cancel run' }).click();
    expect(confirmed).toEqual(['Cancel this run of shop? What it posted is kept; the next run reads on.']);
    await page.getByText('Cancelling: it stops after the page in hand.').waitFor();
    await screenshot(page, test, '01-cancelling');
    for (let i = 0; i < 60 && (await progress.getAttribute('data-status')) !== 'cancelled'; i++)
      await page.waitForTimeout(500);
    expect(await progress.getAttribute('data-status')).toBe('cancelled');
    expect(await progress.locator('.badge-cancelled').textContent()).toBe('Cancelled');
    expect(await progress.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);
    expect(await progress.textContent()).toMatch(/Cancelled by user:.*: what it posted is kept/);
    await inspect(page, test, '02-cancelled');
  });

  it('retries an exception after its cause is fixed, in bulk and one by one, and resolves one with a note', async () => {
    const test = 'exceptions';
    await page.goto(`${served.url}/exceptions?reason=SOURCE_CUSTOMER_NOT_FOUND`);
    const rows = page.locator('table.exceptions tbody tr');
    const of = (customer: string) => rows.filter({ hasText: `iXpole has no customer ${customer} (404)` });
    const parked = await rows.count();
    const first = await of(ghost).count();
    expect(first).toBeGreaterThan(1);
    expect(await of(ghost2).count()).toBeGreaterThan(1);
    await inspect(page, test, '01-list');
    // The source has no such customer: restoring it is a person's job, and the filter says so.
    await page.getByLabel('Who acts').selectOption('person');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/needs=person/);
    expect(await rows.count()).toBe(parked);
    expect(await page.locator('.badge-itself').count()).toBe(0);

    await of(ghost).first().getByRole('link').first().click();
    await page.waitForURL(/\/exceptions\/\d+$/);
    expect(await page.getByText('Restore or share the customer in the source').count()).toBe(1);
    expect(await page.getByRole('heading', { name: 'As the source sent it' }).count()).toBe(1);
    await inspect(page, test, '02-detail');

    // Retried before the cause is fixed: parked again, and said so.
    await page.getByRole('button', { name: 'Retry now' }).click();
    await page.getByText('the record was parked again').waitFor();
    await screenshot(page, test, '03-retry-still-failing');

    // The customer is back in the source: the retry goes through, and the customer's other
    // invoices, which needed it, with it.
    sim.control.missingCustomers.delete(ghost);
    await page.getByRole('button', { name: 'Retry now' }).click();
    await page.getByText('the exception is resolved').waitFor();
    expect(await page.locator('#exception-panel .badge').first().textContent()).toBe('Resolved');
    expect(await page.getByText(`${first - 1} other parked record`).count()).toBe(1);
    await inspect(page, test, '04-retried');
    await page.goto(`${served.url}/exceptions?reason=SOURCE_CUSTOMER_NOT_FOUND`);
    expect(await of(ghost).count()).toBe(0);
    expect(await rows.count()).toBe(parked - first);

    // Another is resolved by hand, with a note.
    await of(ghost2).first().getByRole('link').first().click();
    await page.getByLabel('Or resolve it with a note').fill('Booked by hand as invoice 1042.');
    await page.getByRole('button', { name: 'Resolve' }).click();
    await page.getByText('Resolved.').waitFor();
    expect(await page.locator('#exception-panel').textContent()).toContain('Booked by hand as invoice 1042.');

    // The rest in one go, once their customer is back: the first books it, the others go with it.
    sim.control.missingCustomers.delete(ghost2);
    await page.goto(`${served.url}/exceptions?reason=SOURCE_CUSTOMER_NOT_FOUND`);
    const left = await rows.count();
    expect(left).toBe(parked - first - 1);
    for (const box of await page.locator('input[name="id"]').all()) await box.check();
    await page.getByRole('button', { name: 'Retry selected' }).click();
    await page.getByText(`Retried ${left}: ${left} went through`).waitFor();
    expect(await page.getByText('went through with one retried before it').count()).toBe(left - 1);
    expect(await page.getByText('No exceptions match these filters').count()).toBe(1);
    await inspect(page, test, '05-bulk-retried');
  });

  it("shows a customer's balance and aging, and opens an invoice and the statement as PDF", async () => {
    const test = 'customers';
    await page.getByRole('link', { name: 'Customers' }).click();
    await page.waitForURL(`${served.url}/customers`);
    expect(await page.locator('table.customers tbody tr').count()).toBe(6);
    await inspect(page, test, '01-list');
    // The aged debtors report, one click from the list (and in the navigation): the totals, then every customer owing.
    await page.getByRole('main').getByRole('link', { name: 'Aged debtors' }).click();
    await page.waitForURL(`${served.url}/aged-debtors`);
    expect(await page.locator('section[aria-labelledby="totals-title"] tbody tr').count()).toBeGreaterThan(0);
    const owing = await page.locator('section[aria-labelledby="customers-title"] tbody tr').count();
    expect(owing).toBeGreaterThan(0);
    expect(owing).toBeLessThanOrEqual(6);
    await inspect(page, test, '01b-aged-debtors');
    await page.goto(`${served.url}/customers`);
    const name = (await page.locator('table.customers tbody tr td').nth(1).textContent())!;
    await page.getByLabel('Code or name').fill(name);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/search=/);
    expect(await page.locator('table.customers tbody tr').count()).toBe(1);
    await page.locator('table.customers tbody a').first().click();
    await page.waitForURL(/\/customers\/[^/?]+$/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain(name);
    expect(await page.locator('.big-number').textContent()).toMatch(/€/);
    // The aging chart, with its numbers for those who cannot see it.
    expect(await page.locator('#customer-aging-title').count()).toBe(1);
    await page.getByText('Show the numbers').click();
    // The six buckets of the ledger and the statement: current, 1–30, 31–60, 61–90, 91–120, over 120.
    expect(await page.locator('.chart-data tbody tr').count()).toBe(6);
    await inspect(page, test, '02-customer');

    const invoice = page.locator('table.open-items a[href$="/pdf"]').first();
    const pdf = await page.request.get(`${served.url}${await invoice.getAttribute('href')}`);
    expect(pdf.status()).toBe(200);
    expect(pdf.headers()['content-type']).toBe('application/pdf');
    expect((await pdf.body()).subarray(0, 5).toString()).toBe('%PDF-');
    const statement = page.getByRole('link', { name: 'Statement as PDF' });
    const res = await page.request.get(`${served.url}${await statement.getAttribute('href')}`);
    expect(res.headers()['content-type']).toBe('application/pdf');
    // Shown in the browser's own viewer, in a tab of its own.
    const [tab] = await Promise.all([page.context().waitForEvent('page'), invoice.click()]);
    await tab.waitForLoadState();
    expect(tab.url()).toMatch(/\/v1\/transactions\/\d+\/pdf$/);
    await tab.close();
  });

  it('reverses a journal keyed in error from its page, after asking, and lands on the reversal', async () => {
    const test = 'reverse-journal';
    const keyed = await served.api(
      'POST',
      '/v1/journals',
      {
        date: '2026-11-06',
        reference: 'ACCR-ERR',
        description: 'Accrual keyed twice',
        lines: [
          { glAccountCode: '5000', debit: '40.00' },
          { glAccountCode: '2300', credit: '40.00' },
        ],
      },
      owner,
    );
    expect(keyed.status, JSON.stringify(keyed.body)).toBe(201);
    const journal = Number(keyed.body.transactionId);
    await page.goto(`${served.url}/transactions/${journal}`);
    await page.getByLabel('Reversal date').fill('2026-11-20');
    await inspect(page, test, '01-journal');
    const confirmed: string[] = [];
    page.once('dialog', (d) => {
      confirmed.push(d.message());
      void d.accept();
    });
    await page.getByRole('button', { name: 'Reverse journal' }).click();
    // The journal's own page matches too: wait for another transaction's.
    await page.waitForURL(
      (url) => /^\/transactions\/\d+$/.test(url.pathname) && url.pathname !== `/transactions/${journal}`,
    );
    expect(confirmed).toEqual(['Reverse this journal? A reversing journal is posted; this one stays as it is.']);
    const reversal = Number(page.url().match(/(\d+)$/)![1]);
    expect(reversal).not.toBe(journal);
    await page.getByRole('link', { name: `General journal ${keyed.body.number}` }).waitFor();
    expect(await page.locator('table.journal').textContent()).toContain('40.00');
    await inspect(page, test, '02-reversal');
    const read = await served.api('GET', `/v1/journals/${journal}`, undefined, owner);
    expect(read.body.reversedBy).toMatchObject({ transactionId: reversal, date: '2026-11-20' });
  });

  it("refuses a viewer's change, and says so", async () => {
    const test = 'viewer';
    const viewer = await newPage(browser);
    try {
      await signIn(viewer.page, served.url, 'victor@example.com', PASSWORD);
      // No buttons that would change anything.
      expect(await viewer.page.getByRole('button', { name: /Run .* now/ }).count()).toBe(0);
      await inspect(viewer.page, test, '01-overview');
      await viewer.page.goto(`${served.url}/exceptions?status=all`);
      expect(await viewer.page.locator('input[type="checkbox"]').count()).toBe(0);
      await viewer.page.locator('table.exceptions a').first().click();
      expect(await viewer.page.getByRole('button', { name: 'Retry now' }).count()).toBe(0);
      await inspect(viewer.page, test, '02-exception');

      // The server refuses anyway, with its CSRF token and all: shown as a clear message.
      await viewer.page.goto(`${served.url}/runs`);
      const runs = await served.api('GET', '/v1/runs', undefined, owner);
      await viewer.page.evaluate(() => {
        const b = document.createElement('button');
        b.textContent = 'Forged run';
        b.setAttribute('hx-post', '/pipelines/shop/run');
        document.querySelector('h1')!.after(b);
        (window as any).htmx.process(b);
      });
      await viewer.page.getByRole('button', { name: 'Forged run' }).click();
      const flash = viewer.page.locator('#flash [role="alert"]');
      await flash.waitFor();
      expect(await flash.textContent()).toContain('Not allowed');
      expect(await flash.textContent()).toContain('FORBIDDEN_ROLE');
      await inspect(viewer.page, test, '03-refused');
      expect((await served.api('GET', '/v1/runs', undefined, owner)).body.total).toBe(runs.body.total);
    } finally {
      await viewer.context.close();
    }
  });

  it('refuses a change without the CSRF token, from the page and through the API', async () => {
    const test = 'csrf';
    await page.goto(`${served.url}/runs`);
    const before = (await served.api('GET', '/v1/runs', undefined, owner)).body.total;
    const answers = await page.evaluate(async () => {
      const page = await fetch('/pipelines/shop/run', { method: 'POST' });
      const api = await fetch('/v1/pipelines/shop/runs', { method: 'POST' });
      const forged = await fetch('/v1/pipelines/shop/runs', {
        method: 'POST',
        headers: { 'x-csrf-token': 'not-the-token' },
      });
      return [
        { status: page.status, text: await page.text() },
        { status: api.status, text: await api.text() },
        { status: forged.status, text: await forged.text() },
      ];
    });
    for (const a of answers) {
      expect(a.status).toBe(403);
      expect(a.text).toContain('CSRF_TOKEN_INVALID');
    }
    // htmx without the token the page gave it: refused, and the page says why.
    await page.evaluate(() => document.body.removeAttribute('hx-headers'));
    await page.getByRole('button', { name: 'Run shop now' }).click();
    const flash = page.locator('#flash [role="alert"]');
    await flash.waitFor();
    expect(await flash.textContent()).toContain('CSRF_TOKEN_INVALID');
    expect(await flash.textContent()).toContain('Reload the page and try again');
    await screenshot(page, test, '01-refused');
    expect((await served.api('GET', '/v1/runs', undefined, owner)).body.total).toBe(before);

    // Signing out ends the session: pages go back to the sign-in form.
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in\?signed-out=1$/);
    await page.goto(`${served.url}/exceptions`);
    await page.waitForURL(/\/sign-in\?next=%2Fexceptions$/);
    await expectAccessible(page, 'sign-in after sign-out');
  });
});
