import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/server.ts';
import type { Database } from '../src/db/database.ts';
import { createTestDatabase } from './helpers/db.ts';

/* One log line per HTTP request at info (method, path, status, ms); the request's detail at debug only. */
let db: Database;
const lines: Record<string, unknown>[] = [];

async function serverAt(level: string) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const app = await buildServer({
    db,
    logger: pino({ level, redact: ['req.headers.authorization'] }, sink),
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: null,
      tokenTtlSeconds: 1200,
      logLevel: level,
      bodyLimitBytes: 1024 * 1024,
    } as never,
  });
  await app.ready();
  return app;
}

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.close());

describe('the access log', () => {
  it('is one line per request at info: method, path (no query), status, ms', async () => {
    const app = await serverAt('info');
    lines.length = 0;
    await app.inject({ method: 'GET', url: '/v1/runs?pipeline=x', headers: { authorization: 'Bearer secret-token' } });
    await app.close();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: 'GET', path: '/v1/runs', status: 401 });
    expect(lines[0]!.msg).toMatch(/^GET \/v1\/runs 401 \d+ms$/);
    expect(JSON.stringify(lines)).not.toContain('secret-token');
  });

  it('adds the request detail at debug, the authorization redacted', async () => {
    const app = await serverAt('debug');
    lines.length = 0;
    await app.inject({ method: 'GET', url: '/v1/runs', headers: { authorization: 'Bearer secret-token' } });
    await app.close();
    expect(lines.some((l) => l.msg === 'request')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain('secret-token');
  });

  it('never logs the code or state of an OAuth callback, nor tokens in a query', async () => {
    const app = await serverAt('debug');
    lines.length = 0;
    await app.inject({
      method: 'GET',
      url: '/v1/connections/books/oauth/callback?code=SECRET-CODE&state=SECRET-STATE&realmId=123',
    });
    await app.inject({ method: 'GET', url: '/v1/runs?access_token=SECRET-TOKEN&pipeline=x' });
    await app.close();
    const logged = JSON.stringify(lines);
    expect(logged).toContain('/v1/connections/books/oauth/callback?code=[redacted]&state=[redacted]&realmId=123');
    for (const secret of ['SECRET-CODE', 'SECRET-STATE', 'SECRET-TOKEN']) expect(logged).not.toContain(secret);
  });
});
