import type { Queryable } from '../../db/database.ts';
import { DomainError } from '../../domain/errors.ts';
import type { Side, TransactionType } from '../../domain/documents.ts';
import { Dec, toBaseAmount } from '../../domain/money.ts';
import { RatesInForce } from '../posting/dated-rates.ts';

/**
 * Unrealised exchange differences on open items (issue #11). An open item in a foreign currency
 * sits in the debtors control account at the base amount it was booked at (less what allocations
 * cleared); at a period end it is worth its outstanding foreign amount at that date's rate. The
 * difference, per item, is what a revaluation posts.
 */

/** One open item in a foreign currency as at the revaluation date; amounts signed, debits positive. */
export interface RevaluedItem {
  transactionId: number;
  type: TransactionType;
  number: number;
  externalReference: string;
  transactionDate: string;
  /** The rate the item was booked at. */
  bookedRate: string;
  /** Outstanding, in the item's currency. */
  outstanding: bigint;
  /** What is still outstanding of its base amount (at the rates it was booked and allocated at). */
  baseOutstanding: bigint;
  /** The outstanding at the revaluation rate, rounded half-up to the base currency's decimals. */
  revaluedBase: bigint;
  /** revaluedBase − baseOutstanding: positive is a gain (the debtors are worth more). */
  difference: bigint;
}

/** One customer's open items in its currency, with their sums. */
export interface RevaluedCustomer {
  customerCode: string;
  currency: string;
  controlGlAccountCode: string;
  rate: string;
  outstanding: bigint;
  baseOutstanding: bigint;
  revaluedBase: bigint;
  difference: bigint;
  items: RevaluedItem[];
}

export interface RevaluationFigures {
  at: string;
  baseCurrency: string;
  /** The rate of each currency in force on `at` and the date it was set for. */
  rates: { currency: string; rate: string; date: string }[];
  customers: RevaluedCustomer[];
  totals: { baseOutstanding: bigint; revaluedBase: bigint; difference: bigint };
}

interface ItemRow {
  id: string;
  type: TransactionType;
  side: Side;
  number: string;
  external_reference: string;
  customer_code: string;
  control_gl_account_code: string;
  currency: string;
  transaction_date: string;
  exchange_rate: string;
  outstanding: string;
  base_outstanding: string;
}

/**
 * Open items in foreign currencies as at $2 (documents dated on or before it, less allocations
 * dated on or before it and not reversed by then), with the base amount still outstanding: base
 * gross less the base amounts their allocations cleared on this side.
 */
const OPEN_FOREIGN_ITEMS = `
  WITH live AS (
    SELECT a.debit_transaction_id, a.credit_transaction_id, a.amount, a.debit_base_amount, a.credit_base_amount
      FROM allocations a
     WHERE a.entity_id = $1 AND a.allocation_date <= $2::date
       AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id AND r.reversal_date <= $2::date)
  ), allocated AS (
    SELECT id, sum(amount) AS amount, sum(base) AS base
      FROM (SELECT debit_transaction_id AS id, amount, debit_base_amount AS base FROM live
            UNION ALL
            SELECT credit_transaction_id, amount, credit_base_amount FROM live) s
     GROUP BY id
  )
  SELECT t.id, t.type, t.side, t.number, t.external_reference, t.customer_code, c.control_gl_account_code,
         t.currency, t.transaction_date::text AS transaction_date, t.exchange_rate::text AS exchange_rate,
         t.gross - coalesce(x.amount, 0) AS outstanding, t.base_gross - coalesce(x.base, 0) AS base_outstanding
    FROM transactions t
    JOIN customers c ON c.entity_id = t.entity_id AND c.code = t.customer_code
    LEFT JOIN allocated x ON x.id = t.id
   WHERE t.entity_id = $1 AND t.transaction_date <= $2::date AND t.side <> 'none' AND t.currency <> $3::char(3)
     AND t.gross - coalesce(x.amount, 0) > 0
   ORDER BY t.customer_code, t.currency, t.transaction_date, t.id`;

/**
 * The unrealised exchange differences of every open item in a foreign currency as at `at`, at the
 * rates in force on `at`: per item, per customer and currency, and in total. A currency with open
 * items but no rate dated on or before `at` is refused (`EXCHANGE_RATE_MISSING` on `field`).
 */
export async function revaluationFigures(
  db: Queryable,
  entityId: string,
  baseCurrency: string,
  at: string,
  field: string,
): Promise<RevaluationFigures> {
  const { rows } = await db.query<ItemRow>(OPEN_FOREIGN_ITEMS, [entityId, at, baseCurrency]);
  const currencies = [...new Set(rows.map((r) => r.currency.trim()))].sort();
  const inForce = await RatesInForce.load(
    db,
    entityId,
    currencies.map((currency) => ({ currency, date: at })),
  );
  const rates = currencies.map((currency) => {
    const r = inForce.get(currency, at);
    if (r === null) {
      throw new DomainError(
        'EXCHANGE_RATE_MISSING',
        `${field}: open items in ${currency} cannot be revalued: no ${currency} rate is dated on or before ${at} ` +
          `(PUT /v1/currencies/${currency}/rates/{date})`,
        [{ field, message: `no ${currency} rate in force on ${at}` }],
      );
    }
    return { currency, rate: r.rate, date: r.date };
  });
  const rateOf = new Map(rates.map((r) => [r.currency, r.rate]));
  const customers: RevaluedCustomer[] = [];
  const totals = { baseOutstanding: 0n, revaluedBase: 0n, difference: 0n };
  for (const r of rows) {
    const currency = r.currency.trim();
    const rate = rateOf.get(currency)!;
    const sign = r.side === 'debit' ? 1n : -1n;
    const outstanding = BigInt(r.outstanding);
    const revalued = sign * toBaseAmount(outstanding, currency, baseCurrency, rate);
    const base = sign * BigInt(r.base_outstanding);
    const item: RevaluedItem = {
      transactionId: Number(r.id),
      type: r.type,
      number: Number(r.number),
      externalReference: r.external_reference,
      transactionDate: r.transaction_date,
      bookedRate: new Dec(r.exchange_rate).toFixed(),
      outstanding: sign * outstanding,
      baseOutstanding: base,
      revaluedBase: revalued,
      difference: revalued - base,
    };
    let c = customers[customers.length - 1];
    if (!c || c.customerCode !== r.customer_code || c.currency !== currency) {
      c = {
        customerCode: r.customer_code,
        currency,
        controlGlAccountCode: r.control_gl_account_code,
        rate,
        outstanding: 0n,
        baseOutstanding: 0n,
        revaluedBase: 0n,
        difference: 0n,
        items: [],
      };
      customers.push(c);
    }
    c.items.push(item);
    c.outstanding += item.outstanding;
    c.baseOutstanding += base;
    c.revaluedBase += revalued;
    c.difference += item.difference;
    totals.baseOutstanding += base;
    totals.revaluedBase += revalued;
    totals.difference += item.difference;
  }
  return { at, baseCurrency, rates, customers, totals };
}

/** The debtors control account against the open items as at a date, revaluations shown apart. */
export interface ControlReconciliation {
  at: string;
  /** Σ debtors control lines (base) of everything dated on or before `at`; not those of supplier documents. */
  controlAccount: bigint;
  /** Σ base outstanding of every open item (all currencies), debits positive. */
  openItems: bigint;
  /** Σ control lines of revaluations (RV) and their reversals dated on or before `at`. */
  revaluation: bigint;
  /** controlAccount − openItems − revaluation: zero in a sound ledger. */
  difference: bigint;
}

/**
 * Checks "debtors control (base) = open items (base)" as at a date with revaluations accounted
 * for explicitly: a revaluation moves the control account on its date and its reversal moves it
 * back the next day, while the open items keep their booked base amounts. So as at any date the
 * control account equals the open items plus the revaluations in force (posted on or before the
 * date and not yet reversed), and with both dated on or before it they cancel out.
 */
export async function controlReconciliation(
  db: Queryable,
  entityId: string,
  at: string,
): Promise<ControlReconciliation> {
  const { rows } = await db.query<{ control: string; revaluation: string; open_items: string }>(
    `WITH live AS (
       SELECT a.debit_transaction_id, a.credit_transaction_id, a.debit_base_amount, a.credit_base_amount
         FROM allocations a
        WHERE a.entity_id = $1 AND a.allocation_date <= $2::date
          AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id AND r.reversal_date <= $2::date)
     ), cleared AS (
       SELECT id, sum(base) AS base
         FROM (SELECT debit_transaction_id AS id, debit_base_amount AS base FROM live
               UNION ALL
               SELECT credit_transaction_id, credit_base_amount FROM live) s
        GROUP BY id
     )
     SELECT (SELECT coalesce(sum(j.base_amount), 0) FROM journal_lines j JOIN transactions t ON t.id = j.transaction_id
              WHERE j.entity_id = $1 AND j.role = 'control' AND t.transaction_date <= $2::date
                -- The control lines of supplier documents are the creditors' (purchases, migration 0082).
                AND t.supplier_code IS NULL) AS control,
            (SELECT coalesce(sum(j.base_amount), 0) FROM journal_lines j JOIN transactions t ON t.id = j.transaction_id
              WHERE j.entity_id = $1 AND j.role = 'control' AND t.type = 'RV' AND t.transaction_date <= $2::date) AS revaluation,
            (SELECT coalesce(sum(CASE WHEN t.side = 'debit' THEN 1 ELSE -1 END * (t.base_gross - coalesce(x.base, 0))), 0)
               FROM transactions t LEFT JOIN cleared x ON x.id = t.id
              WHERE t.entity_id = $1 AND t.side <> 'none' AND t.transaction_date <= $2::date) AS open_items`,
    [entityId, at],
  );
  const r = rows[0]!;
  const controlAccount = BigInt(r.control);
  const openItems = BigInt(r.open_items);
  const revaluation = BigInt(r.revaluation);
  return { at, controlAccount, openItems, revaluation, difference: controlAccount - openItems - revaluation };
}
