import { PGlite, types } from '@electric-sql/pglite';
import {
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

class PgliteScope implements Queryable {
  constructor(
    protected readonly raw: PgliteTx,
    readonly inTransaction: boolean,
    private readonly mutex: Mutex | null,
  ) {}

  async query<T>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>> {
    const run = async () => {
      const r = await this.raw.query<T>(sql, toDriverParams(params));
      return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
    };
    return this.mutex ? this.mutex.run(run) : run();
  }

  async exec(sql: string): Promise<void> {
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
    const outer = this.mutex!;
    return outer.run(async () => {
      await this.raw.exec('BEGIN');
      const tx = new PgliteScope(this.raw, true, null);
      try {
        const result = await fn(tx);
        await this.raw.exec('COMMIT');
        return result;
      } catch (err) {
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

/** Opens embedded PostgreSQL: `dataDir` is a folder, or `memory` for a throw-away database. */
export async function openPglite(dataDir: string): Promise<Database> {
  const pg = await PGlite.create(dataDir === 'memory' ? undefined : dataDir, { parsers: TEXT_PARSERS });
  return new PgliteDatabase(pg, dataDir === 'memory' ? 'PGlite (in memory)' : `PGlite (${dataDir})`);
}
