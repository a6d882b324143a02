import type { Queryable } from '../../db/database.ts';
import { creditPosition } from '../../domain/credit-limit.ts';
import { formatAmount } from '../../domain/money.ts';
import { type ReportCustomer, getReportCustomer, getReportCustomers } from './customer.ts';

/** AccountsIQ's AccountBalanceInformation for one customer, amounts in its currency. */
export interface CustomerBalance {
  customerCode: string;
  currency: string;
  at: string;
  balance: string;
  /** "0.00" means no limit. */
  creditLimit: string;
  creditLeft: string;
  overCreditLimit: boolean;
  /** How far the balance is past the limit; "0.00" within it or without a limit. */
  overCreditLimitBy: string;
}

/**
 * What the customer owes as at `at`: Σ invoices and debit journals less Σ receipts, credit
 * notes, credit journals and discounts dated on or before it. An allocation takes the same
 * amount off both of its sides, so this equals the statement's balance without reading them.
 */
export async function customerBalance(
  db: Queryable,
  entityId: string,
  customerCode: string,
  at: string,
): Promise<CustomerBalance> {
  const customer = await getReportCustomer(db, entityId, customerCode);
  const { rows } = await db.query<{ balance: string }>(
    `SELECT COALESCE(sum(CASE side WHEN 'debit' THEN gross WHEN 'credit' THEN -gross ELSE 0 END), 0) AS balance
       FROM transactions
      WHERE entity_id = $1 AND customer_code = $2 AND transaction_date <= $3::date`,
    [entityId, customer.code, at],
  );
  return balanceInformation(customer, at, BigInt(rows[0]?.balance ?? '0'));
}

/**
 * The balances of the customers named as at `at`, ordered by code, in two queries whatever
 * their number; a code the entity does not have is NOT_FOUND.
 */
export async function customerBalances(
  db: Queryable,
  entityId: string,
  customerCodes: readonly string[],
  at: string,
): Promise<CustomerBalance[]> {
  const customers = await getReportCustomers(db, entityId, customerCodes);
  const { rows } = await db.query<{ customer_code: string; balance: string }>(
    `SELECT customer_code,
            sum(CASE side WHEN 'debit' THEN gross WHEN 'credit' THEN -gross ELSE 0 END)::text AS balance
       FROM transactions
      WHERE entity_id = $1 AND customer_code = ANY($2::text[]) AND transaction_date <= $3::date
      GROUP BY customer_code`,
    [entityId, customerCodes, at],
  );
  const balances = new Map(rows.map((r) => [r.customer_code, BigInt(r.balance)]));
  return customers.map((c) => balanceInformation(c, at, balances.get(c.code) ?? 0n));
}

function balanceInformation(customer: ReportCustomer, at: string, balance: bigint): CustomerBalance {
  const { creditLeft, overCreditLimit, overCreditLimitBy } = creditPosition(balance, customer.creditLimit);
  const fmt = (v: bigint) => formatAmount(v, customer.currency);
  return {
    customerCode: customer.code,
    currency: customer.currency,
    at,
    balance: fmt(balance),
    creditLimit: fmt(customer.creditLimit),
    creditLeft: fmt(creditLeft),
    overCreditLimit,
    overCreditLimitBy: fmt(overCreditLimitBy),
  };
}
