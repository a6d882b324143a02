import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import type { Database, Queryable } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { openDatabase } from '../../src/db/open.ts';
import { openPglite } from '../../src/db/pglite.ts';

/** The migrated cluster test/helpers/pglite-template.ts saved, read once per test process. */
let template: Promise<Blob> | undefined;

function readTemplate(file: string): Promise<Blob> {
  template ??= readFile(file).then((bytes) => new Blob([bytes]));
  return template;
}

/**
 * The suite's saved PGlite cluster, to start an in-memory PGlite from without running initdb (seconds);
 * undefined when the global setup saved none (on PostgreSQL).
 */
export async function pgliteTemplate(): Promise<Blob | undefined> {
  const file = process.env.LEDGERLINK_TEST_PGLITE_TEMPLATE;
  return file ? readTemplate(file) : undefined;
}

/**
 * Puts the suite's migrated cluster into `dir`, a PGlite folder that holds no database yet, for a
 * test that spawns the real command on it: its first start then takes a second instead of initdb
 * and every migration (8 s, twice that on a busy machine). Tests of what a first start does on a
 * fresh folder leave it out. False on PostgreSQL, where there is no folder.
 */
export async function seedPgliteFolder(dir: string): Promise<boolean> {
  const from = await pgliteTemplate();
  if (!from) return false;
  await mkdir(dir, { recursive: true });
  await (await openPglite(dir, undefined, { from })).close();
  return true;
}

async function openFromTemplate(file: string): Promise<Database> {
  const db = await openPglite('memory', undefined, { from: await readTemplate(file) });
  const applied = await migrate(db);
  if (applied.length > 0) throw new Error(`The PGlite test template missed migrations ${applied.join(', ')}`);
  return db;
}

/**
 * A fresh, migrated database for one test file: an in-memory PGlite by default, or its own schema
 * on the PostgreSQL server named by DATABASE_URL (dropped again by `close`).
 */
export async function createTestDatabase(): Promise<Database & { schema?: string }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const file = process.env.LEDGERLINK_TEST_PGLITE_TEMPLATE;
    return file ? openFromTemplate(file) : openDatabase({ dataDir: 'memory' });
  }
  const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const db = await openDatabase({ databaseUrl: url, schema, poolSize: 25 });
  const close = db.close.bind(db);
  return Object.assign(db, {
    schema,
    close: async () => {
      await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await close();
    },
  });
}

export const onPostgres = Boolean(process.env.DATABASE_URL);

/**
 * Waits until every transaction open now has ended. The ledger source reads only below the
 * server's oldest open transaction (pg_snapshot_xmin), so on a PostgreSQL shared with other test
 * files what was just committed can wait a moment behind someone else's transaction; after this,
 * a run sees all of it. On PGlite nobody else is there and it returns at once.
 */
export async function ledgerSettled(db: Database, timeoutMs = 30_000): Promise<void> {
  const { rows } = await db.query<{ next: string }>(`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS next`);
  const next = rows[0]!.next;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { rows: r } = await db.query<{ done: boolean }>(
      `SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS done`,
      [next],
    );
    if (r[0]!.done) return;
    if (Date.now() > until)
      throw new Error(`transactions open before xid ${next} still had not ended after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A transaction held open on a connection of its own, and the backend that runs it. */
export interface HeldTransaction<T> {
  /** What `hold` returned, inside the transaction. */
  result: T;
  /** Its backend's pid, to see who waits behind it (`waitBlockedBehind`). */
  pid: number;
  /** Lets it commit; resolves with `result` once it has. */
  release(): Promise<T>;
}

/**
 * Runs `hold` in a transaction of `db` (a pool of the test's own, beside the code under test) and
 * keeps the transaction, with the locks `hold` took, open until `release`: what a test starts
 * meanwhile and needs those rows waits for it, truly at the same time, on PostgreSQL.
 */
export async function holdTransaction<T>(
  db: Database,
  hold: (tx: Queryable) => Promise<T>,
): Promise<HeldTransaction<T>> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let holding!: (held: { result: T; pid: number }) => void;
  // The transaction's callback first runs once BEGIN has answered, after `holding` is set below.
  const committed = db.transaction(async (tx) => {
    const result = await hold(tx);
    holding({ result, pid: (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid });
    await released;
    return result;
  });
  const held = new Promise<{ result: T; pid: number }>((resolve, reject) => {
    holding = resolve;
    committed.catch(reject);
  });
  const { result, pid } = await held;
  return {
    result,
    pid,
    release: () => {
      release();
      return committed;
    },
  };
}

/**
 * Polls until some session is blocked behind backend `pid` (true), or until `stop` says there is
 * no point (the work finished without waiting) or `ms` pass (false).
 */
export async function waitBlockedBehind(
  db: Queryable,
  pid: number,
  o: { ms?: number; stop?: () => boolean } = {},
): Promise<boolean> {
  const deadline = Date.now() + (o.ms ?? 10_000);
  while (Date.now() < deadline && !o.stop?.()) {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1::int = ANY (pg_blocking_pids(pid))',
      [pid],
    );
    if (rows[0]!.n > 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}
