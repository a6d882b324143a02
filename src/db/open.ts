import { mkdir } from 'node:fs/promises';
import type { Database } from './database.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';
import { migrate } from './migrate.ts';
import { integerSetting } from '../settings.ts';

export interface DatabaseConfig {
  /** `postgres://...` to use a server; otherwise embedded PGlite. */
  databaseUrl?: string | undefined;
  /** PGlite folder, or `memory`. */
  dataDir?: string | undefined;
  schema?: string | undefined;
  poolSize?: number | undefined;
}

export function databaseConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.LEDGERLINK_DATA_DIR || './data',
    schema: env.LEDGERLINK_DB_SCHEMA || undefined,
    poolSize: env.LEDGERLINK_DB_POOL
      ? integerSetting(env, 'LEDGERLINK_DB_POOL', { default: 10, min: 1, max: 1000 })
      : undefined,
  };
}

/** Opens the configured database and brings its schema up to date. */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  let db: Database;
  if (config.databaseUrl) {
    db = await openPostgres(config.databaseUrl, { schema: config.schema, max: config.poolSize });
  } else {
    const dir = config.dataDir ?? './data';
    if (dir !== 'memory') await mkdir(dir, { recursive: true });
    db = await openPglite(dir);
  }
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
