import { Decimal } from 'decimal.js';
import { currencyExponent } from './currency.ts';

/** A decimal library instance with enough precision for rates times large amounts. */
export const Dec = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP });
export type Dec = InstanceType<typeof Dec>;

export type Rounding = 'halfUp' | 'halfEven';
const ROUNDING_MODES: Record<Rounding, Decimal.Rounding> = {
  halfUp: Decimal.ROUND_HALF_UP,
  halfEven: Decimal.ROUND_HALF_EVEN,
};

const DECIMAL_TEXT = /^-?(\d+)(?:\.(\d+))?$/;

export type AmountParseFailure = 'NOT_A_DECIMAL' | 'TOO_MANY_DECIMALS';

/**
 * Parses a decimal string (or the text of a JSON number) into minor units of `currency`,
 * exactly. `"120.5"` in EUR is 12050n; `"0.001"` in EUR is refused, never rounded.
 */
export function parseAmount(text: string, currency: string): bigint | AmountParseFailure {
  const exponent = currencyExponent(currency);
  let normalised = text.trim();
  // No real amount needs more digits than this; a huge exponent would make expansion hang.
  if (normalised.length > 40) return 'NOT_A_DECIMAL';
  const exp = /[eE]([-+]?\d+)$/.exec(normalised);
  if (exp && Math.abs(Number(exp[1])) > 30) return 'NOT_A_DECIMAL';
  if (exp) {
    // JSON allows exponents; expand them exactly through the decimal library, not a float.
    try {
      normalised = new Dec(normalised).toFixed();
    } catch {
      return 'NOT_A_DECIMAL';
    }
  }
  const m = DECIMAL_TEXT.exec(normalised);
  if (!m) return 'NOT_A_DECIMAL';
  const fraction = (m[2] ?? '').replace(/0+$/, '');
  if (fraction.length > exponent) return 'TOO_MANY_DECIMALS';
  const negative = normalised.startsWith('-');
  const digits = (m[1] ?? '0') + fraction.padEnd(exponent, '0');
  const value = BigInt(digits);
  return negative ? -value : value;
}

/** Formats minor units as a decimal string with exactly the currency's decimals: 12050n → "120.50". */
export function formatAmount(minor: bigint, currency: string): string {
  const exponent = currencyExponent(currency);
  const negative = minor < 0n;
  const abs = (negative ? -minor : minor).toString().padStart(exponent + 1, '0');
  const whole = exponent === 0 ? abs : abs.slice(0, -exponent);
  const fraction = exponent === 0 ? '' : '.' + abs.slice(-exponent);
  return (negative ? '-' : '') + whole + fraction;
}

/** Minor units × a decimal factor, rounded to minor units with the named mode. */
export function multiplyAmount(minor: bigint, factor: Dec | string, rounding: Rounding): bigint {
  const product = new Dec(minor.toString()).mul(factor);
  return BigInt(product.toDecimalPlaces(0, ROUNDING_MODES[rounding]).toFixed(0));
}

/** Minor units ÷ a decimal divisor, rounded to minor units with the named mode. */
export function divideAmount(minor: bigint, divisor: Dec | string, rounding: Rounding): bigint {
  const quotient = new Dec(minor.toString()).div(divisor);
  return BigInt(quotient.toDecimalPlaces(0, ROUNDING_MODES[rounding]).toFixed(0));
}

/**
 * Converts an amount in a document currency to minor units of the base currency. `rate` is how
 * many units of the document currency one unit of base currency buys (1.08 USD per EUR), so
 * base = amount ÷ rate, rescaled between the two currencies' exponents.
 */
export function toBaseAmount(minor: bigint, currency: string, baseCurrency: string, rate: Dec | string): bigint {
  if (currency === baseCurrency) return minor;
  const scale = new Dec(10).pow(currencyExponent(baseCurrency) - currencyExponent(currency));
  return multiplyAmount(minor, new Dec(scale).div(rate), 'halfUp');
}

/** The largest amount a bigint column holds; anything beyond is refused, never stored. */
export const MAX_STORABLE = 9223372036854775807n;

/** Whether minor units fit a bigint column, either sign. */
export function isStorable(minor: bigint): boolean {
  return minor <= MAX_STORABLE && minor >= -MAX_STORABLE;
}

export function absBig(v: bigint): bigint {
  return v < 0n ? -v : v;
}

export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export function sumBig(values: Iterable<bigint>): bigint {
  let s = 0n;
  for (const v of values) s += v;
  return s;
}

/** Parses a rate such as "0.21" or "1.0825"; refuses anything that is not a plain decimal. */
export function parseRate(text: string): Dec | null {
  const t = text.trim();
  if (!/^\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return null;
  return new Dec(t);
}
