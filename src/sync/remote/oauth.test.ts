import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, onPostgres } from '../../../test/helpers/db.ts';
import type { Database } from '../../db/database.ts';
import { createEntity } from '../../ledger/entities.ts';
import { ConnectorError } from '../connector.ts';
import { rotateKey } from '../keys.ts';
import { SecretBox } from '../secrets.ts';
import { postTokenGrant } from './oauth-endpoint.ts';
import { type OAuthSimulator, startOAuthSimulator } from './oauth-simulator.ts';
import { oauthTokenSource, type OAuthTokenSourceOptions } from './oauth.ts';

const box = new SecretBox(Buffer.alloc(32, 9));
const log = pino({ level: 'silent' });
const CLIENT = { clientId: 'client-abc', clientSecret: 'secret-of-the-app-0123456789' };

let db: Database;
let entityId: string;
let sim: OAuthSimulator;
let simUrl: string;
let closeSim: () => Promise<void>;
let guard: OAuthTokenSourceOptions['guard'];
let n = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  entityId = (await db.transaction((tx) => createEntity(tx, { code: 'OAUTH', name: 'OAuth Ltd', baseCurrency: 'EUR' })))
    .entity.id;
  const started = await startOAuthSimulator({ ...CLIENT, accessTokenSeconds: 1800 });
  ({ sim, url: simUrl, close: closeSim } = started);
  guard = {
    policy: { allowPrivateNetworks: false, allow: [{ host: '127.0.0.1', port: Number(new URL(simUrl).port) }] },
  };
});
afterAll(async () => {
  await closeSim();
  await db.close();
});
beforeEach(() => {
  sim.failNext = [];
  sim.dropRefreshAnswers = 0;
  sim.tokenDelayMs = 0;
  sim.reuseGraceMs = 0;
});

/** A fresh pipeline row (the token source only needs its id and name). */
async function pipeline(): Promise<{ id: string; name: string }> {
  const name = `books-${++n}`;
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO pipelines (entity_id, name, source_type, target_type) VALUES ($1, $2, 'records', 'oauth-test') RETURNING id`,
    [entityId, name],
  );
  return { id: rows[0]!.id, name };
}

function source(pipelineId: string, extra: Partial<OAuthTokenSourceOptions> = {}) {
  return oauthTokenSource({
    db,
    box,
    pipelineId,
    system: 'Books',
    tokenUrl: `${simUrl}/token`,
    ...CLIENT,
    log,
    guard,
    publicUrl: 'https://ll.example.com',
    ...extra,
  });
}

async function row(pipelineId: string) {
  const { rows } = await db.query<Record<string, unknown>>(`SELECT * FROM oauth_connections WHERE pipeline_id = $1`, [
    pipelineId,
  ]);
  return rows[0]!;
}

const refreshesNow = () => sim.refreshes;

async function rejection(p: Promise<unknown>): Promise<ConnectorError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectorError);
  return err as ConnectorError;
}

describe('oauthTokenSource', () => {
  it('seeds the connection from the settings’ refresh token and stores the tokens sealed', async () => {
    const p = await pipeline();
    const grant = sim.issueGrant();
    const seed = grant.refreshToken;
    const before = refreshesNow();
    const token = await source(p.id, { refreshToken: seed }).accessToken();
    expect(sim.validAccessToken(token)?.id).toBe(grant.id);
    expect(refreshesNow()).toBe(before + 1);
    const r = await row(p.id);
    expect(r.origin).toBe('settings');
    expect(r.status).toBe('active');
    expect(String(r.access_token)).toMatch(/^enc:v1:/);
    expect(String(r.refresh_token)).toMatch(/^enc:v1:/);
    expect(box.decrypt(String(r.access_token))).toBe(token);
    // Rotated: the row holds the new refresh token, not the one from the settings.
    expect(box.decrypt(String(r.refresh_token))).toBe(grant.refreshToken);
    expect(grant.refreshToken).not.toBe(seed);
    expect(JSON.stringify(r)).not.toContain(token);
  });

  it('refuses a connection that was never made, naming the start URL', async () => {
    const p = await pipeline();
    const err = await rejection(source(p.id).accessToken());
    expect(err.code).toBe('TARGET_AUTH_REVOKED');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`https://ll.example.com/v1/connections/${p.name}/oauth/start`);
  });

  it('reuses a valid access token and refreshes it ahead of its expiry', async () => {
    const p = await pipeline();
    const ts = source(p.id, { refreshToken: sim.issueGrant().refreshToken });
    const first = await ts.accessToken();
    const count = refreshesNow();
    expect(await ts.accessToken()).toBe(first);
    expect(await source(p.id).accessToken()).toBe(first); // another worker reads it from the row
    expect(refreshesNow()).toBe(count);
    // 24 minutes later, 6 minutes left of 30: kept (refreshed 5 minutes ahead by default).
    const later = (minutes: number) =>
      db.query(
        `UPDATE oauth_connections SET expires_at = expires_at - make_interval(mins => $2),
                refreshed_at = refreshed_at - make_interval(mins => $2) WHERE pipeline_id = $1`,
        [p.id, minutes],
      );
    await later(24);
    expect(await source(p.id).accessToken()).toBe(first);
    expect(refreshesNow()).toBe(count);
    // 2 minutes later, 4 minutes left: still valid at the platform, but replaced now.
    await later(2);
    const second = await source(p.id).accessToken();
    expect(second).not.toBe(first);
    expect(refreshesNow()).toBe(count + 1);
    expect(sim.validAccessToken(second)).not.toBeNull();
  });

  it('persists the rotated refresh token: a new process uses it, and the used one is refused', async () => {
    const p = await pipeline();
    const grant = sim.issueGrant();
    const seed = grant.refreshToken;
    await source(p.id, { refreshToken: seed }).accessToken();
    const rotated = grant.refreshToken;
    await db.query(`UPDATE oauth_connections SET expires_at = now() WHERE pipeline_id = $1`, [p.id]);
    // A new process: a new token source on the same database, the same (spent) token in its settings.
    const next = source(p.id, { refreshToken: seed });
    const token = await next.accessToken();
    expect(sim.validAccessToken(token)?.id).toBe(grant.id);
    expect(sim.events.at(-1)).toMatchObject({ grantType: 'refresh_token', status: 200, grantId: grant.id });
    expect(grant.used.has(rotated)).toBe(true); // it was the rotated token that was sent
    expect(box.decrypt(String((await row(p.id)).refresh_token))).toBe(grant.refreshToken);
    // The settings' token was spent by the first refresh: the platform refuses it.
    const refused = await rejection(
      postTokenGrant(
        { system: 'Books', tokenUrl: `${simUrl}/token`, ...CLIENT, guard },
        { grant_type: 'refresh_token', refresh_token: seed },
      ),
    );
    expect(refused.code).toBe('TARGET_AUTH_REVOKED');
    expect(refused.status).toBe(400);
  });

  it('a new refresh token in the settings reconnects; the same one never seeds again', async () => {
    const p = await pipeline();
    const seed = sim.issueGrant().refreshToken;
    await source(p.id, { refreshToken: seed }).accessToken();
    await db.query(
      `UPDATE oauth_connections SET status = 'revoked', revoked_at = now(), revoked_reason = 'test',
              access_token = NULL, refresh_token = NULL WHERE pipeline_id = $1`,
      [p.id],
    );
    expect((await rejection(source(p.id, { refreshToken: seed }).accessToken())).code).toBe('TARGET_AUTH_REVOKED');
    const fresh = sim.issueGrant();
    const token = await source(p.id, { refreshToken: fresh.refreshToken }).accessToken();
    expect(sim.validAccessToken(token)?.id).toBe(fresh.id);
    expect((await row(p.id)).status).toBe('active');
  });

  it('invalidate: a token the platform refused is replaced, not reused', async () => {
    const p = await pipeline();
    const ts = source(p.id, { refreshToken: sim.issueGrant().refreshToken });
    const first = await ts.accessToken();
    ts.invalidate(first);
    const second = await ts.accessToken();
    expect(second).not.toBe(first);
    expect(sim.validAccessToken(second)).not.toBeNull();
  });

  it('callers of one process share one refresh', async () => {
    const p = await pipeline();
    const ts = source(p.id, { refreshToken: sim.issueGrant().refreshToken });
    sim.tokenDelayMs = 100;
    const count = refreshesNow();
    const tokens = await Promise.all(Array.from({ length: 5 }, () => ts.accessToken()));
    expect(new Set(tokens).size).toBe(1);
    expect(refreshesNow()).toBe(count + 1);
  });

  it(`two workers refreshing at once on one database (${onPostgres ? 'PostgreSQL' : 'PGlite'}): one refresh, both get its token`, async () => {
    const p = await pipeline();
    const seed = sim.issueGrant().refreshToken;
    await source(p.id, { refreshToken: seed }).accessToken();
    await db.query(`UPDATE oauth_connections SET expires_at = now() WHERE pipeline_id = $1`, [p.id]);
    sim.tokenDelayMs = 300;
    const count = refreshesNow();
    const from = sim.events.length;
    const a = source(p.id, { refreshToken: seed, pollMs: 20 });
    const b = source(p.id, { refreshToken: seed, pollMs: 20 });
    const [ta, tb] = await Promise.all([a.accessToken(), b.accessToken()]);
    expect(refreshesNow()).toBe(count + 1);
    expect(ta).toBe(tb);
    expect(sim.validAccessToken(ta)).not.toBeNull();
    expect(sim.events.slice(from).filter((e) => e.error === 'invalid_grant')).toEqual([]);
  });

  it('a revoked grant parks with TARGET_AUTH_REVOKED, marks the connection revoked and says how to reconnect', async () => {
    const p = await pipeline();
    const grant = sim.issueGrant();
    const ts = source(p.id, { refreshToken: grant.refreshToken });
    const token = await ts.accessToken();
    sim.revoke(grant);
    ts.invalidate(token);
    const err = await rejection(ts.accessToken());
    expect(err.code).toBe('TARGET_AUTH_REVOKED');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`https://ll.example.com/v1/connections/${p.name}/oauth/start`);
    expect(err.message).toContain('invalid_grant');
    for (const secret of ts.secrets()) expect(err.message).not.toContain(secret);
    const r = await row(p.id);
    expect(r).toMatchObject({ status: 'revoked', access_token: null, refresh_token: null });
    expect(String(r.revoked_reason)).toContain('invalid_grant');
    // Known revoked: the next call does not ask the platform again.
    const calls = sim.events.length;
    expect((await rejection(source(p.id).accessToken())).code).toBe('TARGET_AUTH_REVOKED');
    expect(sim.events.length).toBe(calls);
  });

  it('a 5xx or a dropped connection of the token endpoint is retryable and keeps the connection', async () => {
    const p = await pipeline();
    const grant = sim.issueGrant();
    const ts = source(p.id, { refreshToken: grant.refreshToken });
    await ts.accessToken();
    const kept = (await row(p.id)).refresh_token;
    await db.query(`UPDATE oauth_connections SET expires_at = now() WHERE pipeline_id = $1`, [p.id]);
    sim.failNext = [503];
    const err = await rejection(source(p.id).accessToken());
    expect(err.retryable).toBe(true);
    expect(err.status).toBe(503);
    expect(err.code).toBeNull();
    const r = await row(p.id);
    expect(r.refresh_token).toBe(kept);
    expect(r.refresh_claimed_until).toBeNull(); // the claim was given back
    const token = await source(p.id).accessToken();
    expect(sim.validAccessToken(token)).not.toBeNull();
  });

  it('an answer lost after the platform rotated the token: retryable, then the spent token is refused and the connection revoked', async () => {
    const p = await pipeline();
    const grant = sim.issueGrant();
    const ts = source(p.id, { refreshToken: grant.refreshToken });
    await ts.accessToken();
    const sent = box.decrypt(String((await row(p.id)).refresh_token));
    await db.query(`UPDATE oauth_connections SET expires_at = now() WHERE pipeline_id = $1`, [p.id]);
    sim.dropRefreshAnswers = 1;
    const lost = await rejection(source(p.id).accessToken());
    expect(lost.retryable).toBe(true);
    expect(sim.events.at(-1)).toMatchObject({ grantType: 'refresh_token', status: 200, dropped: true });
    expect(grant.used.has(sent)).toBe(true); // the platform committed the rotation
    expect(box.decrypt(String((await row(p.id)).refresh_token))).toBe(sent); // ours never arrived
    // Strict rotation (no grace period): the spent token is refused and the user must reconnect.
    const err = await rejection(source(p.id).accessToken());
    expect(err.code).toBe('TARGET_AUTH_REVOKED');
    expect((await row(p.id)).status).toBe('revoked');
  });

  it('with a platform grace period for a rotated token (Xero: 30 minutes), a lost answer is recovered by the next refresh', async () => {
    const p = await pipeline();
    const grant = sim.issueGrant();
    await source(p.id, { refreshToken: grant.refreshToken }).accessToken();
    await db.query(`UPDATE oauth_connections SET expires_at = now() WHERE pipeline_id = $1`, [p.id]);
    sim.reuseGraceMs = 30 * 60_000;
    sim.dropRefreshAnswers = 1;
    expect((await rejection(source(p.id).accessToken())).retryable).toBe(true);
    const token = await source(p.id).accessToken();
    expect(sim.validAccessToken(token)?.id).toBe(grant.id);
    expect(box.decrypt(String((await row(p.id)).refresh_token))).toBe(grant.refreshToken);
  });

  it('a wrong client secret is not retryable and does not revoke the connection', async () => {
    const p = await pipeline();
    const ts = source(p.id, { refreshToken: sim.issueGrant().refreshToken, clientSecret: 'not-the-secret' });
    const err = await rejection(ts.accessToken());
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('invalid_client');
    expect(err.message).not.toContain('not-the-secret');
    expect((await row(p.id)).status).toBe('active');
  });

  it('secrets() lists the client secret and every token it handled', async () => {
    const p = await pipeline();
    const grant = sim.issueGrant();
    const seed = grant.refreshToken;
    const ts = source(p.id, { refreshToken: seed });
    const token = await ts.accessToken();
    expect(ts.secrets()).toEqual(expect.arrayContaining([CLIENT.clientSecret, seed, token, grant.refreshToken]));
    expect(await ts.tenantId()).toBeNull(); // seeded from settings: the tenant comes from the settings
  });
});

describe('key rotation', () => {
  it('`ledgerlink keys rotate` re-encrypts the stored tokens', async () => {
    const p = await pipeline();
    const token = await source(p.id, { refreshToken: sim.issueGrant().refreshToken }).accessToken();
    await db.query(`INSERT INTO encryption_key (fingerprint) VALUES ($1) ON CONFLICT (singleton) DO NOTHING`, [
      box.fingerprint,
    ]);
    const next = new SecretBox(Buffer.alloc(32, 10));
    const done = await rotateKey(db, box, next);
    expect(done.secrets).toBeGreaterThanOrEqual(2);
    const r = await row(p.id);
    expect(box.tryDecrypt(String(r.access_token))).toBeNull();
    expect(next.decrypt(String(r.access_token))).toBe(token);
    expect(await source(p.id, { box: next }).accessToken()).toBe(token);
  });
});
