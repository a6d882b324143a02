/** Business dates are `YYYY-MM-DD` strings; these helpers do calendar arithmetic in UTC. */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isValidDate(text: string): boolean {
  const m = ISO_DATE.exec(text);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === text;
}

function toUtc(date: string): Date {
  return new Date(`${date}T00:00:00Z`);
}

function fromUtc(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function addDays(date: string, days: number): string {
  const d = toUtc(date);
  d.setUTCDate(d.getUTCDate() + days);
  return fromUtc(d);
}

export function endOfMonth(date: string): string {
  const d = toUtc(date);
  return fromUtc(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)));
}

/** Whole days from `a` to `b` (positive when b is later). */
export function daysBetween(a: string, b: string): number {
  return Math.round((toUtc(b).getTime() - toUtc(a).getTime()) / 86_400_000);
}

/** Today's date in UTC as `YYYY-MM-DD`. */
export function today(now: Date = new Date()): string {
  return fromUtc(now);
}

/**
 * The due date from credit terms: invoice date plus `days`, or, with `endOfMonth`, the end of
 * the invoice's month plus `days` (the AccountsIQ credit-term rule).
 */
export function dueDateFromTerms(invoiceDate: string, terms: { days: number; endOfMonth: boolean }): string {
  return addDays(terms.endOfMonth ? endOfMonth(invoiceDate) : invoiceDate, terms.days);
}

/** The earliest and latest business dates the ledger accepts (inclusive). */
export const MIN_DATE = '1900-01-01';
export const MAX_DATE = '2999-12-31';

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/**
 * What is wrong with a business date, or null when it is fine: not `YYYY-MM-DD`, a day the
 * calendar does not have (2026-02-30), or outside MIN_DATE..MAX_DATE.
 */
export function dateProblem(
  text: string,
): { kind: 'FORMAT' | 'DOES_NOT_EXIST' | 'OUT_OF_RANGE'; message: string } | null {
  const m = ISO_DATE.exec(text);
  if (!m) return { kind: 'FORMAT', message: 'must be a date as YYYY-MM-DD' };
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12)
    return { kind: 'DOES_NOT_EXIST', message: `${text} does not exist: there is no month ${m[2]}` };
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > days) {
    return {
      kind: 'DOES_NOT_EXIST',
      message: `${text} does not exist: ${MONTHS[month - 1]} ${m[1]} has ${days} days`,
    };
  }
  if (text < MIN_DATE || text > MAX_DATE) {
    return { kind: 'OUT_OF_RANGE', message: `${text} is outside ${MIN_DATE}..${MAX_DATE}` };
  }
  return null;
}

/** The later of two dates. */
export function laterDate(a: string, b: string): string {
  return a >= b ? a : b;
}
