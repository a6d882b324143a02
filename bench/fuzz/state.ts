import type { Queryable } from '../../src/db/database.ts';

/**
 * What a refused request must leave as it found it: the row count of every table of the schema
 * and the trial balance (every entity's accounts, in document and base currency).
 */
export interface BookState {
  counts: Record<string, number>;
  trialBalance: string;
}

/**
 * Tables a refused request may legitimately write: the audit log (refusals are audited), failed
 * sign-ins (they feed the lock-out), and the open-items cache, derived data that readers bring up
 * to date (migration 0098) and a request may read before it is refused. A 4xx that writes any
 * other table is a partial write.
 */
const MAY_CHANGE_ON_REFUSAL = new Set(['audit_log', 'login_failures', 'open_items_cache', 'open_items_cursors']);

export class StateProbe {
  private sql = '';
  constructor(private readonly db: Queryable) {}

  /** Reads the schema's tables once; call again after migrations (never needed within a run). */
  async init(): Promise<void> {
    const { rows } = await this.db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
    );
    const tables = rows.map((r) => r.table_name).filter((t) => !MAY_CHANGE_ON_REFUSAL.has(t));
    if (tables.length === 0) throw new Error('no tables found in the current schema');
    // json_build_object takes at most 100 arguments: one object per 50 tables, merged.
    const parts: string[] = [];
    for (let i = 0; i < tables.length; i += 50) {
      parts.push(
        `jsonb_build_object(${tables
          .slice(i, i + 50)
          .map((t) => `'${t}', (SELECT count(*) FROM "${t}")`)
          .join(', ')})`,
      );
    }
    this.sql = `SELECT (${parts.join(' || ')})::text AS counts,
      (SELECT coalesce(string_agg(entity_id || ':' || gl_account_code || '=' || a || '/' || b, ',' ORDER BY entity_id, gl_account_code), '')
         FROM (SELECT entity_id::text, gl_account_code, sum(amount)::text AS a, sum(base_amount)::text AS b
                 FROM journal_lines GROUP BY entity_id, gl_account_code) tb) AS tb`;
  }

  async read(): Promise<BookState> {
    const { rows } = await this.db.query<{ counts: string; tb: string }>(this.sql);
    return { counts: JSON.parse(rows[0]!.counts) as Record<string, number>, trialBalance: rows[0]!.tb };
  }
}

/** How `after` differs from `before`, or null when it does not ("customers 3→4; trial balance changed"). */
export function difference(before: BookState, after: BookState): string | null {
  const changed: string[] = [];
  for (const [table, n] of Object.entries(after.counts)) {
    if (before.counts[table] !== n) changed.push(`${table} ${before.counts[table]}→${n}`);
  }
  if (before.trialBalance !== after.trialBalance) changed.push('trial balance changed');
  return changed.length ? changed.join('; ') : null;
}

/** One thing the fuzzer found: enough to replay it (`--seed`, `--path`) and to read what happened. */
export interface Finding {
  family: string;
  target: string;
  seed: number;
  path: string;
  problem: string;
  input: string;
}

/** Counts and findings of one family. */
export interface FamilyResult {
  family: string;
  cases: number;
  statuses: Record<string, number>;
  findings: Finding[];
  ms: number;
}

export function newResult(family: string): FamilyResult {
  return { family, cases: 0, statuses: {}, findings: [], ms: 0 };
}

export function countStatus(result: FamilyResult, status: number | string): void {
  const key = typeof status === 'number' ? `${Math.floor(status / 100)}xx` : status;
  result.statuses[key] = (result.statuses[key] ?? 0) + 1;
}

/** The first characters of a value, for a finding's report. */
export function excerpt(value: unknown, n = 300): string {
  let s: string;
  try {
    s = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    s = String(value);
  }
  return s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s;
}
