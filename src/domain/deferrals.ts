/**
 * Deferred revenue schedules: pure arithmetic, no I/O. A deferred invoice line's net is released
 * to revenue in monthly parts that add up to it exactly (docs/ledger.md "Deferred revenue").
 */

/** The most months a deferral may span (ten years). */
export const MAX_DEFERRAL_MONTHS = 120;

/** What an invoice line asks for: `months` monthly releases, the first on `startDate`. */
export interface DeferralInput {
  months: number;
  startDate: string;
  /** The deferred revenue account; defaults to the entity's (2300 in the default chart). */
  glAccountCode?: string | undefined;
}

export interface Release {
  /** 1 for the first month. */
  seq: number;
  dueDate: string;
  /** In the document currency, minor units. */
  amount: bigint;
  /** In the base currency, minor units. */
  baseAmount: bigint;
}

/** A deferred line of an invoice being posted: its journal goes to the deferred account. */
export interface DeferralPlan {
  lineNo: number;
  deferredGlAccountCode: string;
  revenueGlAccountCode: string;
  departmentId: string | null;
  months: number;
  startDate: string;
  amount: bigint;
  baseAmount: bigint;
  releases: Release[];
}

/**
 * `date` plus `months` calendar months, the day kept but clamped to the month's last day:
 * 2026-01-31 + 1 = 2026-02-28, + 2 = 2026-03-31 (always counted from the start, never chained).
 */
export function addMonths(date: string, months: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const index = y * 12 + (m - 1) + months;
  const year = Math.floor(index / 12);
  const month = index - year * 12;
  const last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(d, last);
  return `${String(year).padStart(4, '0')}-${String(month + 1).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/**
 * Splits `total` into `parts` equal parts rounded towards zero, the remainder added to the last
 * part: 1000.00 in 3 is 333.33, 333.33, 333.34. The parts always add up to `total` exactly.
 */
export function splitEvenly(total: bigint, parts: number): bigint[] {
  if (!Number.isInteger(parts) || parts < 1) throw new RangeError(`cannot split into ${parts} parts`);
  const n = BigInt(parts);
  const each = total / n; // bigint division truncates towards zero
  const result = new Array<bigint>(parts).fill(each);
  result[parts - 1] = total - each * (n - 1n);
  return result;
}

/**
 * The releases of a deferral: one a month from `startDate` (release k due `startDate` + k - 1
 * months), the document and base amounts each split by `splitEvenly`.
 */
export function deferralReleases(amount: bigint, baseAmount: bigint, months: number, startDate: string): Release[] {
  const amounts = splitEvenly(amount, months);
  const bases = splitEvenly(baseAmount, months);
  return amounts.map((a, k) => ({ seq: k + 1, dueDate: addMonths(startDate, k), amount: a, baseAmount: bases[k]! }));
}
