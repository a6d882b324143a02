import type { Command } from 'commander';
import { databaseConfigFromEnv, openDatabase } from '../db/open.ts';
import { EncryptionKeyError, KEY_ENV, openSecretBox, rotateKey, rotateKeyFile } from '../sync/keys.ts';
import { SecretBox } from '../sync/secrets.ts';
import { CliError, reportError } from './common.ts';

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

/** `ledgerlink keys rotate`; returns the exit code. */
export async function runRotate(opts: { newKey?: string; json?: boolean }): Promise<number> {
  let given: SecretBox | null = null;
  try {
    // Checked before the database is opened: a bad option changes nothing.
    if (opts.newKey !== undefined) given = newKeyOption(opts.newKey);
  } catch (err) {
    return reportError(err, opts.json);
  }
  const dbConfig = databaseConfigFromEnv();
  const db = await openDatabase(dbConfig);
  try {
    const { box, origin } = await openSecretBox(db, dbConfig);
    if (origin.kind === 'memory')
      throw new CliError(
        'VALIDATION_ERROR',
        'an in-memory database (LEDGERLINK_DATA_DIR=memory) keeps nothing: there is no key to rotate',
      );
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
  } catch (err) {
    // The key's own refusals (not the database's key, a secret it cannot open, the same key) keep their code.
    return reportError(err instanceof EncryptionKeyError ? new CliError(err.code, err.message) : err, opts.json);
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
    .action(async (opts: { newKey?: string; json?: boolean }) => {
      process.exitCode = await runRotate(opts);
    });
}
