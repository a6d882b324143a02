/**
 * The one database port the rest of ledgerlink talks to. Two adapters implement it: embedded
 * PGlite (one connection, serialised by a mutex) and a PostgreSQL server through a `pg` pool.
 * Values come back as text for int8, numeric and date columns so amounts never pass through a
 * JavaScript number; bigint parameters are sent as text for the same reason.
 */
export type SqlParam = string | number | boolean | bigint | null | Date | readonly unknown[] | Record<string, unknown>;

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  /** Runs one statement with `$1`-style parameters. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations, pg-boss DDL). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` atomically: a transaction, or a savepoint when already inside one. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  readonly inTransaction: boolean;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** A short description without credentials, for logs. */
  readonly description: string;
  close(): Promise<void>;
}

/** Thrown for failures of the database itself (connection, SQL errors that are not business rules). */
export class DatabaseError extends Error {
  readonly code: string | undefined;
  readonly constraint: string | undefined;
  constructor(
    message: string,
    options: { cause?: unknown; code?: string | undefined; constraint?: string | undefined },
  ) {
    super(message, { cause: options.cause });
    this.name = 'DatabaseError';
    this.code = options.code;
    this.constraint = options.constraint;
  }
}

interface PgLikeError {
  code?: string;
  constraint?: string;
  message?: string;
}

/** The SQLSTATE of a failed statement, whichever driver raised it. */
export function sqlState(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as PgLikeError).code === 'string') {
    return (err as PgLikeError).code;
  }
  return undefined;
}

export function constraintName(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'constraint' in err) return (err as PgLikeError).constraint;
  return undefined;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  return sqlState(err) === '23505' && (constraint === undefined || constraintName(err) === constraint);
}

/** Each error of a chain of causes, the first included (at most five). */
function* causes(err: unknown): Generator<unknown> {
  for (let e = err, i = 0; e !== undefined && e !== null && i < 5; e = (e as { cause?: unknown }).cause, i++) yield e;
}

/**
 * The disk that holds the database is full (SQLSTATE 53100, disk_full, as PostgreSQL and PGlite
 * raise it): the statement failed and its transaction was rolled back, so nothing of it was written.
 */
export function isStorageFull(err: unknown): boolean {
  for (const e of causes(err)) if (sqlState(e) === '53100') return true;
  return false;
}

// Connection exceptions (class 08), the server shutting down or starting up (57P01–57P03), its
// database dropped under it (57P04), and no connection slot free (53300, too_many_connections).
const UNAVAILABLE_STATE = /^(08...|57P0[1-4]|53300)$/;
// 55000 (object_not_in_prerequisite_state) is a broad class: only the refusal of a connection to a
// database an administrator closed (ALTER DATABASE … ALLOW_CONNECTIONS false) means "retry later".
const CLOSED_DATABASE = /is not currently accepting connections/;
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);
// node-postgres says these in words only.
const LOST =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/i;

/** The database server cannot be reached or went away (a restart, a lost connection): retry later. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (const e of causes(err)) {
    const code = sqlState(e);
    if (code !== undefined && (UNAVAILABLE_STATE.test(code) || UNREACHABLE.has(code))) return true;
    if (e instanceof Error && LOST.test(e.message)) return true;
    if (code === '55000' && e instanceof Error && CLOSED_DATABASE.test(e.message)) return true;
  }
  return false;
}

/** A transaction PostgreSQL gave up to let a concurrent one through: a serialization failure or a deadlock. */
export function isTransactionConflict(err: unknown): boolean {
  const state = sqlState(err);
  return state === '40001' || state === '40P01';
}

/**
 * Runs a whole transaction again when PostgreSQL aborts it as a serialization failure or a
 * deadlock victim (SQLSTATE 40001 / 40P01): nothing of it was committed, so running it again is
 * what the caller would do. Bounded (`attempts` in all) with a short random pause, so that the
 * two sides of a deadlock do not meet again at once. `run` must start its own transaction and
 * keep no state outside it.
 */
export async function retryConflicts<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!isTransactionConflict(err) || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}

/** Normalises parameters: bigint as text, arrays of bigint as arrays of text. */
export function toDriverParams(params: readonly SqlParam[] | undefined): unknown[] {
  if (!params) return [];
  return params.map((p) => {
    if (typeof p === 'bigint') return p.toString();
    if (Array.isArray(p)) return p.map((v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    if (p !== null && typeof p === 'object' && !(p instanceof Date)) return JSON.stringify(p);
    return p;
  });
}

let savepointCounter = 0;
export function nextSavepointName(): string {
  savepointCounter = (savepointCounter + 1) % 1_000_000_000;
  return `ll_sp_${savepointCounter}`;
}

/** A tiny FIFO mutex; PGlite has one connection, so transactions must not interleave. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#tail;
    this.#tail = previous.then(() => next);
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
