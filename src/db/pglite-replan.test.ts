import { afterEach, describe, expect, it } from 'vitest';
import { onPostgres, pgliteTemplate } from '../../test/helpers/db.ts';
import type { Database } from './database.ts';
import type { Replanner } from './pglite-replan.ts';
import { openPglite } from './pglite.ts';

/*
 * The replanner ANALYZEs PGlite's tables as they grow, so cached plans are made again (pglite-replan.ts). What it is
 * for, a plan made on a small table kept for good, is shown on the posting path by
 * test/pglite-plans.test.ts. PGlite's own: PostgreSQL has autovacuum.
 */
type Pglite = Database & { replanner: Replanner };
const open: Pglite[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
});

async function fresh(replanIntervalMs: number): Promise<Pglite> {
  const from = await pgliteTemplate();
  const db = await openPglite('memory', undefined, { ...(from ? { from } : {}), replanIntervalMs });
  open.push(db);
  await db.exec(`CREATE TABLE t (id serial PRIMARY KEY, ref text NOT NULL)`);
  return db;
}

const executed = (db: Database) => (db as unknown as { executed: number }).executed;
const insert = (db: Database, n: number) =>
  db.query(`INSERT INTO t (ref) SELECT 'r' || i FROM generate_series(1, $1::int) i`, [n]);

/** A generic plan cached by the server (EXPLAIN EXECUTE shows the one in use). */
async function cachedPlan(db: Database): Promise<string> {
  const { rows } = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE by_ref('r1')`);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

describe.skipIf(onPostgres)('the PGlite replanner', () => {
  it('ANALYZEs a table once it has more than doubled (and grown by more than 50 rows), and only then', async () => {
    const db = await fresh(0);
    await insert(db, 50);
    expect(await db.replanner.tick()).toEqual([]); // 50 rows more than nothing is not more than 50
    await insert(db, 1);
    expect(await db.replanner.tick()).toEqual(['public.t']);
    // Nothing ran since its own statements: the next look sends nothing at all.
    const before = executed(db);
    expect(await db.replanner.tick()).toEqual([]);
    expect(executed(db)).toBe(before);
    // 51 rows at its last ANALYZE: not before more than 102.
    await insert(db, 51);
    expect(await db.replanner.tick()).toEqual([]);
    await insert(db, 1);
    expect(await db.replanner.tick()).toEqual(['public.t']);
    expect(db.replanner.replanned).toEqual([['public.t'], ['public.t']]);
    const { rows } = await db.query<{ n: string }>(
      `SELECT analyze_count::text AS n FROM pg_stat_user_tables WHERE relname = 't'`,
    );
    expect(rows[0]!.n).toBe('2');
  });

  it('makes a plan kept since the table was small again', async () => {
    const db = await fresh(0);
    await db.exec(`CREATE INDEX t_ref ON t (ref); PREPARE by_ref(text) AS SELECT id FROM t WHERE ref = $1`);
    // Generic from the sixth execution on, as every prepared statement of the posting path.
    for (let i = 0; i < 6; i++) await db.exec(`EXECUTE by_ref('r1')`);
    const small = await cachedPlan(db);
    await insert(db, 50_000);
    expect(await cachedPlan(db)).toBe(small); // kept as the table grew
    expect(await db.replanner.tick()).toEqual(['public.t']);
    expect(await cachedPlan(db)).not.toBe(small);
  });

  it('looks by itself every interval, not while a transaction holds the connection', async () => {
    const db = await fresh(50);
    await db.transaction(async (tx) => {
      await insert(tx as Database, 500);
      await new Promise((r) => setTimeout(r, 200)); // several ticks pass while the transaction is open
      expect(db.replanner.replanned).toEqual([]);
    });
    const deadline = Date.now() + 10_000;
    while (db.replanner.replanned.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(db.replanner.replanned).toEqual([['public.t']]);
    expect(db.replanner.lastError).toBeNull();
  });

  it('stops with the database: close waits for a look under way', async () => {
    const db = await fresh(0);
    await insert(db, 100);
    const look = db.replanner.tick();
    open.splice(open.indexOf(db), 1);
    await db.close();
    expect(await look).toEqual(['public.t']);
  });
});
