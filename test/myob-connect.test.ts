import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MyobSimulator, startMyobSimulator } from '../src/connectors/myob/simulator.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { testBox } from './helpers/sync.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * Connecting a MYOB pipeline through the shared consent flow, on the real server, against the
 * simulated MYOB: the consent page at secure.myob.com, the code exchanged with the app's
 * credentials in the form (MYOB takes no Basic authentication: OAuthProvider.clientAuthentication),
 * and the company file of the settings found among those the user's account holds.
 */

const CLIENT = { clientId: 'myob-connect-key', clientSecret: 'myob-connect-secret-0123456789' };
const FILE = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const OTHER = '00000000-0000-4000-8000-000000000001';
const PUBLIC = 'https://ll.example.com';

let t: TestApp;
let a: Client;
let sim: MyobSimulator;
const scope = processScope();

beforeAll(async () => {
  sim = await startMyobSimulator({ ...CLIENT, companyFiles: { [FILE]: { currency: 'AUD' } } });
  scope.env('LEDGERLINK_OUTBOUND_ALLOW', new URL(sim.url).host);
  t = await createTestApp({ publicUrl: PUBLIC });
  a = await t.entity('MYOB_CONN', 'AUD');
  for (const [name, file] of [
    ['myob', FILE],
    ['myob-other', OTHER],
  ] as const) {
    const r = await a.put(`/v1/pipelines/${name}`, {
      source: { type: 'webhook' },
      target: {
        type: 'myob',
        ...CLIENT,
        companyFileId: file,
        accounts: { sales: '4-1000', bank: '1-1110' },
        baseUrl: sim.baseUrl,
        tokenUrl: sim.tokenUrl,
        authorizeUrl: sim.authorizeUrl,
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
});

afterAll(async () => {
  await t.close();
  await sim.close();
});

/** The user at MYOB's consent page: where MYOB sends the browser back (our callback, path and query). */
async function consent(pipeline: string): Promise<string> {
  const started = await a.get(`/v1/connections/${pipeline}/oauth/start`);
  expect(started.status, JSON.stringify(started.body)).toBe(302);
  const page = new URL(String(started.headers.location));
  expect(page.origin + page.pathname).toBe(sim.authorizeUrl);
  expect(Object.fromEntries(page.searchParams)).toMatchObject({
    client_id: CLIENT.clientId,
    response_type: 'code',
    scope: 'CompanyFile',
  });
  const res = await fetch(page, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(back.origin).toBe(PUBLIC);
  return back.pathname + back.search;
}

describe('MYOB connection', () => {
  it('exchanges the code with the credentials in the form and binds the company file of the settings', async () => {
    const r = await t.request('GET', await consent('myob'));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ connected: true, pipeline: 'myob', tenantId: FILE });
    const { rows } = await t.db.query<{ access_token: string; status: string }>(
      `SELECT c.access_token, c.status FROM oauth_connections c JOIN pipelines p ON p.id = c.pipeline_id WHERE p.name = 'myob'`,
    );
    expect(rows[0]!.status).toBe('active');
    // The stored token is one MYOB issued: the company file answers it.
    const token = testBox.decrypt(rows[0]!.access_token);
    const list = await fetch(`${sim.baseUrl}/`, {
      headers: { authorization: `Bearer ${token}`, 'x-myobapi-key': CLIENT.clientId, 'x-myobapi-version': 'v2' },
    });
    expect(list.status).toBe(200);
  });

  it('an API key created since March 2025: the company file comes back in the redirect (businessId)', async () => {
    sim.options.businessIdInRedirect = FILE;
    try {
      const r = await t.request('GET', await consent('myob'));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ connected: true, tenantId: FILE, tenantName: 'MYOB Shared Sandbox' });
    } finally {
      sim.options.businessIdInRedirect = undefined;
    }
  });

  it('a company file the account does not hold is refused, naming the setting; nothing is stored', async () => {
    const r = await t.request('GET', await consent('myob-other'));
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(r.body)).toMatch(/OAUTH_TENANT_NOT_GRANTED/);
    const { rows } = await t.db.query(
      `SELECT 1 FROM oauth_connections c JOIN pipelines p ON p.id = c.pipeline_id WHERE p.name = 'myob-other'`,
    );
    expect(rows).toEqual([]);
  });
});
