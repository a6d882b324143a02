import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { FieldProblem } from '../domain/errors.ts';
import { type Database, isDatabaseUnavailable } from './database.ts';
import { openPglite, unwritable } from './pglite.ts';
import { openPostgres } from './postgres.ts';
import { migrate } from './migrate.ts';
import { SettingsError, integerSetting } from '../settings.ts';

export interface DatabaseConfig {
  /** `postgres://...` to use a server; otherwise embedded PGlite. */
  databaseUrl?: string | undefined;
  /** PGlite folder, or `memory`. */
  dataDir?: string | undefined;
  schema?: string | undefined;
  poolSize?: number | undefined;
  /** Where `databaseUrl` was given, as a refusal names it: DATABASE_URL unless said (`--to`). */
  urlSetting?: string | undefined;
  /** Where `schema` was given: LEDGERLINK_DB_SCHEMA unless said (`--schema`). */
  schemaSetting?: string | undefined;
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

export type DatabaseOpenCode =
  'DATABASE_URL_INVALID' | 'DATABASE_NOT_FOUND' | 'DATABASE_UNREACHABLE' | 'DATABASE_AUTH_FAILED';

/**
 * The PostgreSQL database named by DATABASE_URL (or `copy-to-postgres --to`) cannot be opened, said
 * as what to change, with the setting at fault in `details`: never the driver's bare words.
 */
export class DatabaseOpenError extends Error {
  readonly details: FieldProblem[];
  constructor(
    readonly code: DatabaseOpenCode,
    message: string,
    field: string,
    reason: string,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = 'DatabaseOpenError';
    this.details = [{ field, message: reason }];
  }
}

const URL_FORM = 'postgres://user:password@host:5432/database';

/**
 * Refuses a PostgreSQL URL that is none before anything connects. The value itself is never
 * echoed: it may carry a password.
 */
function checkPostgresUrl(url: string, setting: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseOpenError(
      'DATABASE_URL_INVALID',
      `${setting} is not a URL: write it as ${URL_FORM}`,
      setting,
      `not a URL; expected ${URL_FORM}`,
    );
  }
  if (!['postgres:', 'postgresql:', 'socket:'].includes(parsed.protocol))
    throw new DatabaseOpenError(
      'DATABASE_URL_INVALID',
      `${setting} is not a PostgreSQL URL (it begins ${JSON.stringify(parsed.protocol.slice(0, 20))}): write it as ${URL_FORM}`,
      setting,
      `not a postgres:// URL; expected ${URL_FORM}`,
    );
  return parsed;
}

/**
 * A schema name is sent to the server as `-c search_path=NAME` and created as "NAME": only a plain
 * lower-case identifier reads the same both ways (a space breaks the first, upper case the second).
 */
function checkSchemaName(schema: string, setting: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new SettingsError(
      setting,
      `"${schema.slice(0, 70)}" is not a schema name: lower-case letters, digits and _, beginning with a letter or _, at most 63 (e.g. ledgerlink)`,
    );
}

/** Each code (a system error's, or a SQLSTATE) along `err`'s chain of causes, with its message. */
function* codesOf(err: unknown): Generator<{ code: string; message: string }> {
  for (let e = err, i = 0; e && typeof e === 'object' && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    const code = (e as { code?: unknown }).code;
    const message = e instanceof Error ? e.message : '';
    if (typeof code === 'string') yield { code, message };
    else if (message) yield { code: '', message };
  }
}

/** A URL's percent-encoded part as written when it does not decode (a stray %). */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

const NO_SERVER = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);
const NO_HOST = new Set(['ENOTFOUND', 'EAI_AGAIN']);

/**
 * Why the PostgreSQL database at `url` could not be opened, said as what to do (create it, check
 * the address, check the user), naming `setting` (where the URL was given); null for any other
 * failure, which is passed on as it is.
 *
 * @example databaseOpenError(err, process.env.DATABASE_URL, 'DATABASE_URL') // DATABASE_NOT_FOUND: database "books" does not exist on …
 */
export function databaseOpenError(err: unknown, url: string, setting = 'DATABASE_URL'): DatabaseOpenError | null {
  let where: URL;
  try {
    where = new URL(url);
  } catch {
    return null;
  }
  const host = where.hostname || 'localhost';
  const port = where.port || '5432';
  const user = decoded(where.username) || 'postgres';
  const name = decoded(where.pathname.replace(/^\//, '')) || user;
  const refuse = (code: DatabaseOpenCode, message: string, reason: string) =>
    new DatabaseOpenError(code, message, setting, reason, err);
  for (const { code, message } of codesOf(err)) {
    if (code === '3D000')
      return refuse(
        'DATABASE_NOT_FOUND',
        `database "${name}" does not exist on ${host}:${port}: create it first (createdb -h ${host} -p ${port} -U ${user} ${name}, ` +
          `or CREATE DATABASE "${name}" as a user allowed to), or correct the database name in ${setting}`,
        `no database "${name}" on ${host}:${port}`,
      );
    if (NO_HOST.has(code))
      return refuse(
        'DATABASE_UNREACHABLE',
        `the host ${host} is not known (${code}): check the host name in ${setting}`,
        `unknown host ${host}`,
      );
    if (NO_SERVER.has(code))
      return refuse(
        'DATABASE_UNREACHABLE',
        `no PostgreSQL server answers at ${host}:${port} (${code}): check the host and port in ${setting} and that the server runs`,
        `no server answers at ${host}:${port}`,
      );
    if (code === '28P01')
      return refuse(
        'DATABASE_AUTH_FAILED',
        `PostgreSQL at ${host}:${port} refused user "${user}": the password is wrong; check the user and password in ${setting}`,
        `password refused for user "${user}"`,
      );
    // invalid_authorization_specification: no such role, or no pg_hba.conf entry; the server's words say which.
    if (code === '28000' || (code === '42501' && /permission denied for database/.test(message)))
      return refuse(
        'DATABASE_AUTH_FAILED',
        `PostgreSQL at ${host}:${port} refused user "${user}" (${message}): check the user in ${setting}, ` +
          `or have the database's administrator give it a role that may connect`,
        `user "${user}" refused`,
      );
    // node-postgres says this in words only, before it sends anything.
    if (/SASL|password must be a string/.test(message))
      return refuse(
        'DATABASE_AUTH_FAILED',
        `PostgreSQL at ${host}:${port} asks user "${user}" for a password and ${setting} gives none: write it as ${URL_FORM}`,
        `no password for user "${user}"`,
      );
  }
  if (isDatabaseUnavailable(err))
    return refuse(
      'DATABASE_UNREACHABLE',
      `the PostgreSQL server at ${host}:${port} takes no connections now (${err instanceof Error ? err.message : String(err)}): ` +
        `try again shortly, and check the host and port in ${setting}`,
      `no connection to ${host}:${port}`,
    );
  return null;
}

/** Opens the configured database and brings its schema up to date. */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  let db: Database;
  if (config.databaseUrl) {
    const url = config.databaseUrl;
    const setting = config.urlSetting ?? 'DATABASE_URL';
    checkPostgresUrl(url, setting);
    if (config.schema !== undefined) checkSchemaName(config.schema, config.schemaSetting ?? 'LEDGERLINK_DB_SCHEMA');
    db = await openPostgres(url, { schema: config.schema, max: config.poolSize }).catch((err: unknown) => {
      throw databaseOpenError(err, url, setting) ?? err;
    });
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
