import type { Queryable } from '../src/db/database.ts';

/**
 * What one entity's ledger holds, per table: the row count, a sum of amounts, and an md5 over
 * every column that carries meaning, in a fixed order. Surrogate ids, timestamps, `created_by`
 * and the entity's uuid differ between two databases and are left out; documents are named by
 * type and number instead of id.
 */
export interface TableFingerprint {
  table: string;
  rows: number;
  sumLabel: string;
  sum: string;
  md5: string;
}

/**
 * How documents are named: by type and number (one writer at a time numbers them in query order),
 * or by type and external reference, for writers whose concurrent requests take numbers in the
 * order they commit (bench/http-posting.ts); the numbers are then checked as a set (1 … n per type).
 */
export type DocumentNames = 'number' | 'reference';

function checks(names: DocumentNames): { table: string; sumLabel: string; sql: string }[] {
  const DOC = (alias: string) =>
    names === 'number' ? `${alias}.type || ${alias}.number` : `${alias}.type || '/' || ${alias}.external_reference`;
  const ORDER = (alias: string) =>
    names === 'number' ? `${alias}.type, ${alias}.number` : `${alias}.type, ${alias}.external_reference`;
  const NUMBER = (alias: string) => (names === 'number' ? `${alias}.number` : `'#'`);
  const all = [
    {
      table: 'transactions',
      sumLabel: 'Σ gross',
      sql: `SELECT count(*) AS n, coalesce(sum(t.gross), 0)::text AS total,
            md5(coalesce(string_agg(concat_ws('|', t.type, t.side, ${NUMBER('t')}, t.customer_code, t.currency, t.exchange_rate,
              t.transaction_date, coalesce(t.due_date::text, '-'), t.external_reference, t.description, t.net, t.tax,
              t.gross, t.base_gross, t.duplicate_checked, coalesce(${DOC('r')}, '-'), t.details::text),
              E'\\n' ORDER BY ${ORDER('t')}), '')) AS fp
            FROM transactions t LEFT JOIN transactions r ON r.id = t.related_transaction_id WHERE t.entity_id = $1`,
    },
    {
      table: 'transaction_items',
      sumLabel: 'Σ net + tax',
      sql: `SELECT count(*) AS n, coalesce(sum(i.net + i.tax), 0)::text AS total,
            md5(coalesce(string_agg(concat_ws('|', ${DOC('t')}, i.line_no, i.gl_account_code, i.tax_code, i.tax_rate,
              i.description, coalesce(i.department_id, '-'), i.net, i.tax), E'\\n' ORDER BY ${ORDER('t')}, i.line_no), '')) AS fp
            FROM transaction_items i JOIN transactions t ON t.id = i.transaction_id WHERE i.entity_id = $1`,
    },
    {
      table: 'journal_lines',
      sumLabel: 'Σ |amount|',
      sql: `SELECT count(*) AS n, coalesce(sum(abs(j.amount)), 0)::text AS total,
            md5(coalesce(string_agg(concat_ws('|', ${DOC('t')}, j.line_no, j.role, j.gl_account_code,
              coalesce(j.department_id, '-'), coalesce(j.tax_code, '-'), j.description, j.amount, j.base_amount),
              E'\\n' ORDER BY ${ORDER('t')}, j.line_no), '')) AS fp
            FROM journal_lines j JOIN transactions t ON t.id = j.transaction_id WHERE j.entity_id = $1`,
    },
    {
      table: 'allocations',
      sumLabel: 'Σ amount',
      sql: `SELECT count(*) AS n, coalesce(sum(a.amount), 0)::text AS total,
            md5(coalesce(string_agg(concat_ws('|', a.customer_code, ${DOC('d')}, ${DOC('c')}, a.amount,
              a.debit_base_amount, a.credit_base_amount, a.allocation_date, a.reference,
              coalesce(a.parent_allocation_id::text, '-'), coalesce(a.fx_transaction_id::text, '-')),
              E'\\n' ORDER BY ${ORDER('d')}, ${ORDER('c')}), '')) AS fp
            FROM allocations a
            JOIN transactions d ON d.id = a.debit_transaction_id
            JOIN transactions c ON c.id = a.credit_transaction_id
           WHERE a.entity_id = $1`,
    },
    {
      table: 'document_sequences',
      sumLabel: 'Σ last_number',
      sql: `SELECT count(*) AS n, coalesce(sum(last_number), 0)::text AS total,
            md5(coalesce(string_agg(type || '=' || last_number, ',' ORDER BY type), '')) AS fp
            FROM document_sequences WHERE entity_id = $1`,
    },
    {
      // Each type numbered 1 … n without a gap or a repeat, whatever order the documents were posted in.
      table: 'document numbers',
      sumLabel: 'Σ number',
      sql: `SELECT count(*) AS n, coalesce(sum(number), 0)::text AS total,
              md5(coalesce(string_agg(type || ':' || n || ':' || lo || '-' || hi, ',' ORDER BY type), '')) AS fp
              FROM (SELECT type, count(DISTINCT number) AS n, min(number) AS lo, max(number) AS hi, sum(number) AS number
                      FROM transactions WHERE entity_id = $1 GROUP BY type) per_type`,
    },
  ];
  return names === 'number' ? all.filter((c) => c.table !== 'document numbers') : all;
}

export async function fingerprint(
  db: Queryable,
  entityId: string,
  names: DocumentNames = 'number',
): Promise<TableFingerprint[]> {
  const out: TableFingerprint[] = [];
  for (const c of checks(names)) {
    const { rows } = await db.query<{ n: string; total: string; fp: string }>(c.sql, [entityId]);
    const r = rows[0]!;
    out.push({ table: c.table, rows: Number(r.n), sumLabel: c.sumLabel, sum: r.total, md5: r.fp });
  }
  return out;
}

export interface TableComparison {
  table: string;
  sumLabel: string;
  ledgerlink: { rows: number; sum: string };
  baseline: { rows: number; sum: string };
  identical: boolean;
}

export function compare(a: TableFingerprint[], b: TableFingerprint[]): TableComparison[] {
  return a.map((x, i) => {
    const y = b[i]!;
    return {
      table: x.table,
      sumLabel: x.sumLabel,
      ledgerlink: { rows: x.rows, sum: x.sum },
      baseline: { rows: y.rows, sum: y.sum },
      identical: x.rows === y.rows && x.sum === y.sum && x.md5 === y.md5,
    };
  });
}
