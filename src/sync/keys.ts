import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Queryable } from '../db/database.ts';
import type { DatabaseConfig } from '../db/open.ts';
import { SecretBox, isSealed } from './secrets.ts';

/**
 * The encryption key belongs to the database, not to a working directory. On a PostgreSQL server
 * every process must be given it (LEDGERLINK_ENCRYPTION_KEY); with PGlite it lives in a key file in
 * the data folder unless the variable is set. Either way the database records the key's fingerprint
 * at first use and refuses any other key before anything is written.
 */
export type KeyOrigin = { kind: 'env' } | { kind: 'file'; path: string } | { kind: 'memory' };

export type EncryptionKeyErrorCode =
  | 'ENCRYPTION_KEY_MISSING'
  | 'ENCRYPTION_KEY_INVALID'
  | 'ENCRYPTION_KEY_MISMATCH'
  | 'ENCRYPTION_KEY_FILE_MISSING'
  | 'ENCRYPTION_KEY_UNCHANGED'
  | 'SECRETS_UNREADABLE';

/** A key that is missing, malformed or not the database's: the process stops before it writes anything. */
export class EncryptionKeyError extends Error {
  constructor(
    readonly code: EncryptionKeyErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EncryptionKeyError';
  }
}

export const KEY_ENV = 'LEDGERLINK_ENCRYPTION_KEY';

/** The key file of a PGlite data folder. */
export function keyFilePath(dataDir: string): string {
  return join(dataDir, '.encryption-key');
}

/**
 * Where this process's key comes from. `recorded` is the database's key fingerprint, when it has
 * one: a database that has a key is never told to make a new one.
 */
export function keyOrigin(
  db: DatabaseConfig,
  env: NodeJS.ProcessEnv = process.env,
  recorded: string | null = null,
): KeyOrigin {
  if (env[KEY_ENV]) return { kind: 'env' };
  if (db.databaseUrl)
    throw new EncryptionKeyError(
      'ENCRYPTION_KEY_MISSING',
      `${KEY_ENV} is not set. With a PostgreSQL server (DATABASE_URL) the key that encrypts stored credentials ` +
        `belongs to the database: give every process the same key (32 bytes, base64). ` +
        (recorded
          ? `This database has one already (fingerprint ${short(recorded)}): set ${KEY_ENV} to that key, not a new ` +
            `one, which could not read what is stored. Data copied from PGlite (\`ledgerlink copy-to-postgres\`) ` +
            `came with the key in that data folder's key file: ${KEY_ENV}=$(cat data/.encryption-key) ` +
            `(the folder the copy was made from, ./data by default).`
          : `For a new database make one with: openssl rand -base64 32`),
    );
  const dir = db.dataDir ?? './data';
  return dir === 'memory' ? { kind: 'memory' } : { kind: 'file', path: keyFilePath(dir) };
}

function describe(origin: KeyOrigin): string {
  return origin.kind === 'env' ? KEY_ENV : origin.kind === 'file' ? `the key file ${origin.path}` : 'the key';
}

/** The start of a fingerprint: enough to tell keys apart in a message, nothing about the key. */
function short(fingerprint: string): string {
  return fingerprint.replace(/^hmac-sha256:/, '').slice(0, 12);
}

function mismatch(origin: KeyOrigin, box: SecretBox, recorded: string | null): EncryptionKeyError {
  const which = recorded
    ? `this database's credentials were encrypted with the key of fingerprint ${short(recorded)}, ` +
      `${describe(origin)} has fingerprint ${short(box.fingerprint)}`
    : `none of the credentials stored in this database can be decrypted with ${describe(origin)}`;
  return new EncryptionKeyError(
    'ENCRYPTION_KEY_MISMATCH',
    `${describe(origin)} is not this database's encryption key: ${which}. Nothing was written. ` +
      `Start with the key the database uses (${KEY_ENV}` +
      (origin.kind === 'file' ? `, or the key file it was set up with` : '') +
      `); to change keys, run \`ledgerlink keys rotate\` with the current one.`,
  );
}

/**
 * The columns that hold sealed (`enc:v1:`) values: JSON settings whose keys may be sealed, and
 * sealed text. `key` is the table's primary key; `label` (an SQL expression) names a row in messages.
 */
export const SEALED_COLUMNS: readonly {
  table: string;
  key: string;
  label: string;
  json: readonly string[];
  text: readonly string[];
}[] = [
  { table: 'pipelines', key: 'id', label: 'name', json: ['source_config', 'target_config'], text: ['webhook_secret'] },
  // OAuth connections (migration 0058): named by their pipeline.
  {
    table: 'oauth_connections',
    key: 'pipeline_id',
    label: `'pipeline ' || (SELECT p.name FROM pipelines p WHERE p.id = oauth_connections.pipeline_id)`,
    json: [],
    text: ['access_token', 'refresh_token'],
  },
  // The PKCE verifiers of consents under way (10 minutes at most).
  {
    table: 'oauth_states',
    key: 'state_hash',
    label: `'consent started ' || created_at::text`,
    json: [],
    text: ['code_verifier'],
  },
];

interface SealedRow {
  table: string;
  key: string;
  id: string;
  label: string;
  values: Record<string, unknown>;
}

async function sealedRows(db: Queryable, forUpdate: boolean): Promise<SealedRow[]> {
  const out: SealedRow[] = [];
  for (const t of SEALED_COLUMNS) {
    const cols = [...t.json, ...t.text].join(', ');
    const { rows } = await db.query<Record<string, unknown> & { id: string; label: string }>(
      `SELECT ${t.key}::text AS id, ${t.label} AS label, ${cols} FROM ${t.table} ORDER BY ${t.key}${forUpdate ? ' FOR UPDATE' : ''}`,
    );
    for (const r of rows) {
      const { id, label, ...values } = r;
      out.push({ table: t.table, key: t.key, id, label, values });
    }
  }
  return out;
}

/**
 * Every sealed value of a row, however deep it sits in a JSON column (a connector declares nested
 * secrets such as `headers.*`), with where it sits (`source_config.apiKey`, `webhook_secret`).
 */
function sealedIn(row: SealedRow): { at: string; value: string }[] {
  const found: { at: string; value: string }[] = [];
  const walk = (v: unknown, at: string): void => {
    if (isSealed(v)) found.push({ at, value: v });
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}.${i}`));
    else if (v && typeof v === 'object') for (const [k, inner] of Object.entries(v)) walk(inner, `${at}.${k}`);
  };
  for (const [col, v] of Object.entries(row.values)) walk(v, col);
  return found;
}

/** A value with every sealed string in it, however deep, passed through `fn`. */
function mapSealed(v: unknown, fn: (sealed: string) => string): unknown {
  if (isSealed(v)) return fn(v);
  if (Array.isArray(v)) return v.map((x) => mapSealed(x, fn));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, mapSealed(inner, fn)]));
  return v;
}

export async function recordedFingerprint(db: Queryable): Promise<string | null> {
  const { rows } = await db.query<{ fingerprint: string }>(`SELECT fingerprint FROM encryption_key`);
  return rows[0]?.fingerprint ?? null;
}

/** The key file a rotation wrote before its transaction; renamed into place once the database has moved to it. */
function nextKeyFile(path: string): string {
  return `${path}.next`;
}

/**
 * Finishes (or forgets) a rotation of a key file that stopped between the database's commit and the
 * rename: the database's fingerprint says which of the two files is the key.
 */
function settleKeyFile(path: string, recorded: string | null): void {
  const next = nextKeyFile(path);
  if (!existsSync(next)) return;
  const candidate = SecretBox.fromBase64(readFileSync(next, 'utf8'), `the key file ${next}`);
  if (recorded === candidate.fingerprint) renameSync(next, path);
  else unlinkSync(next);
}

/**
 * Opens the secret box of this process and checks it is the database's key. At first use the key's
 * fingerprint is recorded (after checking that the credentials already stored, from before
 * fingerprints, open with it); afterwards any other key is refused. A PGlite key file is created on
 * first use of a new database, never when the database already has a key.
 */
export async function openSecretBox(
  db: Queryable,
  config: DatabaseConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ box: SecretBox; origin: KeyOrigin }> {
  const recorded = await recordedFingerprint(db);
  const origin = keyOrigin(config, env, recorded);
  let box: SecretBox;
  let newFile: string | null = null;
  if (origin.kind === 'env') box = SecretBox.fromBase64(env[KEY_ENV]!, KEY_ENV);
  else if (origin.kind === 'memory') box = SecretBox.generate();
  else {
    settleKeyFile(origin.path, recorded);
    if (existsSync(origin.path))
      box = SecretBox.fromBase64(readFileSync(origin.path, 'utf8'), `the key file ${origin.path}`);
    else if (recorded)
      throw new EncryptionKeyError(
        'ENCRYPTION_KEY_FILE_MISSING',
        `The key file ${origin.path} is missing, but this database's credentials were encrypted with a key ` +
          `(fingerprint ${short(recorded)}). Restore the file, or set ${KEY_ENV} to that key. Nothing was written.`,
      );
    else {
      box = SecretBox.generate();
      newFile = origin.path;
    }
  }
  if (recorded) {
    if (recorded !== box.fingerprint) throw mismatch(origin, box, recorded);
    return { box, origin };
  }
  const stored = (await sealedRows(db, false)).flatMap(sealedIn);
  if (stored.length > 0 && !stored.some((s) => box.tryDecrypt(s.value) !== null)) throw mismatch(origin, box, null);
  if (newFile) {
    mkdirSync(join(newFile, '..'), { recursive: true });
    writeFileSync(newFile, box.exportKey(), { mode: 0o600, flag: 'wx' });
  }
  await db.query(`INSERT INTO encryption_key (fingerprint) VALUES ($1) ON CONFLICT (singleton) DO NOTHING`, [
    box.fingerprint,
  ]);
  // Another process may have recorded its key first.
  const now = await recordedFingerprint(db);
  if (now !== box.fingerprint) throw mismatch(origin, box, now);
  return { box, origin };
}

/**
 * Re-encrypts every stored secret from the current key to the next one and records the next key's
 * fingerprint, in one transaction. A secret the current key cannot open refuses the rotation
 * (nothing changes): re-enter it first.
 */
export async function rotateKey(
  db: Queryable,
  current: SecretBox,
  next: SecretBox,
): Promise<{ rows: number; secrets: number }> {
  if (next.fingerprint === current.fingerprint)
    throw new EncryptionKeyError('ENCRYPTION_KEY_UNCHANGED', 'The new key is the current key; nothing to rotate.');
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ fingerprint: string }>(`SELECT fingerprint FROM encryption_key FOR UPDATE`);
    const recorded = rows[0]?.fingerprint ?? null;
    if (recorded !== current.fingerprint) throw mismatch({ kind: 'env' }, current, recorded);
    const all = await sealedRows(tx, true);
    const unreadable = all.flatMap((r) =>
      sealedIn(r)
        .filter((s) => current.tryDecrypt(s.value) === null)
        .map((s) => `${r.table} ${r.label}: ${s.at}`),
    );
    if (unreadable.length)
      throw new EncryptionKeyError(
        'SECRETS_UNREADABLE',
        `These secrets cannot be decrypted with the current key, so they cannot be re-encrypted: ${unreadable.join('; ')}. ` +
          'Re-enter them first (PUT /v1/pipelines/{name}, or `ledgerlink config apply`). Nothing was changed.',
      );
    let secrets = 0;
    const reseal = (sealed: string): string => {
      secrets++;
      return next.encrypt(current.decrypt(sealed));
    };
    let changedRows = 0;
    for (const r of all) {
      if (sealedIn(r).length === 0) continue;
      const cols = Object.keys(r.values);
      const values = cols.map((c) => {
        const v = mapSealed(r.values[c], reseal);
        return v && typeof v === 'object' ? JSON.stringify(v) : (v as string | null);
      });
      await tx.query(`UPDATE ${r.table} SET ${cols.map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE ${r.key} = $1`, [
        r.id,
        ...values,
      ]);
      changedRows++;
    }
    await tx.query(`UPDATE encryption_key SET fingerprint = $1, rotated_at = now()`, [next.fingerprint]);
    return { rows: changedRows, secrets };
  });
}

/**
 * Rotates the key of a PGlite key file: the next key is written beside it first, the database moves
 * to it, then the file is renamed into place (a start after a crash in between finishes the rename).
 */
export async function rotateKeyFile(
  db: Queryable,
  path: string,
  current: SecretBox,
  next: SecretBox,
): Promise<{ rows: number; secrets: number }> {
  writeFileSync(nextKeyFile(path), next.exportKey(), { mode: 0o600 });
  try {
    const done = await rotateKey(db, current, next);
    renameSync(nextKeyFile(path), path);
    return done;
  } catch (err) {
    if ((await recordedFingerprint(db)) !== next.fingerprint) unlinkSync(nextKeyFile(path));
    throw err;
  }
}
