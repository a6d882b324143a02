/*
 * Expected failures as values. A function that can fail for a reason its caller must handle (an
 * amount that does not parse, a record that does not map, a target that refuses a document)
 * returns a Result instead of throwing or returning a sentinel: the value is only reachable
 * after checking `ok`, so a bad input cannot slip through as if it were a good one.
 * Thrown errors stay for what no caller can handle (a bug, a lost database).
 */

/**
 * Why something failed: a stable UPPER_SNAKE code, a message for people, the field at fault when
 * there is one, and whether trying again later may succeed. The same shape as a target's
 * `ItemError` (src/sync/target.ts), so a failure passes between parsing, engine and connectors
 * unchanged.
 */
export interface Failure<C extends string = string> {
  code: C;
  message: string;
  field?: string | undefined;
  retryable?: boolean | undefined;
}

/** The outcome of something that can fail in an expected way. */
export type Result<T, E = Failure> = { ok: true; value: T } | { ok: false; error: E };

/** A success carrying `value`. */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** A failure carrying `error`. */
export function err<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}

/**
 * A failure with a code and a message, and the field and retryability when given.
 * @example fail('AMOUNT_INVALID', 'fee: 1.234 has more decimals than EUR allows', { field: 'fee' })
 */
export function fail<C extends string>(
  code: C,
  message: string,
  more: { field?: string | undefined; retryable?: boolean | undefined } = {},
): { ok: false; error: Failure<C> } {
  const error: Failure<C> = { code, message };
  if (more.field !== undefined) error.field = more.field;
  if (more.retryable !== undefined) error.retryable = more.retryable;
  return { ok: false, error };
}
