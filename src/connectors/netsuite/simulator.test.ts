import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { postTokenGrant } from '../../sync/remote/oauth-endpoint.ts';
import { clientAssertion } from './assertion.ts';
import { type NetSuiteSimulator, startNetSuiteSimulator, testKeyPair } from './simulator.ts';
import { baseString, oauthEncode, tbaAuthorization } from './tba.ts';

/*
 * The simulated NetSuite answers as NetSuite documents it: the token endpoint grants a token only
 * for an assertion signed with the mapped certificate's key, the record service refuses with its
 * error body (`o:errorDetails` with `o:errorCode`), 401 INVALID_LOGIN without a valid Bearer
 * token, 429 past the account's concurrency, a PUT by external id upserts (sent twice, one
 * record), and writes off the contract are recorded as violations.
 */

const KEYS = testKeyPair();
const OTHER = testKeyPair();
const CLIENT = { clientId: 'sim-client', certificateId: 'sim-cert' };
let sim: NetSuiteSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(extra: Partial<Parameters<typeof startNetSuiteSimulator>[0]> = {}) {
  sim = await startNetSuiteSimulator({
    accountId: '1234567',
    clients: [{ ...CLIENT, publicKey: KEYS.publicKey }],
    items: ['Sales'],
    ...extra,
  });
  return sim;
}

function call(
  method: string,
  url: string,
  o: { token?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Record<string, unknown> | null }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        headers: {
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
          ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...o.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

const assertion = (
  s: NetSuiteSimulator,
  key = KEYS.privateKey,
  extra: Partial<Parameters<typeof clientAssertion>[0]> = {},
) =>
  clientAssertion({
    ...CLIENT,
    privateKey: key,
    algorithm: 'PS256',
    scope: 'rest_webservices',
    audience: s.tokenUrl,
    ...extra,
  });

const grant = (s: NetSuiteSimulator, jwt: string) =>
  postTokenGrant(
    {
      system: 'NetSuite',
      tokenUrl: s.tokenUrl,
      clientId: CLIENT.clientId,
      clientSecret: '',
      clientAuthentication: 'none',
    },
    {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: jwt,
    },
  );

describe('the simulated NetSuite token endpoint', () => {
  it('grants a 60-minute token for an assertion signed with the mapped key, sent without client authentication', async () => {
    const s = await start();
    const t = await grant(s, assertion(s));
    expect(t.expiresInSeconds).toBe(3600);
    expect(s.violations).toEqual([]);
  });

  it('refuses another key, another certificate, a life of an hour or more, and a revoked mapping', async () => {
    const s = await start();
    await expect(grant(s, assertion(s, OTHER.privateKey))).rejects.toThrow(/invalid_client/);
    await expect(grant(s, assertion(s, KEYS.privateKey, { certificateId: 'other' }))).rejects.toThrow(/invalid_client/);
    await grant(s, assertion(s, KEYS.privateKey, { lifeSeconds: 3600 })).catch(() => undefined);
    expect(s.violations.map((v) => v.problems)).toEqual([['exp: must be after iat and less than 60 minutes after it']]);
    s.revoke(CLIENT.clientId);
    await expect(grant(s, assertion(s))).rejects.toMatchObject({ code: 'TARGET_AUTH_REVOKED' });
  });

  it('records a client secret or a Basic header sent with the grant (the default client authentication)', async () => {
    const s = await start();
    await postTokenGrant(
      { system: 'NetSuite', tokenUrl: s.tokenUrl, clientId: CLIENT.clientId, clientSecret: 'x' },
      {
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion(s),
      },
    );
    expect(s.violations.map((v) => v.problems)).toEqual([
      ['Authorization header: the client authenticates by its assertion only'],
    ]);
  });
});

describe('token-based authentication against the simulated NetSuite', () => {
  const TBA = { consumerKey: 'ck-1', consumerSecret: 'cs secret/1', tokenId: 'tok-1', tokenSecret: 'ts!secret*1' };
  it('accepts a request signed HMAC-SHA256 with the consumer and token secrets, query included; refuses a wrong secret, a replayed nonce and a revoked token', async () => {
    const s = await start({ accountId: '1234567_SB1', tba: [TBA] });
    const url = new URL(`${s.baseUrl}/record/v1/customer?limit=1&q=a b`);
    const signed = (c = TBA, o: { nonce?: string } = {}) =>
      tbaAuthorization({ accountId: '1234567_sb1', ...c }, 'GET', url, o);
    const header = signed();
    expect(header).toMatch(
      /^OAuth realm="1234567_SB1", oauth_consumer_key="ck-1", oauth_token="tok-1", oauth_signature_method="HMAC-SHA256", oauth_timestamp="\d+", oauth_nonce="[0-9a-f]{32}", oauth_version="1.0", oauth_signature="[^"]+"$/,
    );
    expect((await call('GET', url.href, { headers: { authorization: header } })).status).toBe(200);
    // The same header again: its nonce was used.
    expect((await call('GET', url.href, { headers: { authorization: header } })).status).toBe(401);
    expect(
      (await call('GET', url.href, { headers: { authorization: signed({ ...TBA, tokenSecret: 'wrong' }) } })).status,
    ).toBe(401);
    s.revokeToken(TBA.tokenId);
    expect((await call('GET', url.href, { headers: { authorization: signed() } })).status).toBe(401);
    expect(s.violations).toEqual([{ route: 'TBA', problems: ['oauth_nonce: missing or used before'] }]);
  });

  it('builds the base string of RFC 5849: sorted, encoded parameters, the URL without its query', () => {
    const base = baseString('get', new URL('https://Acme.example.com:443/a/b?z=1&a=x%20y'), {
      oauth_nonce: 'n',
      oauth_token: 't',
    });
    expect(base).toBe(
      'GET&https%3A%2F%2Facme.example.com%2Fa%2Fb&a%3Dx%2520y%26oauth_nonce%3Dn%26oauth_token%3Dt%26z%3D1',
    );
    expect(oauthEncode("a!'()*~ b")).toBe('a%21%27%28%29%2A~%20b');
  });
});

describe('the simulated NetSuite record service', () => {
  it('answers 401 INVALID_LOGIN without a valid token, in NetSuite’s error body', async () => {
    const s = await start();
    const r = await call('GET', `${s.baseUrl}/record/v1/customer/1`, { token: 'nope' });
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({
      status: 401,
      title: 'Unauthorized',
      'o:errorDetails': [{ 'o:errorCode': 'INVALID_LOGIN' }],
    });
  });

  it('upserts by external id: the same PUT twice is one record, read back by eid with its number; a missing one is 404', async () => {
    const s = await start();
    const token = (await grant(s, assertion(s))).accessToken;
    const put = () =>
      call('PUT', `${s.baseUrl}/record/v1/customer/eid:C-1`, {
        token,
        body: JSON.stringify({ companyName: 'Acme', isPerson: false }),
      });
    const first = await put();
    expect(first.status).toBe(204);
    expect(first.headers.location).toMatch(/\/record\/v1\/customer\/\d+$/);
    expect((await put()).headers.location).toBe(first.headers.location);
    expect(s.account.customers.size).toBe(1);
    const got = await call('GET', `${s.baseUrl}/record/v1/customer/eid:C-1`, { token });
    expect(got.body).toMatchObject({ externalId: 'C-1', companyName: 'Acme', entityId: '1001' });
    const missing = await call('GET', `${s.baseUrl}/record/v1/invoice/eid:NOPE`, { token });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ 'o:errorDetails': [{ 'o:errorCode': 'NONEXISTENT_ID' }] });
    expect(s.violations).toEqual([]);
  });

  it('refuses a payment applied above what the invoice owes, and records a write off the contract', async () => {
    const s = await start();
    const token = (await grant(s, assertion(s))).accessToken;
    await call('PUT', `${s.baseUrl}/record/v1/customer/eid:C-1`, {
      token,
      body: JSON.stringify({ companyName: 'Acme' }),
    });
    const customer = [...s.account.customers.values()][0]!.id;
    const item = [...s.account.items.values()][0]!.id;
    const inv = await call('PUT', `${s.baseUrl}/record/v1/invoice/eid:I-1?replace=item`, {
      token,
      body: `{"entity":{"id":"${customer}"},"tranDate":"2026-01-01","item":{"items":[{"item":{"id":"${item}"},"quantity":1,"rate":10.00}]}}`,
    });
    expect(inv.status).toBe(204);
    const invoiceId = s.account.invoices()[0]!.id;
    const pay = await call('PUT', `${s.baseUrl}/record/v1/customerPayment/eid:P-1`, {
      token,
      body: `{"customer":{"id":"${customer}"},"payment":20.00,"tranDate":"2026-01-02","apply":{"items":[{"doc":{"id":"${invoiceId}"},"apply":true,"amount":"15.00"}]}}`,
    });
    expect(pay.status).toBe(400);
    expect(pay.body).toMatchObject({
      'o:errorDetails': [
        { 'o:errorCode': 'USER_ERROR', detail: expect.stringMatching(/exceeds its amount remaining/) },
      ],
    });
    expect(s.violations).toEqual([
      { route: 'PUT /customerPayment/eid:P-1', problems: ['apply.items[0].amount: not a JSON number'] },
    ]);
  });

  it('answers 429 past the account’s concurrency, and drops a committed write’s answer on demand', async () => {
    const s = await start({ concurrency: 2, latencyMs: 50 });
    const token = (await grant(s, assertion(s))).accessToken;
    const all = await Promise.all(
      [1, 2, 3, 4].map(() => call('GET', `${s.baseUrl}/record/v1/customer?limit=1`, { token })),
    );
    expect(all.map((r) => r.status).sort()).toEqual([200, 200, 429, 429]);
    expect(all.find((r) => r.status === 429)!.body).toMatchObject({ status: 429, title: 'Too Many Requests' });
    s.dropNext(1);
    await expect(
      call('PUT', `${s.baseUrl}/record/v1/customer/eid:C-9`, { token, body: JSON.stringify({ companyName: 'Lost' }) }),
    ).rejects.toThrow();
    expect([...s.account.customers.values()].map((c) => c.externalId)).toEqual(['C-9']);
    expect(s.duplicates()).toEqual([]);
  });
});
