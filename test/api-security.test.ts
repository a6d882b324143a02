import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { definePipeline } from './helpers/sync.ts';
import { multipart, syncServer } from './helpers/uploads.ts';
import { signedStripeDelivery } from '../src/connectors/stripe/simulator.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('SEC', 'EUR');
});
afterAll(async () => t.close());

describe('security headers', () => {
  it('are on every response: success, error, unknown route, the reference page', async () => {
    const responses = {
      health: await t.request('GET', '/health'),
      data: await c.get('/v1/gl-accounts'),
      error: await t.request('GET', '/v1/gl-accounts'),
      missing: await t.request('GET', '/v1/nope'),
      openapi: await t.request('GET', '/openapi.json'),
      docs: await t.request('GET', '/docs'),
    };
    for (const [what, r] of Object.entries(responses)) {
      expect(r.headers['x-content-type-options'], what).toBe('nosniff');
      expect(r.headers['x-frame-options'], what).toBe('SAMEORIGIN');
      expect(r.headers['referrer-policy'], what).toBe('same-origin');
      expect(r.headers['cross-origin-opener-policy'], what).toBe('same-origin');
      expect(String(r.headers['permissions-policy']), what).toContain('camera=()');
      const policy = String(r.headers['content-security-policy']);
      expect(policy, what).toContain("frame-ancestors 'self'");
      expect(policy, what).toContain("script-src 'self'");
      expect(policy, what).toContain("object-src 'none'");
      expect(policy, what).not.toContain('unsafe-inline');
      // Plain HTTP: no HSTS (a browser would ignore it, and a proxy may not be HTTPS).
      expect(r.headers['strict-transport-security'], what).toBeUndefined();
    }
    for (const what of ['data', 'error', 'missing'] as const) {
      expect(responses[what].headers['cache-control'], what).toBe('no-store');
    }
  });

  it('answers tokens with no-store', async () => {
    const created = await t.request(
      'POST',
      '/v1/admin/entities',
      { code: 'SEC2', name: 'x', baseCurrency: 'EUR' },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    expect(created.headers['cache-control']).toBe('no-store');
    const login = await t.request('POST', '/v1/auth/login', {
      entityId: created.body.entityId,
      partnerKey: created.body.partnerKey,
      userKey: created.body.userKey,
    });
    expect(login.status).toBe(200);
    expect(login.headers['cache-control']).toBe('no-store');
  });

  it('serves /docs with no inline style or script: its stylesheet is a file the policy allows', async () => {
    const page = await t.request('GET', '/docs');
    const html = String(page.body);
    expect(page.status).toBe(200);
    expect(html).not.toMatch(/<style|<script|\sstyle=|\son[a-z]+=/i);
    expect(html).toContain('<link rel="stylesheet" href="/docs.css">');
    const css = await t.request('GET', '/docs.css');
    expect(css.status).toBe(200);
    expect(String(css.headers['content-type'])).toContain('text/css');
    expect(String(css.body)).toContain('nav{');
    expect(String(page.headers['content-security-policy'])).toContain("style-src 'self'");
  });

  it('adds Strict-Transport-Security when the server is reached over HTTPS', async () => {
    const https = await createTestApp({ publicUrl: 'https://ll.example.com' });
    try {
      const r = await https.request('GET', '/health');
      expect(String(r.headers['strict-transport-security'])).toContain('max-age=31536000');
    } finally {
      await https.close();
    }
  });
});

describe('authentication before the body is read', () => {
  it('answers an anonymous request 401 whatever its body: broken JSON, too large, the wrong type', async () => {
    const bodies: [string, string][] = [
      ['application/json', '{"broken":'],
      ['application/json', `{"name":"${'x'.repeat(3 * 1024 * 1024)}"}`],
      ['text/plain', 'hello'],
    ];
    for (const [type, body] of bodies) {
      const r = await t.request('PUT', '/v1/customers/C1', body, { 'content-type': type });
      expect(r.status, type).toBe(401);
      expect(r.body.error.code).toBe('UNAUTHORIZED');
    }
    const adminOnly = await t.request('POST', '/v1/admin/entities', '{"broken":', {
      'content-type': 'application/json',
    });
    expect(adminOnly.body.error.code).toBe('ADMIN_TOKEN_REQUIRED');
  });

  it('limits the body of an anonymous route to a few kilobytes', async () => {
    const r = await t.request('POST', '/v1/auth/login', {
      entityId: 'x',
      partnerKey: 'pk',
      userKey: 'uk',
      padding: 'x'.repeat(64 * 1024),
    });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers a webhook for an unknown pipeline before reading its body', async () => {
    const r = await t.request('POST', '/v1/webhooks/nope', 'x'.repeat(2 * 1024 * 1024), {
      'content-type': 'application/json',
    });
    expect(r.status).toBe(404);
  });
});

describe('hostile deliveries and uploads', () => {
  it('refuses a signed Stripe body that is not an event: null, no id, an id of a megabyte', async () => {
    const secret = 'whsec_security_test_0123456789';
    await definePipeline(t.db, 'SEC', {
      name: 'stripe-sec',
      source: {
        type: 'stripe',
        apiKey: 'sk_test_x',
        signingSecret: secret,
        host: '127.0.0.1',
        port: 9,
        protocol: 'http',
      },
    });
    const event = { type: 'charge.succeeded', data: { object: {} } };
    for (const payload of [null, event, { ...event, id: 'x'.repeat(1000) }, { ...event, id: 'evt_\u0000' }]) {
      const delivery = signedStripeDelivery(payload as never, secret);
      const r = await t.request('POST', '/v1/webhooks/stripe-sec/stripe', delivery.body, {
        'content-type': 'application/json',
        'stripe-signature': delivery.header,
      });
      expect(r.status, JSON.stringify(payload).slice(0, 40)).toBe(400);
      expect(typeof r.body.error.code).toBe('string');
    }
    const { rows } = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM webhook_events');
    expect(rows[0]!.n).toBe('0');
  });

  it('answers a truncated upload 4xx, never 5xx', async () => {
    await definePipeline(t.db, 'SEC', { name: 'files', source: { type: 'file' } });
    const app = await syncServer(t);
    const body = multipart({ pipeline: 'files' }, { name: 'x.csv', content: 'a,b\n1,2\n'.repeat(1000) });
    for (const cut of [10, 60, 120, body.payload.length - 5]) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/imports',
        headers: { 'content-type': body.contentType, authorization: `Bearer ${c.token}` },
        payload: body.payload.subarray(0, cut),
      });
      expect(res.statusCode, `cut at ${cut}: ${res.body}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `cut at ${cut}: ${res.body}`).toBeLessThan(500);
      expect(typeof res.json<{ error: { code: unknown } }>().error.code).toBe('string');
    }
  });
});
