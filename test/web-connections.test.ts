import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { StripeSimulator } from '../src/connectors/stripe/simulator.ts';
import { importFile } from '../src/sync/imports.ts';
import { OAuthSimulator } from '../src/sync/remote/oauth-simulator.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import { rateBudget } from '../src/sync/remote/rate-budget.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { definePipeline } from './helpers/sync.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * The Connections and Reconciliation pages over HTTP, and POST /v1/connections/{pipeline}/test,
 * against the local Xero and iXpole simulators: secrets never in any answer, a test that passes and
 * one that fails with a bad credential, viewers and requests without the CSRF token refused, the rate
 * budget as the planner counted it, and a reconciliation's mismatch shown and linked.
 */

const scope = processScope();
const APP = { clientId: 'conn-test-app', clientSecret: 'xero-client-secret-S3CRET-0123456789' };
const BAD_SECRET = 'xero-wrong-secret-S3CRET-9876543210';
const IX_KEY = 'ixpole-key-S3CRET-abcdef0123456789';
const HOOK_SECRET = 'webhook-secret-S3CRET-0123456789abcdef';
const QBO = { clientId: 'conn-test-qbo', clientSecret: 'qbo-client-secret-S3CRET-0123456789' };
const QBO_REALM = '9130350000000042';
const QBO_TOKEN_PATH = '/oauth2/v1/tokens/bearer';
const STRIPE_KEY = 'sk_test_S3CRET_conn_0123456789';

let t: TestApp;
let owner: Client;
let ownerBrowser: Browser;
let viewer: Browser;
let xero: XeroSimulator;
let ix: IxpoleSimulator;
let refreshToken: string;
let badRefreshToken: string;
let messy: Pipeline;
let qbo: QuickBooksSimulator;
let stripe: StripeSimulator;
let qboToken: string;

const html = (r: { body: unknown }) => String(r.body);
/** Every secret any pipeline of these tests holds: none may appear in any answer. */
const secrets = () => [
  APP.clientSecret,
  BAD_SECRET,
  IX_KEY,
  HOOK_SECRET,
  refreshToken,
  badRefreshToken,
  QBO.clientSecret,
  qboToken,
  STRIPE_KEY,
];
function expectNoSecret(text: string) {
  for (const s of secrets()) expect(text).not.toContain(s);
}

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
  owner = await t.entity('CONW', 'EUR', { standardTaxRate: '0.21' });
  const o = await addUser(t, owner, 'olga@example.com', 'owner');
  ownerBrowser = await signIn(t, o.email, o.password);
  const v = await addUser(t, owner, 'vic@example.com', 'viewer');
  viewer = await signIn(t, v.email, v.password);

  scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 2 } });
  xero = await startXeroSimulator({ oauth: APP, seed: 5, limits: { perMinute: 100_000, perDay: 100_000 } });
  refreshToken = xero.oauth!.issueGrant().refreshToken;
  badRefreshToken = xero.oauth!.issueGrant().refreshToken;
  ix = await startIxpoleSimulator({ apiKey: IX_KEY });

  const xeroTarget = (clientSecret: string, token: string) => ({
    type: 'xero',
    clientId: APP.clientId,
    clientSecret,
    refreshToken: token,
    tenantId: xero.tenantId,
    baseUrl: xero.url,
    tokenUrl: xero.tokenUrl,
    authorizeUrl: xero.authorizeUrl,
  });
  await definePipeline(t.db, 'CONW', {
    name: 'shop-xero',
    source: { type: 'webhook' },
    webhookSecret: HOOK_SECRET,
    target: xeroTarget(APP.clientSecret, refreshToken),
  });
  await definePipeline(t.db, 'CONW', {
    name: 'bad-xero',
    source: { type: 'webhook' },
    target: xeroTarget(BAD_SECRET, badRefreshToken),
  });
  await definePipeline(t.db, 'CONW', { name: 'club', source: { type: 'ixpole', baseUrl: ix.url, apiKey: IX_KEY } });
  await definePipeline(t.db, 'CONW', {
    name: 'club-bad',
    source: { type: 'ixpole', baseUrl: ix.url, apiKey: 'ixpole-not-the-key-0000' },
  });
  messy = await definePipeline(t.db, 'CONW', { name: 'files', source: { type: 'file' } });

  const oauth = new OAuthSimulator({
    ...QBO,
    callbackTenantParam: 'realmId',
    tenants: [{ tenantId: QBO_REALM }],
    accessTokenSeconds: 3600,
    paths: { token: QBO_TOKEN_PATH },
  });
  qbo = await startQuickBooksSimulator({ realms: { [QBO_REALM]: { country: 'NL', currency: 'EUR' } }, oauth, seed: 2 });
  qboToken = oauth.issueGrant().refreshToken;
  const qboTarget = (token: string) => ({
    type: 'quickbooks',
    ...QBO,
    refreshToken: token,
    realmId: QBO_REALM,
    baseUrl: qbo.url,
    tokenUrl: `${qbo.url}${QBO_TOKEN_PATH}`,
  });
  await definePipeline(t.db, 'CONW', { name: 'qbo', source: { type: 'webhook' }, target: qboTarget(qboToken) });
  await definePipeline(t.db, 'CONW', {
    name: 'qbo-revoked',
    source: { type: 'webhook' },
    target: qboTarget('a-refresh-token-the-platform-never-issued'),
  });
  stripe = await new StripeSimulator(STRIPE_KEY).start();
  await definePipeline(t.db, 'CONW', { name: 'cards', source: stripe.sourceConfig('whsec_conn_test_0123456789') });
  await definePipeline(t.db, 'CONW', {
    name: 'cards-bad',
    source: { ...stripe.sourceConfig('whsec_conn_test_0123456789'), apiKey: 'sk_test_not_the_key_000' },
  });
}, 60_000);
afterAll(async () => {
  await xero?.close();
  await ix?.close();
  await qbo?.close();
  await stripe?.close();
  await t.close();
});

const form = { 'content-type': 'application/x-www-form-urlencoded' };

describe('POST /v1/connections/{pipeline}/test', () => {
  it('reaches the Xero organisation with the stored credentials, and says a webhook source has nothing to call', async () => {
    const r = await owner.post('/v1/connections/shop-xero/test', {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      pipeline: 'shop-xero',
      ok: true,
      target: { side: 'target', type: 'xero', outcome: 'ok', code: null },
      source: { side: 'source', type: 'webhook', outcome: 'skipped', code: null },
    });
    expect(r.body.target.message).toMatch(/^Connected: reached organisation /);
    expect(xero.stats.byRoute['GET /Organisation']).toBeGreaterThanOrEqual(1);
    expectNoSecret(JSON.stringify(r.body));
  });

  it('fails with a bad client secret, naming the code and what to do, never the secret', async () => {
    const r = await owner.post('/v1/connections/bad-xero/test', {});
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(false);
    expect(r.body.target).toMatchObject({ outcome: 'failed', code: 'CONNECTION_AUTH_FAILED' });
    expect(r.body.target.next).toMatch(/credentials/);
    expectNoSecret(JSON.stringify(r.body));
  });

  it('reads one record of iXpole with the API key, and fails with a wrong one', async () => {
    const good = await owner.post('/v1/connections/club/test', {});
    expect(good.body).toMatchObject({
      ok: true,
      source: { type: 'ixpole', outcome: 'ok' },
      target: { type: 'ledger', outcome: 'ok', message: 'Connected: reached the embedded ledger of CONW.' },
    });
    const bad = await owner.post('/v1/connections/club-bad/test', {});
    expect(bad.body).toMatchObject({
      ok: false,
      source: { outcome: 'failed', code: 'CONNECTION_AUTH_FAILED', status: 401 },
    });
    expect(bad.body.source.message).toContain('check the API key');
    expectNoSecret(JSON.stringify(good.body) + JSON.stringify(bad.body));
  });

  it("reads QuickBooks' CompanyInfo, and fails on a refresh token the platform does not know", async () => {
    const good = await owner.post('/v1/connections/qbo/test', {});
    expect(good.body, JSON.stringify(good.body)).toMatchObject({
      ok: true,
      target: { type: 'quickbooks', outcome: 'ok' },
    });
    expect(good.body.target.message).toMatch(/^Connected: reached company /);
    const bad = await owner.post('/v1/connections/qbo-revoked/test', {});
    expect(bad.body).toMatchObject({ ok: false, target: { outcome: 'failed', code: 'CONNECTION_AUTH_FAILED' } });
    expectNoSecret(JSON.stringify(good.body) + JSON.stringify(bad.body));
  });

  it("reads Stripe's balance with the API key, and fails with a wrong one", async () => {
    const good = await owner.post('/v1/connections/cards/test', {});
    expect(good.body).toMatchObject({ ok: true, source: { type: 'stripe', outcome: 'ok' } });
    expect(stripe.requests.some((r) => r.path === '/v1/balance')).toBe(true);
    const bad = await owner.post('/v1/connections/cards-bad/test', {});
    expect(bad.body).toMatchObject({
      ok: false,
      source: { outcome: 'failed', code: 'CONNECTION_AUTH_FAILED', status: 401 },
    });
    expectNoSecret(JSON.stringify(good.body) + JSON.stringify(bad.body));
  });

  it('records why a refresh failed while the grant stands, and shows it beside the connection', async () => {
    const down = `http://127.0.0.1:${xero.url.match(/:(\d+)/)![1]}/no-token-endpoint-here`;
    await definePipeline(t.db, 'CONW', {
      name: 'xero-down',
      source: { type: 'webhook' },
      target: {
        type: 'xero',
        ...APP,
        refreshToken: xero.oauth!.issueGrant().refreshToken,
        tenantId: xero.tenantId,
        baseUrl: xero.url,
        tokenUrl: down,
      },
    });
    const r = await owner.post('/v1/connections/xero-down/test', {});
    expect(r.body.ok).toBe(false);
    expect(r.body.target.outcome).toBe('failed');
    const text = html(await ownerBrowser.request('GET', '/connections'));
    const section = text.slice(text.indexOf('id="oauth-xero-down"'));
    expect(section).toContain('Last refresh error');
    expect(section.slice(0, section.indexOf('</dl>'))).toContain('404');
    const view = await owner.get('/v1/connections/xero-down');
    expect(view.body).toMatchObject({ status: 'connected', lastRefreshError: expect.stringContaining('404') });
    expectNoSecret(JSON.stringify(view.body));
    expectNoSecret(text);
  });

  it("asks a webhook target's lookup URL for a reference nothing has, with its header; without one, nothing to call", async () => {
    const HEADER = 'Bearer erp-token-S3CRET-0123456789';
    const erp = http.createServer((req, res) => {
      res.writeHead(req.headers.authorization === HEADER ? 404 : 401).end();
    });
    await new Promise<void>((resolve) => erp.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(erp.address() as AddressInfo).port}`;
      const target = (authorization: string, lookup = true) => ({
        type: 'webhook',
        url: `${base}/documents`,
        ...(lookup ? { lookupUrl: `${base}/documents/{kind}/{reference}` } : {}),
        secret: 'erp-signing-secret-0123456789',
        headers: { authorization },
      });
      await definePipeline(t.db, 'CONW', { name: 'erp', source: { type: 'file' }, target: target(HEADER) });
      await definePipeline(t.db, 'CONW', { name: 'erp-bad', source: { type: 'file' }, target: target('Bearer old') });
      await definePipeline(t.db, 'CONW', {
        name: 'erp-blind',
        source: { type: 'file' },
        target: target(HEADER, false),
      });
      const good = await owner.post('/v1/connections/erp/test', {});
      expect(good.body).toMatchObject({
        ok: true,
        target: { outcome: 'ok', message: 'Connected: reached the lookup URL.' },
        source: { type: 'file', outcome: 'skipped' },
      });
      const bad = await owner.post('/v1/connections/erp-bad/test', {});
      expect(bad.body).toMatchObject({ ok: false, target: { outcome: 'failed', code: 'CONNECTION_AUTH_FAILED' } });
      const blind = await owner.post('/v1/connections/erp-blind/test', {});
      expect(blind.body).toMatchObject({ ok: true, target: { outcome: 'skipped' } });
      const all =
        JSON.stringify([good.body, bad.body, blind.body]) + html(await ownerBrowser.request('GET', '/connections'));
      expect(all).not.toContain('erp-token-S3CRET');
      expect(all).not.toContain('erp-signing-secret');
    } finally {
      await new Promise((resolve) => erp.close(resolve));
    }
  });

  it('is for owners: an accountant is refused, an unknown pipeline is 404', async () => {
    const a = await addUser(t, owner, 'acc@example.com', 'accountant');
    const acc = await signIn(t, a.email, a.password);
    const r = await acc.request('POST', '/v1/connections/club/test', {});
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('FORBIDDEN_ROLE');
    expect((await owner.post('/v1/connections/nope/test', {})).status).toBe(404);
  });
});

describe('the Connections page', () => {
  it('shows every pipeline with its settings, secrets only as set or not set', async () => {
    const r = await ownerBrowser.request('GET', '/connections');
    expect(r.status).toBe(200);
    const text = html(r);
    expectNoSecret(text);
    expect(text).not.toContain('enc:v1:');
    for (const name of ['shop-xero', 'bad-xero', 'club', 'club-bad', 'files']) expect(text).toContain(`>${name}`);
    // The target's declared secrets say set; the settings that are not secret are shown as they are.
    expect(text).toMatch(/<code>clientSecret<\/code><\/dt><dd class="secret"><span class="muted">secret, <\/span>set/);
    expect(text).toContain(xero.tenantId);
    expect(text).toContain(APP.clientId);
    expect(text).toMatch(/<code>webhookSecret<\/code><\/dt><dd class="secret"><span class="muted">secret, <\/span>set/);
    // An owner gets the buttons; the page's CSP holds (no inline script or style).
    expect(text).toContain('hx-post="/connections/club/test"');
    expect(text).toContain('hx-post="/connections/shop-xero/connect"');
    expect(text).not.toMatch(/\sstyle=/);
    expect(text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('tests a connection from the page, passing and failing, for owners only and only with the CSRF token', async () => {
    const ok = await ownerBrowser.request('POST', '/connections/club/test', '', { ...form, 'hx-request': 'true' });
    expect(ok.status).toBe(200);
    expect(html(ok)).toContain('Connection test of club passed.');
    const failed = await ownerBrowser.request('POST', '/connections/bad-xero/test', '', {
      ...form,
      'hx-request': 'true',
    });
    expect(failed.status).toBe(200);
    expect(html(failed)).toContain('Connection test of bad-xero failed.');
    expect(html(failed)).toContain('CONNECTION_AUTH_FAILED');
    expectNoSecret(html(ok) + html(failed));

    // A viewer sees no button, and is refused anyway.
    const page = html(await viewer.request('GET', '/connections'));
    expect(page).not.toContain('Test connection');
    expect(page).not.toContain('/connect"');
    expectNoSecret(page);
    const refused = await viewer.request('POST', '/connections/club/test', '', { ...form, 'hx-request': 'true' });
    expect(refused.status).toBe(403);
    expect(html(refused)).toContain('FORBIDDEN_ROLE');
    // Without the CSRF token, even an owner is refused, and nothing is called.
    const before = xero.stats.byRoute['GET /Organisation'] ?? 0;
    const noToken = await t.request('POST', '/connections/shop-xero/test', '', {
      cookie: ownerBrowser.cookie,
      ...form,
    });
    expect(noToken.status).toBe(403);
    expect(html(noToken)).toContain('CSRF_TOKEN_INVALID');
    expect(xero.stats.byRoute['GET /Organisation'] ?? 0).toBe(before);
  });

  it('starts the OAuth consent and sends the browser to the platform', async () => {
    const r = await ownerBrowser.request('POST', '/connections/shop-xero/connect', '', {
      ...form,
      'hx-request': 'true',
    });
    expect(r.status).toBe(200);
    const to = new URL(String(r.headers['hx-redirect']));
    expect(to.origin + to.pathname).toBe(xero.authorizeUrl);
    expect(to.searchParams.get('client_id')).toBe(APP.clientId);
    expect(to.searchParams.get('state')).toBeTruthy();
    expectNoSecret(String(r.headers['hx-redirect']));
    const refused = await viewer.request('POST', '/connections/shop-xero/connect', '', form);
    expect(refused.status).toBe(403);
    // A target without OAuth has nothing to connect.
    const none = await ownerBrowser.request('POST', '/connections/club/connect', '', form);
    expect(none.status).toBe(409);
    expect(html(none)).toContain('CONNECTION_NOT_OAUTH');
  });

  it('disconnects with the CSRF token, for owners only', async () => {
    // Connected by the test above (the refresh token of the settings seeded the connection).
    expect(html(await ownerBrowser.request('GET', '/connections'))).toMatch(/id="oauth-shop-xero"[\s\S]*?>Connected</);
    const refused = await viewer.request('POST', '/connections/shop-xero/disconnect', '', form);
    expect(refused.status).toBe(403);
    const noToken = await t.request('POST', '/connections/shop-xero/disconnect', '', {
      cookie: ownerBrowser.cookie,
      ...form,
    });
    expect(noToken.status).toBe(403);
    const r = await ownerBrowser.request('POST', '/connections/shop-xero/disconnect', '', {
      ...form,
      'hx-request': 'true',
    });
    expect(r.status).toBe(200);
    expect(html(r)).toContain('Disconnected');
    expect(html(r)).toContain('>Revoked<');
    expectNoSecret(html(r));
  });

  it("shows the rate budget of the pipeline's tenant as the planner counted it, and no other entity's tenant", async () => {
    const tenant = `xero:tenant:${xero.tenantId}`;
    const limits = { concurrent: 5, callsPerMinute: 60, callsPerDay: 5000 };
    const [before] = await rateBudget(t.db, [{ key: tenant, limits }]);
    const planner = createRatePlanner(t.db);
    const held = await planner.acquire([{ key: tenant, limits }], 'read');
    for (let i = 0; i < 2; i++) await (await planner.acquire([{ key: tenant, limits }], 'write')).release();
    // Another entity's organisation, busy too: never on this entity's page.
    await t.entity('CONX', 'EUR');
    await definePipeline(t.db, 'CONX', {
      name: 'other',
      source: { type: 'webhook' },
      target: { type: 'xero', ...APP, refreshToken: 'r', tenantId: 'other-tenant-0001', baseUrl: xero.url },
    });
    await (await planner.acquire([{ key: 'xero:tenant:other-tenant-0001', limits }], 'read')).release();

    const [now] = await rateBudget(t.db, [{ key: tenant, limits }]);
    expect(now!.lastMinute).toBe(before!.lastMinute + 3);
    expect(now!.lastDay).toBe(before!.lastDay + 3);
    expect(now!.inFlight).toBe(before!.inFlight + 1);

    await planner.pause([tenant], 60_000);
    const text = html(await ownerBrowser.request('GET', '/connections'));
    expect(text).toContain(`<code>${tenant}</code>`);
    expect(text).toContain(`${now!.lastMinute} of 60`);
    expect(text).toContain(`${now!.lastDay} of 5,000`);
    expect(text).toContain(`${now!.inFlight} of 5`);
    expect(text).toContain('the platform asked to wait');
    expect(text).not.toContain('other-tenant-0001');
    // The app-wide scope counts every entity's calls: not this tenant's to show.
    expect(text).not.toContain(`xero:app:`);
    await held.release();
  });
});

describe('the Connections page by role', () => {
  it('shows an owner the OAuth connection, its last refresh error and the rate budget, with the buttons', async () => {
    const text = html(await ownerBrowser.request('GET', '/connections'));
    expect(text).toContain('id="oauth-xero-down"');
    expect(text).toContain('<h3>OAuth connection</h3>');
    expect(text).toContain('Last refresh error');
    expect(text).toContain('Rate budget');
    for (const action of ['/connections/club/test', '/connections/xero-down/connect'])
      expect(text).toContain(`hx-post="${action}"`);
    expect(text).not.toContain('are for owners');
  });

  it('shows a viewer and an accountant what GET /v1/pipelines shows them, and no connection state or button', async () => {
    const a = await addUser(t, owner, 'ana@example.com', 'accountant');
    const accountant = await signIn(t, a.email, a.password);
    for (const [role, who] of [
      ['viewer', viewer],
      ['accountant', accountant],
    ] as const) {
      // The API lets them read the pipelines, secrets redacted, but not the OAuth connections.
      const api = await who.request('GET', '/v1/pipelines');
      expect(api.status, role).toBe(200);
      expect((await who.request('GET', '/v1/connections/xero-down')).status, role).toBe(403);

      const r = await who.request('GET', '/connections');
      expect(r.status, role).toBe(200);
      const text = html(r);
      expectNoSecret(text);
      for (const name of ['shop-xero', 'xero-down', 'club', 'files']) expect(text, role).toContain(`>${name}`);
      expect(text, role).toMatch(
        /<code>clientSecret<\/code><\/dt><dd class="secret"><span class="muted">secret, <\/span>set/,
      );
      expect(text, role).toContain(APP.clientId);
      // No OAuth state, refresh error, revocation or rate budget: GET /v1/connections/{pipeline} is for owners.
      for (const owners of [
        'id="oauth-',
        '<h3>OAuth connection</h3>',
        'Last refresh error',
        'Why it was revoked',
        'Rate budget',
      ])
        expect(text, `${role}: ${owners}`).not.toContain(owners);
      expect(text, role).not.toContain('xero:tenant:');
      // No owner-only button is rendered at all.
      expect(text, role).not.toContain('hx-post=');
      expect(text, role).not.toMatch(/>(Test connection|Connect|Connect again|Disconnect)</);
      expect(text, role).toContain('The OAuth connections, the rate budgets, testing and connecting are for owners.');
    }
  });
});

describe('the Reconciliation page', () => {
  it('says so when the pipeline has never run', async () => {
    const r = await ownerBrowser.request('GET', '/reconciliation?pipeline=files&from=2026-11-01&to=2026-11-30');
    expect(r.status).toBe(200);
    expect(html(r)).toContain('files has never run');
    // Labelled period inputs.
    expect(html(r)).toMatch(/<label>From \(document date\)<input type="date" name="from" value="2026-11-01"/);
  });

  it('says a pipeline name that names none, whatever it holds, rather than showing another pipeline', async () => {
    for (const [name, said] of [
      ['nope', '“nope”'],
      ['Files', '“Files”'],
      ['files%20x', '“files x”'],
      ['a%00b', '“a\u0000b”'],
    ]) {
      const page = html(await ownerBrowser.request('GET', `/reconciliation?pipeline=${name}`));
      expect(page, name).toContain(`No pipeline named ${said}; choose one of the list.`);
      expect(page, name).not.toContain('files has never run');
    }
  });

  it('shows a mismatch highlighted in words and linked to the transaction and the exception', async () => {
    const example = (name: string) => readFile(join('docs/examples', name));
    const imp = (fileName: string, bytes: Buffer) => importFile(t.sync, messy, { fileName, bytes }, 'test');
    await imp('customers.csv', await example('customers.csv'));
    const hand = await owner.post('/v1/sales/batch-invoices', {
      customerCode: 'ACME',
      invoiceDate: '2026-11-10',
      externalReference: 'HAND-1',
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '100.00', taxRate: '0' }],
    });
    expect(hand.status).toBe(201);
    const r1 = await imp(
      'november.csv',
      Buffer.from(
        [
          'invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate',
          'HAND-1,C-1001,2026-11-10,EUR,100.00,0.21',
          'GOOD-1,C-1001,2026-11-12,EUR,10.00,0.21',
          'PARK-1,C-1001,2026-11-12,EUR,20.00,0.06',
        ].join('\n'),
      ),
    );
    const parked = r1.rows.find((x) => x.sourceId === 'PARK-1')!.exceptionId!;
    const r = await ownerBrowser.request('GET', '/reconciliation?pipeline=files&from=2026-11-01&to=2026-11-30');
    expect(r.status).toBe(200);
    const text = html(r);
    expect(text).toContain('Amounts differ');
    expect(text).toContain('Missing in the target');
    expect(text).toContain(`href="/transactions/${hand.body.transactionId}"`);
    expect(text).toContain(`href="/exceptions/${parked}"`);
    // Rows that differ say so in words, and carry the highlight.
    expect(text).toMatch(/<tr class="mismatch">/);
    expect(text).toContain('Differs');
    expect(text).toContain('€121.00');
    // No credit note in the period: no credit note columns.
    expect(text).not.toContain('Credit notes, source');
    expect(text).not.toMatch(/\sstyle=/);
    expect(text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(text).not.toMatch(/\son[a-z]+=/);

    // A credit note typed in by hand: its columns appear, and it is named a credit note.
    expect(
      (
        await owner.post('/v1/sales/credit-notes', {
          customerCode: 'ACME',
          creditNoteDate: '2026-11-14',
          externalReference: 'CN-HAND',
          lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '5.00', taxRate: '0' }],
        })
      ).status,
    ).toBe(201);
    const withNote = html(
      await ownerBrowser.request('GET', '/reconciliation?pipeline=files&from=2026-11-01&to=2026-11-30'),
    );
    expect(withNote).toContain('Credit notes, target');
    expect(withNote).toMatch(/<td data-label="Credit notes, target" class="num">1 · €5\.00<\/td>/);
    expect(withNote).toContain('credit note CN-HAND');
    expect(withNote).toMatch(/class="table-scroll" tabindex="0" role="region" aria-labelledby="days-title"/);

    const quiet = html(
      await ownerBrowser.request('GET', '/reconciliation?pipeline=files&from=2026-10-01&to=2026-10-31'),
    );
    expect(quiet).toContain('No documents dated in this period');
    const bad = html(await ownerBrowser.request('GET', '/reconciliation?pipeline=files&from=2026-13-01&to=2026-11-30'));
    expect(bad).toContain('“From” is not a date');
    const backwards = html(
      await ownerBrowser.request('GET', '/reconciliation?pipeline=files&from=2026-12-01&to=2026-11-30'),
    );
    expect(backwards).toContain('The period ends before it starts');
  });
  it("has a worker reconcile a platform target: the start form refuses a bad period or another entity's pipeline, and queues nothing", async () => {
    const count = async () =>
      Number((await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM reconciliations`)).rows[0]!.n);
    const before = await count();
    const start = (body: string) => viewer.request('POST', '/reconciliation/start', body, form);
    const bad = await start('pipeline=shop-xero&from=2026-13-01&to=2026-11-30');
    expect(bad.status).toBe(400);
    expect(html(bad)).toContain('VALIDATION_ERROR');
    const backwards = await start('pipeline=shop-xero&from=2026-12-01&to=2026-11-30');
    expect(backwards.status).toBe(400);
    expect(html(backwards)).toContain('The period ends before it starts');
    const elsewhere = await t.entity('CONY', 'EUR', { standardTaxRate: '0.21' });
    await definePipeline(t.db, 'CONY', { name: 'theirs', source: { type: 'file' } });
    expect(elsewhere.entityId).not.toBe(owner.entityId);
    expect((await start('pipeline=theirs&from=2026-11-01&to=2026-11-30')).status).toBe(404);
    // Without the page's CSRF token, nothing either.
    const forged = await viewer.request(
      'POST',
      '/reconciliation/start',
      'pipeline=shop-xero&from=2026-11-01&to=2026-11-30',
      {
        ...form,
        'x-csrf-token': 'not-the-token',
      },
    );
    expect(forged.status).toBe(403);
    expect(await count()).toBe(before);
    // A progress address of no reconciliation here is not found.
    expect((await viewer.request('GET', '/reconciliation/progress/00000000-0000-4000-8000-000000000000')).status).toBe(
      404,
    );
  });
});
