import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseError, type Database } from './database.ts';
import { openPglite } from './pglite.ts';

/** Fails the test instead of hanging it when `p` never settles (what a deadlock looks like). */
function within<T>(p: Promise<T>, ms = 3000): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)),
  ]);
}

async function count(db: Database): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
  return rows[0]!.n;
}

describe('PGlite: the database used inside its own transaction', () => {
  let db: Database;
  let other: Database;
  beforeAll(async () => {
    db = await openPglite('memory');
    other = await openPglite('memory');
    await db.exec('CREATE TABLE t (n int)');
    await other.exec('CREATE TABLE t (n int)');
  });
  afterAll(async () => {
    await db.close();
    await other.close();
  });

  it.each([
    ['query', (d: Database) => d.query('SELECT 1')],
    ['exec', (d: Database) => d.exec('SELECT 1')],
    ['transaction', (d: Database) => d.transaction((tx) => tx.query('SELECT 1'))],
  ])(
    'db.%s inside db.transaction fails at once with NESTED_TRANSACTION, and the transaction rolls back',
    async (_, call) => {
      const before = await count(db);
      const err = await within(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES (1)');
          await call(db);
        }),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseError);
      expect((err as DatabaseError).code).toBe('NESTED_TRANSACTION');
      expect((err as Error).message).toMatch(/pass the transaction \(tx\) instead/);
      // The connection is usable afterwards and the insert was rolled back.
      expect(await within(count(db))).toBe(before);
    },
  );

  it('is caught even several awaits deep, in a helper the callback calls', async () => {
    const helper = async (d: Database) => {
      await new Promise((r) => setTimeout(r, 5));
      return d.query('SELECT 1');
    };
    const err = await within(db.transaction(async () => helper(db))).catch((e: unknown) => e);
    expect((err as DatabaseError).code).toBe('NESTED_TRANSACTION');
  });

  it('leaves the right uses alone: tx inside, savepoints, another database, callers outside waiting their turn', async () => {
    const before = await count(db);
    let outsideDone = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const txDone = db.transaction(async (tx) => {
      await tx.query('INSERT INTO t VALUES (2)');
      await tx.transaction((sp) => sp.query('INSERT INTO t VALUES (3)'));
      await other.query('INSERT INTO t VALUES (4)');
      await gate;
      // A caller outside the transaction is queued behind it, not refused.
      expect(outsideDone).toBe(false);
    });
    const outside = db.query('SELECT 1').then(() => (outsideDone = true));
    release();
    await within(Promise.all([txDone, outside]));
    expect(outsideDone).toBe(true);
    expect(await count(db)).toBe(before + 2);
    expect(await count(other)).toBe(1);
  });

  it('lets work started inside a transaction use the database once the transaction is over', async () => {
    let later!: Promise<number>;
    await db.transaction(async (tx) => {
      await tx.query('SELECT 1');
      later = new Promise<void>((r) => setTimeout(r, 20)).then(() => count(db));
    });
    await expect(within(later)).resolves.toBeTypeOf('number');
  });
});

describe('PGlite outside the test suite: a nested call caught by the stall it causes', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openPglite('memory', { mode: 'stall', stallMs: 200 });
    await db.exec('CREATE TABLE t (n int)');
  });
  afterAll(async () => {
    await db.close();
  });

  it.each([
    ['query', (d: Database) => d.query('INSERT INTO t VALUES (9)')],
    ['transaction', (d: Database) => d.transaction((tx) => tx.query('INSERT INTO t VALUES (9)'))],
  ])('db.%s inside db.transaction fails with NESTED_TRANSACTION and never runs later', async (_, call) => {
    const before = await count(db);
    const err = await within(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (1)');
        await call(db);
      }),
    ).catch((e: unknown) => e);
    expect((err as DatabaseError).code).toBe('NESTED_TRANSACTION');
    expect((err as Error).message).toMatch(/sent nothing meanwhile/);
    await new Promise((r) => setTimeout(r, 50));
    // Neither the transaction's insert nor the abandoned call's insert is there.
    expect(await within(count(db))).toBe(before);
  });

  it('leaves a waiter alone while the transaction holding the connection keeps working', async () => {
    const before = await count(db);
    const txDone = db.transaction(async (tx) => {
      for (let i = 0; i < 8; i++) {
        await tx.query('INSERT INTO t VALUES (2)');
        await new Promise((r) => setTimeout(r, 60)); // 480 ms in all, never 200 ms idle
      }
    });
    const outside = db.query('INSERT INTO t VALUES (3)');
    await within(Promise.all([txDone, outside]));
    expect(await count(db)).toBe(before + 9);
  });
});
