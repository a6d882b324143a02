import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteClient } from './client.ts';

/*
 * The client's `authorize` option: an Authorization header computed for each request from its
 * method and URL (query included), for platforms that sign every request (NetSuite's
 * token-based authentication); without it the header is the token source's, as before.
 */

let server: http.Server;
let base = '';
const seen: { method: string; url: string; authorization: string | undefined }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
    res.writeHead(req.url === '/denied' ? 401 : 200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('RemoteClient authorize', () => {
  it('signs each request with its method and full URL, and returns a 401 to the caller', async () => {
    const signed: string[] = [];
    const client = new RemoteClient({
      system: 'Test',
      baseUrl: base,
      authorize: (method, url) => {
        signed.push(`${method} ${url.pathname}${url.search}`);
        return `OAuth sig="${signed.length}"`;
      },
    });
    await client.request({ method: 'GET', path: '/a', query: { q: 'x y' }, kind: 'read', retrySafe: true });
    const denied = await client.request({ method: 'PUT', path: '/denied', body: '{}', kind: 'write', retrySafe: true });
    expect(denied.status).toBe(401);
    expect(signed).toEqual(['GET /a?q=x+y', 'PUT /denied']);
    expect(seen.map((s) => s.authorization)).toEqual(['OAuth sig="1"', 'OAuth sig="2"']);
  });

  it('leaves the header to the token source when absent', async () => {
    seen.length = 0;
    const client = new RemoteClient({
      system: 'Test',
      baseUrl: base,
      auth: { accessToken: () => Promise.resolve('tok'), invalidate: () => undefined, secrets: () => [] },
    });
    await client.request({ method: 'GET', path: '/b', kind: 'read', retrySafe: true });
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer tok']);
  });
});
