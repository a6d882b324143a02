import type { Queryable } from '../../db/database.ts';
import { formatAmount } from '../../domain/money.ts';

export interface VatFigures {
  net: string;
  vat: string;
}

export interface VatReportLine {
  taxCode: string;
  /** Invoices: net sold and output VAT charged. */
  sales: VatFigures;
  /** Credit notes: net and VAT given back (positive reduces output VAT). */
  creditNotes: VatFigures;
  /** Settlement discounts with `adjustVat`, less their reversals: net and VAT given back. */
  discounts: VatFigures;
  /** Output VAT due: sales − credit notes − discounts. */
  netVat: string;
}

export interface VatReport {
  from: string;
  to: string;
  currency: string;
  taxCodes: VatReportLine[];
  totals: Omit<VatReportLine, 'taxCode'>;
}

type Kind = 'sales' | 'creditNotes' | 'discounts';
const KIND_OF: Record<string, Kind> = { SI: 'sales', SN: 'creditNotes', DS: 'discounts', DX: 'discounts' };

/**
 * Output VAT per tax code in the base currency from the journals of documents dated from `from`
 * to `to` inclusive: what invoices charged, what credit notes and discounts gave back. It reads the
 * same journal lines as the trial balance, so its total is the movement on the VAT accounts.
 */
export async function vatReport(
  db: Queryable,
  entityId: string,
  baseCurrency: string,
  from: string,
  to: string,
): Promise<VatReport> {
  const { rows } = await db.query<{ tax_code: string; type: string; net: string; vat: string }>(
    `SELECT j.tax_code, t.type,
            coalesce(sum(j.base_amount) FILTER (WHERE j.role IN ('net', 'discount')), 0) AS net,
            coalesce(sum(j.base_amount) FILTER (WHERE j.role = 'tax'), 0) AS vat
       FROM journal_lines j
       JOIN transactions t ON t.id = j.transaction_id
      WHERE j.entity_id = $1 AND t.entity_id = $1 AND j.tax_code IS NOT NULL
        AND t.type IN ('SI', 'SN', 'DS', 'DX')
        AND t.transaction_date BETWEEN $2::date AND $3::date
      GROUP BY j.tax_code, t.type
      ORDER BY j.tax_code`,
    [entityId, from, to],
  );
  type Sums = Record<Kind, { net: bigint; vat: bigint }>;
  const empty = (): Sums => ({
    sales: { net: 0n, vat: 0n },
    creditNotes: { net: 0n, vat: 0n },
    discounts: { net: 0n, vat: 0n },
  });
  const byCode = new Map<string, Sums>();
  const total = empty();
  for (const r of rows) {
    const kind = KIND_OF[r.type]!;
    // Journal lines are debit positive: sales credit VAT, credit notes and discounts debit it.
    const sign = kind === 'sales' ? -1n : 1n;
    const sums = byCode.get(r.tax_code) ?? empty();
    byCode.set(r.tax_code, sums);
    for (const s of [sums, total]) {
      s[kind].net += sign * BigInt(r.net);
      s[kind].vat += sign * BigInt(r.vat);
    }
  }
  const fmt = (v: bigint) => formatAmount(v, baseCurrency);
  const figures = (s: Sums) => ({
    sales: { net: fmt(s.sales.net), vat: fmt(s.sales.vat) },
    creditNotes: { net: fmt(s.creditNotes.net), vat: fmt(s.creditNotes.vat) },
    discounts: { net: fmt(s.discounts.net), vat: fmt(s.discounts.vat) },
    netVat: fmt(s.sales.vat - s.creditNotes.vat - s.discounts.vat),
  });
  return {
    from,
    to,
    currency: baseCurrency,
    taxCodes: [...byCode].map(([taxCode, s]) => ({ taxCode, ...figures(s) })),
    totals: figures(total),
  };
}
