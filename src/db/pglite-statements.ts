import { type PGlite, type Results, parse, protocol } from '@electric-sql/pglite';

const { serialize } = protocol;

/** How many statements stay prepared on the connection; the least recently used is closed first. */
export const PREPARED_STATEMENT_LIMIT = 256;

/** A statement longer than this is run unprepared: generated SQL (bulk VALUES lists) would only churn the cache. */
const PREPARED_SQL_MAX_LENGTH = 32_768;

/** DDL may change what a prepared statement returns ("cached plan must not change result type"). */
const SCHEMA_CHANGE = /\b(ALTER|DROP|CREATE|TRUNCATE)\b/i;

/** Statement names are unique in the process, so two caches on one connection (tests) never collide. */
let statementCounter = 0;

interface Prepared {
  name: string;
  /** Parameter type OIDs, as the server inferred them: each value is serialized for its type. */
  types: number[];
}

/** A value for a parameter of a type PGlite has no serializer for, as PostgreSQL reads text. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Named prepared statements on PGlite's one connection. `PGlite.query` sends every statement as
 * an unnamed Parse, so PostgreSQL parses, analyses and plans it on every execution, and it makes
 * six calls into WebAssembly (parse, describe, bind, describe, execute, sync). The posting path runs
 * the same ten statements for every request; here each is parsed once, its plan is cached by
 * PostgreSQL (custom for the first five executions, then generic when that is no dearer), and an
 * execution is one call: Bind, Describe, Execute, Sync.
 *
 * Not a cache of results: every call executes. Statements survive ROLLBACK (protocol-level
 * prepared statements are not transactional) and are closed when evicted or when a statement
 * that may change the schema runs.
 */
export class PgliteStatements {
  readonly #cache = new Map<string, Prepared>();
  /** Statements evicted or invalidated, closed before the next execution. */
  #toClose: string[] = [];

  constructor(
    private readonly pg: PGlite,
    private readonly limit = PREPARED_STATEMENT_LIMIT,
  ) {}

  get size(): number {
    return this.#cache.size;
  }

  /** Statements and scripts run so far: the replanner (pglite-replan.ts) looks only after some ran. */
  get executed(): number {
    return this.#executed;
  }
  #executed = 0;

  /** Runs one statement with its parameters (already in driver form) and returns PGlite's result. */
  async query<T>(sql: string, params: readonly unknown[]): Promise<Results<T>> {
    this.#executed++;
    // A statement already prepared passed these checks when it was prepared: the hot path skips them.
    if (!this.#cache.has(sql)) {
      const schemaChange = SCHEMA_CHANGE.test(sql);
      if (schemaChange || sql.length > PREPARED_SQL_MAX_LENGTH) {
        const result = await this.pg.query<T>(sql, params as unknown[]);
        if (schemaChange) this.invalidate();
        return result;
      }
    }
    // Under PGlite's own query lock, as PGlite.query runs: protocol calls must not interleave.
    return this.pg._runExclusiveQuery(async () => {
      let prepared = this.#cache.get(sql);
      if (prepared) {
        this.#cache.delete(sql); // most recently used last: eviction takes the first
        this.#cache.set(sql, prepared);
      } else prepared = await this.#prepare(sql);
      const types = prepared.types;
      const values = params.map((value, i) => {
        if (value === null || value === undefined) return null;
        const serializer = this.pg.serializers[types[i]!];
        return serializer ? serializer(value) : asText(value);
      });
      const { messages } = await this.pg.execProtocol(
        concat([
          ...this.#closing(),
          serialize.bind({ statement: prepared.name, values }),
          serialize.describe({ type: 'P' }),
          serialize.execute({}),
          serialize.sync(),
        ]),
      );
      return parse.parseResults(messages, this.pg.parsers)[0] as Results<T>;
    });
  }

  /** After a script ran: forgets every prepared statement if it may have changed the schema. */
  afterScript(sql: string): void {
    this.#executed++;
    if (SCHEMA_CHANGE.test(sql)) this.invalidate();
  }

  /** Forgets every prepared statement. */
  invalidate(): void {
    for (const p of this.#cache.values()) this.#toClose.push(p.name);
    this.#cache.clear();
  }

  async #prepare(sql: string): Promise<Prepared> {
    const name = `ll_${++statementCounter}`;
    const { messages } = await this.pg.execProtocol(
      concat([
        ...this.#closing(),
        serialize.parse({ name, text: sql }),
        serialize.describe({ type: 'S', name }),
        serialize.sync(),
      ]),
    );
    const described = messages.find((m) => m.name === 'parameterDescription') as { dataTypeIDs?: number[] } | undefined;
    const prepared: Prepared = { name, types: described?.dataTypeIDs ?? [] };
    this.#cache.set(sql, prepared);
    if (this.#cache.size > this.limit) {
      const [oldest, evicted] = this.#cache.entries().next().value as [string, Prepared];
      this.#cache.delete(oldest);
      this.#toClose.push(evicted.name);
    }
    return prepared;
  }

  #closing(): Uint8Array[] {
    if (this.#toClose.length === 0) return [];
    const names = this.#toClose;
    this.#toClose = [];
    return names.map((name) => serialize.close({ type: 'S', name }));
  }
}
