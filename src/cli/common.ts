import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import type { Queryable } from '../db/database.ts';
import {
  CLI_ERROR_CODES,
  type CliErrorCode,
  DomainError,
  type ErrorCode,
  type FieldProblem,
} from '../domain/errors.ts';
import { type EntityContext, findEntityByCode, listEntities } from '../ledger/entities.ts';
import { type ExceptionCode, isExceptionCode } from '../sync/reasons.ts';

/**
 * A refusal of the command line itself (no HTTP status): the same `code: message` shape as the
 * API's errors, so scripts read both alike.
 */
export class CliError extends Error {
  constructor(
    readonly code: ErrorCode | CliErrorCode,
    message: string,
    readonly details?: FieldProblem[],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * A code of ours: the API's and the command line's (src/domain/errors.ts), or an exception reason
 * a connector's error carries (src/sync/reasons.ts). Never a driver's SQLSTATE, nor Node's ENOENT or
 * ERR_INVALID_URL.
 */
export function isOurCode(code: unknown): code is ErrorCode | CliErrorCode | ExceptionCode {
  return typeof code === 'string' && (Object.hasOwn(CLI_ERROR_CODES, code) || isExceptionCode(code));
}

export interface Refusal {
  code: ErrorCode | CliErrorCode | ExceptionCode;
  message: string;
  details?: unknown;
}

/**
 * The refusal `err` stands for when it is an expected failure: any error carrying a code of ours
 * (a DomainError, a CliError, the data folder in use, a key refused, a setting that does not parse,
 * a database that cannot be opened); null for anything else, which is a bug.
 */
export function refusalOf(err: unknown): Refusal | null {
  if (!(err instanceof Error)) return null;
  const { code, details } = err as { code?: unknown; details?: unknown };
  if (!isOurCode(code)) return null;
  return { code, message: err.message, ...(details !== undefined ? { details } : {}) };
}

/** Prints a refusal as `error: CODE: message` on stderr, or as the API's error body on stdout with --json. */
export function printRefusal(refusal: Refusal, json: boolean): void {
  if (json) console.log(JSON.stringify({ error: refusal }));
  else console.error(`error: ${refusal.code}: ${refusal.message}`);
}

/**
 * Prints an expected failure (`refusalOf`) as `error: CODE: message` on stderr, or as the API's
 * error body on stdout with --json, and returns exit code 1. Anything else is a bug and is thrown on.
 */
export function reportError(err: unknown, json = false): number {
  const refusal = refusalOf(err);
  if (!refusal) throw err;
  printRefusal(refusal, json);
  return 1;
}

/**
 * A file named on the command line that cannot be read, said in words with a code of ours rather
 * than Node's `ENOENT: no such file or directory, open …`. `field` names the argument (`FILE`).
 */
export function fileNotReadable(path: string, err: unknown, field = 'FILE'): CliError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const reason =
    code === 'ENOENT'
      ? 'there is no such file'
      : code === 'EISDIR'
        ? 'it is a folder, not a file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'this user may not read it'
          : err instanceof Error
            ? err.message
            : String(err);
  return new CliError('FILE_NOT_READABLE', `cannot read ${path}: ${reason}`, [{ field, message: reason }]);
}

/**
 * Runs a command's work and sets the exit code: what `work` returns (0 when it returns nothing),
 * or 1 for an expected failure, printed by `reportError`.
 */
export async function runCommand(json: boolean | undefined, work: () => Promise<number | void>): Promise<void> {
  try {
    process.exitCode = (await work()) ?? 0;
  } catch (err) {
    process.exitCode = reportError(err, json);
  }
}

/**
 * Validates command-line values with the API's own schema, so the command line accepts and
 * refuses exactly what the API does. `flags` names the option for each field (`code` → `--code`),
 * so the message names what the user typed; `hints` adds advice per option.
 */
export function parseWithSchema<S extends z.ZodType>(
  schema: S,
  input: unknown,
  flags: Record<string, string>,
  hints: Record<string, string> = {},
): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => {
    const key = i.path.map(String).join('.');
    return { field: flags[key] ?? (key || 'value'), message: i.message };
  });
  // A hint is said once per option, after its last problem (a code can break two rules at once).
  for (const [flag, hint] of Object.entries(hints)) {
    const last = problems.findLastIndex((p) => p.field === flag);
    if (last >= 0) problems[last]!.message += `; ${hint}`;
  }
  throw new CliError('VALIDATION_ERROR', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
}

/**
 * One-shot commands refuse LEDGERLINK_DATA_DIR=memory: it is a database that lives as long as its
 * process, so what they store is thrown away when they end, and what they read was made a moment
 * ago. Only a long-running process (`serve`) has any use for it.
 */
export function refuseMemoryDatabase(env: NodeJS.ProcessEnv = process.env, hint = ''): void {
  if (env.DATABASE_URL || env.LEDGERLINK_DATA_DIR !== 'memory') return;
  throw new CliError(
    'VALIDATION_ERROR',
    'LEDGERLINK_DATA_DIR=memory (--data-dir memory) keeps nothing: it is a database that lives only as long as its ' +
      'process, so this command would work on a new, empty database thrown away when it ends. Only `ledgerlink serve` ' +
      `(npm start) makes sense with it; give this command the data folder (--data-dir DIR) or DATABASE_URL=postgres://…${hint ? `; ${hint}` : ''}`,
    [
      {
        field: 'LEDGERLINK_DATA_DIR',
        message: 'memory keeps nothing: only `ledgerlink serve` (npm start) makes sense with it',
      },
    ],
  );
}

/**
 * Commands that read or change what is stored refuse to create an empty new PGlite data folder
 * where there is none: "no open exceptions" from a database made a moment ago would be a lie; so
 * would "key rotated" for a folder whose name was mistyped. They refuse `memory` for the same
 * reason (`refuseMemoryDatabase`). `serve`, `worker`, `entity create` and `config apply` create the
 * folder as usual. `hint` adds another way out (`config validate --offline`).
 */
export function requireExistingData(env: NodeJS.ProcessEnv = process.env, hint = ''): void {
  if (env.DATABASE_URL) return;
  refuseMemoryDatabase(env, hint);
  const dir = env.LEDGERLINK_DATA_DIR || './data';
  if (existsSync(dir)) return;
  throw new CliError(
    'DATA_FOLDER_NOT_FOUND',
    `no data folder at ${resolve(dir)}: nothing has been stored here, and this command would only look at a new, empty database. ` +
      'Run it in the folder where `ledgerlink serve` (npm start) keeps ./data, or say where the data is: ' +
      `--data-dir DIR (env LEDGERLINK_DATA_DIR) or DATABASE_URL=postgres://…${hint ? `; ${hint}` : ''}`,
    [{ field: 'LEDGERLINK_DATA_DIR', message: `no data folder at ${resolve(dir)}` }],
  );
}

/**
 * The entity a command names (`--entity CODE`, or an argument), refused when there is none of that
 * code with what would have worked: the code in upper case when that is one (codes are upper case),
 * else the known codes, as a `--pipeline` that names no pipeline lists the known ones.
 */
export async function requireEntity(db: Queryable, code: string, flag = '--entity'): Promise<EntityContext> {
  const found = await findEntityByCode(db, code);
  if (found) return found;
  const known = (await listEntities(db)).map((e) => e.code);
  const upper = code.toUpperCase();
  const hint = known.includes(upper)
    ? `entity codes are upper case: did you mean ${upper}?`
    : known.length === 0
      ? 'there are no entities yet (create one: ledgerlink entity create --code CLUB --name "…")'
      : `known entities: ${known.slice(0, 20).join(', ')}${known.length > 20 ? `, … (${known.length}; ledgerlink entity list)` : ''}`;
  throw new DomainError('ENTITY_DOES_NOT_EXIST', `No entity ${code}; ${hint}`, [{ field: flag, message: hint }]);
}
