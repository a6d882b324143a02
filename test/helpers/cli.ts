import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { databaseConfigFromEnv, openDatabase } from '../../src/db/open.ts';
import { createEntity } from '../../src/ledger/entities.ts';
import { PipelineDefinition, savePipeline } from '../../src/sync/pipelines.ts';
import { SecretBox } from '../../src/sync/secrets.ts';
import { onPostgres, seedPgliteFolder } from './db.ts';
import type { ProcessScope } from './scoped.ts';

const BIN = fileURLToPath(new URL('../../bin/ledgerlink.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A place for the `ledgerlink` command to work in, as a user has it: its own folder (PGlite data in
 * ./data, migrated already unless `data: 'none'`), or its own schema on the PostgreSQL server named
 * by DATABASE_URL. `run` spawns the real command; `open` opens the same database from the test,
 * between commands (PGlite allows one process at a time, so close it before the next `run`).
 */
export interface CliPlace {
  dir: string;
  env: NodeJS.ProcessEnv;
  run(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<CliResult>;
  open(): Promise<Database>;
  close(): Promise<void>;
}

export async function cliPlace(options: { data?: 'migrated' | 'none' } = {}): Promise<CliPlace> {
  const dir = await mkdtemp(join(tmpdir(), 'ledgerlink-cli-'));
  const url = process.env.DATABASE_URL;
  // On PGlite, ./data starts as the suite's migrated cluster (seedPgliteFolder) unless a test wants none.
  if (!url && (options.data ?? 'migrated') === 'migrated') await seedPgliteFolder(join(dir, 'data'));
  const schema = url ? `cli_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}` : undefined;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LEDGERLINK_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64'),
    ...(url ? { DATABASE_URL: url, LEDGERLINK_DB_SCHEMA: schema } : {}),
  };
  const config = () => (url ? { databaseUrl: url, schema } : { dataDir: join(dir, 'data') });
  return {
    dir,
    env,
    run: (args, extraEnv = {}) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [BIN, ...args],
          { cwd: dir, env: { ...env, ...extraEnv }, timeout: 120_000 },
          (err, stdout, stderr) => {
            const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      }),
    open: () => openDatabase(config()),
    close: async () => {
      if (url) {
        const db = await openDatabase(config());
        await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await db.close();
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * For a describe block that runs `ledgerlink import` in this process: a fresh folder
 * (`ledgerlink-<name>-…`) as LEDGERLINK_DATA_DIR, or on PostgreSQL a schema of its own
 * (`<name>_…`), holding the entity CLI and its file pipeline `cli-files`; set through `scope` before
 * the block's tests, removed after them. The returned function gives the folder.
 */
export function cliImportPlace(scope: ProcessScope, name: string): () => string {
  let dir = '';
  const schema = `${name}_${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `ledgerlink-${name}-`));
    scope.env('LEDGERLINK_DATA_DIR', dir);
    // The key belongs to the database: required on PostgreSQL, as for any command.
    scope.env('LEDGERLINK_ENCRYPTION_KEY', Buffer.alloc(32, 5).toString('base64'));
    if (onPostgres) scope.env('LEDGERLINK_DB_SCHEMA', schema);
    const db = await openDatabase(databaseConfigFromEnv());
    try {
      const { entity } = await db.transaction((tx) =>
        createEntity(tx, { code: 'CLI', name: 'CLI', baseCurrency: 'EUR', standardTaxRate: '0.21' }),
      );
      const def = PipelineDefinition.parse({ name: 'cli-files', entity: 'CLI', source: { type: 'file' } });
      await db.transaction((tx) => savePipeline(tx, SecretBox.fromEnv(), entity.id, def, 'api'));
    } finally {
      await db.close();
    }
  });
  afterAll(async () => {
    if (onPostgres) {
      const db = await openDatabase(databaseConfigFromEnv());
      await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    }
    await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}
