import { currencyExponent } from '../domain/currency.ts';
import { formatAmount } from '../domain/money.ts';

/** The locale used when the browser names none this server's Intl knows. */
export const DEFAULT_LOCALE = 'en-GB';

/**
 * The first locale of an Accept-Language header that Intl supports (quality values respected),
 * or DEFAULT_LOCALE. Dates and amounts are shown in it.
 */
export function localeOf(acceptLanguage: string | undefined): string {
  if (!acceptLanguage) return DEFAULT_LOCALE;
  const wanted = acceptLanguage
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: tag.trim(), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((w) => /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(w.tag) && w.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const w of wanted.slice(0, 10)) {
    try {
      const [supported] = Intl.DateTimeFormat.supportedLocalesOf([w.tag]);
      if (supported) return supported;
    } catch {
      // a tag Intl refuses: try the next
    }
  }
  return DEFAULT_LOCALE;
}

const numberFormats = new Map<string, Intl.NumberFormat>();

/**
 * An exact decimal amount (`"-1234.50"`) with its currency in the locale's way (`-1.234,50 €`).
 * Intl formats the decimal string itself, digit for digit: the amount never becomes a float.
 */
export function formatMoney(amount: string, currency: string, locale: string): string {
  const key = `${locale}|${currency}`;
  let f = numberFormats.get(key);
  if (!f) {
    const digits = currencyExponent(currency);
    f = new Intl.NumberFormat(locale, {
      style: 'currency',
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    numberFormats.set(key, f);
  }
  // Intl.NumberFormat takes a decimal string exactly (ECMA-402 "Intl.NumberFormat v3"); the type is older.
  return f.format(amount as unknown as number);
}

/** Minor units of a currency shown as money (`123450n`, `EUR` → `€1,234.50`). */
export function formatMinor(minor: bigint, currency: string, locale: string): string {
  return formatMoney(formatAmount(minor, currency), currency, locale);
}

/** A whole count in the locale's way (`12,345`). */
export function formatCount(n: number, locale: string): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(n);
}

/** A timestamp (ISO 8601) as a date and time in UTC, said so: the server does not know the browser's zone. */
export function formatDateTime(iso: string, locale: string): string {
  return new Intl.DateTimeFormat(locale, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: 'UTC',
    timeZoneName: 'short',
  }).format(new Date(iso));
}

/** An hour of a day (ISO 8601) as the locale writes hours, in UTC. */
export function formatHour(iso: string, locale: string): string {
  return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' }).format(new Date(iso));
}

/** A business date (YYYY-MM-DD) in the locale's way; it has no time zone. */
export function formatDate(ymd: string, locale: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(`${ymd}T00:00:00Z`));
}

/** How long ago a timestamp was, in the locale's words ("3 minutes ago"). */
export function formatAgo(iso: string, now: Date, locale: string): string {
  const seconds = Math.round((new Date(iso).getTime() - now.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(seconds, 'second');
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour');
  return rtf.format(Math.round(seconds / 86400), 'day');
}

/** The duration between two timestamps, short (`1 min 05 s`, `4 s`). */
export function formatDuration(fromIso: string, toIso: string): string {
  const s = Math.max(0, Math.round((new Date(toIso).getTime() - new Date(fromIso).getTime()) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
