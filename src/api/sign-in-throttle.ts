import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { type LoginThrottle, loginRetryAfter } from '../ledger/sessions.ts';
import { normalizeEmail } from '../ledger/users.ts';
import type { AppServices } from './services.ts';

/*
 * The one throttle of user sign-in, password (POST /v1/auth/sign-in) and OIDC (src/web/routes/oidc.ts)
 * alike: failures counted in `login_failures` under the account's e-mail and the client address, so
 * guesses spread over both ways still add up.
 */

/** The subject of a user's account in the sign-in throttle: `user:<e-mail>`. */
export function accountSubject(email: string): string {
  return `user:${normalizeEmail(email)}`.slice(0, 200);
}

/** The subjects a user sign-in counts against: the account, when it is known, and the client address. */
export function signInSubjects(address: string, email?: string | null): string[] {
  const account = email ? [accountSubject(email)] : [];
  return [...account, `address:${address}`];
}

/**
 * Seconds until these subjects may sign in again, 0 when they may now (the configured
 * LEDGERLINK_LOGIN_MAX_FAILURES within LEDGERLINK_LOGIN_WINDOW_SECONDS).
 */
export function signInRetryAfter(db: Queryable, services: AppServices, subjects: string[]): Promise<number> {
  return loginRetryAfter(db, subjects, signInThrottle(services));
}

/** The refusal of a throttled sign-in: 429 LOGIN_THROTTLED; the caller also sends `Retry-After: wait`. */
export function signInThrottled(wait: number): DomainError {
  return new DomainError('LOGIN_THROTTLED', `Too many failed sign-ins; retry in ${wait} seconds.`, {
    retryAfterSeconds: wait,
  });
}

/**
 * One attempt at a secret (a key pair, a password, a link token), counted before it is checked.
 * Checking the count and recording a failure after the slow check let a whole burst of parallel
 * guesses be checked: each request read the count before any had failed. So the attempt is first
 * recorded as under way (`pending:<subject>`) and only then are the others counted: of requests
 * racing, each sees every attempt recorded before its own, so the failures in the window and the
 * attempts under way before it together never pass the limit. One that would pass it waits for those
 * under way to end (a burst of right keys all get in, one after another) rather than being refused; it
 * is refused once the failures alone reach the limit. A failed attempt becomes a failure
 * (`failed`); a refused or successful one leaves nothing counted (`succeeded`).
 */
export interface LoginAttempt {
  /** The attempt was right (or refused for a reason that is not a guess): its record goes. */
  succeeded(): Promise<void>;
  /** The attempt was a wrong guess: its record becomes a failure, counted in the window. */
  failed(): Promise<void>;
}

const PENDING = 'pending:';
// An attempt under way longer than this (its process died) no longer holds others back.
const PENDING_SECONDS = 60;
const WAIT_STEP_MS = 25;
const WAIT_MAX_MS = 10_000;

/**
 * Records an attempt under `subjects` and returns it, or the seconds to wait when the subjects
 * already have their failures allowed (LEDGERLINK_LOGIN_MAX_FAILURES within
 * LEDGERLINK_LOGIN_WINDOW_SECONDS). `db` must not be inside a transaction: the record must be seen
 * by racing requests before this one counts them.
 */
export async function beginLoginAttempt(
  db: Queryable,
  throttle: LoginThrottle,
  subjects: string[],
): Promise<{ wait: number } | { attempt: LoginAttempt }> {
  // A flood past the limit is refused without writing anything.
  const before = await loginRetryAfter(db, subjects, throttle);
  if (before > 0) return { wait: before };
  // Attempts on one subject are numbered in the order they are recorded (the advisory lock holds
  // the next one back until this one is committed), so that each waits only for those before it.
  const { rows } = await db.transaction(async (tx) => {
    for (const subject of [...subjects].sort())
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`ledgerlink:login:${subject}`]);
    return tx.query<{ id: string }>(
      'INSERT INTO login_failures (subject) SELECT $2 || s FROM unnest($1::text[]) AS s RETURNING id::text AS id',
      [subjects, PENDING],
    );
  });
  const ids = rows.map((r) => r.id);
  const release = async () => {
    await db.query('DELETE FROM login_failures WHERE id = ANY($1::bigint[])', [ids]);
  };
  for (let waited = 0; ; waited += WAIT_STEP_MS) {
    // Per subject: its failures in the window, and the attempts under way recorded before this one.
    const { rows: counts } = await db.query<{ failures: number; pending: number }>(
      `SELECT (SELECT count(*)::int FROM login_failures
                WHERE subject = s AND failed_at > now() - $2::int * interval '1 second') AS failures,
              (SELECT count(*)::int FROM login_failures
                WHERE subject = $4 || s AND failed_at > now() - $5::int * interval '1 second'
                  AND id < ALL($3::bigint[])) AS pending
         FROM unnest($1::text[]) AS s`,
      [subjects, throttle.windowSeconds, ids, PENDING, PENDING_SECONDS],
    );
    if (counts.every((c) => c.failures + c.pending < throttle.maxFailures)) break;
    const refuse = counts.some((c) => c.failures >= throttle.maxFailures) || waited >= WAIT_MAX_MS;
    if (refuse) {
      await release();
      return { wait: Math.max(1, await loginRetryAfter(db, subjects, throttle)) };
    }
    await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
  }
  let settled = false;
  return {
    attempt: {
      succeeded: async () => {
        if (settled) return;
        settled = true;
        await release();
      },
      failed: async () => {
        if (settled) return;
        settled = true;
        await db.query(
          `UPDATE login_failures SET subject = substr(subject, length($2) + 1), failed_at = now() WHERE id = ANY($1::bigint[])`,
          [ids, PENDING],
        );
      },
    },
  };
}

/** The login and sign-in throttle from the configuration (LEDGERLINK_LOGIN_MAX_FAILURES, LEDGERLINK_LOGIN_WINDOW_SECONDS). */
export function signInThrottle(services: AppServices): LoginThrottle {
  const { loginMaxFailures, loginWindowSeconds } = services.config;
  return { maxFailures: loginMaxFailures, windowSeconds: loginWindowSeconds };
}
