import type { Queryable } from '../../db/database.ts';
import { AGING_BUCKETS, type AgingBasis, type AgingTotals, ageOpenItems, emptyAging } from '../../domain/aging.ts';
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

/** One customer's line of the aged debtors report: what it owes, aged, without its documents. */
export interface AgedDebtor {
  customerCode: string;
  customerName: string;
  currency: string;
  /** Documents with something open (a customer whose open items net to zero still has some). */
  openItems: number;
  /** Σ signed outstanding in minor units of its currency. */
  balance: bigint;
  aging: AgingTotals;
}

export interface AgedDebtors {
  /** By customer code. */
  customers: AgedDebtor[];
  /** Per currency, by currency code: amounts of two currencies are never added. */
  totals: ReceivablesAging[];
}

/**
 * The aged debtors summary as at `upTo`: each customer's balance and its aging (on `basis`), and
 * the totals per currency, from the open items cache's index alone (listOpenBalances): no
 * document row is read, so a ledger of a million transactions is aged in a page's time.
 * Customers with nothing open are left out unless `showZeros` (they count in no total).
 */
export async function agedDebtors(
  db: Queryable,
  entityId: string,
  upTo: string,
  basis: AgingBasis,
  showZeros: boolean,
): Promise<AgedDebtors> {
  const [customers, balances] = await Promise.all([
    listReportCustomers(db, entityId),
    listOpenBalances(db, entityId, upTo),
  ]);
  const byCustomer = new Map<string, OpenBalance[]>();
  for (const item of balances) {
    const list = byCustomer.get(item.customerCode);
    if (list) list.push(item);
    else byCustomer.set(item.customerCode, [item]);
  }
  const lines: AgedDebtor[] = [];
  const totals = new Map<string, ReceivablesAging>();
  for (const c of customers) {
    const items = byCustomer.get(c.code) ?? [];
    if (items.length === 0 && !showZeros) continue;
    const aged = ageOpenItems(items, basis, upTo);
    lines.push({
      customerCode: c.code,
      customerName: c.name,
      currency: c.currency,
      openItems: items.length,
      balance: aged.balance,
      aging: aged.aging,
    });
    if (items.length === 0) continue;
    let total = totals.get(c.currency);
    if (!total)
      totals.set(c.currency, (total = { currency: c.currency, balance: 0n, aging: emptyAging(), customers: 0 }));
    total.balance += aged.balance;
    for (const bucket of AGING_BUCKETS) total.aging[bucket] += aged.aging[bucket];
    total.customers++;
  }
  return {
    customers: lines,
    totals: [...totals.values()].sort((a, b) => (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0)),
  };
}

/**
 * The entity's accounts receivable as at `asAt`, one total and aging per currency (customers'
 * accounts are kept in their own currency, so amounts of two currencies are never added), by
 * currency code, aged on due dates. Two queries whatever the number of customers.
 */
export async function receivablesAging(db: Queryable, entityId: string, asAt: string): Promise<ReceivablesAging[]> {
  return (await agedDebtors(db, entityId, asAt, 'dueDate', false)).totals;
}
