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
  // Every line of the entity, less the lines of documents dated after `at` (usually none), rather
  // than every document dated up to `at` joined to its lines: the join's plan depended on
  // statistics, and with stale ones (PGlite never gathers any by itself) it intersected the
  // entity's whole line index once per document, 1 s for 2,000 documents (docs/performance.md,
  // issue 14). A journal line is always written with its transaction's entity.
  const { rows } = await db.query<{ code: string; name: string; type: string; balance: string }>(
    `WITH totals AS (
       SELECT gl_account_code, sum(base_amount) AS balance
         FROM journal_lines WHERE entity_id = $1 GROUP BY gl_account_code
       UNION ALL
       SELECT j.gl_account_code, -sum(j.base_amount)
         FROM transactions t JOIN journal_lines j ON j.transaction_id = t.id
        WHERE t.entity_id = $1 AND t.transaction_date > $2::date
        GROUP BY j.gl_account_code
     )
     SELECT g.code, g.name, g.type, sum(s.balance) AS balance
       FROM totals s JOIN gl_accounts g ON g.entity_id = $1 AND g.code = s.gl_account_code
      GROUP BY g.code, g.name, g.type
     HAVING sum(s.balance) <> 0
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
