import { parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext } from '../../sync/target.ts';
import type { AccountsIqApi } from './api.ts';
import { SYSTEM } from './settings.ts';
import { type Xml, items, text } from './wsdl.ts';

/*
 * Each customer's balance as AccountsIQ holds it at a date (docs/connectors/accountsiq.md,
 * "Reconciliation"): GetCustomerBalanceInformation(edt, customerCodes), AccountsIQ's own balance of
 * each customer "at the given date" (AccountBalanceInformation.Balance), many customers a call. It
 * is the sum of the customer's posted transactions dated up to then, as AccountsIQ books them:
 * invoices and debit journals (refunds) add, credit notes and receipts (allocated or on account)
 * take away; a reversed transaction and its reversal cancel out. Allocations move nothing.
 */

/** Customer codes per call: AccountsIQ publishes no limit; 500 keeps an envelope near 15 kB. */
export const CODES_PER_CALL = 500;

/** A customer code as AccountsIQ takes one: upper case, at most 50 characters (accountsiq-api.md). */
const CODE = /^[^\sa-z][^a-z]{0,49}$/;

/** The codes of these that can be AccountsIQ's customer codes, each once. */
export const customerCodes = (ids: string[]): string[] => [...new Set(ids.filter((c) => CODE.test(c)))];

/**
 * GetCustomerBalanceInformation for these customer codes as at `edt`, 500 codes a call: each
 * customer's AccountBalanceInformation (AccountID, AccountCode, Balance, CurrencyCode), suppliers
 * and codes not asked for left out. Never an empty list: that asks for every customer of the
 * entity. The balance read below, and the customers' AccountIDs that `unlinkedDocuments` filters
 * transactions by (unlinked.ts).
 */
export async function balanceInformation(
  api: AccountsIqApi,
  codes: string[],
  edt: string,
  signal?: AbortSignal,
): Promise<Record<string, Xml>[]> {
  const scope = new Set(codes);
  const out: Record<string, Xml>[] = [];
  for (let i = 0; i < codes.length; i += CODES_PER_CALL) {
    const result = await api.readOk(
      'GetCustomerBalanceInformation',
      { edt, customerCodes: codes.slice(i, i + CODES_PER_CALL) },
      signal,
    );
    for (const b of items(result, 'AccountBalanceInformation'))
      if (scope.has(text(b.AccountCode)) && text(b.AccountType) !== 'Supplier') out.push(b);
  }
  return out;
}

/**
 * Each customer's balance in AccountsIQ as at the end of `asAt`, in its account's currency, in
 * minor units (positive: the customer owes). ceil(N / 500) calls for N customers. Codes that
 * cannot be AccountsIQ's are not asked for; a customer AccountsIQ does not list is left out (zero).
 */
export async function openBalances(
  api: AccountsIqApi,
  ctx: TargetCallContext,
  ids: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  const out = new Map<string, { customerTargetId: string; currency: string; balance: bigint }>();
  // The last moment of the day: whether AccountsIQ compares `<` or `<=`, the day itself counts and
  // the next does not (transactions are dated at midnight).
  for (const b of await balanceInformation(api, customerCodes(ids), `${asAt}T23:59:59`, ctx.signal)) {
    const code = text(b.AccountCode);
    const currency = text(b.CurrencyCode);
    const raw = text(b.Balance);
    if (!/^[A-Z]{3}$/.test(currency))
      throw new ConnectorError(SYSTEM, `GetCustomerBalanceInformation answered customer ${code} without its currency`, {
        status: 200,
        retryable: false,
      });
    const parsed = parseAmount(raw, currency);
    // An amount that does not parse stops the read: never counted as zero.
    if (!parsed.ok)
      throw new ConnectorError(
        SYSTEM,
        `GetCustomerBalanceInformation answered a balance of customer ${code} that is not an amount of ${currency}: ${raw.slice(0, 40)}`,
        { status: 200, retryable: false },
      );
    const key = `${code}\u0000${currency}`;
    const held = out.get(key);
    out.set(key, { customerTargetId: code, currency, balance: (held?.balance ?? 0n) + parsed.value });
  }
  return [...out.values()].sort(
    (a, b) => a.customerTargetId.localeCompare(b.customerTargetId) || a.currency.localeCompare(b.currency),
  );
}
