import type { FastifyInstance } from 'fastify';
import type { Database } from '../../src/db/database.ts';
import { buildServer } from '../../src/api/server.ts';
import type { AppConfig } from '../../src/api/services.ts';
import type { AnyRoute } from '../../src/api/route.ts';
import { createTestDatabase } from './db.ts';
import { syncService } from './sync.ts';
import type { SyncService } from '../../src/sync/service.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestResponse<T = any> {
  status: number;
  body: T;
  headers: Record<string, unknown>;
}

export interface Client {
  token: string;
  entityId: string;
  get<T = any>(path: string): Promise<TestResponse<T>>;
  post<T = any>(path: string, body: unknown, headers?: Record<string, string>): Promise<TestResponse<T>>;
  put<T = any>(path: string, body: unknown, headers?: Record<string, string>): Promise<TestResponse<T>>;
}

export interface TestApp {
  app: FastifyInstance;
  db: Database;
  sync: SyncService;
  close(): Promise<void>;
  request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestResponse<T>>;
  /** Creates an entity through the admin API and logs in as it. */
  entity(code?: string, baseCurrency?: string, extra?: Record<string, unknown>): Promise<Client>;
}

let entityCounter = 0;

/**
 * A second server on `db` and `sync`, not listening, for what a test app's server does not serve:
 * a sync service of the test's own (one with the durable queue), or `routes` registered after the
 * app's were listed, served beside all the others. Its admin token is one no test uses, its body
 * limit 1 MiB. Close it before the database.
 */
export function serverBeside(db: Database, sync: SyncService, routes: AnyRoute[] = []): Promise<FastifyInstance> {
  return buildServer({
    db,
    sync,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: 'unused-admin-token-0123456789',
      tokenTtlSeconds: 1200,
      logLevel: 'silent',
      bodyLimitBytes: 1024 * 1024,
    },
    logger: false,
    routes,
  });
}

/** An API over a fresh test database, or over `options.db` (which `close` then closes too). */
export async function createTestApp(
  config: Partial<AppConfig> = {},
  options: { db?: Database } = {},
): Promise<TestApp> {
  const db = options.db ?? (await createTestDatabase());
  const sync = syncService(db);
  const app = await buildServer({
    db,
    sync,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      tokenTtlSeconds: 1200,
      logLevel: 'silent',
      bodyLimitBytes: 20 * 1024 * 1024,
      ...config,
    },
    logger: false,
  });
  await app.ready();
  const request = async <T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await app.inject({
      method: method as 'GET',
      url: path,
      headers: {
        ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const type = String(res.headers['content-type'] ?? '');
    return {
      status: res.statusCode,
      body: (type.includes('json') && res.body ? JSON.parse(res.body) : res.rawPayload) as T,
      headers: res.headers as Record<string, unknown>,
    };
  };
  const clientFor = (token: string, entityId: string): Client => {
    const auth = { authorization: `Bearer ${token}` };
    return {
      token,
      entityId,
      get: (path) => request('GET', path, undefined, auth),
      post: (path, body, headers = {}) => request('POST', path, body, { ...auth, ...headers }),
      put: (path, body, headers = {}) => request('PUT', path, body, { ...auth, ...headers }),
    };
  };
  return {
    app,
    db,
    sync,
    request,
    close: async () => {
      await app.close();
      await db.close();
    },
    entity: async (code, baseCurrency = 'EUR', extra = {}) => {
      const c = code ?? `E${++entityCounter}`;
      const created = await request(
        'POST',
        '/v1/admin/entities',
        { code: c, name: `Entity ${c}`, baseCurrency, ...extra },
        {
          authorization: `Bearer ${ADMIN_TOKEN}`,
        },
      );
      if (created.status !== 201) throw new Error(`entity create failed: ${JSON.stringify(created.body)}`);
      const login = await request('POST', '/v1/auth/login', {
        entityId: created.body.entityId,
        partnerKey: created.body.partnerKey,
        userKey: created.body.userKey,
      });
      if (login.status !== 200) throw new Error(`login failed: ${JSON.stringify(login.body)}`);
      return clientFor(login.body.token, created.body.entityId);
    },
  };
}
