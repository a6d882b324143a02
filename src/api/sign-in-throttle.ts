import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { loginRetryAfter } from '../ledger/sessions.ts';
import { normalizeEmail } from '../ledger/users.ts';
import type { AppServices } from './services.ts';

/*
 * The one throttle of user sign-in, password (POST /v1/auth/sign-in) and OIDC (src/web/routes/oidc.ts)
 * alike: failures counted in `login_failures` under the account's e-mail and the client address, so
 * guesses spread over both ways still add up.
 */

/** The subjects a user sign-in counts against: the account, when it is known, and the client address. */
export function signInSubjects(address: string, email?: string | null): string[] {
  const account = email ? [`user:${normalizeEmail(email)}`.slice(0, 200)] : [];
  return [...account, `address:${address}`];
}

/**
 * Seconds until these subjects may sign in again, 0 when they may now (the configured
 * LEDGERLINK_LOGIN_MAX_FAILURES within LEDGERLINK_LOGIN_WINDOW_SECONDS).
 */
export function signInRetryAfter(db: Queryable, services: AppServices, subjects: string[]): Promise<number> {
  const { loginMaxFailures, loginWindowSeconds } = services.config;
  return loginRetryAfter(db, subjects, { maxFailures: loginMaxFailures, windowSeconds: loginWindowSeconds });
}

/** The refusal of a throttled sign-in: 429 LOGIN_THROTTLED; the caller also sends `Retry-After: wait`. */
export function signInThrottled(wait: number): DomainError {
  return new DomainError('LOGIN_THROTTLED', `Too many failed sign-ins; retry in ${wait} seconds.`, {
    retryAfterSeconds: wait,
  });
}
