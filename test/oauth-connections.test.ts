import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { z } from 'zod';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { targetDefinition } from '../src/sync/registry.ts';
import type { OAuthProvider } from '../src/sync/remote/contracts.ts';
import { OAuthSimulator } from '../src/sync/remote/oauth-simulator.ts';
import { oauthTokenSourceFor } from '../src/sync/remote/oauth.ts';
import { remoteTargetSettings, REMOTE_TARGET_SECRETS } from '../src/sync/remote/settings.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { testBox } from './helpers/sync.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * The connection routes end to end on the real server, against a test-only target type whose
 * OAuth provider is the OAuth simulator, mounted with a Xero-like `/connections` tenants endpoint.
 */

const CLIENT = { clientId: 'books-app', clientSecret: 'books-app-secret-0123456789' };
const PUBLIC = 'https://ll.example.com';

let t: TestApp;
let a: Client;
let b: Client;
let sim: OAuthSimulator;
let simUrl: string;
let server: http.Server;
const scope = processScope();

beforeAll(async () => {
  sim = new OAuthSimulator({ ...CLIENT, accessTokenSeconds: 1800 });
  server = http.createServer((req, res) => {
    if (sim.handle(req, res)) return;
    if (req.url === '/connections') {
      const grant = sim.validAccessToken((req.headers.authorization ?? '').replace(/^Bearer /, ''));
      if (!grant) return void res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify(grant.tenants.map((x) => ({ tenantId: x.tenantId, tenantName: x.tenantName }))),
      );
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  simUrl = `http://127.0.0.1:${port}`;
  scope.env('LEDGERLINK_OUTBOUND_ALLOW', `127.0.0.1:${port}`);

  const provider: OAuthProvider = {
    authorizeUrl: `${simUrl}/authorize`,
    tokenUrl: `${simUrl}/token`,
    scopes: ['offline_access', 'books.write'],
    pkce: true,
    revocation: { url: `${simUrl}/revoke`, body: 'form' },
    tenants: async ({ accessToken, request }) => {
      const r = await request(`${simUrl}/connections`, { headers: { authorization: `Bearer ${accessToken}` } });
      if (r.status !== 200) throw new ConnectorError('Books', `tenants answered ${r.status}`, { retryable: true });
      return JSON.parse(r.text) as { tenantId: string; tenantName: string }[];
    },
  };
  scope.target({
    type: 'oauth-books',
    description: 'A test-only accounting platform connected through OAuth 2.0',
    settings: z.strictObject({ ...remoteTargetSettings, tenantId: z.string().min(1).optional() }),
    secrets: REMOTE_TARGET_SECRETS,
    oauth: provider,
    create: () => Promise.reject(new Error('not used by these tests')),
  });

  t = await createTestApp({ publicUrl: PUBLIC });
  a = await t.entity('CONN_A');
  b = await t.entity('CONN_B');
  for (const name of ['books', 'books-two', 'multi']) {
    const r = await a.put(`/v1/pipelines/${name}`, {
      source: { type: 'webhook' },
      target: { type: 'oauth-books', ...CLIENT },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  expect((await a.put('/v1/pipelines/plain', { source: { type: 'webhook' } })).status).toBe(201);
});

afterAll(async () => {
  await t.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  sim.denyConsent = false;
  sim.tenants = [{ tenantId: 'org-1', tenantName: 'Org One' }];
});

const startPath = (p: string) => `/v1/connections/${p}/oauth/start`;

/** The user at the platform's consent page: where it sends the browser back (our callback, path and query). */
async function consent(authorizeUrl: string): Promise<string> {
  const res = await fetch(authorizeUrl, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(back.origin).toBe(PUBLIC);
  return back.pathname + back.search;
}

async function start(c: Client, pipeline: string): Promise<URL> {
  const r = await c.get(startPath(pipeline));
  expect(r.status, JSON.stringify(r.body)).toBe(302);
  return new URL(String(r.headers.location));
}

const callback = (pathAndQuery: string) => t.request('GET', pathAndQuery);

async function connection(pipeline: string) {
  const { rows } = await t.db.query<Record<string, unknown>>(
    `SELECT c.* FROM oauth_connections c JOIN pipelines p ON p.id = c.pipeline_id WHERE p.name = $1 AND p.deleted_at IS NULL`,
    [pipeline],
  );
  return rows[0];
}

describe('GET /v1/connections/{pipeline}/oauth/start', () => {
  it("redirects to the platform's consent page with state and PKCE (S256)", async () => {
    const url = await start(a, 'books');
    expect(url.origin + url.pathname).toBe(`${simUrl}/authorize`);
    const q = url.searchParams;
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe(CLIENT.clientId);
    expect(q.get('redirect_uri')).toBe(`${PUBLIC}/v1/connections/books/oauth/callback`);
    expect(q.get('scope')).toBe('offline_access books.write');
    expect(q.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('code_challenge_method')).toBe('S256');
    // Stored hashed, never as sent.
    const { rows } = await t.db.query<{ state_hash: string; code_verifier: string }>(
      `SELECT state_hash, code_verifier FROM oauth_states ORDER BY created_at DESC LIMIT 1`,
    );
    expect(rows[0]!.state_hash).not.toBe(q.get('state'));
    expect(rows[0]!.state_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.code_verifier).toMatch(/^enc:v1:/);
  });

  it('?format=json answers the URL instead of redirecting', async () => {
    const r = await a.get(`${startPath('books')}?format=json`);
    expect(r.status).toBe(200);
    expect(new URL(r.body.url).searchParams.get('state')).toBeTruthy();
    expect(r.body.redirectUri).toBe(`${PUBLIC}/v1/connections/books/oauth/callback`);
  });

  it("another entity's token cannot start a connection on this pipeline (404)", async () => {
    const r = await b.get(startPath('books'));
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('PIPELINE_NOT_FOUND');
  });

  it("the target's authorizeUrl overrides the provider's (a sandbox, a proxy)", async () => {
    const put = await a.put('/v1/pipelines/sandbox', {
      source: { type: 'webhook' },
      target: { type: 'oauth-books', ...CLIENT, authorizeUrl: 'https://login.sandbox.example/authorize' },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    const url = await start(a, 'sandbox');
    expect(url.origin + url.pathname).toBe('https://login.sandbox.example/authorize');
    expect(url.searchParams.get('redirect_uri')).toBe(`${PUBLIC}/v1/connections/sandbox/oauth/callback`);
  });

  it('without a token: 401', async () => {
    expect((await t.request('GET', startPath('books'))).status).toBe(401);
  });

  it('a target that does not connect through OAuth: CONNECTION_NOT_OAUTH', async () => {
    const r = await a.get(startPath('plain'));
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('CONNECTION_NOT_OAUTH');
  });
});

describe('GET /v1/connections/{pipeline}/oauth/callback', () => {
  it('a good code stores the connection sealed and audits it without tokens; GET shows no token', async () => {
    const back = await consent((await start(a, 'books')).href);
    const r = await callback(back);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ connected: true, pipeline: 'books', tenantId: 'org-1', tenantName: 'Org One' });
    const row = (await connection('books'))!;
    expect(row).toMatchObject({ status: 'active', origin: 'oauth', tenant_id: 'org-1' });
    expect(String(row.access_token)).toMatch(/^enc:v1:/);
    expect(String(row.refresh_token)).toMatch(/^enc:v1:/);
    const access = testBox.decrypt(String(row.access_token));
    const refresh = testBox.decrypt(String(row.refresh_token));
    expect(sim.validAccessToken(access)).not.toBeNull();
    expect(sim.grantOfRefreshToken(refresh)).not.toBeNull();

    const { rows: audit } = await t.db.query<{ actor: string; after: unknown }>(
      `SELECT actor, after FROM audit_log WHERE action = 'connection.connected' AND object_id = 'books'`,
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor).toMatch(/^credential:/);
    expect(JSON.stringify(audit[0]!.after)).toContain('org-1');
    for (const secret of [access, refresh]) expect(JSON.stringify(audit)).not.toContain(secret);

    const view = await a.get('/v1/connections/books');
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ status: 'connected', tenantId: 'org-1', origin: 'oauth', revokedReason: null });
    for (const secret of [access, refresh]) expect(JSON.stringify(view.body)).not.toContain(secret);
    expect((await b.get('/v1/connections/books')).status).toBe(404);

    // The engine's side: the token source reads the stored connection.
    const pipeline = await t.db.query<{ id: string }>(`SELECT id FROM pipelines WHERE name = 'books'`);
    const source = oauthTokenSourceFor(
      {
        db: t.db,
        box: testBox,
        pipelineId: pipeline.rows[0]!.id,
        settings: { ...CLIENT },
        log: pino({ level: 'silent' }),
      },
      { system: 'Books', provider: targetDefinition('oauth-books').oauth! },
    );
    expect(await source.accessToken()).toBe(access);
    expect(await source.tenantId()).toBe('org-1');
  });

  it('a replayed state is refused', async () => {
    const back = await consent((await start(a, 'books-two')).href);
    expect((await callback(back)).status).toBe(200);
    const again = await callback(back);
    expect(again.status).toBe(400);
    expect(again.body.error).toMatchObject({ code: 'OAUTH_STATE_INVALID', details: { reason: 'used' } });
  });

  it('an expired state is refused, and nothing is stored', async () => {
    await t.db.query(
      `DELETE FROM oauth_connections WHERE pipeline_id = (SELECT id FROM pipelines WHERE name = 'multi')`,
    );
    const back = await consent((await start(a, 'multi')).href);
    await t.db.query(
      `UPDATE oauth_states SET expires_at = now() - interval '1 second', created_at = now() - interval '11 minutes'`,
    );
    const r = await callback(back);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'OAUTH_STATE_INVALID', details: { reason: 'expired' } });
    expect(r.body.error.message).toContain('10 minutes');
    expect(await connection('multi')).toBeUndefined();
  });

  it('an unknown state, or one issued for another pipeline, is refused', async () => {
    const unknown = await callback('/v1/connections/books/oauth/callback?code=x&state=not-a-state-we-issued');
    expect(unknown.body.error).toMatchObject({ code: 'OAUTH_STATE_INVALID', details: { reason: 'unknown' } });
    const missing = await callback('/v1/connections/books/oauth/callback?code=x');
    expect(missing.body.error).toMatchObject({ code: 'OAUTH_STATE_INVALID', details: { reason: 'missing' } });
    const back = await consent((await start(a, 'multi')).href);
    const other = await callback(back.replace('/connections/multi/', '/connections/books/'));
    expect(other.status).toBe(400);
    expect(other.body.error).toMatchObject({ code: 'OAUTH_STATE_INVALID', details: { reason: 'other-pipeline' } });
  });

  it('access_denied at the platform: a clear answer, nothing stored', async () => {
    await t.db.query(
      `DELETE FROM oauth_connections WHERE pipeline_id = (SELECT id FROM pipelines WHERE name = 'multi')`,
    );
    sim.denyConsent = true;
    const back = await consent((await start(a, 'multi')).href);
    expect(back).toContain('error=access_denied');
    const r = await callback(back);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('OAUTH_CONSENT_DENIED');
    expect(r.body.error.message).toContain('/v1/connections/multi/oauth/start');
    expect(await connection('multi')).toBeUndefined();
  });

  it('a PKCE verifier that does not match the challenge is refused by the platform: OAUTH_CODE_REJECTED', async () => {
    const back = await consent((await start(a, 'multi')).href);
    await t.db.query(`UPDATE oauth_states SET code_verifier = $1 WHERE used_at IS NULL`, [
      testBox.encrypt('x'.repeat(64)),
    ]);
    const r = await callback(back);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('OAUTH_CODE_REJECTED');
    expect(await connection('multi')).toBeUndefined();
  });

  it('several tenants and none named: refused listing them and the setting to add; named: that one', async () => {
    sim.tenants = [
      { tenantId: 'org-1', tenantName: 'Org One' },
      { tenantId: 'org-2', tenantName: 'Org Two' },
    ];
    const r = await callback(await consent((await start(a, 'multi')).href));
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('OAUTH_TENANT_AMBIGUOUS');
    expect(r.body.error.message).toContain('tenantId');
    expect(r.body.error.details.tenants.map((x: { tenantId: string }) => x.tenantId)).toEqual(['org-1', 'org-2']);
    expect(await connection('multi')).toBeUndefined();

    const saved = await a.get('/v1/pipelines/multi');
    const put = await a.put('/v1/pipelines/multi', {
      ...saved.body,
      target: { ...saved.body.target, tenantId: 'org-2' },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const ok = await callback(await consent((await start(a, 'multi')).href));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.tenantId).toBe('org-2');
  });
});

describe('DELETE /v1/connections/{pipeline}', () => {
  it('forgets the tokens, revokes them at the platform, and the pipeline then reads as revoked', async () => {
    expect((await callback(await consent((await start(a, 'books')).href))).status).toBe(200);
    const refresh = testBox.decrypt(String((await connection('books'))!.refresh_token));
    const other = await t.request('DELETE', '/v1/connections/books', undefined, { authorization: `Bearer ${b.token}` });
    expect(other.status).toBe(404);
    const r = await t.request('DELETE', '/v1/connections/books', undefined, { authorization: `Bearer ${a.token}` });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ status: 'revoked', revokedAtPlatform: true });
    expect(r.body.revokedReason).toContain('disconnected');
    expect(sim.grantOfRefreshToken(refresh)?.revoked).toBe(true);
    expect(await connection('books')).toMatchObject({ status: 'revoked', access_token: null, refresh_token: null });
    const { rows } = await t.db.query(`SELECT 1 FROM audit_log WHERE action = 'connection.disconnected'`);
    expect(rows).toHaveLength(1);
  });
});

describe('deleting a pipeline', () => {
  it('deletes its tokens and pending consents, keeping its history', async () => {
    expect((await callback(await consent((await start(a, 'books-two')).href))).status).toBe(200);
    await start(a, 'books-two'); // a consent left pending
    const { rows } = await t.db.query<{ id: string }>(`SELECT id FROM pipelines WHERE name = 'books-two'`);
    const id = rows[0]!.id;
    expect(await connection('books-two')).toBeDefined();
    const r = await t.request('DELETE', '/v1/pipelines/books-two', undefined, { authorization: `Bearer ${a.token}` });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const left = await t.db.query(
      `SELECT (SELECT count(*) FROM oauth_connections WHERE pipeline_id = $1)::int AS connections,
              (SELECT count(*) FROM oauth_states WHERE pipeline_id = $1)::int AS states,
              (SELECT count(*) FROM audit_log WHERE object_id = 'books-two' AND action = 'connection.connected')::int AS audited`,
      [id],
    );
    expect(left.rows[0]).toEqual({ connections: 0, states: 0, audited: 2 });
  });
});
