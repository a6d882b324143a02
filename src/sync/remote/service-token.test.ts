import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../connector.ts';
import type { GuardOptions } from '../http.ts';
import { serviceTokenSource } from './service-token.ts';

/*
 * The token source for grants that keep no state (client credentials, password, a signed client
 * assertion), against a local token endpoint that records every form it is sent.
 */

interface Seen {
  form: URLSearchParams;
  authorization: string | undefined;
}

let server: http.Server;
let url: string;
let guard: GuardOptions;
let seen: Seen[] = [];
let answer: (n: number) => { status: number; body: unknown } = (n) => ({
  status: 200,
  body: { access_token: `tok-${n}`, token_type: 'Bearer', expires_in: 3600 },
});

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
        authorization: req.headers.authorization,
      });
      const a = answer(seen.length);
      // A slow endpoint, so that concurrent callers overlap.
      setTimeout(() => res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body)), 20);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}/oauth2/token`;
  guard = { policy: { allowPrivateNetworks: false, allow: [{ host: '127.0.0.1', port }] } };
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function source(extra: Partial<Parameters<typeof serviceTokenSource>[0]> = {}) {
  seen = [];
  let assertion = 0;
  return serviceTokenSource({
    system: 'Sim',
    tokenUrl: url,
    clientId: 'app-1',
    clientSecret: 'client-secret-abc123',
    grant: () => ({ grant_type: 'client_credentials', scope: 'api', assertion: `a-${++assertion}` }),
    guard,
    ...extra,
  });
}

describe('serviceTokenSource', () => {
  it('asks once for concurrent callers, keeps the token until shortly before it expires, then asks with a fresh grant', async () => {
    let clock = 1_000_000;
    const s = source({ now: () => clock, aheadMs: 60_000 });
    const tokens = await Promise.all([s.accessToken(), s.accessToken(), s.accessToken()]);
    expect(tokens).toEqual(['tok-1', 'tok-1', 'tok-1']);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.form.get('grant_type')).toBe('client_credentials');
    expect(seen[0]!.form.get('assertion')).toBe('a-1');
    // HTTP Basic by default (RFC 6749 §2.3.1), never the secret in the form.
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('app-1:client-secret-abc123').toString('base64')}`);
    expect(seen[0]!.form.has('client_secret')).toBe(false);
    clock += 3600_000 - 61_000;
    expect(await s.accessToken()).toBe('tok-1');
    clock += 2_000;
    expect(await s.accessToken()).toBe('tok-2');
    expect(seen[1]!.form.get('assertion')).toBe('a-2');
  });

  it('a refused token is asked for again; an old token invalidated changes nothing', async () => {
    const s = source();
    expect(await s.accessToken()).toBe('tok-1');
    s.invalidate('something-else');
    expect(await s.accessToken()).toBe('tok-1');
    s.invalidate('tok-1');
    expect(await s.accessToken()).toBe('tok-2');
    expect(seen).toHaveLength(2);
  });

  it('sends the client’s credentials in the form when the platform wants them there', async () => {
    const s = source({ clientAuthentication: 'body' });
    await s.accessToken();
    expect(seen[0]!.authorization).toBeUndefined();
    expect(Object.fromEntries(seen[0]!.form)).toMatchObject({
      client_id: 'app-1',
      client_secret: 'client-secret-abc123',
    });
  });

  it('a refusal is TARGET_AUTH_REVOKED (fix the settings), an outage is retryable; neither carries a secret', async () => {
    const keep = answer;
    try {
      answer = () => ({ status: 400, body: { error: 'invalid_client' } });
      const refused = (await source()
        .accessToken()
        .catch((e: unknown) => e)) as ConnectorError;
      expect(refused).toBeInstanceOf(ConnectorError);
      expect(refused).toMatchObject({ retryable: false, code: 'TARGET_AUTH_REVOKED', status: 400 });
      expect(refused.message).toMatch(/^Sim: the token endpoint refused the app's credentials \(400 invalid_client\)/);
      expect(refused.message).not.toContain('client-secret-abc123');
      answer = () => ({ status: 503, body: { error: 'temporarily_unavailable' } });
      const outage = (await source()
        .accessToken()
        .catch((e: unknown) => e)) as ConnectorError;
      expect(outage).toMatchObject({ retryable: true, code: null });
    } finally {
      answer = keep;
    }
  });

  it('names every secret it holds: the client secret, the extra ones, and the tokens it was given', async () => {
    const s = source({ secrets: () => ['the-password', ''] });
    await s.accessToken();
    expect(s.secrets()).toEqual(['client-secret-abc123', 'the-password', 'tok-1']);
  });
});
