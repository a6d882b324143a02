import { PGlite, types } from '@electric-sql/pglite';
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DatabaseError,
  type Database,
  type QueryResult,
  type Queryable,
  type SqlParam,
  Mutex,
  nextSavepointName,
  toDriverParams,
} from './database.ts';

const TEXT_PARSERS = {
  [types.INT8]: (v: string) => v,
  [types.NUMERIC]: (v: string) => v,
  [types.DATE]: (v: string) => v,
};

type PgliteTx = Pick<PGlite, 'query' | 'exec'>;

/** The transaction open in this async context: on which database, and whether it is still open. */
interface OpenTransaction {
  db: PgliteScope;
  open: boolean;
}

const openTransaction = new AsyncLocalStorage<OpenTransaction>();

/**
 * PGlite has one connection behind a mutex that a transaction holds until it ends. A call on the
 * database itself (not on the transaction's `tx`) from inside the transaction's callback would wait
 * for that mutex forever; it fails at once instead, saying what to change.
 */
function refuseNestedUse(db: PgliteScope, what: string): void {
  const store = openTransaction.getStore();
  if (store?.open && store.db === db)
    throw new DatabaseError(
      `This code runs ${what} on the database while a transaction on it is open; pass the transaction (tx) instead ` +
        '(embedded PGlite has one connection: the call would wait for the transaction forever)',
      { code: 'NESTED_TRANSACTION' },
    );
}

class PgliteScope implements Queryable {
  constructor(
    protected readonly raw: PgliteTx,
    readonly inTransaction: boolean,
    private readonly mutex: Mutex | null,
  ) {}

  async query<T>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>> {
    if (this.mutex) refuseNestedUse(this, 'a query');
    const run = async () => {
      const r = await this.raw.query<T>(sql, toDriverParams(params));
      return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
    };
    return this.mutex ? this.mutex.run(run) : run();
  }

  async exec(sql: string): Promise<void> {
    if (this.mutex) refuseNestedUse(this, 'a script');
    const run = async () => {
      await this.raw.exec(sql);
    };
    return this.mutex ? this.mutex.run(run) : run();
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    if (this.inTransaction) {
      const sp = nextSavepointName();
      await this.raw.exec(`SAVEPOINT ${sp}`);
      try {
        const result = await fn(this);
        await this.raw.exec(`RELEASE SAVEPOINT ${sp}`);
        return result;
      } catch (err) {
        await this.raw.exec(`ROLLBACK TO SAVEPOINT ${sp}; RELEASE SAVEPOINT ${sp}`);
        throw err;
      }
    }
    refuseNestedUse(this, 'another transaction');
    const outer = this.mutex!;
    return outer.run(async () => {
      await this.raw.exec('BEGIN');
      const tx = new PgliteScope(this.raw, true, null);
      const store: OpenTransaction = { db: this, open: true };
      try {
        const result = await openTransaction.run(store, () => fn(tx));
        store.open = false;
        await this.raw.exec('COMMIT');
        return result;
      } catch (err) {
        store.open = false;
        // PGlite has one connection: a failed transaction left open would poison every later query.
        await this.raw.exec('ROLLBACK');
        throw err;
      }
    });
  }
}

class PgliteDatabase extends PgliteScope implements Database {
  readonly kind = 'pglite' as const;
  constructor(
    private readonly pg: PGlite,
    readonly description: string,
  ) {
    super(pg, false, new Mutex());
  }
  async close(): Promise<void> {
    await this.pg.close();
  }
}

/** Raised when another live process already has the PGlite folder open. */
export class DataDirInUseError extends Error {
  constructor(dir: string, pid: number) {
    super(
      `Another ledgerlink process (pid ${pid}) is using ${dir}. Embedded PostgreSQL allows one process per folder: ` +
        'stop it, use its HTTP API (e.g. POST /v1/pipelines/NAME/runs), or run on a PostgreSQL server (DATABASE_URL) to share it.',
    );
    this.name = 'DataDirInUseError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One process per folder: two PGlite instances writing one folder would corrupt it. */
function lockDataDir(dir: string): () => void {
  const file = join(dir, '.ledgerlink.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && alive(pid)) throw new DataDirInUseError(dir, pid);
      rmSync(file, { force: true }); // left by a process that is gone
    }
  }
  throw new Error(`Could not lock ${dir}`);
}

/** Opens embedded PostgreSQL: `dataDir` is a folder, or `memory` for a throw-away database. */
export async function openPglite(dataDir: string): Promise<Database> {
  const unlock = dataDir === 'memory' ? () => undefined : lockDataDir(dataDir);
  try {
    const pg = await PGlite.create(dataDir === 'memory' ? undefined : dataDir, { parsers: TEXT_PARSERS });
    const db = new PgliteDatabase(pg, dataDir === 'memory' ? 'PGlite (in memory)' : `PGlite (${dataDir})`);
    const close = db.close.bind(db);
    return Object.assign(db, {
      close: async () => {
        try {
          await close();
        } finally {
          unlock();
        }
      },
    });
  } catch (err) {
    unlock();
    throw err;
  }
}
