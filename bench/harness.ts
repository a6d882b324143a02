import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import type { Database } from '../src/db/database.ts';
import { openDatabase } from '../src/db/open.ts';
import { buildServer } from '../src/api/server.ts';
import { CUSTOMER_COUNT } from './workload.ts';

export type DbKind = 'pglite' | 'postgres';

export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';

/** A fresh, migrated database: an in-memory PGlite, or a new schema on a server (dropped by `close`). */
export interface BenchDatabase {
  db: Database;
  kind: DbKind;
  /** Where it lives, without credentials. */
  label: string;
  close(): Promise<void>;
}

/** Tries the server with a short timeout; returns why it cannot be used, or null. */
export async function postgresUnavailable(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function openBenchDatabase(kind: DbKind, url: string): Promise<BenchDatabase> {
  if (kind === 'pglite') {
    const db = await openDatabase({ dataDir: 'memory' });
    return { db, kind, label: 'PGlite (in memory)', close: () => db.close() };
  }
  const schema = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const dropSchema = async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  };
  let db: Database;
  try {
    db = await openDatabase({ databaseUrl: url, schema, poolSize: 4 });
  } catch (err) {
    await dropSchema().catch(() => undefined);
    throw err;
  }
  const u = new URL(url);
  return {
    db,
    kind,
    label: `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}, schema ${schema}`,
    close: async () => {
      await db.close();
      await dropSchema();
    },
  };
}

export interface Response {
  status: number;
  body: string;
}

/** An entity of the app, logged in: requests go through the whole Fastify stack via `inject`. */
export interface EntityClient {
  entityId: string;
  /** `created_by` of what this entity's token posts. */
  actor: string;
  /** The bearer token's header, for a client outside the process (bench/http-load.ts). */
  headers: Record<string, string>;
  request(method: 'GET' | 'POST', url: string, payload?: string): Promise<Response>;
}

export interface BenchApp {
  app: FastifyInstance;
  db: Database;
  entity(code: string): Promise<EntityClient>;
  /** Listens on a free port of 127.0.0.1 and returns the base URL (`http://127.0.0.1:<port>`). */
  listen(): Promise<string>;
  close(): Promise<void>;
}

async function inject(
  app: FastifyInstance,
  method: 'GET' | 'POST',
  url: string,
  headers: Record<string, string>,
  payload?: string,
): Promise<Response> {
  const res = await app.inject({
    method,
    url,
    headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { payload }),
  });
  return { status: res.statusCode, body: res.body };
}

/** Builds the real HTTP application on `db`, without a logger (as a quiet production server would be). */
export async function startApp(db: Database): Promise<BenchApp> {
  const app = await buildServer({
    db,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      tokenTtlSeconds: 24 * 3600,
      logLevel: 'silent',
      bodyLimitBytes: 20 * 1024 * 1024,
    },
    logger: false,
  });
  await app.ready();
  return {
    app,
    db,
    close: () => app.close(),
    listen: () => app.listen({ port: 0, host: '127.0.0.1' }),
    entity: async (code) => {
      const created = await inject(
        app,
        'POST',
        '/v1/admin/entities',
        { authorization: `Bearer ${ADMIN_TOKEN}` },
        JSON.stringify({ code, name: `Bench ${code}`, baseCurrency: 'EUR', standardTaxRate: '0.21' }),
      );
      if (created.status !== 201) throw new Error(`creating entity ${code} failed: ${created.body}`);
      const keys = JSON.parse(created.body) as { entityId: string; partnerKey: string; userKey: string };
      const credentials = { entityId: keys.entityId, partnerKey: keys.partnerKey, userKey: keys.userKey };
      const login = await inject(app, 'POST', '/v1/auth/login', {}, JSON.stringify(credentials));
      if (login.status !== 200) throw new Error(`login as ${code} failed: ${login.body}`);
      const { token } = JSON.parse(login.body) as { token: string };
      const { rows } = await db.query<{ id: string }>('SELECT id FROM api_credentials WHERE entity_id = $1', [
        keys.entityId,
      ]);
      await seedCustomers(db, keys.entityId, CUSTOMER_COUNT);
      const auth = { authorization: `Bearer ${token}` };
      return {
        entityId: keys.entityId,
        actor: `credential:${rows[0]!.id}`,
        headers: auth,
        request: (method, url, payload) => inject(app, method, url, auth, payload),
      };
    },
  };
}

/** Customers C000 … C(n-1), EUR, 30 days, the default accounts (the customers API has its own tests). */
export async function seedCustomers(db: Database, entityId: string, count: number): Promise<void> {
  await db.query(
    `INSERT INTO customers (entity_id, code, name, currency, control_gl_account_code, default_tax_code,
                            default_gl_account_code)
     SELECT $1, 'C' || lpad(n::text, 3, '0'), 'Customer ' || n, 'EUR', '1100', 'STD', '4000'
       FROM generate_series(0, $2::int - 1) AS n`,
    [entityId, count],
  );
}

/** The same setup without the HTTP application, for the raw-SQL baseline. */
export async function baselineEntity(db: Database, code: string): Promise<{ entityId: string }> {
  const bench = await startApp(db);
  try {
    const e = await bench.entity(code);
    return { entityId: e.entityId };
  } finally {
    await bench.close();
  }
}
