import type { Queryable } from '../../db/database.ts';
import { formatAmount } from '../../domain/money.ts';
import { glBalances } from './gl-balances.ts';

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
 * transaction dated on or before it (through the GL balances cache, gl-balances.ts). Each account
 * shows its net on the side it falls; accounts that net to zero are left out.
 */
export async function trialBalance(
  db: Queryable,
  entityId: string,
  baseCurrency: string,
  at: string,
): Promise<TrialBalance> {
  const fmt = (v: bigint) => formatAmount(v, baseCurrency);
  let debit = 0n;
  let credit = 0n;
  const accounts = (await glBalances(db, entityId, at)).map(({ code, name, type, balance }) => {
    const d = balance > 0n ? balance : 0n;
    const c = balance < 0n ? -balance : 0n;
    debit += d;
    credit += c;
    return { code, name, type, debit: fmt(d), credit: fmt(c) };
  });
  return { at, currency: baseCurrency, accounts, totals: { debit: fmt(debit), credit: fmt(credit) } };
}
