import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { openDatabase } from '../src/db/open.ts';
import { createEntity } from '../src/ledger/entities.ts';
import { startOAuthSimulator } from '../src/sync/remote/oauth-simulator.ts';
import { oauthTokenSource } from '../src/sync/remote/oauth.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import { createTestDatabase, onPostgres, seedPgliteFolder } from './helpers/db.ts';

/*
 * A rotated refresh token survives a kill -9 right after it is received: a child process (a
 * worker) refreshes the access token and is killed with SIGKILL the moment the new tokens are in
 * the database (on PostgreSQL the test watches the row; on PGlite, which one process holds at a
 * time, the worker says so once its refresh returned). A new token source on the same database
 * then uses the persisted tokens, and the next refresh, with the rotated refresh token, works.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = Buffer.alloc(32, 11).toString('base64');
const box = SecretBox.fromBase64(KEY, 'test key');
const CLIENT = { clientId: 'crash-app', clientSecret: 'crash-app-secret-0123456789' };

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe(`kill -9 right after a token refresh (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('the rotated refresh token is persisted; a new token source uses it', async () => {
    const { sim, url, close } = await startOAuthSimulator({ ...CLIENT, accessTokenSeconds: 1800 });
    cleanups.push(close);
    const guard = {
      policy: { allowPrivateNetworks: false, allow: [{ host: '127.0.0.1', port: Number(new URL(url).port) }] },
    };

    // The database, and where the child finds it.
    let db: Database & { schema?: string };
    let childDb: Record<string, string>;
    let dir: string | null = null;
    if (onPostgres) {
      db = await createTestDatabase();
      childDb = { CHILD_DATABASE_URL: process.env.DATABASE_URL!, CHILD_SCHEMA: db.schema! };
    } else {
      dir = mkdtempSync(join(tmpdir(), 'll-oauth-crash-'));
      const d = dir;
      cleanups.push(() => rmSync(d, { recursive: true, force: true }));
      await seedPgliteFolder(dir); // migrated already: initdb is not what this is about
      db = await openDatabase({ dataDir: dir });
      childDb = { CHILD_DATA_DIR: dir };
    }
    const entity = (
      await db.transaction((tx) => createEntity(tx, { code: 'CRASH', name: 'Crash', baseCurrency: 'EUR' }))
    ).entity;
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO pipelines (entity_id, name, source_type, target_type) VALUES ($1, 'books', 'records', 'oauth-test') RETURNING id`,
      [entity.id],
    );
    const pipelineId = rows[0]!.id;
    const grant = sim.issueGrant();
    const seed = grant.refreshToken; // what the pipeline's settings hold (the YAML way)
    if (!onPostgres) await db.close(); // PGlite: one process at a time

    const child = spawn(process.execPath, ['bin/run-ts.js', 'test/helpers/oauth-refresh-child.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        ...childDb,
        CHILD_KEY: KEY,
        CHILD_PIPELINE_ID: pipelineId,
        CHILD_TOKEN_URL: `${url}/token`,
        CHILD_CLIENT_ID: CLIENT.clientId,
        CHILD_CLIENT_SECRET: CLIENT.clientSecret,
        CHILD_REFRESH_TOKEN: seed,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const killed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the child never refreshed: ${output}`)), 60_000);
      let done = false;
      const kill = () => {
        done = true;
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve();
      };
      child.stderr.on('data', (b: Buffer) => (output += b.toString()));
      if (onPostgres) {
        // As soon as the simulator has answered, watch the row; kill the moment it holds the new tokens.
        sim.onToken((e) => {
          if (done || e.grantType !== 'refresh_token' || e.status !== 200) return;
          const rotated = grant.refreshToken;
          const poll = async (): Promise<void> => {
            const r = await db.query<{ refresh_token: string }>(
              `SELECT refresh_token FROM oauth_connections WHERE pipeline_id = $1`,
              [pipelineId],
            );
            const stored = r.rows[0]?.refresh_token;
            if (stored && box.decrypt(stored) === rotated) return kill();
            setTimeout(() => void poll(), 2);
          };
          void poll();
        });
      } else
        child.stdout.on('data', (b: Buffer) => {
          output += b.toString();
          if (output.includes('REFRESHED')) kill();
        });
    });
    await killed;
    expect(await exited).toBe('SIGKILL');
    expect(sim.refreshes).toBe(1);
    expect(grant.used.has(seed)).toBe(true);

    if (!onPostgres) db = await openDatabase({ dataDir: dir! });
    cleanups.push(() => db.close());
    const row = (
      await db.query<{ access_token: string; refresh_token: string; status: string }>(
        `SELECT access_token, refresh_token, status FROM oauth_connections WHERE pipeline_id = $1`,
        [pipelineId],
      )
    ).rows[0]!;
    expect(row.status).toBe('active');
    expect(box.decrypt(row.refresh_token)).toBe(grant.refreshToken);
    const persisted = box.decrypt(row.access_token);
    expect(sim.validAccessToken(persisted)).not.toBeNull();

    // After the restart: the same settings (the spent seed), a new token source.
    const restarted = oauthTokenSource({
      db,
      box,
      pipelineId,
      system: 'Books',
      tokenUrl: `${url}/token`,
      ...CLIENT,
      refreshToken: seed,
      guard,
    });
    expect(await restarted.accessToken()).toBe(persisted);
    expect(sim.refreshes).toBe(1);
    restarted.invalidate(persisted);
    const next = await restarted.accessToken();
    expect(next).not.toBe(persisted);
    expect(sim.validAccessToken(next)?.id).toBe(grant.id);
    expect(sim.refreshes).toBe(2);
    expect(sim.events.filter((e) => e.error === 'invalid_grant')).toEqual([]);
  }, 120_000);
});
