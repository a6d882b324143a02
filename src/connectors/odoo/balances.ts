import { ConnectorError } from '../../sync/connector.ts';
import type { DocumentContext } from './documents.ts';
import { RECEIVABLE } from './documents.ts';
import { minor } from './map.ts';
import { type OdooObject, m2o, text } from './rpc.ts';
import { SYSTEM } from './settings.ts';

/*
 * Each customer's open balance as at a day, as Odoo's books hold it: the receivable journal items
 * (`account.move.line` on an account of type `asset_receivable`) of the customers' posted entries
 * dated up to that day, summed by Odoo itself (`read_group`, grouped by partner and currency,
 * `amount_currency:sum`: debit positive, in the item's currency). That is what Odoo's partner
 * ledger and aged receivable sum: invoices owe, credit notes and customer payments (reconciled or
 * not: money on account counts) credit, refunds (outbound payments) owe again, each as its entry
 * posts it. An entry not posted (a draft, a cancelled invoice, a cancelled payment) is out
 * (`parent_state`, its move's state); a deleted draft is not there. `date` is the accounting date
 * of the entry (an invoice's is its invoice date, unless a lock date moved it).
 *
 * Requests: one `read_group` per 1,000 customers; it answers one row per customer and currency,
 * never a page of items.
 */

/** Customers per `read_group` (a domain of ids, kept to a request of a few kilobytes). */
export const CUSTOMERS_PER_CALL = 1000;

/** The domain of these customers' posted receivable items dated up to `asAt`. */
export const balanceDomain = (customers: number[], asAt: string): unknown[] => [
  ['partner_id', 'in', customers],
  RECEIVABLE,
  ['parent_state', '=', 'posted'],
  ['date', '<=', asAt],
];

/** The day, checked: anything but YYYY-MM-DD never goes into a domain. */
export function checkedDay(what: string, day: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day))
    throw new ConnectorError(SYSTEM, `${what} "${day}", not a date (YYYY-MM-DD)`, { retryable: false });
  return day;
}

/** Of these ids, the distinct ones that can be partner ids, as numbers: anything else is none of the database's. */
export const partnerIds = (ids: readonly string[]): number[] => [
  ...new Set(ids.filter((id) => /^\d{1,15}$/.test(id)).map(Number)),
];

/**
 * Each customer's balance in Odoo as at `asAt`, per currency, in minor units (positive: the
 * customer owes). Ids that are no partner id are left out; a customer with nothing has no row.
 */
export async function openBalances(
  c: DocumentContext,
  customerTargetIds: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  checkedDay('open balances asked as at', asAt);
  const ids = partnerIds(customerTargetIds);
  const out: { customerTargetId: string; currency: string; balance: bigint }[] = [];
  for (let i = 0; i < ids.length; i += CUSTOMERS_PER_CALL) {
    const groups = await c.rpc.read(
      'account.move.line',
      'read_group',
      [
        balanceDomain(ids.slice(i, i + CUSTOMERS_PER_CALL), asAt),
        ['amount_currency:sum'],
        ['partner_id', 'currency_id'],
      ],
      { lazy: false },
      c.signal,
    );
    if (!Array.isArray(groups))
      throw new ConnectorError(SYSTEM, 'account.move.line.read_group answered without a list', { retryable: false });
    for (const g of groups as OdooObject[]) {
      const partner = m2o(g.partner_id);
      // A currency's display name is its ISO code (res.currency `name`).
      const currency = (Array.isArray(g.currency_id) ? text(g.currency_id[1]) : '') || c.company.currency;
      const balance = /^[A-Z]{3}$/.test(currency) ? minor(g.amount_currency, currency) : null;
      // An amount that does not parse stops the read: never counted as zero.
      if (partner === null || balance === null)
        throw new ConnectorError(
          SYSTEM,
          `account.move.line.read_group answered a group that is not a balance: ${JSON.stringify([text(g.amount_currency), currency])}`,
          { retryable: false },
        );
      out.push({ customerTargetId: String(partner), currency, balance });
    }
  }
  return out;
}
