import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CopyRefused, type CopiedTable, copyDatabase } from '../db/copy.ts';
import type { Database } from '../db/database.ts';
import { type DatabaseOpenError, databaseOpenError, openDatabase } from '../db/open.ts';
import { type LedgerVerification, verifyLedger } from '../ledger/verify.ts';
import { KEY_ENV, keyFilePath } from '../sync/keys.ts';
import { CliError, requireExistingData, runCommand } from './common.ts';
import { formatVerification } from './verify.ts';

interface CopyOptions {
  to?: string;
  schema?: string;
  json?: boolean;
}

/** `ledgerlink copy-to-postgres`: the PGlite data folder into an empty PostgreSQL database. */
export async function runCopy(
  opts: CopyOptions,
  env: NodeJS.ProcessEnv = process.env,
  print: (text: string) => void = (text) => console.log(text),
): Promise<number> {
  if (!opts.to || !/^postgres(ql)?:\/\//.test(opts.to))
    throw new CliError(
      'VALIDATION_ERROR',
      '--to: give the PostgreSQL database to copy into, as postgres://user:password@host:5432/database',
      [{ field: '--to', message: 'a postgres:// URL' }],
    );
  if (env.DATABASE_URL)
    throw new CliError(
      'VALIDATION_ERROR',
      'DATABASE_URL is set: this command copies from the PGlite data folder (--data-dir, env LEDGERLINK_DATA_DIR) ' +
        'into the database given with --to; unset DATABASE_URL for it',
    );
  const dataDir = env.LEDGERLINK_DATA_DIR || './data';
  // No folder there, or `memory`: nothing to copy.
  requireExistingData(env);
  const say = (line: string) => {
    if (!opts.json) process.stderr.write(`${line}\n`);
  };

  const from = await openDatabase({ dataDir });
  let to: Database | undefined;
  try {
    // A target that is not there or does not answer is refused as every command's database is, naming --to.
    to = await openDatabase({
      databaseUrl: opts.to,
      schema: opts.schema,
      urlSetting: '--to',
      schemaSetting: '--schema',
    });
    say(`copying ${resolve(dataDir)} into ${to.description}${opts.schema ? `, schema ${opts.schema}` : ''}…`);
    const copied = await copyDatabase(from, to, (table, done, total) => {
      if (done > 0 && (done === total || done % 20_000 === 0))
        say(`  … ${table}: ${done.toLocaleString('en')}/${total.toLocaleString('en')}`);
    });
    say('checking the copy (ledgerlink verify)…');
    const { rows: entities } = await to.query<{ id: string; code: string }>(
      'SELECT id, code FROM entities ORDER BY code',
    );
    const verified: LedgerVerification[] = [];
    for (const e of entities) verified.push(await verifyLedger(to, e));
    const ok = verified.every((v) => v.ok);
    const next = [
      `DATABASE_URL=<the URL given with --to>${opts.schema ? ` LEDGERLINK_DB_SCHEMA=${opts.schema}` : ''}`,
      `${KEY_ENV}=<the key in ${keyFilePath(resolve(dataDir))}> (the copied credentials are encrypted with it)`,
    ];
    if (opts.json) print(JSON.stringify({ copied, entities: verified, ok }));
    else {
      print(summary(copied));
      print(formatVerification(verified));
      print(
        ok
          ? `\nCopied. Start every ledgerlink process with:\n  ${next.join('\n  ')}\n` +
              `The data folder is left as it was; keep it until the new database has served a while.`
          : '\nThe copy does not pass its checks (above): do not start on it; tell us what you see.',
      );
    }
    return ok ? 0 : 1;
  } catch (err) {
    if (err instanceof CopyRefused && err.code === 'TARGET_NOT_EMPTY')
      // This command's own option, rather than the variable the processes read afterwards.
      throw new CliError(
        err.code,
        `${err.message.replace(/: copy into .*$/, '')}: copy into an empty database, or into a schema of its own with ` +
          `--schema NAME (then start the processes with LEDGERLINK_DB_SCHEMA=NAME)`,
      );
    if (err instanceof CopyRefused) throw new CliError(err.code, err.message);
    throw err;
  } finally {
    await to?.close();
    await from.close();
  }
}

/**
 * A target database that is not there, or a server that does not answer, said as what to do (create
 * it first, check the address) naming --to: the refusal every command makes of its database
 * (src/db/open.ts); null for anything else.
 */
export function targetUnreachable(url: string, err: unknown): DatabaseOpenError | null {
  return databaseOpenError(err, url, '--to');
}

function summary(copied: CopiedTable[]): string {
  const rows = copied.reduce((n, t) => n + t.rows, 0);
  const busiest = [...copied]
    .sort((a, b) => b.rows - a.rows)
    .slice(0, 5)
    .map((t) => `${t.table} ${t.rows.toLocaleString('en')}`);
  return `${rows.toLocaleString('en')} rows in ${copied.length} tables (${busiest.join(', ')}, …), each counted again in the target`;
}

export function registerCopy(program: Command): void {
  program
    .command('copy-to-postgres')
    .description('Copy everything the PGlite data folder holds into an empty PostgreSQL database, and check the copy')
    .requiredOption('--to <url>', 'the PostgreSQL database: postgres://user:password@host:5432/database')
    .option('--schema <name>', 'a schema of that database to copy into (env LEDGERLINK_DB_SCHEMA for the processes)')
    .option('--json', 'print what was copied and the checks as JSON')
    .addHelpText(
      'after',
      `
When one machine is not enough: stop ledgerlink (the data folder takes one process), then

  ledgerlink copy-to-postgres --to postgres://ledgerlink:…@db.example.com:5432/ledgerlink

It brings both databases to this version's schema, copies every table in one transaction (the
target must hold no entity yet; a copy that fails leaves it as it was), counts every table again
in the target and runs ledgerlink verify on each entity there. The report caches are built again
by the target. The data folder is not changed. Then start every process with DATABASE_URL set to
that database and ${KEY_ENV} to the key in the data folder's .encryption-key file.
Exit code 0 when the copy passed its checks.`,
    )
    .action((opts: CopyOptions) => runCommand(opts.json, () => runCopy(opts)));
}
