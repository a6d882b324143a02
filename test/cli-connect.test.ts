import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliPlace, cliPlace } from './helpers/cli.ts';

/*
 * `ledgerlink pipeline connect NAME`: the command-line way into the OAuth 2.0 consent of a pipeline
 * whose target is an accounting platform (docs/connectors/oauth.md). It prints the consent page with
 * a single-use state bound to the pipeline; the platform then calls back the running server.
 */
let place: CliPlace;

beforeAll(async () => {
  place = await cliPlace();
  await writeFile(
    join(place.dir, 'ledgerlink.yaml'),
    stringify({
      entities: [{ code: 'BOOKS', name: 'Books Ltd', baseCurrency: 'USD' }],
      pipelines: [
        {
          name: 'qbo',
          entity: 'BOOKS',
          source: { type: 'webhook' },
          webhookSecret: 'qbo-secret-0123456789',
          target: { type: 'quickbooks', clientId: 'app-client-id', clientSecret: 'app-client-secret', realmId: '9130' },
        },
        { name: 'local', entity: 'BOOKS', source: { type: 'webhook' }, webhookSecret: 'local-secret-0123456789' },
      ],
    }),
  );
  const applied = await place.run(['config', 'apply']);
  expect(applied.code, applied.stderr).toBe(0);
}, 180_000);

afterAll(() => place?.close());

describe('ledgerlink pipeline connect', () => {
  it("prints the platform's consent page, with a state stored hashed for this pipeline and the redirect URL to register", async () => {
    const r = await place.run(['pipeline', 'connect', 'qbo', '--json'], {
      LEDGERLINK_PUBLIC_URL: 'https://books.example.com',
    });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { url: string; redirectUri: string; expiresAt: string };
    const url = new URL(out.url);
    expect(`${url.origin}${url.pathname}`).toBe('https://appcenter.intuit.com/connect/oauth2');
    expect(url.searchParams.get('client_id')).toBe('app-client-id');
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(url.searchParams.get('scope')).toBe('com.intuit.quickbooks.accounting');
    expect(out.redirectUri).toBe('https://books.example.com/v1/connections/qbo/oauth/callback');
    expect(url.searchParams.get('redirect_uri')).toBe(out.redirectUri);
    const minutes = (Date.parse(out.expiresAt) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(8);
    expect(minutes).toBeLessThanOrEqual(10);
    // The state travels only in the address; the database keeps its hash, bound to the pipeline.
    const state = url.searchParams.get('state')!;
    expect(state.length).toBeGreaterThanOrEqual(32);
    const db = await place.open();
    try {
      const { rows } = await db.query<{ state_hash: string; name: string }>(
        `SELECT s.state_hash, p.name FROM oauth_states s JOIN pipelines p ON p.id = s.pipeline_id`,
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.name).toBe('qbo');
      expect(rows[0]!.state_hash).not.toContain(state);
      expect(rows[0]!.state_hash).toContain(createHash('sha256').update(state).digest('hex'));
    } finally {
      await db.close();
    }
  });

  it('says so, naming the pipeline, when its target is not connected through OAuth, and starts nothing', async () => {
    const r = await place.run(['pipeline', 'connect', 'local']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/CONNECTION_NOT_OAUTH/);
    expect(r.stderr).toMatch(/local/);
    const db = await place.open();
    try {
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM oauth_states`);
      expect(rows[0]!.n).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('refuses an unknown pipeline with a clear error', async () => {
    const r = await place.run(['pipeline', 'connect', 'nope']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nope/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
  });
});
