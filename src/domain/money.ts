import { Decimal } from 'decimal.js';
import { currencyExponent } from './currency.ts';
import { type Result, err, ok } from './result.ts';

/** A decimal library instance with enough precision for rates times large amounts. */
export const Dec = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP });
export type Dec = InstanceType<typeof Dec>;

export type Rounding = 'halfUp' | 'halfEven';
const ROUNDING_MODES: Record<Rounding, Decimal.Rounding> = {
  halfUp: Decimal.ROUND_HALF_UP,
  halfEven: Decimal.ROUND_HALF_EVEN,
};

const DECIMAL_TEXT = /^-?(\d+)(?:\.(\d+))?$/;

export type AmountParseFailure = 'NOT_A_DECIMAL' | 'TOO_MANY_DECIMALS' | 'OUT_OF_RANGE';

/** Why a text is not an amount of a currency; callers turn it into their own error or reason code. */
export interface AmountParseError {
  code: AmountParseFailure;
  message: string;
}

/**
 * Parses a decimal string (or the text of a JSON number) into minor units of `currency`,
 * exactly. `"120.5"` in EUR is `{ok: true, value: 12050n}`; `"0.001"` in EUR is refused with
 * `TOO_MANY_DECIMALS`, never rounded; an amount whose minor units a bigint column cannot hold
 * (beyond ±MAX_STORABLE) with `OUT_OF_RANGE`, never stored or wrapped. The amount is only
 * reachable after checking `ok`.
 */
export function parseAmount(text: string, currency: string): Result<bigint, AmountParseError> {
  const exponent = currencyExponent(currency);
  let normalised = text.trim();
  // Quoted and cut short: the text may be anything a source sent.
  const shown = JSON.stringify(text.length > 43 ? `${text.slice(0, 40)}...` : text);
  const notADecimal = () =>
    err<AmountParseError>({ code: 'NOT_A_DECIMAL', message: `${shown} is not a decimal number` });
  // No real amount needs more digits than this; a huge exponent would make expansion hang.
  if (normalised.length > 40) return notADecimal();
  const exp = /[eE]([-+]?\d+)$/.exec(normalised);
  if (exp && Math.abs(Number(exp[1])) > 30) return notADecimal();
  if (exp) {
    // JSON allows exponents; expand them exactly through the decimal library, not a float.
    try {
      normalised = new Dec(normalised).toFixed();
    } catch {
      return notADecimal();
    }
  }
  const m = DECIMAL_TEXT.exec(normalised);
  if (!m) return notADecimal();
  const fraction = (m[2] ?? '').replace(/0+$/, '');
  if (fraction.length > exponent) {
    return err<AmountParseError>({
      code: 'TOO_MANY_DECIMALS',
      message: `${shown} has more decimals than ${currency} allows (${exponent})`,
    });
  }
  const negative = normalised.startsWith('-');
  const digits = (m[1] ?? '0') + fraction.padEnd(exponent, '0');
  const value = BigInt(digits);
  if (value > MAX_STORABLE) {
    return err<AmountParseError>({
      code: 'OUT_OF_RANGE',
      message: `${shown} is beyond the largest storable amount in ${currency} (${formatAmount(MAX_STORABLE, currency)})`,
    });
  }
  return ok(negative ? -value : value);
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

/**
 * formatAmount of minor units given as their digits (a non-negative bigint as PostgreSQL writes
 * it), negated when `negative`, in the currency's `exponent` (currencyExponent): for thousands
 * of amounts straight from a query, without a bigint each. `"12050"`, 2 → "120.50"; `"5"`, 2,
 * negative → "-0.05"; `"0"`, 2, negative → "0.00".
 */
export function formatMinorDigits(digits: string, exponent: number, negative: boolean): string {
  if (!/^\d+$/.test(digits)) throw new Error(`not the digits of an amount: ${digits}`);
  const abs = digits.length > exponent ? digits : digits.padStart(exponent + 1, '0');
  // Zero has no sign, as -0n is 0n; PostgreSQL writes no leading zeros.
  const sign = negative && digits !== '0' ? '-' : '';
  return exponent === 0 ? sign + abs : `${sign}${abs.slice(0, -exponent)}.${abs.slice(-exponent)}`;
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

/**
 * Decimals a quantity or a unit price may carry: as many as Xero keeps with `unitdp=4`, and what
 * the ledger's item lines are to keep (issue #11). QuickBooks keeps at least as many.
 */
export const UNIT_DECIMALS = 4;

/**
 * quantity × unit price in minor units of `currency`, rounded half up (away from zero at the half,
 * so a credit line mirrors its invoice line), computed exactly: how Xero and QuickBooks compute a
 * line amount, and how a canonical line's netAmount is checked. 3 × "12.3333" EUR is 3700n (37.00).
 */
export function lineAmount(quantity: string, unitPrice: string, currency: string): bigint {
  const scale = new Dec(10).pow(currencyExponent(currency));
  return BigInt(new Dec(quantity).mul(unitPrice).mul(scale).toDecimalPlaces(0, ROUNDING_MODES.halfUp).toFixed(0));
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
