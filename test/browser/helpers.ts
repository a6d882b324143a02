import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type Browser, type BrowserContext, type BrowserContextOptions, type Page, chromium } from 'playwright-core';
import { expect } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import type { AppConfig } from '../../src/api/services.ts';
import type { Database } from '../../src/db/database.ts';
import type { SyncService } from '../../src/sync/service.ts';
import { ADMIN_TOKEN } from '../helpers/app.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { queuedSync } from '../helpers/queue.ts';

/** Debian's Chromium: the browser the tests drive (npm never downloads one). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Whether the browser tests can run here. Without Chromium they are skipped with a loud warning,
 * except in CI (CI=true) or with LEDGERLINK_REQUIRE_BROWSER=1, where its absence fails them.
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const required = process.env.CI === 'true' || process.env.LEDGERLINK_REQUIRE_BROWSER === '1';
  const message = `${CHROMIUM} is missing: the browser tests ${required ? 'cannot run' : 'are SKIPPED'}. Install it with: apt-get install -y --no-install-recommends chromium`;
  if (required) throw new Error(message);
  console.warn(`\n${'!'.repeat(100)}\n!! ${message}\n${'!'.repeat(100)}\n`);
  return false;
}

/** A new headless Chromium with an empty profile of its own. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A page in a browser context of its own, 1280 × 900 in en-GB (`options` adds to the context's),
 * each of its steps given `timeoutMs` (15 s unless said).
 */
export async function newPage(
  b: Browser,
  { timeoutMs = 15_000, ...options }: BrowserContextOptions & { timeoutMs?: number } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await b.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  return { context, page };
}

/** Signs in with a password on the sign-in page of the dashboard at `base`, and waits for its home page. */
export async function signIn(page: Page, base: string, email: string, password: string): Promise<void> {
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);
}

export interface Served {
  url: string;
  app: FastifyInstance;
  db: Database;
  sync: SyncService;
  /** A JSON request to the server, as a script would send it. */
  api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/**
 * The real server on an ephemeral port of 127.0.0.1, with a worker working the durable queue (runs
 * started from the dashboard are queued and worked apart from the request, as under `npm start`).
 */
export async function serveDashboard(options: { port?: number; config?: Partial<AppConfig> } = {}): Promise<Served> {
  const db = await createTestDatabase();
  const queued = await queuedSync(db);
  // The schedules are ticked once now (no pipeline yet) and then not for an hour: the tests run pipelines by hand.
  await queued.sync.startWorker({ tickSeconds: 3600, concurrency: 2 });
  const app = await buildServer({
    db,
    sync: queued.sync,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      tokenTtlSeconds: 1200,
      logLevel: 'silent',
      bodyLimitBytes: 20 * 1024 * 1024,
      // Cheaper password hashes than production's 2^17 (the parameters are stored with each hash).
      passwordScryptLogN: 12,
      ...options.config,
    },
    logger: false,
  });
  await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    app,
    db,
    sync: queued.sync,
    api: async (method, path, body, headers = {}) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return {
        status: res.status,
        body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
      };
    },
    close: async () => {
      await app.close();
      await queued.close();
      await db.close();
    },
  };
}

/**
 * Creates the club every browser test works in (base EUR, 21 % standard rate) through the admin
 * API, and logs in with its keys: the owner's authorization header, for setting things up.
 */
export async function createClub(served: Served, code: string): Promise<Record<string, string>> {
  const created = await served.api(
    'POST',
    '/v1/admin/entities',
    { code, name: 'Harbour Sports Club', baseCurrency: 'EUR', standardTaxRate: '0.21' },
    { authorization: `Bearer ${ADMIN_TOKEN}` },
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const login = await served.api('POST', '/v1/auth/login', {
    entityId: created.body.entityId,
    partnerKey: created.body.partnerKey,
    userKey: created.body.userKey,
  });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  return { authorization: `Bearer ${login.body.token}` };
}

/** Adds a user and sets their password through their one-time link, as they would on its page. */
export async function addUserWithPassword(
  served: Served,
  owner: Record<string, string>,
  email: string,
  role: 'owner' | 'accountant' | 'viewer',
  password: string,
): Promise<void> {
  const added = await served.api('POST', '/v1/users', { email, role }, owner);
  expect(added.status, JSON.stringify(added.body)).toBe(201);
  const token = new URL(added.body.signInLink).searchParams.get('token');
  const set = await served.api('POST', '/v1/auth/set-password', { token, password });
  expect(set.status, JSON.stringify(set.body)).toBe(200);
}

const SCREENSHOTS = join(process.cwd(), 'test-results', 'screenshots');

/**
 * Saves a full-page screenshot of what the page shows now, at its current width, under
 * test-results/screenshots/<test>/ (kept by CI; look at them).
 */
export async function screenshot(page: Page, test: string, name: string): Promise<string> {
  const dir = join(SCREENSHOTS, test.replace(/[^\w-]+/g, '-'));
  mkdirSync(dir, { recursive: true });
  const width = page.viewportSize()?.width ?? 0;
  const path = join(dir, `${name.replace(/[^\w-]+/g, '-')}-${width}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown; failureSummary?: string }[];
}

/**
 * Runs axe-core on the page as it is and fails on any serious or critical violation. axe is
 * evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does not govern.
 */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  const has = await page.evaluate(() => typeof (window as any).axe === 'object');
  if (!has) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await (window as any).axe.run(document, { resultTypes: ['violations'] });
    return result.violations as AxeViolation[];
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(
    bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`),
    `accessibility of ${what}`,
  ).toEqual([]);
}

/**
 * Visits what the page shows now the way the tests look at every page: a screenshot at the
 * desktop width and at a phone's, and an accessibility check.
 */
export async function inspect(page: Page, test: string, name: string): Promise<void> {
  await expectAccessible(page, name);
  const size = page.viewportSize() ?? { width: 1280, height: 900 };
  await screenshot(page, test, name);
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, test, name);
  // A phone's width must not scroll sideways (tables scroll in their own box).
  const wide = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    // What sticks out, innermost first, for the failure message.
    return Array.from(document.querySelectorAll('body *'))
      .filter((e) => e.getBoundingClientRect().right > width + 0.5 && !e.closest('.table-scroll, pre'))
      .map(
        (e) =>
          `${e.tagName.toLowerCase()}.${Array.from(e.classList).join('.')} right=${Math.round(e.getBoundingClientRect().right)}`,
      )
      .slice(-8);
  });
  expect(wide, `${name} is wider than a 390 px phone`).toEqual([]);
  await page.setViewportSize(size);
}
