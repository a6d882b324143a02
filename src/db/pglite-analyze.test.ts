import { afterEach, describe, expect, it } from 'vitest';
import { onPostgres, pgliteTemplate } from '../../test/helpers/db.ts';
import type { Database } from './database.ts';
import type { Analyzer } from './pglite-analyze.ts';
import { openPglite } from './pglite.ts';

/*
 * The analyzer does for PGlite what autovacuum's analyze does for PostgreSQL (pglite-analyze.ts).
 * What it is for, plans made on small tables kept for good, is shown on the posting path by
 * test/pglite-plans.test.ts. PGlite's own: PostgreSQL has autovacuum.
 */
type Pglite = Database & { analyzer: Analyzer };
const open: Pglite[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
});

async function fresh(analyzeIntervalMs: number): Promise<Pglite> {
  const from = await pgliteTemplate();
  const db = await openPglite('memory', undefined, { ...(from ? { from } : {}), analyzeIntervalMs });
  open.push(db);
  await db.exec(`CREATE TABLE t (id serial PRIMARY KEY, ref text NOT NULL);
                 CREATE TABLE quiet (id serial PRIMARY KEY);
                 INSERT INTO quiet DEFAULT VALUES`);
  return db;
}

const analyzeCount = async (db: Database, table: string) =>
  Number(
    (
      await db.query<{ n: string }>(`SELECT analyze_count::text AS n FROM pg_stat_user_tables WHERE relname = $1`, [
        table,
      ])
    ).rows[0]!.n,
  );

describe.skipIf(onPostgres)('the PGlite analyzer', () => {
  it('ANALYZEs a table once more rows changed than autovacuum waits for (50 + 10 %), and only then', async () => {
    const db = await fresh(0);
    await db.query(`INSERT INTO t (ref) SELECT 'a' || i FROM generate_series(1, 50) i`);
    expect(await db.analyzer.tick()).toEqual([]); // 50 is not more than 50
    await db.query(`INSERT INTO t (ref) VALUES ('one more')`);
    expect(await db.analyzer.tick()).toEqual(['public.t']);
    // Nothing ran since its own statements: the next look sends nothing at all.
    const executed = (db as unknown as { executed: number }).executed;
    expect(await db.analyzer.tick()).toEqual([]);
    expect((db as unknown as { executed: number }).executed).toBe(executed);
    expect(await analyzeCount(db, 't')).toBe(1);
    // 51 rows counted at that ANALYZE: the next one after more than 50 + 5.1 changes.
    await db.query(`INSERT INTO t (ref) SELECT 'b' || i FROM generate_series(1, 55) i`);
    expect(await db.analyzer.tick()).toEqual([]);
    await db.query(`UPDATE t SET ref = ref || '!' WHERE id = 1`);
    expect(await db.analyzer.tick()).toEqual(['public.t']);
    expect(await analyzeCount(db, 'quiet')).toBe(0);
  });

  it('looks by itself every interval, not while a transaction holds the connection', async () => {
    const db = await fresh(50);
    await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO t (ref) SELECT 'h' || i FROM generate_series(1, 500) i`);
      await new Promise((r) => setTimeout(r, 200)); // several ticks pass while the transaction is open
      expect(db.analyzer.analyzed).toEqual([]);
    });
    const deadline = Date.now() + 10_000;
    while (!db.analyzer.analyzed.includes('public.t') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(db.analyzer.analyzed).toEqual(['public.t']);
    expect(db.analyzer.lastError).toBeNull();
    expect(await analyzeCount(db, 't')).toBe(1);
  });

  it('stops with the database: close waits for a look under way', async () => {
    const db = await fresh(0);
    await db.query(`INSERT INTO t (ref) SELECT 'c' || i FROM generate_series(1, 100) i`);
    const look = db.analyzer.tick();
    open.splice(open.indexOf(db), 1);
    await db.close();
    expect(await look).toEqual(['public.t']);
  });
});
