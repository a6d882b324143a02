import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { isDatabaseUnavailable } from '../src/db/database.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { onPostgres } from './helpers/db.ts';

/*
 * What PostgreSQL answers while it cannot take a connection means "retry later": the API answers
 * 503 SERVICE_UNAVAILABLE with Retry-After and a worker waits for the database, rather than a 500
 * "unhandled error" and a failed run (found by the operations review: a database closed to new
 * connections, as an administrator does for maintenance, made every route answer 500). The codes
 * themselves are in src/db/database.test.ts; this is the real server's answer. PostgreSQL only.
 */
// A database of its own: closing it to connections must not touch the one the other tests use.
const name = `ll_closed_${process.pid}`;
let admin: pg.Client | null = null;

beforeAll(async () => {
  if (!onPostgres) return;
  admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
});
afterAll(async () => {
  if (!admin) return;
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
});

describe.skipIf(!onPostgres)('a database closed to new connections', () => {
  it('fails a query as "database unavailable", and answers again once it is opened', async () => {
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${name}`;
    const db = await openPostgres(url.toString(), { max: 1 });
    try {
      await db.query('SELECT 1');
      await admin!.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin!.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
      await new Promise((r) => setTimeout(r, 200));
      const failures: unknown[] = [];
      // The first query may meet the terminated connection; the next opens a new one, refused.
      for (let i = 0; i < 2; i++)
        failures.push(
          await db.query('SELECT 1').then(
            () => null,
            (e: unknown) => e,
          ),
        );
      const refused = failures.at(-1) as { code?: string } | null;
      expect(refused?.code).toBe('55000');
      for (const f of failures) expect(isDatabaseUnavailable(f)).toBe(true);
      await admin!.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1);
    } finally {
      await db.close();
    }
  });
});
