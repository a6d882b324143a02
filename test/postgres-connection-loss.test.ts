import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, isDatabaseUnavailable } from '../src/db/database.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { createTestDatabase, onPostgres } from './helpers/db.ts';

/*
 * A PostgreSQL server that ends a connection while a transaction holds it (a restart, an
 * administrator's pg_terminate_backend): the transaction fails with an error that says the
 * database is unavailable, nothing of it is committed, and the process goes on. Before, the
 * checked-out client emitted 'error' to no listener and Node ended the process
 * (found by `npm run bench:outage`). PostgreSQL only: PGlite has no connections to lose.
 */

let db: Database & { schema?: string };
let admin: Database;

beforeAll(async () => {
  if (!onPostgres) return;
  db = await createTestDatabase();
  admin = await openPostgres(process.env.DATABASE_URL!);
  await db.exec('CREATE TABLE lost_writes (n int)');
});
afterAll(async () => {
  await admin?.close();
  await db?.close();
});

describe.skipIf(!onPostgres)('a connection lost in the middle of a transaction', () => {
  it('fails the transaction as "database unavailable", commits nothing, and leaves the process and the pool working', async () => {
    const failed = await db
      .transaction(async (tx) => {
        await tx.query('INSERT INTO lost_writes VALUES (1)');
        const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        // Between two statements the server's FATAL arrives and the socket closes.
        await new Promise((r) => setTimeout(r, 200));
        await tx.query('INSERT INTO lost_writes VALUES (2)');
      })
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(failed).not.toBeNull();
    expect(isDatabaseUnavailable(failed)).toBe(true);
    // The pool replaces the connection; nothing of the transaction was committed.
    const { rows } = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM lost_writes');
    expect(rows[0]!.n).toBe('0');
    await db.transaction((tx) => tx.query('INSERT INTO lost_writes VALUES (3)'));
    expect((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM lost_writes')).rows[0]!.n).toBe('1');
  });
});
