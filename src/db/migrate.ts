import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { alignChangeClock } from './change-clock.ts';
import type { Database } from './database.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
// Any fixed 64-bit number: the advisory lock every migrating process takes.
const MIGRATION_LOCK = 7_304_118_411;
/** The migration that makes the change order a clock of its own (src/db/change-clock.ts). */
const CHANGE_CLOCK = 110;

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      id: Number(file.slice(0, 4)),
      name: file.replace(/\.sql$/, ''),
      sql: await readFile(dir + file, 'utf8'),
    })),
  );
}

let latest: Promise<number> | undefined;

/** The id of the newest migration this version ships (read once): readiness compares the database's with it. */
export function latestMigrationId(): Promise<number> {
  latest ??= loadMigrations().then((all) => Math.max(0, ...all.map((m) => m.id)));
  return latest;
}

/**
 * Applies pending migrations, forward only, in one transaction under an advisory lock, so two
 * processes starting together on one PostgreSQL server apply each migration exactly once.
 * Returns the names applied by this call.
 */
export async function migrate(db: Database, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS ledgerlink_migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await tx.query<{ id: number }>('SELECT id FROM ledgerlink_migrations');
    const applied = new Set(rows.map((r) => r.id));
    const latestKnown = Math.max(0, ...all.map((m) => m.id));
    const unknown = rows.filter((r) => r.id > latestKnown);
    if (unknown.length > 0) {
      throw new Error(
        `The database has migrations this version of ledgerlink does not know (${unknown.map((r) => r.id).join(', ')}). Upgrade ledgerlink; migrations are forward only.`,
      );
    }
    const done: string[] = [];
    for (const m of all) {
      if (applied.has(m.id)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO ledgerlink_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
      done.push(m.name);
      applied.add(m.id);
    }
    // A database restored into another cluster: the change order moves past what it holds (0110).
    if (applied.has(CHANGE_CLOCK)) await alignChangeClock(tx);
    return done;
  });
}
