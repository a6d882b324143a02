import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../../src/connectors/ixpole/simulator.ts';
import { type XeroSimulator, startXeroSimulator } from '../../src/connectors/xero/simulator.ts';
import { importFile } from '../../src/sync/imports.ts';
import { createRun, setRunStatus } from '../../src/sync/runs.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import { definePipeline } from '../helpers/sync.ts';
import {
  type Served,
  addUserWithPassword,
  browserAvailable,
  createClub,
  inspect,
  launchBrowser,
  screenshot,
  newPage,
  signIn,
} from './helpers.ts';
import { processScope } from '../helpers/scoped.ts';

/*
 * The Connections and Reconciliation pages in a real Chromium against the real server: an owner
 * tests connections (one that passes, one with a wrong API key, a Xero organisation through the
 * simulator, which connects it), a viewer sees no button, and a reconciliation shows a mismatch
 * linked to its documents. Every page is checked with axe-core and saved as screenshots.
 */

const scope = processScope();
const available = browserAvailable();
const PASSWORD = 'correct horse battery staple';
const APP = { clientId: 'browser-conn-app', clientSecret: 'xero-client-secret-S3CRET-browser-01' };
const IX_KEY = 'ixpole-key-S3CRET-browser-0123456789';

let served: Served;
let browser: Browser;
let ix: IxpoleSimulator;
let xero: XeroSimulator;
let owner: Record<string, string>;
let files: Pipeline;
let books: Pipeline;
let handId: number;
let refreshToken: string;

function expectNoSecret(text: string) {
  for (const s of [APP.clientSecret, IX_KEY, refreshToken]) expect(text).not.toContain(s);
}

describe.skipIf(!available)('connections and reconciliation in Chromium', { timeout: 120_000 }, () => {
  let page: Page;

  beforeAll(async () => {
    served = await (await import('./helpers.ts')).serveDashboard();
    browser = await launchBrowser();
    owner = await createClub(served, 'CONB');
    await addUserWithPassword(served, owner, 'olga@example.com', 'owner', PASSWORD);
    await addUserWithPassword(served, owner, 'victor@example.com', 'viewer', PASSWORD);

    ix = await startIxpoleSimulator({ seed: 4, apiKey: IX_KEY });
    scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 2 } });
    xero = await startXeroSimulator({ oauth: APP, seed: 6, limits: { perMinute: 100_000, perDay: 100_000 } });
    refreshToken = xero.oauth!.issueGrant().refreshToken;
    await definePipeline(served.db, 'CONB', {
      name: 'club',
      source: { type: 'ixpole', baseUrl: ix.url, apiKey: IX_KEY, timeoutMs: 10_000 },
    });
    await definePipeline(served.db, 'CONB', {
      name: 'club-old-key',
      source: { type: 'ixpole', baseUrl: ix.url, apiKey: 'ixpole-revoked-key-0000', timeoutMs: 10_000 },
    });
    books = await definePipeline(served.db, 'CONB', {
      name: 'books',
      source: { type: 'ledger' },
      target: {
        type: 'xero',
        ...APP,
        refreshToken,
        tenantId: xero.tenantId,
        baseUrl: xero.url,
        tokenUrl: xero.tokenUrl,
        authorizeUrl: xero.authorizeUrl,
      },
    });
    files = await definePipeline(served.db, 'CONB', { name: 'files', source: { type: 'file' } });

    // The reconciliation's material: an invoice typed in by hand for another amount, and one parked.
    const example = await readFile(join('docs/examples', 'customers.csv'));
    await importFile(served.sync, files, { fileName: 'customers.csv', bytes: example }, 'test');
    const hand = await served.api(
      'POST',
      '/v1/sales/batch-invoices',
      {
        customerCode: 'ACME',
        invoiceDate: '2026-11-10',
        externalReference: 'HAND-1',
        lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '100.00', taxRate: '0' }],
      },
      owner,
    );
    expect(hand.status, JSON.stringify(hand.body)).toBe(201);
    handId = hand.body.transactionId;
    const csv = [
      'invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate',
      'HAND-1,C-1001,2026-11-10,EUR,100.00,0.21',
      'GOOD-1,C-1001,2026-11-12,EUR,10.00,0.21',
      'PARK-1,C-1001,2026-11-12,EUR,20.00,0.06',
    ].join('\n');
    await importFile(served.sync, files, { fileName: 'november.csv', bytes: Buffer.from(csv) }, 'test');

    ({ page } = await newPage(browser, { timeoutMs: 20_000 }));
    await signIn(page, served.url, 'olga@example.com', PASSWORD);
  });

  afterAll(async () => {
    await browser?.close();
    await ix?.close();
    await xero?.close();
    await served?.close();
  });

  it('tests connections and shows what passed, what failed and what to do', async () => {
    const test = 'connections';
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.waitForURL(`${served.url}/connections`);
    expectNoSecret(await page.content());
    await inspect(page, test, '01-connections');

    const club = page.getByRole('region', { name: 'club', exact: true });
    await club.getByRole('button', { name: 'Test connection' }).click();
    await club.getByText('Connection test of club passed.').waitFor();
    expect(await club.locator('.test-sides').textContent()).toContain('reached the instalments list');

    const old = page.getByRole('region', { name: 'club-old-key' });
    await old.getByRole('button', { name: 'Test connection' }).click();
    await old.getByText('Connection test of club-old-key failed.').waitFor();
    const failed = (await old.locator('.test-sides').textContent()) ?? '';
    expect(failed).toContain('CONNECTION_AUTH_FAILED');
    expect(failed).toContain('What to do: Check the credentials');
    await old.scrollIntoViewIfNeeded();
    await screenshot(page, test, '02-tested');

    // The Xero organisation: the first call connects the pipeline with the refresh token of its settings.
    const books = page.getByRole('region', { name: 'books' });
    expect(await books.locator('.oauth .badge').textContent()).toBe('Not connected');
    await books.getByRole('button', { name: 'Test connection' }).click();
    await books.getByText('Connection test of books passed.').waitFor();
    expectNoSecret(await page.content());
    await page.reload();
    expect(await page.getByRole('region', { name: 'books' }).locator('.oauth .badge').textContent()).toBe('Connected');
    // The organisation's budget now holds the calls the test made.
    const budget = (await page.getByRole('region', { name: 'books' }).locator('table.budget').textContent()) ?? '';
    expect(budget).toContain(`xero:tenant:${xero.tenantId}`);
    expect(budget).toMatch(/[1-9]\d* of 60/);
    await inspect(page, test, '03-connected');
  });

  it('reconciles a pipeline over a period and links each difference to its documents', async () => {
    const test = 'reconciliation';
    await page.getByRole('link', { name: 'Reconciliation' }).click();
    await page.waitForURL(/\/reconciliation$/);
    await page.getByLabel('Pipeline').selectOption('club');
    await page.getByLabel('From (document date)').fill('2026-11-01');
    await page.getByLabel('To (document date)').fill('2026-11-30');
    await page.getByRole('button', { name: 'Reconcile' }).click();
    await page.getByText('club has never run').waitFor();
    await inspect(page, test, '01-never-run');

    await page.getByLabel('Pipeline').selectOption('files');
    await page.getByRole('button', { name: 'Reconcile' }).click();
    await page.waitForURL(/pipeline=files/);
    await page.getByRole('heading', { name: /differences?$/ }).waitFor();
    const table = page.locator('table.mismatches');
    expect(await table.textContent()).toContain('Amounts differ');
    expect(await table.textContent()).toContain('Missing in the target');
    expect(await table.getByRole('link', { name: `Transaction ${handId} in the ledger` }).getAttribute('href')).toBe(
      `/transactions/${handId}`,
    );
    // HAND-1, refused for the ledger's different HAND-1, links to its exception as PARK-1 does.
    expect(
      await table
        .locator('tr', { hasText: 'HAND-1' })
        .getByRole('link', { name: /^Exception \d+$/ })
        .count(),
    ).toBe(1);
    const exception = table.locator('tr', { hasText: 'PARK-1' }).getByRole('link', { name: /^Exception \d+$/ });
    await inspect(page, test, '02-mismatches');
    await exception.click();
    await page.waitForURL(/\/exceptions\/\d+$/);
    expect(await page.locator('h1').textContent()).toContain('PARK-1');

    await page.goto(`${served.url}/reconciliation?pipeline=files&from=2026-10-01&to=2026-10-31`);
    await page.getByText('No documents dated in this period').waitFor();
    await screenshot(page, test, '03-nothing-in-period');
  });

  it('has a worker reconcile a pipeline whose target is a platform, and shows its progress, then the result', async () => {
    const test = 'reconciliation-worker';
    // A run on record, so that there is something to compare (its documents do not matter here).
    const runId = await served.db.transaction((tx) =>
      createRun(tx, {
        pipelineId: books.id,
        entityId: books.entityId,
        trigger: 'manual',
        createdBy: 'test',
        params: {},
      }),
    );
    await setRunStatus(served.db, runId!, 'succeeded');
    await page.goto(`${served.url}/reconciliation?pipeline=books&from=2026-11-01&to=2026-11-30`);
    // Read over the network: the page does not reconcile it itself, a worker does.
    await page.getByText('read over the network under its rate limits').waitFor();
    expect(await page.locator('table.mismatches').count()).toBe(0);
    await inspect(page, test, '01-not-yet');
    await page.getByRole('button', { name: 'Reconcile now' }).click();
    await page.getByText(/^Reconciled by a worker on/).waitFor({ timeout: 30_000 });
    await page.getByText('No documents dated in this period').waitFor();
    expect(await page.getByRole('button', { name: 'Reconcile again' }).count()).toBe(1);
    await inspect(page, test, '02-reconciled');
    const { rows } = await served.db.query<{ status: string; created_by: string }>(
      `SELECT status, created_by FROM reconciliations WHERE pipeline_id = $1`,
      [books.id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('succeeded');
    expect(rows[0]!.created_by).toMatch(/^user:/);

    // One a worker is at (as a worker leaves it between two heartbeats): its progress, asked for
    // every second, and the page loaded again with the report once it is done.
    const { rows: at } = await served.db.query<{ id: string }>(
      `INSERT INTO reconciliations (entity_id, pipeline_id, date_from, date_to, status, worker, attempts, heartbeat_at, started_at, progress, created_by)
       VALUES ($1, $2, '2026-10-01', '2026-10-31', 'running', 'elsewhere:1:x', 1, now(), now(), $3, 'test') RETURNING id`,
      [books.entityId, books.id, JSON.stringify({ phase: 'target', sourceDocuments: 10, fetched: 5, toFetch: 10 })],
    );
    await page.goto(`${served.url}/reconciliation?pipeline=books&from=2026-10-01&to=2026-10-31`);
    await page.getByText('Reading the target: 5 of 10 documents read').waitFor();
    expect(await page.locator('progress').getAttribute('value')).toBe('5');
    await inspect(page, test, '03-in-progress');
    await served.db.query(
      `UPDATE reconciliations SET status = 'succeeded', worker = NULL, finished_at = now(),
              report = (SELECT report FROM reconciliations WHERE pipeline_id = $2 AND status = 'succeeded' LIMIT 1)
        WHERE id = $1`,
      [at[0]!.id, books.id],
    );
    await page.getByText(/^Reconciled by a worker on/).waitFor({ timeout: 10_000 });
    expect(await page.locator('.recon-progress').count()).toBe(0);
  });

  it('shows a viewer the settings without the OAuth connection or any button', async () => {
    const viewer = await newPage(browser, { timeoutMs: 20_000 });
    try {
      await signIn(viewer.page, served.url, 'victor@example.com', PASSWORD);
      await viewer.page.goto(`${served.url}/connections`);
      expect(await viewer.page.getByRole('button', { name: 'Test connection' }).count()).toBe(0);
      expect(await viewer.page.getByRole('button', { name: /Connect|Disconnect/ }).count()).toBe(0);
      // The settings, as GET /v1/pipelines shows a viewer; the OAuth connection is for owners.
      expect(await viewer.page.getByRole('heading', { name: /^Source:/ }).count()).toBeGreaterThan(0);
      expect(await viewer.page.getByRole('heading', { name: 'OAuth connection' }).count()).toBe(0);
      expectNoSecret(await viewer.page.content());
      await inspect(viewer.page, 'viewer-connections', '01-connections');
    } finally {
      await viewer.context.close();
    }
  });
});
