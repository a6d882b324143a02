import type { Queryable } from '../../db/database.ts';
import { formatAmount } from '../../domain/money.ts';
import { findAnalysisDimension } from '../analysis/dimensions.ts';

export interface AnalysisAmounts {
  invoiced: string;
  credited: string;
  net: string;
}

export interface AnalysisReportRow extends AnalysisAmounts {
  /** Null for the lines without a code in this dimension. */
  code: string | null;
  name: string | null;
}

export interface AnalysisReport {
  dimension: number;
  name: string | null;
  from: string | null;
  to: string | null;
  currency: string;
  rows: AnalysisReportRow[];
  totals: AnalysisAmounts;
  byCurrency?: { currency: string; rows: AnalysisReportRow[]; totals: AnalysisAmounts }[];
}

interface SumRow {
  code: string | null;
  currency: string;
  type: 'SI' | 'SN';
  amount: string;
  base: string;
}

interface Sums {
  invoiced: bigint;
  credited: bigint;
}

/**
 * Revenue by analysis code: the net lines of invoices (SI) and credit notes (SN) dated from..to,
 * by the code their line carries in `dimension`, in the base currency: exactly the amounts the GL
 * holds for those lines (each line's own base amount, never a total converted again). Every code
 * of the dimension is listed, with zeros when unused, then the lines without a code. With
 * `byCurrency`, the same per document currency, in that currency.
 */
export async function analysisReport(
  db: Queryable,
  entityId: string,
  baseCurrency: string,
  q: { dimension: number; from?: string | undefined; to?: string | undefined; byCurrency?: boolean | undefined },
): Promise<AnalysisReport> {
  const dimension = await findAnalysisDimension(db, entityId, q.dimension);
  const { rows } = await db.query<SumRow>(
    `SELECT j.analysis->>($2::text) AS code, t.currency, t.type, sum(j.amount)::text AS amount, sum(j.base_amount)::text AS base
       FROM transactions t
       JOIN journal_lines j ON j.transaction_id = t.id
      WHERE t.entity_id = $1 AND t.type IN ('SI', 'SN') AND j.role = 'net'
        AND ($3::date IS NULL OR t.transaction_date >= $3::date)
        AND ($4::date IS NULL OR t.transaction_date <= $4::date)
      GROUP BY 1, 2, 3`,
    [entityId, q.dimension, q.from ?? null, q.to ?? null],
  );
  const names = new Map((dimension?.codes ?? []).map((c) => [c.code, c.name]));
  const codes = [...new Set([...names.keys(), ...rows.flatMap((r) => (r.code === null ? [] : [r.code]))])].sort();
  const table = (pick: (r: SumRow) => bigint, currency: string, want: (r: SumRow) => boolean) => {
    const sums = new Map<string | null, Sums>([...codes, null].map((c) => [c, { invoiced: 0n, credited: 0n }]));
    for (const r of rows.filter(want)) {
      const s = sums.get(r.code)!;
      // The net lines are credits (negative) on an invoice and debits on a credit note.
      if (r.type === 'SI') s.invoiced -= pick(r);
      else s.credited += pick(r);
    }
    const amounts = (s: Sums): AnalysisAmounts => ({
      invoiced: formatAmount(s.invoiced, currency),
      credited: formatAmount(s.credited, currency),
      net: formatAmount(s.invoiced - s.credited, currency),
    });
    const total = { invoiced: 0n, credited: 0n };
    const out = [...sums].map(([code, s]) => {
      total.invoiced += s.invoiced;
      total.credited += s.credited;
      return { code, name: code === null ? null : (names.get(code) ?? null), ...amounts(s) };
    });
    return { rows: out, totals: amounts(total) };
  };
  const base = table(
    (r) => BigInt(r.base),
    baseCurrency,
    () => true,
  );
  const report: AnalysisReport = {
    dimension: q.dimension,
    name: dimension?.name ?? null,
    from: q.from ?? null,
    to: q.to ?? null,
    currency: baseCurrency,
    ...base,
  };
  if (q.byCurrency) {
    const currencies = [...new Set(rows.map((r) => r.currency.trim()))].sort();
    report.byCurrency = currencies.map((c) => ({
      currency: c,
      ...table(
        (r) => BigInt(r.amount),
        c,
        (r) => r.currency.trim() === c,
      ),
    }));
  }
  return report;
}
