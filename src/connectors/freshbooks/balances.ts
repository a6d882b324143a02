import { addDays } from '../../domain/dates.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext } from '../../sync/target.ts';
import { type FbObject, text } from './api.ts';
import { type DocumentContext, KINDS } from './documents.ts';
import { minor } from './map.ts';
import { currencyOf, deleted, isCredit, isDraft, isOverpayment } from './reads.ts';
import { PAGE_SIZE, SYSTEM } from './settings.ts';

/*
 * Each client's open balance in FreshBooks as at a day, read from its documents. FreshBooks'
 * accounts aging report (reports/accounting/accounts_aging) ages the invoices outstanding now, and
 * whether its end date makes it a balance as at that day, credit included, is not documented, so
 * the documents are listed and summed. `_max` searches match what is below the value
 * (freshbooks.com/api/parameters, "Between", as the fee lookup found), so the day is asked as
 * `date_max` the day after, and every row's date is checked again here.
 */

/** FreshBooks' ids are numbers: anything else cannot be one of its clients. The asked ids, once each, sorted. */
export const clientIds = (ids: string[]): string[] => [...new Set(ids.filter((id) => /^\d{1,18}$/.test(id)))].sort();

/** A row of a client's list, and the client its request asked for. */
export interface ClientRow {
  e: FbObject;
  asked: string;
}

/** The lists of these clients' documents: rows of every asked client's invoices, and each client's credit notes and payments. */
export interface ClientLists {
  invoices: FbObject[];
  creditNotes: ClientRow[];
  payments: ClientRow[];
}

/**
 * The invoices, credit notes and payments of these clients (`ids`, from clientIds) under `search`
 * (the dates), each list to its last page of 100. Invoices take an In search of clients
 * (`search[customerids][]`), 100 a request; payments and credit notes are searched by one client
 * (`search[clientid]`), as the connector's lookups search them: ⌈N/100⌉ + 2N requests for N
 * clients, and one more for each further page. `include` (`lines`) is asked of invoices and credit
 * notes. The rows are as FreshBooks answers them: the caller checks each one's client and date.
 */
export async function clientLists(
  c: DocumentContext,
  ids: string[],
  search: Record<string, string>,
  signal: AbortSignal | undefined,
  include: readonly string[] = [],
): Promise<ClientLists> {
  const out: ClientLists = { invoices: [], creditNotes: [], payments: [] };
  const inv = KINDS.invoice;
  for (let i = 0; i < ids.length; i += PAGE_SIZE)
    out.invoices.push(
      ...(await c.api.listAll(
        inv.path,
        inv.list,
        { customerids: ids.slice(i, i + PAGE_SIZE), ...search },
        signal,
        include,
      )),
    );
  const cn = KINDS.creditNote;
  const pay = KINDS.payment;
  for (const id of ids) {
    for (const e of await c.api.listAll(cn.path, cn.list, { clientid: id, ...search }, signal, include))
      out.creditNotes.push({ e, asked: id });
    for (const e of await c.api.listAll(pay.path, pay.list, { clientid: id, ...search }, signal))
      out.payments.push({ e, asked: id });
  }
  return out;
}

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
  customerIds: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  const ids = clientIds(customerIds);
  const scope = new Set(ids);
  const signal = ctx.signal ?? c.signal;
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

  const lists = await clientLists(c, ids, { date_max: addDays(asAt, 1) }, signal);
  for (const e of lists.invoices) {
    const client = text(e.customerid);
    if (!scope.has(client) || text(e.create_date) > asAt || isDraft(e) || deleted(e)) continue;
    const { currency, v } = amount(e, `invoice ${text(e.id)}`);
    add(client, currency, v);
  }
  for (const { e, asked: id } of lists.creditNotes) {
    if (text(e.clientid) !== id || text(e.create_date) > asAt || deleted(e)) continue;
    if (isOverpayment(e)) continue;
    const { currency, v } = amount(e, `credit note ${text(e.creditid) || text(e.id)}`);
    add(id, currency, -v);
  }
  for (const { e, asked: id } of lists.payments) {
    if (text(e.clientid) !== id || text(e.date) > asAt || deleted(e)) continue;
    if (isCredit(e)) continue;
    const { currency, v } = amount(e, `payment ${text(e.id)}`);
    add(id, currency, -v);
  }
  return [...sums]
    .map(([k, balance]) => {
      const [customerTargetId, currency] = k.split('\u0000') as [string, string];
      return { customerTargetId, currency, balance };
    })
    .sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId) || a.currency.localeCompare(b.currency));
}
