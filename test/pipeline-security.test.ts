import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IxpoleClient } from '../src/connectors/ixpole/client.ts';
import { StripeApi } from '../src/connectors/stripe/api.ts';
import { createWebhookTarget } from '../src/connectors/webhook/target.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import { PIPELINE_LIMITS, requirePipeline } from '../src/sync/pipelines.ts';
import { type Client, type TestApp, createTestApp } from './helpers/app.ts';
import { testBox } from './helpers/sync.ts';
import { webhookClient, webhookEvent, type WebhookClient } from './helpers/webhooks.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * Issue #9 (attack review): where the server may be made to connect, what it repeats of what it was
 * answered, which settings are secrets, what a round trip through GET does to them, whose pipeline
 * names are whose, and how large a pipeline may be.
 *
 * vitest.config.ts allows 127.0.0.1 for the simulators of the other tests; here the default policy
 * (nothing allowed) is restored before each test, and a test allows exactly what it needs.
 */

let t: TestApp;
let a: Client;
let b: Client;
let hooks: WebhookClient;

/** A local server answering every request with `status` and `body`, counting what it receives. */
async function answering(status: number, body: string): Promise<{ server: Server; port: number; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits };
}

const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

const scope = processScope();
beforeAll(async () => {
  t = await createTestApp();
  a = await t.entity('SECA');
  b = await t.entity('SECB');
  hooks = await webhookClient(t);
});
afterAll(async () => {
  await hooks.close();
  await t.close();
});
beforeEach(() => {
  scope.env('LEDGERLINK_OUTBOUND_ALLOW', '');
  scope.env('LEDGERLINK_ALLOW_PRIVATE_NETWORKS', '');
});

async function thrown(p: Promise<unknown>): Promise<ConnectorError> {
  try {
    await p;
  } catch (err) {
    return err as ConnectorError;
  }
  throw new Error('expected a rejection');
}

describe('outbound URLs are checked when a pipeline is saved', () => {
  it('refuses the reproduction of issue #9: an iXpole baseUrl on 127.0.0.1 (400, code, field), and saves nothing', async () => {
    const res = await a.put('/v1/pipelines/ssrf', {
      source: { type: 'ixpole', baseUrl: 'http://127.0.0.1:31700/x/', apiKey: 'k', maxAttempts: 1 },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('PIPELINE_URL_REFUSED');
    expect(res.body.error.details).toEqual([{ field: 'body.source.baseUrl', message: expect.any(String) }]);
    expect((await a.get('/v1/pipelines/ssrf')).status).toBe(404);
  });

  it.each([
    ['https on loopback', { type: 'ixpole', baseUrl: 'https://127.0.0.1/', apiKey: 'k' }, 'source.baseUrl'],
    ['a loopback name', { type: 'ixpole', baseUrl: 'https://localhost:8443/', apiKey: 'k' }, 'source.baseUrl'],
    ['IPv6 loopback', { type: 'ixpole', baseUrl: 'https://[::1]/', apiKey: 'k' }, 'source.baseUrl'],
    ['IPv4-mapped loopback', { type: 'ixpole', baseUrl: 'https://[::ffff:127.0.0.1]/', apiKey: 'k' }, 'source.baseUrl'],
    [
      'a metadata address',
      { type: 'ixpole', baseUrl: 'https://169.254.169.254/latest/', apiKey: 'k' },
      'source.baseUrl',
    ],
    ['an RFC 1918 address', { type: 'ixpole', baseUrl: 'https://10.0.0.5/', apiKey: 'k' }, 'source.baseUrl'],
    ['CGNAT', { type: 'ixpole', baseUrl: 'https://100.64.1.1/', apiKey: 'k' }, 'source.baseUrl'],
    ['plain http to a public name', { type: 'ixpole', baseUrl: 'http://club.example/', apiKey: 'k' }, 'source.baseUrl'],
    ['credentials in the URL', { type: 'ixpole', baseUrl: 'https://u:p@club.example/', apiKey: 'k' }, 'source.baseUrl'],
    ['a Stripe host on loopback', { type: 'stripe', apiKey: 'sk', host: '127.0.0.1', port: 12111 }, 'source.host'],
  ])('refuses a source with %s', async (_, source, field) => {
    const res = await a.put('/v1/pipelines/refused', { source });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('PIPELINE_URL_REFUSED');
    expect(res.body.error.details[0].field).toBe(`body.${field}`);
  });

  it('refuses a webhook target or lookup URL on a private or metadata address', async () => {
    const target = { type: 'webhook', url: 'https://erp.example/in', secret: 'a-target-secret-0123456789' };
    for (const [t2, field] of [
      [{ ...target, url: 'https://192.168.1.10/in' }, 'body.target.url'],
      [{ ...target, url: 'https://[fd00:ec2::254]/' }, 'body.target.url'],
      [{ ...target, lookupUrl: 'https://169.254.169.254/{kind}/{reference}' }, 'body.target.lookupUrl'],
    ] as const) {
      const res = await a.put('/v1/pipelines/refused', { source: { type: 'file' }, target: t2 });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('PIPELINE_URL_REFUSED');
      expect(res.body.error.details[0].field).toBe(field);
    }
    const ok = await a.put('/v1/pipelines/public-target', { source: { type: 'file' }, target });
    expect(ok.status).toBe(201);
  });

  it('lets the operator open private networks (never metadata, never plain http) or allow one host', async () => {
    scope.env('LEDGERLINK_ALLOW_PRIVATE_NETWORKS', 'true');
    const put = (baseUrl: string) =>
      a.put('/v1/pipelines/private', { source: { type: 'ixpole', baseUrl, apiKey: 'k' } });
    expect((await put('https://10.0.0.5/')).status).toBe(201);
    expect((await put('https://169.254.169.254/')).body.error.code).toBe('PIPELINE_URL_REFUSED');
    expect((await put('http://10.0.0.5/')).body.error.code).toBe('PIPELINE_URL_REFUSED');
    scope.env('LEDGERLINK_ALLOW_PRIVATE_NETWORKS', '');
    scope.env('LEDGERLINK_OUTBOUND_ALLOW', 'erp.internal:8080');
    expect((await put('http://erp.internal:8080/')).status).toBe(200);
    expect((await put('http://erp.internal:8081/')).body.error.code).toBe('PIPELINE_URL_REFUSED');
  });
});

describe('outbound connections are checked again at connect time, after DNS', () => {
  it('refuses a name that resolves to loopback (localhost, or any name DNS answers so) without sending anything, and does not retry', async () => {
    const s = await answering(200, '{"items":[]}');
    const toLoopback = (_h: string, _o: unknown, cb: (e: null, a: { address: string; family: number }[]) => void) =>
      cb(null, [{ address: '127.0.0.1', family: 4 }]);
    try {
      for (const client of [
        new IxpoleClient({ baseUrl: `https://localhost:${s.port}/`, apiKey: 'key-0123456789', maxAttempts: 3 }),
        new IxpoleClient({
          baseUrl: `https://club.example:${s.port}/`,
          apiKey: 'key-0123456789',
          maxAttempts: 3,
          guard: { lookup: toLoopback },
        }),
      ]) {
        const err = await thrown(client.request('GET', 'api/instalments?page=1'));
        expect(err).toBeInstanceOf(ConnectorError);
        expect(err.retryable).toBe(false);
        expect(err.message).toMatch(/127\.0\.0\.1 is a loopback address|localhost is a loopback address/);
      }
      expect(s.hits()).toBe(0);
    } finally {
      await close(s.server);
    }
  });

  it('refuses when any address a name resolves to is refused, resolving once (the connection uses what was checked)', async () => {
    const asked: string[] = [];
    const lookup = (host: string, _o: unknown, cb: (e: null, a: { address: string; family: number }[]) => void) => {
      asked.push(host);
      cb(null, [
        { address: '93.184.216.34', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ]);
    };
    const target = createWebhookTarget(
      { url: 'https://erp.rebind.example/in', secret: 'a-target-secret-0123456789' },
      { guard: { lookup } },
    );
    const err = await thrown(
      target.upsertCustomers(
        { db: t.db } as never,
        [
          { sourceId: 'c1', code: 'C1', targetId: null, record: { kind: 'customer', sourceId: 'c1', name: 'C' } },
        ] as never,
      ),
    );
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/erp\.rebind\.example: 127\.0\.0\.1 is a loopback address/);
    expect(asked).toEqual(['erp.rebind.example']);
  });

  it('refuses a Stripe host that resolves to loopback, through the client’s own agent', async () => {
    const s = await answering(200, '{}');
    try {
      const api = new StripeApi({ apiKey: 'sk_test_x', host: 'localhost', port: s.port, protocol: 'https' });
      const err = await thrown(api.charge('ch_1'));
      expect(err).toBeInstanceOf(ConnectorError);
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/loopback/);
      expect(s.hits()).toBe(0);
    } finally {
      await close(s.server);
    }
  });
});

describe('what a remote system answers never reaches a run or an exception beyond a status and a code', () => {
  it('an iXpole source answered 403 with a page: run.error has the status, not the page', async () => {
    const s = await answering(403, 'root:x:0:0:TOP-SECRET-INTERNAL-PAGE');
    try {
      scope.env('LEDGERLINK_OUTBOUND_ALLOW', `127.0.0.1:${s.port}`);
      const put = await a.put('/v1/pipelines/leak', {
        source: { type: 'ixpole', baseUrl: `http://127.0.0.1:${s.port}/x/`, apiKey: 'k', maxAttempts: 1 },
      });
      expect(put.status).toBe(201);
      const started = await a.post('/v1/pipelines/leak/runs', {});
      expect(started.status).toBe(202);
      const run = await a.get(`/v1/runs/${started.body.runId}`);
      expect(run.body.status).toBe('failed');
      expect(run.body.error).toContain('403');
      expect(JSON.stringify(run.body)).not.toContain('TOP-SECRET');
      expect(JSON.stringify((await a.get(`/v1/runs/${started.body.runId}/records`)).body)).not.toContain('TOP-SECRET');
    } finally {
      await close(s.server);
    }
  });

  it('a webhook target answered 500 with a page: the error has the status, not the page', async () => {
    const s = await answering(500, '{"message":"TOP-SECRET-INTERNAL-PAGE","code":"E_DB"}');
    try {
      scope.env('LEDGERLINK_OUTBOUND_ALLOW', `127.0.0.1:${s.port}`);
      const target = createWebhookTarget({
        url: `http://127.0.0.1:${s.port}/in`,
        secret: 'a-target-secret-0123456789',
      });
      const err = await thrown(
        target.upsertCustomers(
          { db: t.db } as never,
          [
            { sourceId: 'c1', code: 'C1', targetId: null, record: { kind: 'customer', sourceId: 'c1', name: 'C' } },
          ] as never,
        ),
      );
      expect(err.status).toBe(500);
      expect(err.message).toContain('500: E_DB');
      expect(err.message).not.toContain('TOP-SECRET');
    } finally {
      await close(s.server);
    }
  });
});

describe('secrets are whatever the connector declares, at any depth', () => {
  const target = {
    type: 'webhook',
    url: 'https://erp.example/in',
    secret: 'target-secret-0123456789',
    headers: { Authorization: 'Bearer header-token-abcdef', 'X-Api-Key': 'header-key-123456' },
  };

  it('encrypts nested header values in the row and redacts them in GET, the list and the audit trail', async () => {
    const put = await a.put('/v1/pipelines/nested', {
      source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey: 'ixpole-key-987654' },
      target,
    });
    expect(put.status).toBe(201);
    const { rows } = await t.db.query<{ s: string; t: string }>(
      `SELECT source_config::text AS s, target_config::text AS t FROM pipelines WHERE name = 'nested'`,
    );
    for (const plain of ['ixpole-key-987654', 'target-secret-0123456789', 'header-token-abcdef', 'header-key-123456'])
      expect(rows[0]!.s + rows[0]!.t).not.toContain(plain);
    expect(JSON.parse(rows[0]!.t).headers.Authorization).toMatch(/^enc:v1:/);

    const shown = (await a.get('/v1/pipelines/nested')).body;
    expect(shown.target.headers).toEqual({ Authorization: '[secret]', 'X-Api-Key': '[secret]' });
    expect(shown.target.secret).toBe('[secret]');
    expect(shown.source.apiKey).toBe('[secret]');
    const everything = JSON.stringify([(await a.get('/v1/pipelines')).body, (await a.get('/v1/audit')).body]);
    for (const plain of ['ixpole-key-987654', 'target-secret-0123456789', 'header-token-abcdef', 'header-key-123456'])
      expect(everything).not.toContain(plain);

    // The engine itself still reads them in the clear.
    const saved = await requirePipeline(t.db, testBox, 'nested', a.entityId);
    expect(saved.targetConfig.headers).toEqual(target.headers);
  });

  it('refuses a setting the connector does not declare, naming it (it might be a secret kept in plain text)', async () => {
    for (const [source, field] of [
      [{ type: 'ixpole', baseUrl: 'https://club.example/', apiKey: 'k', auth: { apiKey: 'x' } }, 'body.source.auth'],
      [{ type: 'stripe', apiKey: 'sk', api_key: 'x' }, 'body.source.api_key'],
      [{ type: 'webhook', accessToken: 'x' }, 'body.source.accessToken'],
    ] as const) {
      const res = await a.put('/v1/pipelines/unknown-key', { source });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('PIPELINE_SOURCE_SETTINGS_INVALID');
      expect(res.body.error.details).toContainEqual({ field, message: 'not a setting of this type' });
    }
    expect((await a.get('/v1/pipelines/unknown-key')).status).toBe(404);
  });
});

describe('a pipeline sent back as GET shows it keeps its secrets', () => {
  it('saves the GET body back unchanged: secrets, nested secrets and the webhook secret stay as they were', async () => {
    const put = await a.put('/v1/pipelines/roundtrip', {
      source: { type: 'webhook' },
      target: {
        type: 'webhook',
        url: 'https://erp.example/in',
        secret: 'target-secret-0123456789',
        headers: { Authorization: 'Bearer header-token-abcdef' },
      },
      webhookSecret: 'inbound-secret-0123456789',
    });
    expect(put.status).toBe(201);
    const shown = (await a.get('/v1/pipelines/roundtrip')).body;
    const back = await a.put('/v1/pipelines/roundtrip', shown);
    expect(back.status).toBe(200);
    expect(back.body).toEqual(shown);
    const saved = await requirePipeline(t.db, testBox, 'roundtrip', a.entityId);
    expect(saved.targetConfig).toMatchObject({
      secret: 'target-secret-0123456789',
      headers: { Authorization: 'Bearer header-token-abcdef' },
    });
    expect(saved.webhookSecret).toBe('inbound-secret-0123456789');

    // The webhook endpoint still answers deliveries signed with the secret it had.
    const res = await hooks.deliver(
      'roundtrip',
      webhookEvent('evt-rt', 'unknown.kind', {}),
      'inbound-secret-0123456789',
    );
    expect(res.status).not.toBe(404);
    expect(res.status).not.toBe(401);

    // A changed value replaces it; "[secret]" with nothing stored is refused.
    const changed = await a.put('/v1/pipelines/roundtrip', {
      ...shown,
      target: { ...shown.target, secret: 'another-secret-0123456789' },
    });
    expect(changed.status).toBe(200);
    expect((await requirePipeline(t.db, testBox, 'roundtrip', a.entityId)).targetConfig.secret).toBe(
      'another-secret-0123456789',
    );
    const fresh = await a.put('/v1/pipelines/roundtrip-new', { ...shown, id: undefined, name: undefined });
    expect(fresh.status).toBe(400);
    expect(fresh.body.error.details).toContainEqual({ field: 'body.target.secret', message: expect.any(String) });
  });
});

describe('pipeline names are unique per entity', () => {
  it('lets two entities use the same name, each seeing only its own, and another entity’s pipeline is a 404', async () => {
    const ra = await a.put('/v1/pipelines/shop', {
      source: { type: 'webhook' },
      webhookSecret: 'secret-of-entity-a-000',
    });
    const rb = await b.put('/v1/pipelines/shop', {
      source: { type: 'webhook' },
      webhookSecret: 'secret-of-entity-b-000',
    });
    expect([ra.status, rb.status]).toEqual([201, 201]);
    expect(ra.body.id).not.toBe(rb.body.id);
    expect((await a.get('/v1/pipelines/shop')).body.id).toBe(ra.body.id);
    expect((await b.get('/v1/pipelines/shop')).body.id).toBe(rb.body.id);
    // Saving again changes the entity's own pipeline only.
    expect((await b.put('/v1/pipelines/shop', { source: { type: 'webhook' }, enabled: false })).status).toBe(200);
    expect((await a.get('/v1/pipelines/shop')).body.enabled).toBe(true);
    expect((await b.get('/v1/pipelines/nested')).status).toBe(404);
    const { rows } = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pipelines WHERE name = 'shop'`);
    expect(rows[0]!.n).toBe(2);
  });

  it('the database refuses a second pipeline of the same name in one entity', async () => {
    await expect(
      t.db.query(
        `INSERT INTO pipelines (entity_id, name, source_type) SELECT entity_id, name, source_type FROM pipelines WHERE name = 'shop' LIMIT 1`,
      ),
    ).rejects.toThrow();
  });
});

describe('pipelines are bounded in size', () => {
  it('refuses a mapping larger than the limit with 413, code and field, and saves nothing', async () => {
    const products = Object.fromEntries(
      Array.from({ length: 3000 }, (_, i) => [`PRODUCT-${i}`, { glAccountCode: 'G'.repeat(90) }]),
    );
    const res = await a.put('/v1/pipelines/huge', { source: { type: 'file' }, mapping: { products } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PIPELINE_TOO_LARGE');
    expect(res.body.error.details).toEqual([{ field: 'body.mapping', message: expect.any(String) }]);
    expect((await a.get('/v1/pipelines/huge')).status).toBe(404);

    const many = Object.fromEntries(
      Array.from({ length: PIPELINE_LIMITS.mappingEntries + 1 }, (_, i) => [`P${i}`, {}]),
    );
    const tooMany = await a.put('/v1/pipelines/huge', { source: { type: 'file' }, mapping: { products: many } });
    expect(tooMany.status).toBe(413);
    expect(tooMany.body.error.details[0].field).toBe('body.mapping.products');
  });

  it('refuses options it does not know, and an over-long string in a mapping, with 400 and the field', async () => {
    const blob = await a.put('/v1/pipelines/huge', { source: { type: 'file' }, options: { blob: 'x'.repeat(1000) } });
    expect(blob.status).toBe(400);
    expect(blob.body.error.details[0].field).toMatch(/^body\.options/);
    const long = await a.put('/v1/pipelines/huge', {
      source: { type: 'file' },
      mapping: { defaultGlAccountCode: 'x'.repeat(200_000) },
    });
    expect(long.status).toBe(400);
    expect(long.body.error.details[0].field).toBe('body.mapping.defaultGlAccountCode');
  });
});
