import type { Queryable } from '../../db/database.ts';
import { type AgingTotals, ageOpenItems } from '../../domain/aging.ts';
import { listReportCustomers } from './customer.ts';
import { type OpenBalance, listOpenBalances } from './open-items.ts';

/** What customers of one currency owe as at a date, aged on due dates. */
export interface ReceivablesAging {
  currency: string;
  /** Σ signed outstanding in minor units: positive owed by customers, credits netted. */
  balance: bigint;
  aging: AgingTotals;
  /** Customers with something open. */
  customers: number;
}

/**
 * The entity's accounts receivable as at `asAt`, one total and aging per currency (customers'
 * accounts are kept in their own currency, so amounts of two currencies are never added), by
 * currency code. Two queries whatever the number of customers.
 */
export async function receivablesAging(db: Queryable, entityId: string, asAt: string): Promise<ReceivablesAging[]> {
  const [customers, balances] = await Promise.all([
    listReportCustomers(db, entityId),
    listOpenBalances(db, entityId, asAt),
  ]);
  const currencyOf = new Map(customers.map((c) => [c.code, c.currency]));
  const byCurrency = new Map<string, { items: OpenBalance[]; customers: Set<string> }>();
  for (const item of balances) {
    const currency = currencyOf.get(item.customerCode);
    if (!currency) continue;
    let group = byCurrency.get(currency);
    if (!group) byCurrency.set(currency, (group = { items: [], customers: new Set() }));
    group.items.push(item);
    group.customers.add(item.customerCode);
  }
  return [...byCurrency.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([currency, group]) => {
      const aged = ageOpenItems(group.items, 'dueDate', asAt);
      return { currency, balance: aged.balance, aging: aged.aging, customers: group.customers.size };
    });
}
