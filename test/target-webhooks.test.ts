import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/server.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { storeConnection } from '../src/sync/remote/oauth-store.ts';
import type { SyncService } from '../src/sync/service.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { queuedSync } from './helpers/queue.ts';
import { definePipeline, testBox } from './helpers/sync.ts';

/*
 * Webhooks of target platforms (POST /v1/webhooks/{pipeline}/xero and /quickbooks) on a real
 * server with the durable queue and no worker, so that the runs a delivery queues stay visible.
 * Signatures are computed here from each platform's documented rule (Base64 HMAC-SHA256 of the raw
 * body), not with the code under test.
 */

const XERO_KEY = 'xero-webhook-key-that-must-never-show';
const QB_TOKEN = 'qb-verifier-token-that-must-never-show';
const TENANT = 'aef86862-2015-4b6b-88bc-d89032cecc50';
const REALM = '9130357766123456';
const sign = (body: string, key: string) =>
  createHmac('sha256', key).update(Buffer.from(body, 'utf8')).digest('base64');

let t: TestApp;
let client: Client;
let hooks: FastifyInstance;
let sync: SyncService;
let closeQueue: () => Promise<void>;
const p: Record<string, Pipeline> = {};

const xeroTarget = (extra: Record<string, unknown> = {}) => ({
  type: 'xero',
  clientId: 'client',
  clientSecret: 'client-secret-0123',
  ...extra,
});
const qbTarget = (extra: Record<string, unknown> = {}) => ({
  type: 'quickbooks',
  clientId: 'client',
  clientSecret: 'client-secret-0123',
  ...extra,
});

beforeAll(async () => {
  t = await createTestApp();
  client = await t.entity('TWH', 'EUR', { standardTaxRate: '0.21' });
  const define = async (name: string, target: Record<string, unknown>) =>
    (p[name] = await definePipeline(t.db, 'TWH', {
      name,
      source: { type: 'webhook' },
      webhookSecret: 'x'.repeat(24),
      target,
    }));
  await define('to-xero', xeroTarget({ tenantId: TENANT, webhookKey: XERO_KEY }));
  await define('to-xero-nokey', xeroTarget({ tenantId: TENANT }));
  await define('to-xero-oauth', xeroTarget({ webhookKey: XERO_KEY }));
  await define('to-qb', qbTarget({ realmId: REALM, verifierToken: QB_TOKEN }));
  await define('to-qb-nokey', qbTarget({ realmId: REALM }));
  await define('to-qb-ce', qbTarget({ realmId: REALM, verifierToken: QB_TOKEN }));
  await define('to-xero-burst', xeroTarget({ tenantId: TENANT, webhookKey: XERO_KEY }));
  p['to-xero-off'] = await definePipeline(t.db, 'TWH', {
    name: 'to-xero-off',
    source: { type: 'webhook' },
    webhookSecret: 'x'.repeat(24),
    target: xeroTarget({ tenantId: TENANT, webhookKey: XERO_KEY }),
    enabled: false,
  });
  // Connected through OAuth: its organisation is the connection's, not a setting.
  await storeConnection(t.db, testBox, {
    pipelineId: p['to-xero-oauth']!.id,
    accessToken: 'a',
    refreshToken: 'r',
    expiresAt: new Date(Date.now() + 3600_000),
    tenantId: 'oauth-tenant-1',
    tenantName: null,
    scopes: null,
    settingsRefreshToken: null,
  });
  const q = await queuedSync(t.db);
  sync = q.sync;
  closeQueue = () => q.close();
  hooks = await buildServer({
    db: t.db,
    sync,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: 'unused-admin-token-0123456789',
      tokenTtlSeconds: 1200,
      logLevel: 'silent',
      bodyLimitBytes: 20 * 1024 * 1024,
    },
    logger: false,
  });
}, 120_000);
afterAll(async () => {
  await hooks?.close();
  await closeQueue?.();
  await t?.close();
});

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await hooks.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': 'application/json', ...headers },
    payload: body,
  });
  return { status: res.statusCode, text: res.body, json: () => JSON.parse(res.body) };
}

async function queuedRuns(name: string): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM runs WHERE pipeline_id = $1 AND status = 'queued'`,
    [p[name]!.id],
  );
  return Number(rows[0]!.n);
}

const xeroDelivery = (events: unknown[]) =>
  JSON.stringify({ events, firstEventSequence: 1, lastEventSequence: events.length, entropy: 'FXNGWLCCGVANWHKILRUB' });
const xeroEvent = (id: string, tenantId = TENANT, category = 'INVOICE') => ({
  resourceUrl: `https://api.xero.com/api.xro/2.0/Invoices/${id}`,
  resourceId: id,
  tenantId,
  tenantType: 'ORGANISATION',
  eventCategory: category,
  eventType: 'UPDATE',
  eventDateUtc: '2026-11-21T10:00:00.000',
});
const qbDelivery = (realmId: string, name = 'Payment') =>
  JSON.stringify({
    eventNotifications: [
      {
        realmId,
        dataChangeEvent: {
          entities: [{ name, id: '147', operation: 'Create', lastUpdated: '2026-11-21T10:00:00.000Z' }],
        },
      },
    ],
  });

/** Intuit's CloudEvents format (the 2025-11-12 announcement's sample): an array, possibly of several companies. */
const qbCloudEvents = (events: { realmId: string; type?: string; id?: string }[]) =>
  JSON.stringify(
    events.map((e, i) => ({
      specversion: '1.0',
      id: `88cd52aa-33b6-4351-9aa4-47572edbd0${String(i).padStart(2, '0')}`,
      source: 'intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=',
      type: e.type ?? 'qbo.payment.created.v1',
      datacontenttype: 'application/json',
      time: '2026-11-21T10:00:00.179851517Z',
      intuitentityid: e.id ?? '147',
      intuitaccountid: e.realmId,
      data: {},
    })),
  );

describe('Xero webhooks for a pipeline whose target is Xero', () => {
  it('intent to receive: 200 with an empty body when signed rightly, 401 when not; nothing is run', async () => {
    const body = xeroDelivery([]);
    const ok = await post('/v1/webhooks/to-xero/xero', body, { 'x-xero-signature': sign(body, XERO_KEY) });
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('');
    const bad = await post('/v1/webhooks/to-xero/xero', body, { 'x-xero-signature': sign(body, 'not-the-key') });
    expect(bad.status).toBe(401);
    expect(bad.json().error.code).toBe('WEBHOOK_SIGNATURE_INVALID');
    expect((await post('/v1/webhooks/to-xero/xero', body)).status).toBe(401);
    // Signed over other bytes (re-serialised): refused.
    const spaced = JSON.stringify(JSON.parse(body), null, 1);
    expect((await post('/v1/webhooks/to-xero/xero', spaced, { 'x-xero-signature': sign(body, XERO_KEY) })).status).toBe(
      401,
    );
    expect(await queuedRuns('to-xero')).toBe(0);
  });

  it("another organisation's invoice, or no invoice at all, is acknowledged and runs nothing", async () => {
    for (const body of [
      xeroDelivery([xeroEvent('11111111-1111-1111-1111-111111111111', 'another-tenant')]),
      xeroDelivery([xeroEvent('22222222-2222-2222-2222-222222222222', TENANT, 'CONTACT')]),
    ]) {
      const res = await post('/v1/webhooks/to-xero/xero', body, { 'x-xero-signature': sign(body, XERO_KEY) });
      expect(res.status).toBe(200);
      expect(res.text).toBe('');
    }
    expect(await queuedRuns('to-xero')).toBe(0);
  });

  it("an invoice of the pipeline's organisation queues one run; a second delivery joins it", async () => {
    for (const id of ['33333333-3333-3333-3333-333333333333', '44444444-4444-4444-4444-444444444444']) {
      const body = xeroDelivery([xeroEvent(id), xeroEvent(id)]);
      const res = await post('/v1/webhooks/to-xero/xero', body, { 'x-xero-signature': sign(body, XERO_KEY) });
      expect(res.status).toBe(200);
      expect(res.text).toBe('');
      expect(await queuedRuns('to-xero')).toBe(1);
    }
    const { rows } = await t.db.query<any>(`SELECT trigger, params FROM runs WHERE pipeline_id = $1`, [
      p['to-xero']!.id,
    ]);
    expect(rows).toEqual([{ trigger: 'webhook', params: { targetWebhook: 'xero' } }]);
  });

  it('a burst of deliveries at once makes one pending run, not one each', async () => {
    const bodies = Array.from({ length: 6 }, (_, i) =>
      xeroDelivery([xeroEvent(`77777777-7777-7777-7777-77777777777${i}`)]),
    );
    const answers = await Promise.all(
      bodies.map((b) => post('/v1/webhooks/to-xero-burst/xero', b, { 'x-xero-signature': sign(b, XERO_KEY) })),
    );
    expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));
    // One on PostgreSQL too, where the deliveries race on several connections (migration 0062).
    expect(await queuedRuns('to-xero-burst')).toBe(1);
  });

  it('a disabled pipeline acknowledges its deliveries and runs nothing', async () => {
    const body = xeroDelivery([xeroEvent('88888888-8888-8888-8888-888888888888')]);
    const res = await post('/v1/webhooks/to-xero-off/xero', body, { 'x-xero-signature': sign(body, XERO_KEY) });
    expect(res.status).toBe(200);
    expect(await queuedRuns('to-xero-off')).toBe(0);
  });

  it('without tenantId in the settings, the OAuth connection’s organisation is the pipeline’s', async () => {
    const other = xeroDelivery([xeroEvent('55555555-5555-5555-5555-555555555555', TENANT)]);
    expect(
      (await post('/v1/webhooks/to-xero-oauth/xero', other, { 'x-xero-signature': sign(other, XERO_KEY) })).status,
    ).toBe(200);
    expect(await queuedRuns('to-xero-oauth')).toBe(0);
    const own = xeroDelivery([xeroEvent('55555555-5555-5555-5555-555555555555', 'oauth-tenant-1')]);
    expect(
      (await post('/v1/webhooks/to-xero-oauth/xero', own, { 'x-xero-signature': sign(own, XERO_KEY) })).status,
    ).toBe(200);
    expect(await queuedRuns('to-xero-oauth')).toBe(1);
  });

  it('a bad body with a valid signature is 400 with a stable code, never 5xx', async () => {
    const cases: [string, string][] = [
      ['{not json', 'INVALID_JSON'],
      ['null', 'VALIDATION_ERROR'],
      ['[]', 'VALIDATION_ERROR'],
      ['{"events": "nope"}', 'VALIDATION_ERROR'],
      [xeroDelivery([{ resourceId: 42 }]), 'VALIDATION_ERROR'],
      ['"\\u0000"', 'VALIDATION_ERROR'],
    ];
    for (const [body, code] of cases) {
      const res = await post('/v1/webhooks/to-xero/xero', body, { 'x-xero-signature': sign(body, XERO_KEY) });
      expect({ body, status: res.status, code: res.json().error.code }).toEqual({ body, status: 400, code });
    }
  });
});

describe('QuickBooks Online webhooks for a pipeline whose target is QuickBooks', () => {
  it('a wrong signature is 401 and runs nothing', async () => {
    const body = qbDelivery(REALM);
    const res = await post('/v1/webhooks/to-qb/quickbooks', body, { 'intuit-signature': sign(body, 'not-the-token') });
    expect(res.status).toBe(401);
    expect(res.json().error.code).toBe('WEBHOOK_SIGNATURE_INVALID');
    expect((await post('/v1/webhooks/to-qb/quickbooks', body)).status).toBe(401);
    expect(await queuedRuns('to-qb')).toBe(0);
  });

  it("another company's payment, or an entity that cannot change a paid status, is acknowledged and runs nothing", async () => {
    for (const body of [qbDelivery('1234'), qbDelivery(REALM, 'Customer')]) {
      const res = await post('/v1/webhooks/to-qb/quickbooks', body, { 'intuit-signature': sign(body, QB_TOKEN) });
      expect(res.status).toBe(200);
    }
    expect(await queuedRuns('to-qb')).toBe(0);
  });

  it("a payment in the pipeline's company queues one run; a second delivery joins it", async () => {
    for (const name of ['Payment', 'Invoice']) {
      const body = qbDelivery(REALM, name);
      const res = await post('/v1/webhooks/to-qb/quickbooks', body, { 'intuit-signature': sign(body, QB_TOKEN) });
      expect(res.status).toBe(200);
      expect(await queuedRuns('to-qb')).toBe(1);
    }
  });

  it('a bad body with a valid signature is 400 with a stable code', async () => {
    for (const [body, code] of [
      ['{', 'INVALID_JSON'],
      ['{"eventNotifications": [{"realmId": 5}]}', 'VALIDATION_ERROR'],
      [qbCloudEvents([{ realmId: '' }]), 'VALIDATION_ERROR'],
      ['[{"specversion": "1.0", "type": "qbo.payment.created.v1"}]', 'VALIDATION_ERROR'],
      [
        '{"specversion": "1.0", "type": "qbo.payment.created.v1", "intuitaccountid": "1"}',
        'WEBHOOK_PAYLOAD_UNRECOGNIZED',
      ],
      ['{"events": []}', 'WEBHOOK_PAYLOAD_UNRECOGNIZED'],
      ['null', 'WEBHOOK_PAYLOAD_UNRECOGNIZED'],
      ['"\\u0000"', 'WEBHOOK_PAYLOAD_UNRECOGNIZED'],
    ] as const) {
      const res = await post('/v1/webhooks/to-qb/quickbooks', body, { 'intuit-signature': sign(body, QB_TOKEN) });
      expect({ body, status: res.status, code: res.json().error.code }).toEqual({ body, status: 400, code });
    }
  });
});

describe('QuickBooks Online webhooks in the CloudEvents format', () => {
  it('are signed the same way: a wrong or missing signature is 401 and runs nothing', async () => {
    const body = qbCloudEvents([{ realmId: REALM }]);
    const res = await post('/v1/webhooks/to-qb-ce/quickbooks', body, {
      'intuit-signature': sign(body, 'not-the-token'),
    });
    expect(res.status).toBe(401);
    expect(res.json().error.code).toBe('WEBHOOK_SIGNATURE_INVALID');
    expect((await post('/v1/webhooks/to-qb-ce/quickbooks', body)).status).toBe(401);
    // The legacy signature of the same events does not verify another body.
    const old = qbDelivery(REALM);
    expect(
      (await post('/v1/webhooks/to-qb-ce/quickbooks', body, { 'intuit-signature': sign(old, QB_TOKEN) })).status,
    ).toBe(401);
    expect(await queuedRuns('to-qb-ce')).toBe(0);
  });

  it("other companies' events, and entities that cannot change a paid status, are acknowledged and run nothing", async () => {
    for (const body of [
      qbCloudEvents([{ realmId: '1234' }, { realmId: '5678', type: 'qbo.invoice.updated.v1' }]),
      qbCloudEvents([
        { realmId: REALM, type: 'qbo.customer.updated.v1' },
        { realmId: REALM, type: 'qbo.item.created.v1' },
      ]),
      qbCloudEvents([{ realmId: REALM, type: 'payroll.employee.updated.v1' }]),
      '[]',
    ]) {
      const res = await post('/v1/webhooks/to-qb-ce/quickbooks', body, { 'intuit-signature': sign(body, QB_TOKEN) });
      expect({ body, status: res.status, text: res.text }).toEqual({ body, status: 200, text: '' });
    }
    expect(await queuedRuns('to-qb-ce')).toBe(0);
  });

  it("a batch mixing companies queues one run for the pipeline's; a legacy delivery after it joins that run", async () => {
    const body = qbCloudEvents([
      { realmId: '1234', type: 'qbo.payment.created.v1' },
      { realmId: REALM, type: 'qbo.creditmemo.voided.v1', id: '12' },
      { realmId: REALM, type: 'qbo.customer.updated.v1' },
    ]);
    const res = await post('/v1/webhooks/to-qb-ce/quickbooks', body, { 'intuit-signature': sign(body, QB_TOKEN) });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(await queuedRuns('to-qb-ce')).toBe(1);
    const old = qbDelivery(REALM, 'Invoice');
    expect(
      (await post('/v1/webhooks/to-qb-ce/quickbooks', old, { 'intuit-signature': sign(old, QB_TOKEN) })).status,
    ).toBe(200);
    expect(await queuedRuns('to-qb-ce')).toBe(1);
    const { rows } = await t.db.query<any>(`SELECT trigger, params FROM runs WHERE pipeline_id = $1`, [
      p['to-qb-ce']!.id,
    ]);
    expect(rows).toEqual([{ trigger: 'webhook', params: { targetWebhook: 'quickbooks' } }]);
  });
});

describe('endpoints that do not exist', () => {
  it('an unknown pipeline, one without a key, and one of another target are answered alike', async () => {
    const body = xeroDelivery([xeroEvent('66666666-6666-6666-6666-666666666666')]);
    const qb = qbDelivery(REALM);
    const answers = [
      await post('/v1/webhooks/nope/xero', body, { 'x-xero-signature': sign(body, XERO_KEY) }),
      await post('/v1/webhooks/to-xero-nokey/xero', body, { 'x-xero-signature': sign(body, XERO_KEY) }),
      await post('/v1/webhooks/to-qb/xero', body, { 'x-xero-signature': sign(body, XERO_KEY) }),
      await post('/v1/webhooks/nope/quickbooks', qb, { 'intuit-signature': sign(qb, QB_TOKEN) }),
      await post('/v1/webhooks/to-qb-nokey/quickbooks', qb, { 'intuit-signature': sign(qb, QB_TOKEN) }),
      await post('/v1/webhooks/to-xero/quickbooks', qb, { 'intuit-signature': sign(qb, QB_TOKEN) }),
    ];
    const unknown = answers[0]!;
    expect(unknown.status).toBe(404);
    for (const a of answers)
      expect({ status: a.status, body: a.json() }).toEqual({ status: 404, body: unknown.json() });
    expect(await queuedRuns('to-xero-nokey')).toBe(0);
    expect(await queuedRuns('to-qb-nokey')).toBe(0);
  });

  it('a body over the limit is refused before it is read, without a 5xx', async () => {
    const res = await post('/v1/webhooks/to-xero/xero', `"${'a'.repeat(1024 * 1024 + 10)}"`, {
      'x-xero-signature': 'x',
    });
    expect(res.status).toBe(413);
  });
});

describe('the keys are secrets', () => {
  it('never returned by GET /v1/pipelines/{name}, and sealed at rest', async () => {
    for (const [name, secret] of [
      ['to-xero', XERO_KEY],
      ['to-qb', QB_TOKEN],
    ] as const) {
      const res = await client.get(`/v1/pipelines/${name}`);
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toContain(secret);
      const shown = res.body.target as Record<string, unknown>;
      expect(shown[name === 'to-xero' ? 'webhookKey' : 'verifierToken']).toBe('[secret]');
      const { rows } = await t.db.query<any>(`SELECT target_config::text AS c FROM pipelines WHERE id = $1`, [
        p[name]!.id,
      ]);
      expect(rows[0].c).not.toContain(secret);
    }
  });
});

describe('pipelines of one name in several entities', () => {
  it('the pipeline whose key signed a delivery answers it, whatever another entity’s pipeline of that name says', async () => {
    // AAX's pipelines are tried first (pipelines of a name are tried in the order of their entity codes).
    await t.entity('AAX', 'EUR');
    const define = (entity: string, name: string, target: Record<string, unknown>) =>
      definePipeline(t.db, entity, { name, source: { type: 'webhook' }, webhookSecret: 'x'.repeat(24), target });
    await define('AAX', 'shared-xero', xeroTarget({ tenantId: TENANT, webhookKey: 'another-apps-xero-key' }));
    await define('AAX', 'shared-qb', qbTarget({ realmId: REALM, verifierToken: 'another-apps-qb-token' }));
    p['shared-xero'] = await define('TWH', 'shared-xero', xeroTarget({ tenantId: TENANT, webhookKey: XERO_KEY }));
    p['shared-qb'] = await define('TWH', 'shared-qb', qbTarget({ realmId: REALM, verifierToken: QB_TOKEN }));

    const cases: [string, string, string, number, string][] = [
      ['/v1/webhooks/shared-xero/xero', 'x-xero-signature', '{not json', 400, 'INVALID_JSON'],
      ['/v1/webhooks/shared-xero/xero', 'x-xero-signature', '{"events": "nope"}', 400, 'VALIDATION_ERROR'],
      ['/v1/webhooks/shared-qb/quickbooks', 'intuit-signature', '{not json', 400, 'INVALID_JSON'],
    ];
    for (const [path, header, body, status, code] of cases) {
      const key = path.endsWith('/xero') ? XERO_KEY : QB_TOKEN;
      const res = await post(path, body, { [header]: sign(body, key) });
      expect({ path, body, status: res.status, code: res.json().error.code }).toEqual({ path, body, status, code });
      // Signed with neither pipeline's key: a wrong signature, as for one pipeline alone.
      const wrong = await post(path, body, { [header]: sign(body, 'no-pipeline-has-this-key') });
      expect({ path, body, status: wrong.status, code: wrong.json().error.code }).toEqual({
        path,
        body,
        status: 401,
        code: 'WEBHOOK_SIGNATURE_INVALID',
      });
    }
    const delivery = xeroDelivery([xeroEvent('99999999-9999-9999-9999-999999999999')]);
    const ok = await post('/v1/webhooks/shared-xero/xero', delivery, { 'x-xero-signature': sign(delivery, XERO_KEY) });
    expect(ok.status).toBe(200);
    expect(await queuedRuns('shared-xero')).toBe(1);
  });
});
