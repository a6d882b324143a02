import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../../src/db/database.ts';

/*
 * What the tests of the ledger's read caches share (test/open-items-cache.test.ts,
 * test/gl-balances-cache.test.ts): each cache keeps a cursor per entity, the transaction id it was
 * refreshed up to, in a table of its own.
 */

/** The table of a cache's cursors. */
export type CursorTable = 'open_items_cursors' | 'gl_balances_cursors';

/** The entity's cursor in `table`, as text, or null before the cache's first read. */
export async function cacheCursor(db: Database, table: CursorTable, entityId: string): Promise<string | null> {
  const { rows } = await db.query<{ xid: string }>(`SELECT xid::text FROM ${table} WHERE entity_id = $1`, [entityId]);
  return rows[0]?.xid ?? null;
}

/** Whether the entity's cursor in `table` stays at or below `xid`: held back by the transaction of that id. */
export async function cursorHeldBy(db: Database, table: CursorTable, entityId: string, xid: string): Promise<boolean> {
  const { rows } = await db.query<{ held: boolean }>(
    `SELECT xid <= $2::xid8 AS held FROM ${table} WHERE entity_id = $1`,
    [entityId, xid],
  );
  return rows[0]!.held;
}

/** A second connection to the test database, to hold back what a cache may take in. */
export interface OtherConnection {
  /**
   * Runs `fn` while a transaction with an id stays open on this connection, so that nothing written
   * after it can be taken into a cache; `fn` is given that id. The transaction commits after.
   */
  holdingHorizon(fn: (xid: string) => Promise<void>): Promise<void>;
  /**
   * Runs `fn` while this connection holds the entity's cursor in `table` locked, as a reader
   * refreshing the cache would; then rolls back.
   */
  holdingRefresh(table: CursorTable, entityId: string, fn: () => Promise<void>): Promise<void>;
}

/**
 * A second connection to the test database's schema on PostgreSQL, opened before the tests of the
 * describe block that calls this and closed after them.
 */
export function otherConnection(db: () => Database): OtherConnection {
  let other: pg.Client | undefined;
  beforeAll(async () => {
    const schema = (db() as { schema?: string }).schema!;
    other = new pg.Client({ connectionString: process.env.DATABASE_URL, options: `-c search_path=${schema}` });
    await other.connect();
  });
  afterAll(async () => {
    await other?.end();
  });
  return {
    async holdingHorizon(fn) {
      await other!.query('BEGIN');
      const { rows } = await other!.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
      try {
        await fn(rows[0]!.xid);
      } finally {
        await other!.query('COMMIT');
      }
    },
    async holdingRefresh(table, entityId, fn) {
      await other!.query('BEGIN');
      await other!.query(`SELECT 1 FROM ${table} WHERE entity_id = $1 FOR UPDATE`, [entityId]);
      try {
        await fn();
      } finally {
        await other!.query('ROLLBACK');
      }
    },
  };
}

/** Awaits `writes` while three readers call `read` again and again; how many reads they made. */
export async function readsWhileWriting(writes: Promise<unknown>, read: () => Promise<unknown>): Promise<number> {
  let reads = 0;
  let writing = true;
  const reader = async () => {
    while (writing) {
      await read();
      reads++;
    }
  };
  const readers = Promise.all([reader(), reader(), reader()]);
  try {
    await writes;
  } finally {
    writing = false;
    await readers;
  }
  return reads;
}
