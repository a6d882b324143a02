import type { Command } from 'commander';
import { databaseConfigFromEnv, openDatabase } from '../db/open.ts';
import { KEY_ENV, openSecretBox, rotateKey, rotateKeyFile } from '../sync/keys.ts';
import { SecretBox } from '../sync/secrets.ts';
import { CliError, requireExistingData, runCommand } from './common.ts';

/** `--new-key`: 32 bytes as base64, refused as any other option is (`VALIDATION_ERROR` naming it). */
function newKeyOption(text: string): SecretBox {
  try {
    return SecretBox.fromBase64(text, '--new-key');
  } catch {
    const message =
      'not an encryption key: it must be 32 random bytes written as base64 (make one with: openssl rand -base64 32)';
    throw new CliError('VALIDATION_ERROR', `--new-key: ${message}`, [{ field: '--new-key', message }]);
  }
}

/**
 * `ledgerlink keys rotate`; returns the exit code, and throws what refused it (a bad option, no data
 * folder, `memory`, the database or the key refused) for `runCommand` to print.
 */
export async function runRotate(opts: { newKey?: string; json?: boolean }): Promise<number> {
  // Checked before the database is opened: a bad option changes nothing.
  const given = opts.newKey !== undefined ? newKeyOption(opts.newKey) : null;
  // A mistyped folder would get a new database and key, and "rotated" would be a lie; `memory` keeps nothing.
  requireExistingData();
  const dbConfig = databaseConfigFromEnv();
  const db = await openDatabase(dbConfig);
  try {
    const { box, origin } = await openSecretBox(db, dbConfig);
    const next = given ?? SecretBox.generate();
    const done =
      origin.kind === 'file' ? await rotateKeyFile(db, origin.path, box, next) : await rotateKey(db, box, next);
    const printKey = origin.kind === 'env' && !given;
    if (opts.json)
      console.log(
        JSON.stringify({
          ...done,
          fingerprint: next.fingerprint,
          ...(origin.kind === 'file' ? { keyFile: origin.path } : {}),
          ...(printKey ? { key: next.exportKey() } : {}),
        }),
      );
    else {
      console.log(
        `re-encrypted ${done.secrets} secret(s) of ${done.rows} pipeline(s); new key fingerprint ${next.fingerprint}`,
      );
      if (origin.kind === 'file') console.log(`the key file ${origin.path} now holds the new key`);
      else {
        if (printKey) console.log(`new key (shown once): ${next.exportKey()}`);
        console.log(
          `set ${KEY_ENV} to the new key for every ledgerlink process of this database and restart them: ` +
            'until then they are refused at start, and a running one reads the secrets as unreadable (SECRET_UNREADABLE)',
        );
      }
    }
    return 0;
  } finally {
    await db.close();
  }
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description("The database's encryption key (credentials at rest)");
  keys
    .command('rotate')
    .description('Re-encrypt every stored secret with a new key, in one transaction')
    .option('--new-key <base64>', 'the new key, 32 bytes as base64 (default: a new random key)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The current key is the one this process is given: ${KEY_ENV}, or with PGlite the key file
in the data folder (LEDGERLINK_DATA_DIR/.encryption-key). It must be the database's key (checked
against the fingerprint stored in the database). Every secret is decrypted with it and encrypted
with the new key, and the database's fingerprint moves to the new key, in one transaction; a secret
the current key cannot open refuses the rotation (re-enter it first) and nothing changes.

PGlite with a key file: the file is replaced by the new key; nothing else to do.
${KEY_ENV} (required with PostgreSQL): stop the other ledgerlink processes of the database, rotate
(a generated key is printed once; or pass your own with --new-key, e.g. from: openssl rand -base64 32),
set ${KEY_ENV} to the new key everywhere, and start them again. A process still on the old key is
refused at start.`,
    )
    .action((opts: { newKey?: string; json?: boolean }) => runCommand(opts.json, () => runRotate(opts)));
}
