import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTemplate } from '../../test/helpers/db.ts';
import { DatabaseError, type Database } from './database.ts';
import { type NestedCheck, PGLITE_SETTINGS, openPglite } from './pglite.ts';

/**
 * An in-memory PGlite, started from the suite's saved cluster when there is one: what these tests
 * look at does not depend on initdb, which would cost seconds for each.
 */
async function inMemory(check?: NestedCheck): Promise<Database> {
  const from = await pgliteTemplate();
  return openPglite('memory', check, from ? { from } : {});
}

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
    db = await inMemory();
    other = await inMemory();
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
    db = await inMemory({ mode: 'stall', stallMs: 200 });
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

describe('PGlite in a folder, as the app opens it', { timeout: 300_000 }, () => {
  const dirs: string[] = [];
  const folder = () => {
    const dir = mkdtempSync(join(tmpdir(), 'll-pglite-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  async function settings(db: Database): Promise<Record<string, string>> {
    const { rows } = await db.query<{ name: string; setting: string }>(
      `SELECT name, current_setting(name) AS setting FROM pg_settings
        WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_level')`,
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  }

  it('runs with the memory settings of PGLITE_SETTINGS, on a fresh folder and again after a reopen', async () => {
    expect(PGLITE_SETTINGS.shared_buffers).toBe('16MB');
    const dir = folder();
    const db = await openPglite(dir);
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
    expect((await settings(db)).shared_buffers).toBe(PGLITE_SETTINGS.shared_buffers);
    await db.close();
    const again = await openPglite(dir);
    try {
      expect((await settings(again)).shared_buffers).toBe(PGLITE_SETTINGS.shared_buffers);
    } finally {
      await again.close();
    }
  });

  it('starts an empty folder from a snapshot, which stays there; a folder holding a database is not overwritten', async () => {
    const source = await inMemory();
    let snapshot: Blob;
    try {
      await source.exec('CREATE TABLE kept (n int PRIMARY KEY); INSERT INTO kept VALUES (7)');
      snapshot = await (source as Database & { snapshot(): Promise<Blob> }).snapshot();
    } finally {
      await source.close();
    }
    const dir = folder();
    const db = await openPglite(dir, undefined, { from: snapshot });
    try {
      expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
      expect((await settings(db)).shared_buffers).toBe(PGLITE_SETTINGS.shared_buffers);
      await db.transaction((tx) => tx.query('INSERT INTO kept VALUES (8)'));
    } finally {
      await db.close();
    }
    await expect(openPglite(dir, undefined, { from: snapshot })).rejects.toThrow(
      `${dir} already holds a database; a snapshot starts only an empty folder`,
    );
    const reopened = await openPglite(dir);
    try {
      const { rows } = await reopened.query<{ n: number }>('SELECT n FROM kept ORDER BY n');
      expect(rows.map((r) => r.n)).toEqual([7, 8]);
    } finally {
      await reopened.close();
    }
  });

  it('has a committed row on disk at COMMIT: a copy of the folder taken before close has it', async () => {
    const dir = folder();
    const db = await openPglite(dir);
    let copy: Database | null = null;
    try {
      // Commits are synchronous: the memory settings must never trade a committed row away.
      expect((await settings(db)).synchronous_commit).toBe('on');
      await db.exec('CREATE TABLE kept (n int PRIMARY KEY)');
      await db.transaction((tx) => tx.query('INSERT INTO kept VALUES (1), (2)'));
      // What a crash would leave: the files as they are now, the process still running.
      const snapshot = folder();
      cpSync(dir, snapshot, { recursive: true, filter: (src) => !src.endsWith('.ledgerlink.pid') });
      copy = await openPglite(snapshot);
      const { rows } = await copy.query<{ n: number }>('SELECT n FROM kept ORDER BY n');
      expect(rows.map((r) => r.n)).toEqual([1, 2]);
    } finally {
      await copy?.close();
      await db.close();
    }
    const reopened = await openPglite(dir);
    try {
      const { rows } = await reopened.query<{ n: string }>('SELECT count(*) AS n FROM kept');
      expect(rows[0]!.n).toBe('2');
    } finally {
      await reopened.close();
    }
  });
});
