import type { Queryable } from '../db/database.ts';
import { sqlState } from '../db/database.ts';
import { dateProblem } from '../domain/dates.ts';
import { DomainError, type ErrorCode } from '../domain/errors.ts';

/**
 * Dates in order: the entity's lock date, the date range, and the SQLSTATEs of the database
 * triggers that enforce the same rules (migrations/0030_dates_and_locks.sql).
 */

/**
 * The entity's lock date (null when none), read with a share lock on the entity row: a
 * concurrent change of the lock date waits for this posting to commit, and a posting that
 * starts after the change sees the new date.
 */
export async function readLockDate(db: Queryable, entityId: string): Promise<string | null> {
  const { rows } = await db.query<{ lock_date: string | null }>(
    `SELECT lock_date::text AS lock_date FROM entities WHERE id = $1 FOR SHARE`,
    [entityId],
  );
  return rows[0]?.lock_date ?? null;
}

/** Refuses a date outside the ledger's range, or a day the calendar does not have. */
export function checkDateInRange(date: string, field: string): void {
  const problem = dateProblem(date);
  if (!problem) return;
  const code: ErrorCode = problem.kind === 'OUT_OF_RANGE' ? 'DATE_OUT_OF_RANGE' : 'VALIDATION_ERROR';
  throw new DomainError(code, `${field}: ${problem.message}`, [{ field, message: problem.message }]);
}

/**
 * Refuses to post, allocate or reverse on a date in range but on or before the lock date.
 * `what` names the act for the message ("post invoice", "allocate", "unallocate").
 */
export function checkPeriodOpen(lockDate: string | null, date: string, field: string, what: string): void {
  checkDateInRange(date, field);
  if (lockDate !== null && date <= lockDate) {
    const message = `cannot ${what} on ${date}: the period is locked up to and including ${lockDate}`;
    throw new DomainError('PERIOD_LOCKED', `${field}: ${message}`, {
      field,
      date,
      lockDate,
    });
  }
}

/** Reads the lock date and checks one date against it. */
export async function requirePeriodOpen(
  db: Queryable,
  entityId: string,
  date: string,
  field: string,
  what: string,
): Promise<void> {
  checkDateInRange(date, field);
  checkPeriodOpen(await readLockDate(db, entityId), date, field, what);
}

const TRIGGER_CODES: Record<string, ErrorCode> = {
  LLDOR: 'DATE_OUT_OF_RANGE',
  LLPLK: 'PERIOD_LOCKED',
  LLADB: 'ALLOCATION_DATE_BEFORE_TRANSACTION',
  LLUDB: 'UNALLOCATION_DATE_BEFORE_ALLOCATION',
};

/**
 * The business error behind a database trigger's refusal, or null for any other failure. The
 * operations check the same rules first with better messages; this answers for a race (a lock
 * date set while a posting was in flight) or a path that did not check.
 */
export function dateRuleViolation(err: unknown): DomainError | null {
  const state = sqlState(err);
  const code = state === undefined ? undefined : TRIGGER_CODES[state];
  if (!code) return null;
  return new DomainError(code, (err as { message?: string }).message ?? undefined);
}
