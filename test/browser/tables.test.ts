import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parkRecords } from '../../src/sync/exceptions.ts';
import { recordAudit } from '../../src/ledger/audit.ts';
import { findEntityByCode } from '../../src/ledger/entities.ts';
import { definePipeline } from '../helpers/sync.ts';
import {
  type Served,
  addUserWithPassword,
  browserAvailable,
  createClub,
  inspect,
  launchBrowser,
  newPage,
  serveDashboard,
  signIn,
} from './helpers.ts';

/*
 * The layout of lists and tables in a real Chromium, at a desktop's 1280 px and a phone's 390 px:
 * words whole in table cells, a long error code wrapped on a phone, the audit log's before and after
 * stacked on a phone with names whole, a compact header and a folding menu and search (by keyboard
 * too), a credit drawn to scale, and the favicon.
 */

const available = browserAvailable();
const PASSWORD = 'correct horse battery staple';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

let served: Served;
let browser: Browser;
let page: Page;
let exceptionId: number;

/** Longer than this, a run of characters without a space is a value (an id, a code), which may wrap. */
const WORD_MAX = 24;

/**
 * The words of the elements matching `selector` that the browser split over two lines: each run of
 * non-space characters of their text (up to WORD_MAX long) is measured, and one whose characters sit
 * on more than one line is broken mid-word.
 */
async function brokenWords(p: Page, selector: string): Promise<string[]> {
  return p.evaluate(
    ([sel, max]) => {
      const broken: string[] = [];
      for (const el of Array.from(document.querySelectorAll(sel))) {
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          const text = node.textContent ?? '';
          for (const m of text.matchAll(/\S+/g)) {
            if (m[0].length > max) continue;
            const range = document.createRange();
            range.setStart(node, m.index);
            range.setEnd(node, m.index + m[0].length);
            const tops = new Set(
              Array.from(range.getClientRects())
                .filter((r) => r.width > 0)
                .map((r) => Math.round(r.top)),
            );
            if (tops.size > 1) broken.push(m[0]);
          }
        }
      }
      return broken;
    },
    [selector, WORD_MAX] as const,
  );
}

/** How wide the document is against the viewport (a phone's page must not scroll sideways). */
const widths = (p: Page) =>
  p.evaluate(() => ({ page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth }));

describe.skipIf(!available)('tables and layout in Chromium', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    served = await serveDashboard();
    browser = await launchBrowser();
    const owner = await createClub(served, 'TBLB');
    const entity = (await findEntityByCode(served.db, 'TBLB'))!;
    for (const code of ['ACME', 'BOLT']) {
      const r = await served.api('PUT', `/v1/customers/${code}`, { name: `${code} Sailing Club` }, owner);
      expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
    }
    for (let i = 1; i <= 12; i++) {
      const r = await served.api(
        'POST',
        '/v1/sales/batch-invoices',
        {
          customerCode: i % 2 ? 'ACME' : 'BOLT',
          invoiceDate: `2026-09-${String(i).padStart(2, '0')}`,
          externalReference: `SO-${1000 + i}`,
          description: `Boat hire ${i}`,
          lines: [
            { glAccountCode: '4000', taxCode: 'STD', description: 'Boat hire', netAmount: '200.00', taxRate: '0.21' },
          ],
        },
        owner,
      );
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    // A credit bigger than what is owed in its bucket: a negative bar on the customer's chart.
    const note = await served.api(
      'POST',
      '/v1/sales/credit-notes',
      {
        customerCode: 'ACME',
        creditNoteDate: new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10),
        externalReference: 'CN-B1',
        lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '500.00', taxRate: '0.21' }],
      },
      owner,
    );
    expect(note.status, JSON.stringify(note.body)).toBe(201);
    // A pipeline whose name is a word a cell must not split, and an exception with a long code.
    const pipeline = await definePipeline(served.db, 'TBLB', { name: 'spreadsheet', source: { type: 'records' } });
    await parkRecords(served.db, pipeline.id, entity.id, null, [
      {
        kind: 'invoice',
        sourceId: 'ROW-17',
        reasonCode: 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        message: 'GL account 4999 is not a posting account',
        field: 'lines[0].glAccountCode',
        payload: {},
      },
    ]);
    // A record id without spaces and a long message: the list is wider than the page, so its columns
    // must give way, which is when a cell that may break anywhere split "spreadsheet".
    await parkRecords(served.db, pipeline.id, entity.id, null, [
      {
        kind: 'invoice',
        sourceId: `ORDER-${'0123456789'.repeat(8)}`,
        reasonCode: 'CUSTOMER_NOT_SYNCED',
        message: 'The customer of this order has not been sent to this pipeline yet; '.repeat(4),
        payload: {},
      },
    ]);
    const { rows } = await served.db.query<{ id: string }>(`SELECT id FROM exceptions WHERE source_id = 'ROW-17'`);
    exceptionId = Number(rows[0]!.id);
    await recordAudit(served.db, {
      entityId: entity.id,
      actor: 'cli',
      action: 'exception.resolved',
      objectType: 'exception',
      objectId: String(exceptionId),
      before: {
        status: 'open',
        statusChangedAt: '2026-11-20T10:15:00.000Z',
        attachments: ['invoice-17.pdf', 'delivery-note-17.pdf'],
        customerAddressLines: { streetAddressLineOne: 'Quay 1' },
      },
      after: {
        status: 'resolved',
        statusChangedAt: '2026-11-21T08:00:00.000Z',
        attachments: ['invoice-17.pdf', 'delivery-note-17.pdf', 'a.pdf', 'b.pdf', 'c.pdf', 'd.pdf'],
        customerAddressLines: { streetAddressLineOne: 'Quay 2' },
      },
    });
    await addUserWithPassword(served, owner, 'olga@example.com', 'owner', PASSWORD);
    ({ page } = await newPage(browser));
    await signIn(page, served.url, 'olga@example.com', PASSWORD);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('desktop: short words stay whole in table cells; the menu and the search are always shown', async () => {
    const test = 'tables-desktop';
    await page.setViewportSize(DESKTOP);
    await page.goto(`${served.url}/exceptions`);
    await page.locator('table td', { hasText: 'spreadsheet' }).first().waitFor();
    expect(await brokenWords(page, 'table td')).toEqual([]);
    // The long record id wraps inside its cell instead of pushing the list past the page.
    const id = page.locator('table td', { hasText: 'ORDER-0123' }).first();
    expect((await id.boundingBox())!.height).toBeGreaterThan(40);
    expect(
      await page.evaluate(() => {
        const box = document.querySelector('.table-scroll')!;
        return box.scrollWidth <= box.clientWidth;
      }),
    ).toBe(true);
    await inspect(page, test, '01-exceptions');

    await page.goto(`${served.url}/transactions`);
    expect(await brokenWords(page, 'table td')).toEqual([]);
    // The menu's links and the search's fields shown, their folding summaries not.
    expect(await page.locator('.nav-menu > summary').isVisible()).toBe(false);
    expect(
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Aged debtors' }).isVisible(),
    ).toBe(true);
    expect(await page.locator('.search-panel > summary').isVisible()).toBe(false);
    expect(await page.getByLabel('Customer code').isVisible()).toBe(true);
    await inspect(page, test, '02-transactions');

    await page.goto(`${served.url}/audit?action=exception.resolved`);
    await page.locator('ol.audit-entries summary').first().click();
    const diff = page.locator('table.audit-diff').first();
    await diff.waitFor();
    expect(await brokenWords(page, 'table.audit-diff th')).toEqual([]);
    // Lists as lists, long ones under their count; times as the dashboard writes them.
    expect(await diff.locator('ul.audit-list').first().locator('li').allTextContents()).toEqual([
      'invoice-17.pdf',
      'delivery-note-17.pdf',
    ]);
    expect(await diff.locator('details.audit-more summary').textContent()).toBe('6 items');
    expect(await diff.locator('time').first().textContent()).toBe('20 Nov 2026, 10:15 UTC');
    await inspect(page, test, '03-audit-entry');
  });

  it('phone: a compact header, a folded menu and search that open by keyboard, the first result on the first screen', async () => {
    const test = 'tables-phone';
    await page.setViewportSize(PHONE);
    await page.goto(`${served.url}/transactions?customer=ACME`);
    const header = await page.locator('header.site-header').boundingBox();
    expect(header!.height).toBeLessThan(160);
    // The search folded under what it searches, the first result on the first screen.
    const summary = page.locator('.search-panel > summary');
    expect(await summary.textContent()).toBe('Search: customer ACME');
    expect(await page.getByLabel('Customer code').isVisible()).toBe(false);
    const first = await page.locator('table.transactions tbody tr').first().boundingBox();
    expect(first!.y).toBeLessThan(PHONE.height - 100);
    await inspect(page, test, '01-transactions');

    // The search opens from the keyboard.
    await summary.focus();
    await page.keyboard.press('Enter');
    await page.getByLabel('Customer code').waitFor({ state: 'visible' });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name)).toBe('number');

    // The menu: folded, saying where you are; opened by keyboard, Aged debtors in it.
    const menu = page.locator('.nav-menu > summary');
    expect(await menu.textContent()).toBe('Menu: Transactions');
    const aged = page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Aged debtors' });
    expect(await aged.isVisible()).toBe(false);
    await menu.focus();
    await page.keyboard.press('Enter');
    await aged.waitFor({ state: 'visible' });
    await aged.focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(`${served.url}/aged-debtors`);
    expect(await page.locator('.nav-menu > summary').textContent()).toBe('Menu: Aged debtors');
    await inspect(page, test, '02-aged-debtors');
  });

  it('phone: a long error code wraps, and no page is wider than the screen', async () => {
    const test = 'tables-phone-width';
    await page.setViewportSize(PHONE);
    await page.goto(`${served.url}/exceptions/${exceptionId}`);
    const code = page.locator('h2 code');
    expect(await code.textContent()).toBe('GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST');
    expect((await code.boundingBox())!.x + (await code.boundingBox())!.width).toBeLessThanOrEqual(PHONE.width);
    expect(await widths(page)).toEqual({ page: PHONE.width, view: PHONE.width });
    await inspect(page, test, '01-exception');
    for (const path of ['/', '/exceptions', '/customers/ACME', '/aged-debtors', '/runs', '/audit']) {
      await page.goto(`${served.url}${path}`);
      const w = await widths(page);
      expect(w.page, path).toBeLessThanOrEqual(w.view);
    }
  });

  it('phone: the audit log stacks each field, its name above its values, names whole', async () => {
    const test = 'tables-phone-audit';
    await page.setViewportSize(PHONE);
    await page.goto(`${served.url}/audit?action=exception.resolved`);
    await page.locator('ol.audit-entries summary').first().click();
    const row = page.locator('table.audit-diff tbody tr', { hasText: 'customerAddressLines' }).first();
    await row.waitFor();
    const name = (await row.locator('th').boundingBox())!;
    const before = (await row.locator('td').first().boundingBox())!;
    const after = (await row.locator('td').last().boundingBox())!;
    // Stacked: the name, then before, then after, each the width of the entry, not three squeezed columns.
    expect(before.y).toBeGreaterThanOrEqual(name.y + name.height - 1);
    expect(after.y).toBeGreaterThanOrEqual(before.y + before.height - 1);
    expect(before.width).toBeGreaterThan(250);
    expect(Math.abs(before.x - name.x)).toBeLessThan(2);
    expect(await brokenWords(page, 'table.audit-diff .field-name')).toEqual([]);
    expect(await row.locator('td').first().textContent()).toBe('Quay 1');
    await inspect(page, test, '01-entry');
  });

  it('draws a credit on the customer chart as a bar of its size, not a hairline', async () => {
    await page.setViewportSize(DESKTOP);
    await page.goto(`${served.url}/customers/ACME`);
    const credit = (await page.locator('#customer-aging-title ~ svg rect.negative').boundingBox())!;
    expect(credit.height).toBeGreaterThan(20);
    await page.setViewportSize(PHONE);
    expect((await page.locator('#customer-aging-title ~ svg rect.negative').boundingBox())!.height).toBeGreaterThan(20);
    await page.setViewportSize(DESKTOP);
    await page.getByText('Show the numbers').click();
    await inspect(page, 'tables-chart', '01-customer');
  });

  it('serves the favicon: no error on a first visit', async () => {
    const { context, page: fresh } = await newPage(browser);
    try {
      const errors: string[] = [];
      const missing: string[] = [];
      fresh.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      fresh.on('response', (r) => {
        if (r.status() >= 400) missing.push(`${r.status()} ${r.url()}`);
      });
      await fresh.goto(`${served.url}/sign-in`);
      await fresh.waitForLoadState('networkidle');
      expect(errors).toEqual([]);
      expect(missing).toEqual([]);
      const icon = await fresh.request.get(`${served.url}/favicon.ico`);
      expect(icon.status()).toBe(200);
      expect(icon.headers()['content-type']).toBe('image/x-icon');
      expect(icon.headers()['cache-control']).toBe('public, max-age=31536000');
    } finally {
      await context.close();
    }
  });
});
