import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { silentLog, syncService } from './helpers/sync.ts';
import { buildServer } from '../src/api/server.ts';
import { JobQueue } from '../src/sync/queue.ts';
import { latestMigrationId } from '../src/db/migrate.ts';
import { freePort, startCli, waitFor } from './helpers/process.ts';

/*
 * GET /ready: 200 only when the database answers, its migrations are this version's, and the
 * queue of a process that runs one is started; otherwise 503 NOT_READY naming what failed.
 * GET /health stays liveness: it does not look at migrations or the queue.
 */

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

describe('GET /ready', () => {
  it('is 200 without a queue (an app built without one), the queue reported absent', async () => {
    const r = await t.request('GET', '/ready');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', queue: 'absent' } });
  });

  it('is 503 NOT_READY naming `migrations` when the database is behind or ahead of this version; /health stays 200', async () => {
    const latest = await latestMigrationId();
    await t.db.query('DELETE FROM ledgerlink_migrations WHERE id = $1', [latest]);
    try {
      const r = await t.request('GET', '/ready');
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('NOT_READY');
      expect(r.body.error.details.failed).toEqual(['migrations']);
      expect(r.body.error.message).toContain(`this version ships ${latest}`);
      expect((await t.request('GET', '/health')).status).toBe(200);
    } finally {
      await t.db.query(`INSERT INTO ledgerlink_migrations (id, name) VALUES ($1, 'restored')`, [latest]);
    }
    await t.db.query(`INSERT INTO ledgerlink_migrations (id, name) VALUES ($1, 'from a newer version')`, [latest + 1]);
    try {
      const r = await t.request('GET', '/ready');
      expect([r.status, r.body.error.details.failed]).toEqual([503, ['migrations']]);
    } finally {
      await t.db.query('DELETE FROM ledgerlink_migrations WHERE id = $1', [latest + 1]);
    }
    expect((await t.request('GET', '/ready')).status).toBe(200);
  });

  it('with a queue: 200 while it runs, 503 naming `queue` once it has stopped', async () => {
    const schema = `ready_${Date.now()}`;
    const queue = await JobQueue.start(t.db, silentLog, schema);
    // Wired as `serve` wires it: the queue behind the app's sync service.
    const app = await buildServer({
      db: t.db,
      sync: syncService(t.db, { queue }),
      config: {
        port: 0,
        host: '127.0.0.1',
        adminToken: undefined,
        tokenTtlSeconds: 60,
        logLevel: 'silent',
        bodyLimitBytes: 1024,
      },
      logger: false,
    });
    const ready = async () => {
      const res = await app.inject({ method: 'GET', url: '/ready' });
      return { status: res.statusCode, body: JSON.parse(res.body) };
    };
    try {
      const up = await ready();
      expect([up.status, up.body.checks?.queue]).toEqual([200, 'ok']);
      await queue.stop();
      const down = await ready();
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe('NOT_READY');
      expect(down.body.error.details.failed).toEqual(['queue']);
      expect(down.body.error.details.checks).toEqual({ database: 'ok', migrations: 'ok', queue: 'failed' });
    } finally {
      await app.close();
      await t.db.exec(`DROP SCHEMA ${schema} CASCADE`);
    }
  });

  it('a database that fails with any error: /health 503 SERVICE_UNAVAILABLE (not 500), /ready 503 naming `database`; both back when it answers', async () => {
    let down = false;
    // As PostgreSQL answers while a database takes no connections (ALTER DATABASE … ALLOW_CONNECTIONS
    // false, SQLSTATE 55000), or has too many clients (53300): errors not classed "unavailable".
    const refuse = () =>
      Promise.reject(
        Object.assign(new Error('database "ledgerlink" is not currently accepting connections'), { code: '55000' }),
      );
    const db = new Proxy(t.db, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        if (['query', 'exec', 'transaction'].includes(String(prop)))
          return (...a: unknown[]) => (down ? refuse() : (v as (...x: unknown[]) => unknown).apply(target, a));
        return (v as (...x: unknown[]) => unknown).bind(target);
      },
    });
    const app = await buildServer({
      db,
      config: {
        port: 0,
        host: '127.0.0.1',
        adminToken: undefined,
        tokenTtlSeconds: 60,
        logLevel: 'silent',
        bodyLimitBytes: 1024,
      },
      logger: false,
    });
    const get = async (url: string) => {
      const res = await app.inject({ method: 'GET', url });
      return { status: res.statusCode, body: JSON.parse(res.body) };
    };
    try {
      expect((await get('/health')).status).toBe(200);
      down = true;
      const health = await get('/health');
      expect([health.status, health.body.error?.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
      expect(health.body.error.message).toMatch(/database/i);
      const ready = await get('/ready');
      expect([ready.status, ready.body.error?.code, ready.body.error?.details?.failed]).toEqual([
        503,
        'NOT_READY',
        ['database', 'migrations'],
      ]);
      expect(ready.body.error.message).toContain('the database does not answer');
      down = false;
      expect((await get('/health')).status).toBe(200);
      expect((await get('/ready')).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('`ledgerlink serve --no-worker` (the API of a scaled-out deployment) starts the queue it sends jobs to: ready', async () => {
    const port = await freePort();
    const token = 'serve-metrics-token-0123456789';
    const cli = startCli(['serve', '--no-worker', '--no-demo'], {
      PORT: String(port),
      LEDGERLINK_DATA_DIR: 'memory',
      LEDGERLINK_METRICS_TOKEN: token,
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(
        () => `the server to answer\n${cli.output()}`,
        120_000,
        async () => ((await fetch(`${base}/health`)).ok ? true : undefined),
        200,
      );
      const ready = await fetch(`${base}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({
        status: 'ready',
        checks: { database: 'ok', migrations: 'ok', queue: 'ok' },
      });
      const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^ledgerlink_database_up 1$/m);
    } finally {
      await cli.stop();
    }
  }, 180_000);
});
