import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { Database } from '../src/db/database.ts';
import { createTestDatabase, onPostgres } from './helpers/db.ts';

/*
 * The command line as an operator meets it, one process per command: a command run from a
 * directory holding a ledgerlink.yaml does not apply it (only serve, worker and `config apply` do),
 * and on PostgreSQL no command starts without the database's key.
 */
const BIN = resolve('bin/ledgerlink.js');
const work = mkdtempSync(join(tmpdir(), 'ledgerlink-cli-'));
const KEY = Buffer.alloc(32, 5).toString('base64');

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: work, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...env }, timeout: 180_000 },
      (err, stdout, stderr) => done({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

writeFileSync(
  join(work, 'ledgerlink.yaml'),
  stringify({
    entities: [{ code: 'CLUB', name: 'Club', baseCurrency: 'EUR' }],
    pipelines: [{ name: 'shop', entity: 'CLUB', source: { type: 'webhook' }, webhookSecret: 'shop-secret-0123456789' }],
  }),
);
writeFileSync(
  join(work, 'bad.yaml'),
  stringify({
    pipelines: [
      { name: 'a', entity: 'CLUB', source: { type: 'ixpol' } },
      { name: 'b', entity: 'CLUB', source: { type: 'webhook' }, schedule: 'every 15 minutes' },
    ],
  }),
);

let db: (Database & { schema?: string }) | null = null;
afterAll(async () => {
  await db?.close();
  rmSync(work, { recursive: true, force: true });
});

describe.runIf(!onPostgres)(
  'PGlite: the data folder holds the key and the configuration is applied only when asked',
  () => {
    const env = { LEDGERLINK_DATA_DIR: join(work, 'data') };

    it('exceptions list does not apply ./ledgerlink.yaml (nor create a folder); config apply shows the plan, then applies it', async () => {
      // A read-only command on a folder with no data refuses, and applies nothing: no folder appears.
      const list = await cli(['exceptions', 'list'], env);
      expect(list).toMatchObject({ code: 1, stdout: '', stderr: expect.stringContaining('DATA_FOLDER_NOT_FOUND') });
      expect(existsSync(env.LEDGERLINK_DATA_DIR)).toBe(false);
      const dry = await cli(['config', 'apply', '--dry-run'], env);
      expect(dry.stdout).toBe(
        '+ entity CLUB: create\n+ pipeline shop (CLUB): create; secrets: webhookSecret added\ndry run: nothing was written\n',
      );
      const applied = await cli(['config', 'apply'], env);
      expect(applied).toMatchObject({ code: 0, stdout: expect.stringContaining('applied ./ledgerlink.yaml') });
      expect(applied.stdout).not.toContain('shop-secret');
      const after = await cli(['exceptions', 'list'], env);
      expect(after).toMatchObject({ code: 0, stdout: 'no open exceptions\n', stderr: '' });
    }, 600_000);

    it('keys rotate replaces the key file and the secrets stay readable', async () => {
      const file = join(work, 'data', '.encryption-key');
      const before = readFileSync(file, 'utf8');
      const rotated = await cli(['keys', 'rotate'], env);
      expect(rotated).toMatchObject({
        code: 0,
        stdout: expect.stringContaining('re-encrypted 1 secret(s) of 1 pipeline(s)'),
      });
      expect(rotated.stdout).not.toContain(readFileSync(file, 'utf8'));
      expect(readFileSync(file, 'utf8')).not.toBe(before);
      expect(existsSync(`${file}.next`)).toBe(false);
      const dry = await cli(['config', 'apply', '--dry-run'], env);
      expect(dry.stdout).toContain('= pipeline shop (CLUB): unchanged; secrets: webhookSecret unchanged');
    }, 600_000);

    it('config validate prints every problem with its path and exits 1', async () => {
      const r = await cli(['config', 'validate', 'bad.yaml', '--offline'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        'bad.yaml: 2 problems\n' +
          '  pipelines[0].source.type: Unknown source type "ixpol"; known: file, ixpole, ledger, stripe, webhook\n' +
          '  pipelines[1].schedule: not a cron expression: five fields (minute hour day month weekday, UTC), e.g. "*/15 * * * *"\n',
      );
      const ok = await cli(['config', 'validate'], env);
      expect(ok).toMatchObject({ code: 0, stdout: './ledgerlink.yaml is valid: 1 entity, 1 pipeline\n' });
    }, 600_000);
  },
);

describe.runIf(onPostgres)('PostgreSQL: the key belongs to the database', () => {
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await createTestDatabase();
    env = { DATABASE_URL: process.env.DATABASE_URL!, LEDGERLINK_DB_SCHEMA: db.schema! };
  });

  it('no command starts without LEDGERLINK_ENCRYPTION_KEY, saying so', async () => {
    const r = await cli(['exceptions', 'list'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('LEDGERLINK_ENCRYPTION_KEY is not set');
  }, 600_000);

  it('exceptions list from a directory with a ledgerlink.yaml does not apply it', async () => {
    const list = await cli(['exceptions', 'list'], { ...env, LEDGERLINK_ENCRYPTION_KEY: KEY });
    expect(list).toMatchObject({ code: 0, stdout: 'no open exceptions\n' });
    const { rows } = await db!.query(`SELECT code FROM entities WHERE code = 'CLUB'`);
    expect(rows).toEqual([]);
    const { rows: pipelines } = await db!.query(`SELECT name FROM pipelines`);
    expect(pipelines).toEqual([]);
  }, 600_000);

  it('another key is refused at start, nothing written', async () => {
    const other = Buffer.alloc(32, 6).toString('base64');
    const r = await cli(['config', 'apply'], { ...env, LEDGERLINK_ENCRYPTION_KEY: other });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is not this database's encryption key");
    const { rows } = await db!.query(`SELECT code FROM entities WHERE code = 'CLUB'`);
    expect(rows).toEqual([]);
  }, 600_000);
});
