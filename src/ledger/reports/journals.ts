import type { Queryable } from '../../db/database.ts';
import type { Analysis } from '../../domain/analysis.ts';
import { Dec, formatAmount } from '../../domain/money.ts';

export interface GeneralJournalView {
  transactionId: number;
  number: number;
  date: string;
  reference: string;
  description: string;
  currency: string;
  /** Units of `currency` per unit of base currency ("1" in the base currency). */
  exchangeRate: string;
  totalDebit: string;
  totalCredit: string;
  /** The debits (and so the credits) in the base currency. */
  baseTotal: string;
  lines: {
    lineNo: number;
    glAccountCode: string;
    debit: string | null;
    credit: string | null;
    /** Signed, debit positive, in the base currency. */
    baseAmount: string;
    departmentId: string | null;
    analysis: Analysis;
    description: string;
  }[];
  /** The journal this one reverses, when it is a reversal. */
  reverses: JournalLink | null;
  /** The reversal of this journal, when it has one. */
  reversedBy: JournalLink | null;
  createdBy: string;
  createdAt: string;
}

export interface JournalLink {
  transactionId: number;
  number: number;
  date: string;
}

interface Row {
  id: string;
  number: string;
  transaction_date: string;
  external_reference: string;
  description: string;
  currency: string;
  exchange_rate: string;
  base_currency: string;
  gross: string;
  created_by: string;
  created_at: Date | string;
  lines: {
    line_no: number;
    gl: string;
    amount: string;
    base: string;
    dept: string | null;
    analysis: Analysis | null;
    descr: string;
  }[];
  reverses: { id: number; number: number; date: string } | null;
  reversed_by: { id: number; number: number; date: string } | null;
}

const link = (l: { id: number; number: number; date: string } | null): JournalLink | null =>
  l ? { transactionId: Number(l.id), number: Number(l.number), date: l.date } : null;

/** A general journal (GJ) of the entity with its lines and reversal links; null for any other id. */
export async function findGeneralJournal(
  db: Queryable,
  entityId: string,
  id: number,
): Promise<GeneralJournalView | null> {
  const { rows } = await db.query<Row>(
    `SELECT t.id, t.number, t.transaction_date::text AS transaction_date, t.external_reference, t.description,
            t.currency, t.exchange_rate::text AS exchange_rate, e.base_currency, t.gross,
            t.created_by, t.created_at,
            (SELECT json_agg(json_build_object('line_no', j.line_no, 'gl', j.gl_account_code, 'amount', j.amount::text,
                                               'base', j.base_amount::text,
                                               'dept', j.department_id, 'analysis', j.analysis, 'descr', j.description)
                             ORDER BY j.line_no)
               FROM journal_lines j WHERE j.transaction_id = t.id) AS lines,
            (SELECT json_build_object('id', o.id, 'number', o.number, 'date', o.transaction_date::text)
               FROM transactions o WHERE o.entity_id = t.entity_id AND o.type = 'GJ'
                AND o.id = (t.details->>'reverses')::bigint) AS reverses,
            (SELECT json_build_object('id', r.id, 'number', r.number, 'date', r.transaction_date::text)
               FROM transactions r WHERE r.entity_id = t.entity_id AND r.type = 'GJ'
                AND r.details ? 'reverses' AND r.details->>'reverses' = t.id::text) AS reversed_by
       FROM transactions t JOIN entities e ON e.id = t.entity_id
      WHERE t.entity_id = $1 AND t.id = $2 AND t.type = 'GJ'`,
    [entityId, id],
  );
  const r = rows[0];
  if (!r) return null;
  const currency = r.currency.trim();
  const baseCurrency = r.base_currency.trim();
  const f = (v: bigint) => formatAmount(v, currency);
  let debit = 0n;
  let credit = 0n;
  let baseTotal = 0n;
  const lines = (r.lines ?? []).map((l) => {
    const amount = BigInt(l.amount);
    const base = BigInt(l.base);
    if (amount > 0n) debit += amount;
    else credit -= amount;
    if (base > 0n) baseTotal += base;
    return {
      lineNo: l.line_no,
      glAccountCode: l.gl,
      debit: amount > 0n ? f(amount) : null,
      credit: amount < 0n ? f(-amount) : null,
      baseAmount: formatAmount(base, baseCurrency),
      departmentId: l.dept,
      analysis: l.analysis ?? {},
      description: l.descr,
    };
  });
  return {
    transactionId: Number(r.id),
    number: Number(r.number),
    date: r.transaction_date,
    reference: r.external_reference,
    description: r.description,
    currency,
    exchangeRate: new Dec(r.exchange_rate).toFixed(),
    totalDebit: f(debit),
    totalCredit: f(credit),
    baseTotal: formatAmount(baseTotal, baseCurrency),
    lines,
    reverses: link(r.reverses),
    reversedBy: link(r.reversed_by),
    createdBy: r.created_by,
    createdAt: new Date(r.created_at).toISOString(),
  };
}
