import type { Queryable } from '../../db/database.ts';
import { formatAmount } from '../../domain/money.ts';

export interface TrialBalanceAccount {
  code: string;
  name: string;
  type: string;
  debit: string;
  credit: string;
}

export interface TrialBalance {
  at: string;
  currency: string;
  accounts: TrialBalanceAccount[];
  totals: { debit: string; credit: string };
}

/**
 * Balances of the GL accounts in the base currency as at `at`, from the journal lines of every
 * transaction dated on or before it. Each account shows its net on the side it falls; accounts
 * that net to zero are left out.
 */
export async function trialBalance(
  db: Queryable,
  entityId: string,
  baseCurrency: string,
  at: string,
): Promise<TrialBalance> {
  const { rows } = await db.query<{ code: string; name: string; type: string; balance: string }>(
    `SELECT g.code, g.name, g.type, sum(j.base_amount) AS balance
       FROM journal_lines j
       JOIN transactions t ON t.id = j.transaction_id
       JOIN gl_accounts g ON g.entity_id = j.entity_id AND g.code = j.gl_account_code
      WHERE j.entity_id = $1 AND t.entity_id = $1 AND t.transaction_date <= $2::date
      GROUP BY g.code, g.name, g.type
     HAVING sum(j.base_amount) <> 0
      ORDER BY g.code`,
    [entityId, at],
  );
  const fmt = (v: bigint) => formatAmount(v, baseCurrency);
  let debit = 0n;
  let credit = 0n;
  const accounts = rows.map((r) => {
    const balance = BigInt(r.balance);
    const d = balance > 0n ? balance : 0n;
    const c = balance < 0n ? -balance : 0n;
    debit += d;
    credit += c;
    return { code: r.code, name: r.name, type: r.type, debit: fmt(d), credit: fmt(c) };
  });
  return { at, currency: baseCurrency, accounts, totals: { debit: fmt(debit), credit: fmt(credit) } };
}
