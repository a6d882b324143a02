import { DomainError } from '../../domain/errors.ts';

/** What a create-or-update returns: whether it created, and the object before and after (for the audit trail). */
export interface Saved<T> {
  created: boolean;
  before: T | null;
  after: T;
}

type Present<T, K extends keyof T> = { [P in K]-?: Exclude<T[P], undefined | null> };

/**
 * Checks the fields a create cannot do without and returns them, naming every missing one at
 * once so a caller fixes its request in one round trip.
 */
export function requireOnCreate<T extends object, K extends keyof T & string>(
  input: T,
  keys: readonly K[],
): Present<T, K> {
  const missing = keys.filter((k) => input[k] === undefined || input[k] === null);
  if (missing.length > 0) {
    throw new DomainError(
      'VALIDATION_ERROR',
      missing.map((k) => `${k}: required when creating`).join('; '),
      missing.map((k) => ({ field: k, message: 'required when creating' })),
    );
  }
  return Object.fromEntries(keys.map((k) => [k, input[k]])) as Present<T, K>;
}

/**
 * The error for a create that lost a race: another request inserted the same code between our
 * read and our insert, so what the caller based its request on is already out of date.
 */
export function createdConcurrently(what: string): DomainError {
  return new DomainError('OUTDATED_RECORD', `${what} was created by another request at the same time; read it again`);
}

/** `undefined` keeps the current value; anything else (null included) replaces it. */
export function patch<T>(given: T | undefined, current: T): T {
  return given === undefined ? current : given;
}
