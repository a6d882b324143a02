import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../../src/db/migrate.ts';
import { openPglite } from '../../src/db/pglite.ts';

/**
 * Vitest global setup: one in-memory PGlite, migrated, saved as a tarball that every test file's
 * fresh database starts from (test/helpers/db.ts). Starting a cluster runs initdb, which costs
 * seconds per file; loading the tarball skips it and the migrations. Each file still gets a
 * database of its own, and `createTestDatabase` runs `migrate` on it, which must find nothing to do.
 * Vitest runs the global setup of the root configuration and of each project (vitest.config.ts):
 * the first to run saves the template, the others use it.
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.DATABASE_URL) return async () => undefined;
  const saved = process.env.LEDGERLINK_TEST_PGLITE_TEMPLATE;
  if (saved && existsSync(saved)) return async () => undefined;
  const db = await openPglite('memory');
  try {
    await migrate(db);
    const file = join(tmpdir(), `ledgerlink-pglite-template-${process.pid}.tar`);
    await writeFile(file, Buffer.from(await (await db.snapshot()).arrayBuffer()));
    process.env.LEDGERLINK_TEST_PGLITE_TEMPLATE = file;
    return async () => rm(file, { force: true });
  } finally {
    await db.close();
  }
}
