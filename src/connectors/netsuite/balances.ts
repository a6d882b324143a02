import { ConnectorError } from '../../sync/connector.ts';
import { text } from './api.ts';
import type { DocumentContext } from './documents.ts';
import { minor } from './map.ts';
import { IDS_PER_QUERY, checkedDay, decimal, internalIds, sqlDay, slices } from './reads.ts';
import { SYSTEM } from './settings.ts';

/*
 * Each customer's open balance as at a day, as NetSuite's general ledger holds it: what was posted
 * to accounts receivable in its name, summed in the query (SuiteQL, `POST /query/v1/suiteql`).
 * NetSuite has no "customer balance as at" over REST (the customer record's `balance` is today's,
 * and the A/R Aging report is not served by REST), so the query reads the A/R lines of every
 * transaction's GL impact (`transactionaccountingline`, posting lines of the primary accounting
 * book, on accounts of type AcctRec) dated up to that day, each for the customer its line names
 * (`transactionline.entity`), else its header's (`transaction.entity`): invoices debit A/R, credit
 * memos and customer payments (applied or not) credit it, customer refunds debit it, and so does
 * whatever journal entry a person books against A/R naming the customer on a line only (a bad-debt
 * write-off, a move between two customers), each in the transaction's currency
 * (`transactionline.debitforeignamount`/`creditforeignamount` of the line the accounting line
 * posts).
 *
 * Voided transactions are read as the ledger holds them, not left out: a direct void (the
 * default) sets the transaction's lines to zero, so it counts nothing as at any day; a void by
 * reversing journal ("Void Transactions Using Reversing Journals" on: customer refunds, never
 * invoices, credit memos or payments, whose void is direct only) leaves the original posted on its
 * day and reverses it on the day of the void with a journal whose A/R line names the customer, so
 * it is owed until that day and nothing from it. Leaving voided originals out while reading their
 * journals would count the reversal twice. A deleted transaction is not there.
 *
 * Requests: one query per 1,000 customers (Oracle's IN list limit), each one page of 1,000 rows
 * unless its customers hold more than 1,000 customer-currency balances between them.
 */

/** The customer an A/R line counts for: the one its line names, else its transaction's. */
const CUSTOMER = 'NVL(tl.entity, t.entity)';

/** The A/R balance of these customers as at `asAt`, per currency; `asAt` is YYYY-MM-DD. */
export const balancesQuery = (customers: readonly string[], asAt: string): string =>
  `SELECT ${CUSTOMER} AS entity, cu.symbol AS currency, ` +
  `SUM(NVL(tl.debitforeignamount, 0) - NVL(tl.creditforeignamount, 0)) AS balance ` +
  `FROM transaction t ` +
  `JOIN transactionaccountingline tal ON tal.transaction = t.id ` +
  `JOIN accountingbook b ON b.id = tal.accountingbook AND b.isprimary = 'T' ` +
  `JOIN account a ON a.id = tal.account AND a.accttype = 'AcctRec' ` +
  `JOIN transactionline tl ON tl.transaction = tal.transaction AND tl.id = tal.transactionline ` +
  `JOIN currency cu ON cu.id = t.currency ` +
  `WHERE ${CUSTOMER} IN (${customers.join(', ')}) AND t.trandate <= ${sqlDay(asAt)} ` +
  `AND tal.posting = 'T' ` +
  `GROUP BY ${CUSTOMER}, cu.symbol ORDER BY ${CUSTOMER}, cu.symbol`;

/**
 * Each customer's balance in NetSuite as at `asAt`, per currency, in minor units (positive: the
 * customer owes). Ids that are no internal id are none of the account's and are left out; a
 * customer with nothing posted has no row.
 */
export async function openBalances(
  c: DocumentContext,
  customerTargetIds: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  checkedDay('open balances asked as at', asAt);
  const out: { customerTargetId: string; currency: string; balance: bigint }[] = [];
  for (const slice of slices(internalIds(customerTargetIds), IDS_PER_QUERY)) {
    for (const r of await c.api.query(balancesQuery(slice, asAt), c.signal)) {
      const currency = text(r.currency).toUpperCase();
      const value = decimal(r.balance);
      // An amount that does not parse stops the read: never counted as zero.
      const balance = /^[A-Z]{3}$/.test(currency) ? minor(value === '' ? '0' : value, currency) : null;
      if (balance === null)
        throw new ConnectorError(
          SYSTEM,
          `SuiteQL answered a balance that is not one for customer ${text(r.entity)}: ${value} ${currency}`,
          { retryable: false },
        );
      out.push({ customerTargetId: text(r.entity), currency, balance });
    }
  }
  return out;
}
