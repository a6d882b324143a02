import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allRoutes } from '../src/api/routes/index.ts';
import { defineRoute } from '../src/api/route.ts';
import { buildServer } from '../src/api/server.ts';
import { CONTENT_SECURITY_POLICY } from '../src/api/security-headers.ts';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp, type TestResponse } from './helpers/app.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';

/*
 * Issue #14: the headers docs/security.md ("Headers") promises are on every response the server
 * gives: every route of the registry, called without a token and with one; every dashboard page
 * and action (read from src/web/routes) signed in and not; static assets; the reference; /health,
 * /ready, /metrics; and the odd answers (404, an unknown method, 413, 415, broken JSON, a broken
 * URL, a 500).
 */

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
let t: TestApp;
let c: Client;
/** A second entity's token: the registry loop's logout ends it, so the other tests keep c's. */
let spare: Client;
let browser: Browser;
/** A server with one extra route that fails, for the 500. */
let failing: FastifyInstance;

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 10, metricsToken: METRICS_TOKEN });
  c = await t.entity('HDR', 'EUR');
  spare = await t.entity('HDR2', 'EUR');
  const user = await addUser(t, c, 'owner@hdr.example', 'owner');
  browser = await signIn(t, user.email, user.password);
  const boom = defineRoute({
    method: 'GET',
    path: '/v1/boom',
    operationId: 'boom',
    summary: 'fails',
    tags: ['test'],
    auth: 'none',
    success: { status: 200, description: 'never' },
    handler: async () => {
      throw new Error('boom');
    },
  });
  failing = await buildServer({
    db: t.db,
    sync: t.sync,
    routes: [boom],
    logger: false,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      tokenTtlSeconds: 1200,
      logLevel: 'silent',
      bodyLimitBytes: 1024 * 1024,
    },
  });
  await failing.ready();
}, 60_000);
afterAll(async () => {
  await failing.close();
  await t.close();
});

/** What docs/security.md, "Headers", says every response carries. */
function expectSecurityHeaders(r: { headers: Record<string, unknown> }, url: string, what: string): void {
  const h = r.headers;
  expect(h['x-content-type-options'], what).toBe('nosniff');
  expect(h['x-frame-options'], what).toBe('SAMEORIGIN');
  // The pages whose address holds a one-time token send none at all.
  const tokenPage = /^\/sign-in\/(set-password|accept)\b/.test(url);
  expect(h['referrer-policy'], what).toBe(tokenPage ? 'no-referrer' : 'same-origin');
  expect(h['cross-origin-opener-policy'], what).toBe('same-origin');
  const permissions = String(h['permissions-policy']);
  for (const feature of ['camera', 'microphone', 'geolocation', 'payment', 'usb']) {
    expect(permissions, what).toContain(`${feature}=()`);
  }
  expect(h['content-security-policy'], what).toBe(CONTENT_SECURITY_POLICY);
  if (url.startsWith('/v1/')) expect(h['cache-control'], what).toBe('no-store');
}

function fill(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_m, name: string) => (/id$/i.test(name) ? '1' : 'X1'));
}

describe('every route of the registry', () => {
  for (const route of allRoutes) {
    it(`${route.method} ${route.path}`, async () => {
      const url = fill(route.path);
      const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}';
      const json: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
      const anonymous = await t.request(route.method, url, body, json);
      expectSecurityHeaders(anonymous, url, `${route.method} ${url} without a token: ${anonymous.status}`);
      const token =
        route.auth === 'admin'
          ? ADMIN_TOKEN
          : route.path === '/metrics'
            ? METRICS_TOKEN
            : route.path === '/v1/auth/logout'
              ? spare.token
              : c.token;
      const authorized = await t.request(route.method, url, body, { ...json, authorization: `Bearer ${token}` });
      expectSecurityHeaders(authorized, url, `${route.method} ${url} with a token: ${authorized.status}`);
    });
  }
});

/** The dashboard's pages and actions, read from its route files: a new page is covered by default. */
function dashboardRoutes(): { method: string; path: string }[] {
  const dir = 'src/web/routes';
  const out: { method: string; path: string }[] = [];
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/\b(?:d|dashboard)\.(page|action)\(\s*'([^']+)'/g)) {
      out.push({ method: m[1] === 'page' ? 'GET' : 'POST', path: m[2]! });
    }
    for (const m of text.matchAll(/\bapp\.(get|post)(?:<[^(]*>)?\(\s*'([^']+)'/g)) {
      out.push({ method: m[1]!.toUpperCase(), path: m[2]! });
    }
  }
  return out;
}

describe('the dashboard, its assets and the reference', () => {
  it('finds the dashboard pages to check', () => {
    expect(dashboardRoutes().length).toBeGreaterThan(15);
  });

  for (const { method, path } of dashboardRoutes()) {
    it(`${method} ${path}, signed in and not`, async () => {
      const url = path.replace(/:(\w+)/g, 'X1');
      const form = method === 'POST' ? 'a=1' : undefined;
      const type: Record<string, string> = form ? { 'content-type': 'application/x-www-form-urlencoded' } : {};
      const anonymous = await t.request(method, url, form, type);
      expectSecurityHeaders(anonymous, url, `${method} ${url} signed out: ${anonymous.status}`);
      const signedIn = await browser.request(method, url, form, type);
      expectSecurityHeaders(signedIn, url, `${method} ${url} signed in: ${signedIn.status}`);
    });
  }

  it.each([
    '/assets/app.css',
    '/assets/app.js',
    '/assets/htmx.min.js',
    '/assets/pico.min.css',
    '/assets/nope.js',
    '/docs',
    '/docs.css',
    '/openapi.json',
    '/health',
    '/ready',
  ])('GET %s', async (url) => {
    const r = await t.request('GET', url);
    expect(r.status).toBeLessThan(500);
    expectSecurityHeaders(r, url, `GET ${url}: ${r.status}`);
  });

  it('GET /metrics with and without its token', async () => {
    const without = await t.request('GET', '/metrics');
    expect(without.status).toBe(401);
    expectSecurityHeaders(without, '/metrics', 'without');
    const metrics = await t.request('GET', '/metrics', undefined, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(metrics.status).toBe(200);
    expectSecurityHeaders(metrics, '/metrics', 'with');
  });
});

describe('the odd answers', () => {
  const auth = () => ({ authorization: `Bearer ${c.token}` });
  const cases: [string, () => Promise<TestResponse>, number, string][] = [
    ['an unknown path', () => t.request('GET', '/v1/no-such-thing'), 404, '/v1/no-such-thing'],
    ['an unknown page', () => t.request('GET', '/no-such-page'), 404, '/no-such-page'],
    [
      'a method the path does not take',
      () => t.request('PATCH', '/v1/customers', '{}', { 'content-type': 'application/json', ...auth() }),
      404,
      '/v1/customers',
    ],
    ['OPTIONS', () => t.request('OPTIONS', '/v1/customers'), 404, '/v1/customers'],
    [
      'a body over the anonymous limit (413)',
      () =>
        t.request('POST', '/v1/auth/login', JSON.stringify({ x: 'y'.repeat(20_000) }), {
          'content-type': 'application/json',
        }),
      413,
      '/v1/auth/login',
    ],
    [
      'the wrong content type (415)',
      () => t.request('PUT', '/v1/customers/X', 'a=1', { 'content-type': 'text/plain', ...auth() }),
      415,
      '/v1/customers/X',
    ],
    [
      'broken JSON',
      () => t.request('PUT', '/v1/customers/X', '{"a":', { 'content-type': 'application/json', ...auth() }),
      400,
      '/v1/customers/X',
    ],
    [
      'a broken URL encoding',
      () => t.request('GET', '/v1/customers/%E0%A4%A', undefined, auth()),
      400,
      '/v1/customers/%E0%A4%A',
    ],
  ];
  it.each(cases)('%s', async (_what, send, status, url) => {
    const r = await send();
    expect(r.status).toBe(status);
    expect(typeof r.body?.error?.code, 'our error body with a stable code').toBe('string');
    expectSecurityHeaders(r, url, `${r.status}`);
  });

  it('a HEAD request', async () => {
    const r = await t.app.inject({ method: 'HEAD', url: '/health' });
    expectSecurityHeaders({ headers: r.headers }, '/health', `HEAD ${r.statusCode}`);
  });

  it('a 500 from a route that throws', async () => {
    const r = await failing.inject({ method: 'GET', url: '/v1/boom' });
    expect(r.statusCode).toBe(500);
    expect(r.json().error.code).toBe('INTERNAL_ERROR');
    expectSecurityHeaders({ headers: r.headers }, '/v1/boom', '500');
  });
});
