import { performance } from 'node:perf_hooks';
import type { Database, QueryResult, Queryable, SqlParam } from '../src/db/database.ts';

/**
 * A Database that times every statement ledgerlink sends, by kind, to see where the bulk path
 * spends its time. Transactions and savepoints are opened by the adapter itself, so their cost is
 * measured as the time `transaction()` takes beyond the function it runs.
 */
export class StatementStats {
  readonly byKind = new Map<string, { count: number; ms: number }>();
  /** Called with every statement and its parameters (bench/explain.ts keeps one to re-run it). */
  onStatement: ((sql: string, params: readonly SqlParam[]) => void) | undefined;

  record(kind: string, ms: number): void {
    const s = this.byKind.get(kind) ?? { count: 0, ms: 0 };
    s.count += 1;
    s.ms += ms;
    this.byKind.set(kind, s);
  }

  reset(): void {
    this.byKind.clear();
  }

  get totalMs(): number {
    return [...this.byKind.values()].reduce((s, v) => s + v.ms, 0);
  }
}

const KINDS: [RegExp, string][] = [
  [/FROM customers WHERE entity_id = \$1 AND code = \$2 FOR UPDATE/, 'lockCustomer: SELECT … FOR UPDATE'],
  [
    /FROM customers WHERE entity_id = \$1 AND code = ANY\(\$2::text\[\]\) ORDER BY code FOR UPDATE/,
    'lockCustomers: SELECT … FOR UPDATE',
  ],
  [/^SELECT 'gl' AS kind/, 'loadReferences: GL/tax/dept/bank'],
  [/^SELECT 1 FROM transactions WHERE entity_id = \$1 AND customer_code/, 'referenceExists: duplicate check'],
  [/^SELECT DISTINCT t\.customer_code, t\.type, t\.external_reference/, 'usedReferences: duplicate check'],
  [/^WITH seq AS \( INSERT INTO document_sequences/, 'insertTransaction: one CTE INSERT'],
  [/^WITH seq_in AS/, 'writeDocuments: one set-based CTE INSERT'],
  [/^SELECT t\.id, t\.type, t\.side, t\.customer_code/, 'allocate: loadOpenTransactions'],
  [/^INSERT INTO allocations/, 'allocate: INSERT allocations'],
  [/FROM sessions s JOIN api_credentials/, 'authenticate (per request)'],
  [/^INSERT INTO audit_log/, 'audit row (per request)'],
  [/^SELECT id, code, name, base_currency, account_roles/, 'load entity (cached after the first request)'],
];

export function statementKind(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  for (const [re, kind] of KINDS) if (re.test(flat)) return kind;
  return flat.slice(0, 60);
}

class TimedScope implements Queryable {
  constructor(
    protected readonly inner: Queryable,
    protected readonly stats: StatementStats,
  ) {}

  get inTransaction(): boolean {
    return this.inner.inTransaction;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>> {
    this.stats.onStatement?.(sql, params ?? []);
    const t0 = performance.now();
    try {
      return await this.inner.query<T>(sql, params);
    } finally {
      this.stats.record(statementKind(sql), performance.now() - t0);
    }
  }

  async exec(sql: string): Promise<void> {
    const t0 = performance.now();
    try {
      await this.inner.exec(sql);
    } finally {
      this.stats.record(statementKind(sql), performance.now() - t0);
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const kind = this.inner.inTransaction ? 'SAVEPOINT + RELEASE (per query)' : 'BEGIN + COMMIT (per request)';
    let inside = 0;
    const t0 = performance.now();
    try {
      return await this.inner.transaction(async (tx) => {
        const t1 = performance.now();
        try {
          return await fn(new TimedScope(tx, this.stats));
        } finally {
          inside = performance.now() - t1;
        }
      });
    } finally {
      this.stats.record(kind, performance.now() - t0 - inside);
    }
  }
}

class TimedDatabase extends TimedScope implements Database {
  constructor(
    private readonly db: Database,
    stats: StatementStats,
  ) {
    super(db, stats);
  }
  get kind() {
    return this.db.kind;
  }
  get description() {
    return this.db.description;
  }
  close(): Promise<void> {
    return this.db.close();
  }
}

export function instrument(db: Database, stats: StatementStats): Database {
  return new TimedDatabase(db, stats);
}
