import type { Queryable } from '../../db/database.ts';
import { formatAmount } from '../../domain/money.ts';

/** Deferred, released, credited and remaining amounts: in the document's currency, or the base. */
export interface DeferralFigures {
  deferred: string;
  released: string;
  credited: string;
  remaining: string;
}

export interface DeferralReportLine extends DeferralFigures {
  lineNo: number;
  revenueGlAccountCode: string;
  deferredGlAccountCode: string;
  departmentId: string | null;
  months: number;
  startDate: string;
  /** Releases due on or before `at` and still neither posted nor credited: what a release run would post. */
  dueUnreleased: string;
  base: DeferralFigures;
}

export interface DeferralReportInvoice extends DeferralFigures {
  transactionId: number;
  number: number;
  externalReference: string;
  customerCode: string;
  invoiceDate: string;
  currency: string;
  lines: DeferralReportLine[];
}

export interface DeferralReport {
  at: string;
  baseCurrency: string;
  invoices: DeferralReportInvoice[];
  /** In the base currency; `remaining` is the balance the deferred revenue accounts hold for these lines. */
  totals: DeferralFigures;
}

interface Row {
  transaction_id: string;
  number: string;
  external_reference: string;
  customer_code: string;
  invoice_date: string;
  currency: string;
  line_no: number;
  revenue_gl_account_code: string;
  deferred_gl_account_code: string;
  department_id: string | null;
  months: number;
  start_date: string;
  amount: string;
  base_amount: string;
  released: string;
  base_released: string;
  credited: string;
  base_credited: string;
  due_unreleased: string;
}

/**
 * A release counts as released as at $2 from its journal's date, until a reversal dated on or
 * before $2 (a credit note dated before the release reversed it, on the release's own date).
 */
const RELEASED = `p.kind = 'released' AND pt.transaction_date <= $2::date
                  AND (x.release_id IS NULL OR rt.transaction_date > $2::date)`;
/**
 * Credited as at $2: cancelled by a credit note dated on or before $2 before it was posted, or
 * posted after such a credit note's date and reversed (the credit note took it off the deferred
 * account on its own date, before the release was posted).
 */
const CREDITED = `(p.kind = 'cancelled' AND pt.transaction_date <= $2::date)
                  OR (x.release_id IS NOT NULL AND cn.transaction_date <= $2::date)`;

/**
 * Deferred invoice lines as at `at` (invoices dated on or before it): the deferred total, what
 * releases posted on or before `at` moved to revenue, what credit notes dated on or before `at`
 * took off the deferred account, and what remains. Figures follow the dates of the postings, so
 * the base `remaining` equals the deferred accounts' balance in the trial balance at the same date.
 * A release reversed because a credit note dated before it credited its line counts as credited
 * from the credit note's date, and never as released.
 */
export async function deferralReport(
  db: Queryable,
  entityId: string,
  baseCurrency: string,
  at: string,
): Promise<DeferralReport> {
  const { rows } = await db.query<Row>(
    `SELECT t.id AS transaction_id, t.number, t.external_reference, t.customer_code,
            t.transaction_date::text AS invoice_date, s.currency, s.line_no, s.revenue_gl_account_code,
            s.deferred_gl_account_code, s.department_id, s.months, s.start_date::text AS start_date, s.amount, s.base_amount,
            coalesce(sum(r.amount) FILTER (WHERE ${RELEASED}), 0) AS released,
            coalesce(sum(r.base_amount) FILTER (WHERE ${RELEASED}), 0) AS base_released,
            coalesce(sum(r.amount) FILTER (WHERE ${CREDITED}), 0) AS credited,
            coalesce(sum(r.base_amount) FILTER (WHERE ${CREDITED}), 0) AS base_credited,
            coalesce(sum(r.amount) FILTER (WHERE r.due_date <= $2::date
                                             AND (p.release_id IS NULL OR pt.transaction_date > $2::date)
                                             AND NOT coalesce(${CREDITED}, false)), 0) AS due_unreleased
       FROM deferral_schedules s
       JOIN transactions t ON t.id = s.transaction_id
       JOIN deferral_releases r ON r.schedule_id = s.id
       LEFT JOIN deferral_release_postings p ON p.release_id = r.id
       LEFT JOIN transactions pt ON pt.id = p.transaction_id
       LEFT JOIN deferral_release_reversals x ON x.release_id = r.id
       LEFT JOIN transactions rt ON rt.id = x.transaction_id
       LEFT JOIN transactions cn ON cn.id = x.credit_note_id
      WHERE s.entity_id = $1 AND t.transaction_date <= $2::date
      GROUP BY t.id, s.id
      ORDER BY t.id, s.line_no`,
    [entityId, at],
  );
  const totals = { deferred: 0n, released: 0n, credited: 0n };
  const figures = (deferred: bigint, released: bigint, credited: bigint, currency: string): DeferralFigures => ({
    deferred: formatAmount(deferred, currency),
    released: formatAmount(released, currency),
    credited: formatAmount(credited, currency),
    remaining: formatAmount(deferred - released - credited, currency),
  });
  const byInvoice = new Map<number, { rows: Row[]; sums: typeof totals }>();
  for (const r of rows) {
    const id = Number(r.transaction_id);
    const group = byInvoice.get(id) ?? { rows: [], sums: { deferred: 0n, released: 0n, credited: 0n } };
    byInvoice.set(id, group);
    group.rows.push(r);
    group.sums.deferred += BigInt(r.amount);
    group.sums.released += BigInt(r.released);
    group.sums.credited += BigInt(r.credited);
    totals.deferred += BigInt(r.base_amount);
    totals.released += BigInt(r.base_released);
    totals.credited += BigInt(r.base_credited);
  }
  const invoices = [...byInvoice].map(([id, { rows: lines, sums }]): DeferralReportInvoice => {
    const first = lines[0]!;
    const currency = first.currency.trim();
    return {
      transactionId: id,
      number: Number(first.number),
      externalReference: first.external_reference,
      customerCode: first.customer_code,
      invoiceDate: first.invoice_date,
      currency,
      ...figures(sums.deferred, sums.released, sums.credited, currency),
      lines: lines.map((r) => ({
        lineNo: r.line_no,
        revenueGlAccountCode: r.revenue_gl_account_code,
        deferredGlAccountCode: r.deferred_gl_account_code,
        departmentId: r.department_id,
        months: r.months,
        startDate: r.start_date,
        ...figures(BigInt(r.amount), BigInt(r.released), BigInt(r.credited), currency),
        dueUnreleased: formatAmount(BigInt(r.due_unreleased), currency),
        base: figures(BigInt(r.base_amount), BigInt(r.base_released), BigInt(r.base_credited), baseCurrency),
      })),
    };
  });
  return {
    at,
    baseCurrency,
    invoices,
    totals: figures(totals.deferred, totals.released, totals.credited, baseCurrency),
  };
}
