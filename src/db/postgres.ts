import pg from 'pg';
import {
  type Database,
  type QueryResult,
  type Queryable,
  type SqlParam,
  isUniqueViolation,
  nextSavepointName,
  sqlState,
  toDriverParams,
} from './database.ts';

// int8, numeric, date stay text: amounts are parsed by the money module, dates are business dates.
const textTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === 20 || oid === 1700 || oid === 1082) return (v: string) => v;
    return (
      format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text')
    ) as unknown;
  }) as pg.CustomTypesConfig['getTypeParser'],
};

type ClientLike = pg.Pool | pg.PoolClient;

class PostgresScope implements Queryable {
  constructor(
    protected readonly client: ClientLike,
    readonly inTransaction: boolean,
  ) {}

  async query<T>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>> {
    const r = await this.client.query({ text: sql, values: toDriverParams(params), types: textTypes });
    return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await this.client.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    if (this.inTransaction) {
      const sp = nextSavepointName();
      await this.client.query(`SAVEPOINT ${sp}`);
      try {
        const result = await fn(this);
        await this.client.query(`RELEASE SAVEPOINT ${sp}`);
        return result;
      } catch (err) {
        await this.client.query(`ROLLBACK TO SAVEPOINT ${sp}`);
        throw err;
      }
    }
    const client = await (this.client as pg.Pool).connect();
    let broken = false;
    // A checked-out client has no listener of the pool's: a connection the server drops between
    // two statements (a restart) would emit 'error' to nobody and end the process. Its next
    // statement fails instead, and the transaction with it.
    const lost = () => {
      broken = true;
    };
    client.on('error', lost);
    try {
      await client.query('BEGIN');
      const result = await fn(new PostgresScope(client, true));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }
}

class PostgresDatabase extends PostgresScope implements Database {
  readonly kind = 'postgres' as const;
  constructor(
    private readonly pool: pg.Pool,
    readonly description: string,
  ) {
    super(pool, false);
  }
  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Connects to a PostgreSQL server. `schema` sets the search_path (tests give each file its own). */
export async function openPostgres(url: string, options: { schema?: string; max?: number } = {}): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  pool.on('error', () => {
    // An idle client dropped by the server is replaced on next use; nothing to do here.
  });
  const u = new URL(url);
  const db = new PostgresDatabase(pool, `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}`);
  try {
    if (options.schema) {
      try {
        await pool.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`);
      } catch (err) {
        // IF NOT EXISTS does not cover two sessions creating the schema at the same moment: the
        // loser fails on pg_namespace's unique index although the schema now exists, which is fine.
        if (!isUniqueViolation(err) && sqlState(err) !== '42P06') throw err;
      }
    }
    await db.query('SELECT 1');
  } catch (err) {
    // A database that is not there, or a server that refused: nothing is left open behind the error.
    await pool.end().catch(() => undefined);
    throw err;
  }
  return db;
}
