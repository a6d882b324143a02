/**
 * Open items and their age: which bucket an outstanding amount falls in as at a date, and the
 * totals a statement shows. Pure logic; the ledger supplies the open items.
 */

/** What an open item is aged from: its due date (the usual) or its document date. */
export type AgingBasis = 'dueDate' | 'transactionDate';
export const AGING_BASES = ['dueDate', 'transactionDate'] as const satisfies readonly AgingBasis[];

export const AGING_BUCKETS = ['current', 'days1to30', 'days31to60', 'days61to90', 'days91to120', 'over120'] as const;
export type AgingBucket = (typeof AGING_BUCKETS)[number];

export type Side = 'debit' | 'credit' | 'none';

/** The bucket of an item `age` days past its basis date; not yet due (age ≤ 0) is `current`. */
export function bucketFor(age: number): AgingBucket {
  if (age <= 0) return 'current';
  if (age <= 30) return 'days1to30';
  if (age <= 60) return 'days31to60';
  if (age <= 90) return 'days61to90';
  if (age <= 120) return 'days91to120';
  return 'over120';
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Days since 1970-01-01 of a YYYY-MM-DD date. */
function dayNumber(date: string): number {
  const m = ISO_DATE.exec(date);
  if (!m) throw new Error(`not a YYYY-MM-DD date: ${date}`);
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 86_400_000;
}

export interface AgeableItem {
  side: Side;
  transactionDate: string;
  dueDate: string | null;
  /** Outstanding amount in minor units, never negative; the side gives the sign. */
  outstanding: bigint;
}

/**
 * The date an item is aged from. A credit (receipt, credit note) is never "due", so it is aged
 * from its own document date on either basis; a debit without a due date falls back to its date.
 */
export function agingDate(item: Pick<AgeableItem, 'side' | 'transactionDate' | 'dueDate'>, basis: AgingBasis): string {
  if (basis === 'transactionDate' || item.side !== 'debit') return item.transactionDate;
  return item.dueDate ?? item.transactionDate;
}

/** Debit-side amounts count towards what the customer owes, credit-side against it. */
export function signedAmount(side: Side, amount: bigint): bigint {
  if (side === 'debit') return amount;
  if (side === 'credit') return -amount;
  return 0n;
}

export type AllocationStatus = 'open' | 'partiallyAllocated' | 'allocated' | 'none';

/** How far a document is settled; FX differences (side none) are never open items. */
export function allocationStatus(side: Side, gross: bigint, outstanding: bigint): AllocationStatus {
  if (side === 'none') return 'none';
  if (outstanding === 0n && gross > 0n) return 'allocated';
  if (outstanding === gross) return 'open';
  return 'partiallyAllocated';
}

export type AgingTotals = Record<AgingBucket, bigint>;

export function emptyAging(): AgingTotals {
  return { current: 0n, days1to30: 0n, days31to60: 0n, days61to90: 0n, days91to120: 0n, over120: 0n };
}

/**
 * Days from each YYYY-MM-DD date to `upTo` (negative when after it), as a function that parses
 * each date once: thousands of items share a few hundred dates.
 */
export function agesAsAt(upTo: string): (date: string) => number {
  const asAt = dayNumber(upTo);
  const days = new Map<string, number>();
  return (date) => {
    let d = days.get(date);
    if (d === undefined) days.set(date, (d = asAt - dayNumber(date)));
    return d;
  };
}

export interface AgedItem<T> {
  item: T;
  /** Outstanding with its sign: positive owed by the customer, negative owed to them. */
  signed: bigint;
  /** Days from the aging date to `upTo`, never below zero. */
  daysOverdue: number;
  bucket: AgingBucket;
}

export interface AgedItems<T> {
  items: AgedItem<T>[];
  aging: AgingTotals;
  /** Σ signed outstanding, which is also Σ of the buckets. */
  balance: bigint;
}

/**
 * Ages open items as at `upTo`. Items keep their order; zero-outstanding items are still listed
 * (the caller decides what is open) but add nothing to the totals.
 *
 * @example ageOpenItems([{ side: 'debit', transactionDate: '2026-01-01', dueDate: '2026-01-31', outstanding: 100n }],
 *   'dueDate', '2026-03-01') // one item in days1to30 (29 days), balance 100n
 */
export function ageOpenItems<T extends AgeableItem>(
  items: readonly T[],
  basis: AgingBasis,
  upTo: string,
): AgedItems<T> {
  const ageOf = agesAsAt(upTo);
  const aging = emptyAging();
  let balance = 0n;
  const aged = items.map((item) => {
    const age = ageOf(agingDate(item, basis));
    const bucket = bucketFor(age);
    const signed = signedAmount(item.side, item.outstanding);
    aging[bucket] += signed;
    balance += signed;
    return { item, signed, daysOverdue: Math.max(0, age), bucket };
  });
  return { items: aged, aging, balance };
}
