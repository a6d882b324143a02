import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Database } from './database.ts';
import { openPglite, unwritable } from './pglite.ts';
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

/**
 * Why the nearest existing folder above `dir` cannot be written, if it cannot: a recursive mkdir on a
 * read-only file system can fail with ENOENT instead of saying EROFS.
 */
function ancestorAccess(dir: string): unknown {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(d)) {
      try {
        accessSync(d, constants.W_OK);
        return null;
      } catch (err) {
        return err;
      }
    }
    if (dirname(d) === d) return null;
  }
}

/** Opens the configured database and brings its schema up to date. */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  let db: Database;
  if (config.databaseUrl) {
    db = await openPostgres(config.databaseUrl, { schema: config.schema, max: config.poolSize });
  } else {
    const dir = config.dataDir ?? './data';
    if (dir !== 'memory')
      await mkdir(dir, { recursive: true }).catch((err: unknown) => {
        throw unwritable(dir, err) ?? unwritable(dir, ancestorAccess(dir)) ?? err;
      });
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
