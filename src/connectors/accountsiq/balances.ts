import { parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext } from '../../sync/target.ts';
import type { AccountsIqApi } from './api.ts';
import { SYSTEM } from './settings.ts';
import { items, text } from './wsdl.ts';

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

/**
 * Each customer's balance in AccountsIQ as at the end of `asAt`, in its account's currency, in
 * minor units (positive: the customer owes). ceil(N / 500) calls for N customers. Codes that
 * cannot be AccountsIQ's are not asked for; a customer AccountsIQ does not list is left out (zero).
 */
export async function openBalances(
  api: AccountsIqApi,
  ctx: TargetCallContext,
  customerCodes: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  const codes = [...new Set(customerCodes.filter((c) => CODE.test(c)))];
  const scope = new Set(codes);
  const out = new Map<string, { customerTargetId: string; currency: string; balance: bigint }>();
  for (let i = 0; i < codes.length; i += CODES_PER_CALL) {
    // The last moment of the day: whether AccountsIQ compares `<` or `<=`, the day itself counts
    // and the next does not (transactions are dated at midnight). Never an empty list: that asks
    // for every customer of the entity.
    const result = await api.readOk(
      'GetCustomerBalanceInformation',
      { edt: `${asAt}T23:59:59`, customerCodes: codes.slice(i, i + CODES_PER_CALL) },
      ctx.signal,
    );
    for (const b of items(result, 'AccountBalanceInformation')) {
      const code = text(b.AccountCode);
      if (!scope.has(code) || text(b.AccountType) === 'Supplier') continue;
      const currency = text(b.CurrencyCode);
      const raw = text(b.Balance);
      if (!/^[A-Z]{3}$/.test(currency))
        throw new ConnectorError(
          SYSTEM,
          `GetCustomerBalanceInformation answered customer ${code} without its currency`,
          {
            status: 200,
            retryable: false,
          },
        );
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
  }
  return [...out.values()].sort(
    (a, b) => a.customerTargetId.localeCompare(b.customerTargetId) || a.currency.localeCompare(b.currency),
  );
}
