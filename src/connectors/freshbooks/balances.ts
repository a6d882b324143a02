import { addDays } from '../../domain/dates.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext } from '../../sync/target.ts';
import { type FbObject, text } from './api.ts';
import { type DocumentContext, KINDS } from './documents.ts';
import { minor } from './map.ts';
import { currencyOf } from './reads.ts';
import { PAGE_SIZE, SYSTEM } from './settings.ts';

/*
 * Each client's open balance in FreshBooks as at a day, read from its documents. FreshBooks'
 * accounts aging report (reports/accounting/accounts_aging) ages the invoices outstanding now, and
 * whether its end date makes it a balance as at that day, credit included, is not documented, so
 * the documents are listed and summed. `_max` searches match what is below the value
 * (freshbooks.com/api/parameters, "Between", as the fee lookup found), so the day is asked as
 * `date_max` the day after, and every row's date is checked again here.
 */

/** The day after a YYYY-MM-DD day. */

/**
 * Each client's balance in FreshBooks as at `asAt` (inclusive), in minor units: its invoices
 * created up to then (drafts left out), less its credit notes created up to then and its payments
 * dated up to then. A deleted document (`vis_state` 1) is not listed. A payment of type Credit sets
 * a client's credit against an invoice, and an overpayment credit is the part of a payment above
 * its invoice, already counted with the payment: neither counts again.
 *
 * Invoices take an In search of clients (`search[customerids][]`), 100 a request; payments and
 * credit notes are searched by one client (`search[clientid]`), as the connector's lookups search
 * them. For N clients: ⌈N/100⌉ + 2N requests, and one more for each further page of 100.
 */
export async function openBalances(
  c: DocumentContext,
  ctx: TargetCallContext,
  clientIds: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  // FreshBooks' ids are numbers: anything else cannot be one of its clients.
  const ids = [...new Set(clientIds.filter((id) => /^\d{1,18}$/.test(id)))].sort();
  const scope = new Set(ids);
  const signal = ctx.signal ?? c.signal;
  const before = addDays(asAt, 1);
  const sums = new Map<string, bigint>();
  const add = (client: string, currency: string, v: bigint) => {
    const k = `${client}\u0000${currency}`;
    sums.set(k, (sums.get(k) ?? 0n) + v);
  };
  const amount = (e: FbObject, what: string) => {
    const currency = currencyOf(e, what);
    const v = minor(e.amount, currency);
    if (v === null)
      throw new ConnectorError(SYSTEM, `${what} answered an amount that is not one`, { retryable: false });
    return { currency, v };
  };

  const inv = KINDS.invoice;
  for (let i = 0; i < ids.length; i += PAGE_SIZE) {
    const group = ids.slice(i, i + PAGE_SIZE);
    for (const e of await c.api.listAll(inv.path, inv.list, { customerids: group, date_max: before }, signal)) {
      const client = text(e.customerid);
      const status = text(e.v3_status) || text(e.status);
      if (!scope.has(client) || text(e.create_date) > asAt || status === 'draft' || text(e.vis_state) === '1') continue;
      const { currency, v } = amount(e, `invoice ${text(e.id)}`);
      add(client, currency, v);
    }
  }
  const cn = KINDS.creditNote;
  const pay = KINDS.payment;
  for (const id of ids) {
    for (const e of await c.api.listAll(cn.path, cn.list, { clientid: id, date_max: before }, signal)) {
      if (text(e.clientid) !== id || text(e.create_date) > asAt || text(e.vis_state) === '1') continue;
      if (text(e.credit_type) === 'overpayment') continue;
      const { currency, v } = amount(e, `credit note ${text(e.creditid) || text(e.id)}`);
      add(id, currency, -v);
    }
    for (const e of await c.api.listAll(pay.path, pay.list, { clientid: id, date_max: before }, signal)) {
      if (text(e.clientid) !== id || text(e.date) > asAt || text(e.vis_state) === '1') continue;
      if (text(e.type) === 'Credit' || e.from_credit === true) continue;
      const { currency, v } = amount(e, `payment ${text(e.id)}`);
      add(id, currency, -v);
    }
  }
  return [...sums]
    .map(([k, balance]) => {
      const [customerTargetId, currency] = k.split('\u0000') as [string, string];
      return { customerTargetId, currency, balance };
    })
    .sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId) || a.currency.localeCompare(b.currency));
}
