import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import type { Queryable } from '../db/database.ts';
import { DomainError, isDomainError, type FieldProblem } from '../domain/errors.ts';
import { type EntityContext, findEntityByCode, listEntities } from '../ledger/entities.ts';

/**
 * A refusal of the command line itself (no HTTP status): the same `code: message` shape as the
 * API's errors, so scripts read both alike.
 */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: FieldProblem[],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * Prints an expected failure (a DomainError or CliError) as `error: CODE: message` on stderr, or
 * as the API's error body on stdout with --json, and returns exit code 1. Anything else is a bug
 * and is thrown on.
 */
export function reportError(err: unknown, json = false): number {
  if (!isDomainError(err) && !(err instanceof CliError)) throw err;
  if (json)
    console.log(
      JSON.stringify({
        error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
      }),
    );
  else console.error(`error: ${err.code}: ${err.message}`);
  return 1;
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
 * Commands that read or change what is stored refuse to create an empty new PGlite data folder
 * where there is none: "no open exceptions" from a database made a moment ago would be a lie.
 * `serve`, `worker`, `entity create` and commands given a configuration file create it as usual.
 */
export function requireExistingData(env: NodeJS.ProcessEnv = process.env): void {
  if (env.DATABASE_URL) return;
  const dir = env.LEDGERLINK_DATA_DIR || './data';
  if (dir === 'memory' || existsSync(dir)) return;
  throw new CliError(
    'DATA_FOLDER_NOT_FOUND',
    `no data folder at ${resolve(dir)}: nothing has been stored here, and this command would only look at a new, empty database. ` +
      'Run it in the folder where `ledgerlink serve` (npm start) keeps ./data, or say where the data is: ' +
      '--data-dir DIR (env LEDGERLINK_DATA_DIR) or DATABASE_URL=postgres://…',
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
