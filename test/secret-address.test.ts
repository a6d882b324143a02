import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigFile, applyConfig } from '../src/sync/config.ts';
import { requirePipeline } from '../src/sync/pipelines.ts';
import { readConnection, storeConnection } from '../src/sync/remote/oauth-store.ts';
import { type Client, type TestApp, createTestApp } from './helpers/app.ts';
import { processScope } from './helpers/scoped.ts';
import { testBox } from './helpers/sync.ts';

/*
 * Attack review, finding 5: a stored secret sent back as "[secret]" is kept only while every
 * address of its side keeps its origin (scheme, host, port). Otherwise an owner (or a stolen owner
 * key) could point a pipeline at any host and have the stored platform credentials sent there. The
 * same holds for a target's OAuth connection: its tokens are forgotten when the target moves.
 */

let t: TestApp;
let a: Client;
const scope = processScope();

beforeAll(async () => {
  t = await createTestApp();
  a = await t.entity('SECADDR');
});
afterAll(async () => t.close());
beforeEach(() => {
  scope.env('LEDGERLINK_OUTBOUND_ALLOW', '');
  scope.env('LEDGERLINK_ALLOW_PRIVATE_NETWORKS', '');
});

const IXPOLE = { type: 'ixpole', baseUrl: 'https://club.example/api/', apiKey: 'ixpole-key-0123456789' };
const WEBHOOK_TARGET = {
  type: 'webhook',
  url: 'https://erp.example/in',
  secret: 'target-secret-0123456789',
  headers: { 'X-Api-Key': 'header-key-0123456789' },
};

async function stored(name: string) {
  return requirePipeline(t.db, testBox, name, a.entityId);
}

describe('a secret sent back as "[secret]" is never sent to a new address', () => {
  it('refuses the reproduction: an iXpole baseUrl moved to another host with apiKey "[secret]" (400, the field), and changes nothing', async () => {
    expect((await a.put('/v1/pipelines/sim', { source: IXPOLE })).status).toBe(201);
    const res = await a.put('/v1/pipelines/sim', {
      source: { type: 'ixpole', baseUrl: 'https://collector.attacker.example/', apiKey: '[secret]' },
      target: { type: 'ledger' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect(res.body.error.details).toEqual([
      {
        field: 'body.source.apiKey',
        message: expect.stringMatching(
          /^reads "\[secret\]" but source\.baseUrl changed address \(https:\/\/club\.example → https:\/\/collector\.attacker\.example\): give the secret again/,
        ),
      },
    ]);
    expect(res.body.error.message).toContain('never sent to a new address without being given');
    expect((await stored('sim')).sourceConfig).toEqual({ baseUrl: IXPOLE.baseUrl, apiKey: IXPOLE.apiKey });
  });

  it('refuses another port or scheme too: the origin is scheme, host and port', async () => {
    for (const baseUrl of ['https://club.example:8443/api/', 'https://www.club.example/api/']) {
      const res = await a.put('/v1/pipelines/sim', { source: { ...IXPOLE, baseUrl, apiKey: '[secret]' } });
      expect(res.status, baseUrl).toBe(400);
      expect(res.body.error.details[0].field, baseUrl).toBe('body.source.apiKey');
    }
    // http to the same host is another origin (allowed here for the operator's host, still refused to keep the key).
    scope.env('LEDGERLINK_OUTBOUND_ALLOW', 'club.example');
    const http = await a.put('/v1/pipelines/sim', {
      source: { ...IXPOLE, baseUrl: 'http://club.example/api/', apiKey: '[secret]' },
    });
    expect(http.status).toBe(400);
    expect(http.body.error.details[0].message).toContain('https://club.example → http://club.example');
    expect((await stored('sim')).sourceConfig).toEqual({ baseUrl: IXPOLE.baseUrl, apiKey: IXPOLE.apiKey });
  });

  it('keeps the secret while the origin stays (another path, the default port written out, the host in capitals)', async () => {
    for (const baseUrl of ['https://club.example/v2/', 'https://CLUB.example:443/v3/']) {
      const res = await a.put('/v1/pipelines/sim', { source: { ...IXPOLE, baseUrl, apiKey: '[secret]' } });
      expect(res.status, baseUrl).toBe(200);
      expect((await stored('sim')).sourceConfig.apiKey).toBe(IXPOLE.apiKey);
    }
  });

  it('saves a new address when the secret is given with it', async () => {
    const res = await a.put('/v1/pipelines/sim', {
      source: { ...IXPOLE, baseUrl: 'https://club2.example/', apiKey: 'new-key-0123456789' },
    });
    expect(res.status).toBe(200);
    expect((await stored('sim')).sourceConfig).toMatchObject({
      baseUrl: 'https://club2.example/',
      apiKey: 'new-key-0123456789',
    });
  });

  it('names every secret of the moved side, at any depth; the other side keeps its own', async () => {
    const put = await a.put('/v1/pipelines/hooked', { source: IXPOLE, target: WEBHOOK_TARGET });
    expect(put.status).toBe(201);
    const shown = (await a.get('/v1/pipelines/hooked')).body;
    const moved = await a.put('/v1/pipelines/hooked', {
      ...shown,
      target: { ...shown.target, url: 'https://collector.attacker.example/in' },
    });
    expect(moved.status).toBe(400);
    expect(moved.body.error.code).toBe('VALIDATION_ERROR');
    expect(moved.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      'body.target.headers.X-Api-Key',
      'body.target.secret',
    ]);
    // A lookup address new to the settings is a new address as well.
    const lookup = await a.put('/v1/pipelines/hooked', {
      ...shown,
      target: { ...shown.target, lookupUrl: 'https://collector.attacker.example/find' },
    });
    expect(lookup.status).toBe(400);
    expect(lookup.body.error.details[0].message).toContain(
      'target.lookupUrl is a new address (https://collector.attacker.example)',
    );
    // The source moving says nothing about the target's secrets, which stay where they were sent.
    const sourceMoved = await a.put('/v1/pipelines/hooked', {
      ...shown,
      source: { ...IXPOLE, baseUrl: 'https://club3.example/' },
    });
    expect(sourceMoved.status).toBe(200);
    expect((await stored('hooked')).targetConfig).toMatchObject({ secret: WEBHOOK_TARGET.secret });
  });

  it('compares the addresses a setting other than a URL makes (Zoho Books: the data centre)', async () => {
    const zoho = {
      type: 'zohobooks',
      clientId: 'zoho-app',
      clientSecret: 'zoho-secret-0123456789',
      refreshToken: 'zoho-refresh-0123456789',
      organizationId: '12345',
    };
    expect((await a.put('/v1/pipelines/zoho', { source: { type: 'file' }, target: zoho })).status).toBe(201);
    const shown = (await a.get('/v1/pipelines/zoho')).body;
    const res = await a.put('/v1/pipelines/zoho', { ...shown, target: { ...shown.target, dataCenter: 'eu' } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      'body.target.clientSecret',
      'body.target.refreshToken',
    ]);
    expect(res.body.error.message).toMatch(/www\.zohoapis\.com → https:\/\/www\.zohoapis\.eu/);
  });

  it('holds for ledgerlink.yaml too ("[secret]" in the file, an address changed): nothing is applied', async () => {
    const file = (baseUrl: string, apiKey: string) =>
      ConfigFile.parse({
        pipelines: [{ name: 'from-file', entity: 'SECADDR', source: { type: 'ixpole', baseUrl, apiKey } }],
      });
    await applyConfig(t.db, testBox, file('https://club.example/', 'file-key-0123456789'));
    await expect(
      applyConfig(t.db, testBox, file('https://collector.attacker.example/', '[secret]')),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      details: [{ field: 'pipelines[0].source.apiKey', message: expect.stringContaining('changed address') }],
    });
    expect((await stored('from-file')).sourceConfig).toMatchObject({
      baseUrl: 'https://club.example/',
      apiKey: 'file-key-0123456789',
    });
    // The same file with the address unchanged keeps the key.
    await applyConfig(t.db, testBox, file('https://club.example/', '[secret]'));
    expect((await stored('from-file')).sourceConfig.apiKey).toBe('file-key-0123456789');
  });
});

describe("a target's OAuth connection is forgotten when the target moves", () => {
  const XERO = { type: 'xero', clientId: 'books-app', clientSecret: 'books-secret-0123456789' };

  async function connected(name: string): Promise<string> {
    const put = await a.put(`/v1/pipelines/${name}`, { source: { type: 'file' }, target: XERO });
    expect(put.status).toBe(201);
    const { id } = await stored(name);
    await storeConnection(t.db, testBox, {
      pipelineId: id,
      accessToken: 'access-token-0123456789',
      refreshToken: 'refresh-token-0123456789',
      expiresAt: new Date(Date.now() + 30 * 60_000),
      tenantId: 'tenant-1',
      tenantName: 'Books Ltd',
      scopes: null,
      settingsRefreshToken: null,
    });
    await t.db.query(
      `INSERT INTO oauth_states (state_hash, entity_id, pipeline_id, redirect_uri, actor, expires_at)
       VALUES (repeat('a', 64), $1, $2, 'https://ll.example/cb', 'test', now() + interval '10 minutes')`,
      [a.entityId, id],
    );
    return id;
  }

  it('keeps it while the addresses stay, whatever else changes', async () => {
    const id = await connected('books');
    const shown = (await a.get('/v1/pipelines/books')).body;
    const res = await a.put('/v1/pipelines/books', { ...shown, schedule: '*/5 * * * *' });
    expect(res.status).toBe(200);
    expect((await readConnection(t.db, id))?.status).toBe('active');
  });

  it('forgets its tokens (revoked, saying why and to connect again), voids started consents, and audits it', async () => {
    const { id } = await stored('books');
    const shown = (await a.get('/v1/pipelines/books')).body;
    // The secret is given again for the new token address, so the save itself is allowed.
    const res = await a.put('/v1/pipelines/books', {
      ...shown,
      target: { ...shown.target, clientSecret: XERO.clientSecret, tokenUrl: 'https://identity.other.example/token' },
    });
    expect(res.status).toBe(200);
    const row = (await readConnection(t.db, id))!;
    expect(row).toMatchObject({ status: 'revoked', access_token: null, refresh_token: null });
    expect(row.revoked_reason).toBe(
      'target.tokenUrl changed address (https://identity.xero.com → https://identity.other.example), so the tokens ' +
        'granted for the old address were forgotten, never sent there: connect the pipeline again',
    );
    const { rows: states } = await t.db.query(`SELECT 1 FROM oauth_states WHERE pipeline_id = $1`, [id]);
    expect(states).toEqual([]);
    const audit = (await a.get('/v1/audit?action=connection.disconnected')).body;
    expect(JSON.stringify(audit)).toContain('the target changed address');
  });

  it('forgets it when ledgerlink.yaml moves the target too', async () => {
    const id = await connected('books-file');
    const file = (baseUrl: string) =>
      ConfigFile.parse({
        pipelines: [{ name: 'books-file', entity: 'SECADDR', source: { type: 'file' }, target: { ...XERO, baseUrl } }],
      });
    await applyConfig(t.db, testBox, file('https://api.xero.com/api.xro/2.0'));
    expect((await readConnection(t.db, id))?.status).toBe('active');
    await applyConfig(t.db, testBox, file('https://books.other.example/api.xro/2.0'));
    expect((await readConnection(t.db, id))?.status).toBe('revoked');
  });
});
