import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTemplate } from '../../test/helpers/db.ts';
import { type Database, isUniqueViolation, sqlState } from './database.ts';
import { openPglite } from './pglite.ts';
import { PgliteStatements } from './pglite-statements.ts';

async function rawPglite(): Promise<PGlite> {
  const from = await pgliteTemplate();
  return PGlite.create(from ? { loadDataDir: from } : {});
}

async function prepared(pg: PGlite): Promise<string[]> {
  const r = await pg.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
  return r.rows.map((row) => row.name);
}

describe('PGlite prepared statements', () => {
  let pg: PGlite;
  beforeAll(async () => {
    pg = await rawPglite();
    await pg.exec(`CREATE TABLE v (id int PRIMARY KEY, amount numeric(20, 2), big int8, day date, tags text[],
                                   doc jsonb, ok boolean, at timestamptz, note text)`);
  });
  afterAll(async () => {
    await pg.close();
  });

  it('returns what the unprepared path returns, for every type the ledger sends and reads', async () => {
    const statements = new PgliteStatements(pg);
    const insert = `INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`;
    const params = [
      1,
      '12345678901234.56',
      '9007199254740993',
      '2026-02-28',
      ['a', 'b,c', 'd"e', null],
      '{"k": [1, 2]}',
    ];
    const a = await statements.query<Record<string, unknown>>(insert, [...params, true, '2026-12-03T10:00:00Z', null]);
    const b = await pg.query(insert.replace('RETURNING *', 'RETURNING *'), [
      2,
      ...params.slice(1),
      true,
      '2026-12-03T10:00:00Z',
      null,
    ]);
    expect({ ...a.rows[0], id: 2 }).toEqual(b.rows[0]);
    expect(a.fields).toEqual(b.fields);
    expect(a.affectedRows).toBe(1);
    const select = 'SELECT * FROM v WHERE id = ANY($1::int[]) ORDER BY id';
    expect((await statements.query(select, [[1, 2]])).rows).toEqual((await pg.query(select, [[1, 2]])).rows);
  });

  it('executes every time with the parameters given, past the point where PostgreSQL caches a generic plan', async () => {
    const statements = new PgliteStatements(pg);
    const sql = 'SELECT $1::int * 2 AS twice, $2::text AS label';
    for (let i = 0; i < 12; i++) {
      const r = await statements.query<{ twice: number; label: string | null }>(sql, [i, i % 3 === 0 ? null : `n${i}`]);
      expect(r.rows).toEqual([{ twice: i * 2, label: i % 3 === 0 ? null : `n${i}` }]);
    }
    expect(statements.size).toBe(1);
  });

  it('keeps at most its limit of statements prepared on the connection, closing the least recently used', async () => {
    const before = await prepared(pg);
    const statements = new PgliteStatements(pg, 3);
    for (const n of [1, 2, 3]) await statements.query(`SELECT ${n} AS n WHERE $1::int IS NOT NULL`, [0]);
    await statements.query(`SELECT 1 AS n WHERE $1::int IS NOT NULL`, [0]); // 1 is now the most recent
    for (const n of [4, 5]) await statements.query(`SELECT ${n} AS n WHERE $1::int IS NOT NULL`, [0]);
    // Evicted statements are closed with the next execution.
    const r = await statements.query<{ n: number }>(`SELECT 1 AS n WHERE $1::int IS NOT NULL`, [0]);
    expect(r.rows).toEqual([{ n: 1 }]);
    const now = (await prepared(pg)).filter((name) => !before.includes(name));
    expect(now).toHaveLength(3);
    expect(statements.size).toBe(3);
  });

  it('reports a failed statement as PostgreSQL does and leaves the connection usable; a statement that does not parse is not kept', async () => {
    const statements = new PgliteStatements(pg);
    const err = await statements.query('INSERT INTO v (id) VALUES ($1)', [1]).catch((e: unknown) => e);
    expect(isUniqueViolation(err, 'v_pkey')).toBe(true);
    expect((err as Error).message).toMatch(/duplicate key/);
    const bad = 'SELEC $1::int';
    for (let i = 0; i < 2; i++) {
      const e = await statements.query(bad, [1]).catch((x: unknown) => x);
      expect(sqlState(e)).toBe('42601');
    }
    expect(statements.size).toBe(1);
    expect((await statements.query('SELECT count(*)::int AS n FROM v WHERE id > $1', [0])).rows).toEqual([{ n: 2 }]);
  });
});

describe('PGlite database: statements prepared across transactions and schema changes', () => {
  let db: Database;
  beforeAll(async () => {
    const from = await pgliteTemplate();
    db = await openPglite('memory', undefined, from ? { from } : {});
    await db.exec('CREATE TABLE w (id int PRIMARY KEY, name text)');
  });
  afterAll(async () => {
    await db.close();
  });

  it('sees a column added after a statement was prepared (the cache is dropped on a schema change)', async () => {
    await db.query('INSERT INTO w VALUES ($1, $2)', [1, 'one']);
    const sql = 'SELECT * FROM w WHERE id = $1';
    expect((await db.query(sql, [1])).rows).toEqual([{ id: 1, name: 'one' }]);
    await db.exec('ALTER TABLE w ADD COLUMN extra int DEFAULT 7');
    expect((await db.query(sql, [1])).rows).toEqual([{ id: 1, name: 'one', extra: 7 }]);
  });

  it('keeps a statement first prepared in a transaction that rolled back', async () => {
    const sql = 'SELECT name FROM w WHERE id = $1 AND name IS NOT NULL';
    await expect(
      db.transaction(async (tx) => {
        await tx.query(sql, [1]);
        await tx.query('INSERT INTO w (id, name) VALUES ($1, $2)', [2, 'two']);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect((await db.query(sql, [1])).rows).toEqual([{ name: 'one' }]);
    expect((await db.query('SELECT count(*)::int AS n FROM w')).rows).toEqual([{ n: 1 }]);
  });

  it('answers statements sent at once inside a transaction each with its own rows', async () => {
    const names = await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO w (id, name) SELECT g, 'n' || g FROM generate_series(10, 29) g`);
      return Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          tx.query<{ name: string }>('SELECT name FROM w WHERE id = $1', [10 + i]).then((r) => r.rows[0]!.name),
        ),
      );
    });
    expect(names).toEqual(Array.from({ length: 20 }, (_, i) => `n${10 + i}`));
  });
});
