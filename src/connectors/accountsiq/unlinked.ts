import type { TargetCallContext, TargetDocument } from '../../sync/target.ts';
import type { AccountsIqApi } from './api.ts';
import { balanceInformation, customerCodes } from './balances.ts';
import { datedQuery, kindOf, summariesOf, toDocument } from './map.ts';
import { text } from './wsdl.ts';

/*
 * What reconciliation names as posted outside the pipeline (docs/connectors/accountsiq.md,
 * "Reconciliation"): the sales transactions of the pipeline's customers dated in the window that
 * no pipeline booked. GetTransactionsBy filters by AccountIDs (ints), not by customer code: the
 * customers' AccountIDs come from GetCustomerBalanceInformation (balances.ts), 500 codes a call;
 * then GetTransactionsBy over the window, 500 AccountIDs a call, page after page (`Skip`) until a
 * page holds none (AccountsIQ publishes no page size). Each transaction is read as documents()
 * reads it (map.ts `toDocument`).
 */

/** AccountIDs per GetTransactionsBy call: AccountsIQ publishes no limit; as many as codes a balance call. */
export const ACCOUNTS_PER_CALL = 500;

/**
 * Invoices, credit notes, receipts and refund journals (sales debit journals) dated in [from, to]
 * of these customers, that no pipeline booked. ceil(N / 500) GetCustomerBalanceInformation calls
 * for N customers, then for each 500 of those AccountsIQ holds, one GetTransactionsBy call a page
 * and one more for the empty page that ends it. Left out: transactions reversed there (the
 * original and its reversal, both `IsReversed`: out of the books), what is no sales document
 * (sundry bank payments, which carry fees), and the linked ones. References are not searched:
 * AccountsIQ finds transactions by reference one reference a call (GetTransactionsByExternalReference).
 */
export async function unlinkedDocuments(
  api: AccountsIqApi,
  ctx: TargetCallContext,
  scope: { customerTargetIds: string[]; linkedTargetIds: string[] },
  from: string,
  to: string,
): Promise<TargetDocument[]> {
  const codes = customerCodes(scope.customerTargetIds);
  if (codes.length === 0 || from > to) return [];
  const linked = new Set(scope.linkedTargetIds);
  const customers = new Set(codes);
  const accounts = [
    ...new Set(
      (await balanceInformation(api, codes, `${to}T23:59:59`, ctx.signal))
        .map((b) => text(b.AccountID))
        .filter((id) => /^[1-9]\d*$/.test(id)),
    ),
  ];
  const out = new Map<string, TargetDocument>();
  for (let i = 0; i < accounts.length; i += ACCOUNTS_PER_CALL) {
    const batch = accounts.slice(i, i + ACCOUNTS_PER_CALL);
    for (let skip = 0; ;) {
      const result = await api.readOk('GetTransactionsBy', { query: datedQuery(from, to, skip, batch) }, ctx.signal);
      const page = summariesOf(result);
      if (page.length === 0) break;
      skip += page.length;
      for (const s of page) {
        const kind = kindOf(s.type);
        if (!kind || s.reversed || linked.has(s.id) || out.has(s.id)) continue;
        // What AccountIDsFilter already says, checked again by code: never another customer's.
        if (!customers.has(s.customer)) continue;
        out.set(s.id, toDocument(s, kind));
      }
    }
  }
  return [...out.values()];
}
