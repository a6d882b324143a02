import { randomBytes } from 'node:crypto';
import type { Database } from '../../src/db/database.ts';
import { openDatabase } from '../../src/db/open.ts';

/**
 * A fresh, migrated database for one test file: an in-memory PGlite by default, or its own schema
 * on the PostgreSQL server named by DATABASE_URL (dropped again by `close`).
 */
export async function createTestDatabase(): Promise<Database & { schema?: string }> {
  const url = process.env.DATABASE_URL;
  if (!url) return openDatabase({ dataDir: 'memory' });
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
