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
