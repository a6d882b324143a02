import type { Queryable } from '../../db/database.ts';
import { creditPosition } from '../../domain/credit-limit.ts';
import { formatAmount } from '../../domain/money.ts';
import { getReportCustomer } from './customer.ts';

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
  const balance = BigInt(rows[0]?.balance ?? '0');
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
