import { currencyExponent } from './currency.ts';
import { Dec, type Rounding, multiplyAmount } from './money.ts';

/** How the tax of an item document is computed (an entity setting, GET/PUT /v1/settings). */
export type TaxCalculation = 'perLine' | 'perDocument';
export const TAX_CALCULATIONS = ['perLine', 'perDocument'] as const;
export const TAX_ROUNDINGS = ['halfUp', 'halfEven'] as const;

const MODES = { halfUp: Dec.ROUND_HALF_UP, halfEven: Dec.ROUND_HALF_EVEN } as const;

/**
 * The net of an item line in minor units: quantity × unitPrice × (1 − discountRate), computed
 * exactly and rounded once to the currency's decimals with the named mode. Nothing is rounded
 * before that (not the gross price, not the discount), so 3 × 33.3333 less 10 % in EUR is
 * 89.99991 → 90.00 and never 3 × 33.33 = 99.99 less 10.00.
 */
export function itemLineNet(
  quantity: string,
  unitPrice: string,
  discountRate: string,
  currency: string,
  rounding: Rounding,
): bigint {
  const exact = new Dec(quantity)
    .mul(unitPrice)
    .mul(new Dec(1).minus(discountRate))
    .mul(new Dec(10).pow(currencyExponent(currency)));
  return BigInt(exact.toDecimalPlaces(0, MODES[rounding]).toFixed(0));
}

export interface TaxableLine {
  net: bigint;
  taxCode: string;
  /** A fraction ("0.21"). */
  taxRate: string;
}

/** One row of a document's VAT breakdown: the lines of one tax code at one rate. */
export interface TaxBreakdownRow {
  taxCode: string;
  taxRate: string;
  net: bigint;
  tax: bigint;
}

/**
 * The tax of each line and the document's VAT breakdown per tax code and rate (ordered by code,
 * then rate).
 *
 * - `perLine`: each line's tax is round(net × rate); a rate's tax is the sum of its lines.
 * - `perDocument`: a rate's tax is round(sum of its nets × rate), rounded once; it is spread back
 *   over its lines by cumulative rounding (line k gets round(c_k × rate) − round(c_{k−1} × rate),
 *   c_k the running net), so the lines add up to the rate's tax exactly and each line is within
 *   a cent of its own net × rate.
 *
 * Either way the lines add up to the breakdown, which adds up to the document.
 */
export function computeTaxes(
  lines: readonly TaxableLine[],
  calculation: TaxCalculation,
  rounding: Rounding,
): { taxes: bigint[]; breakdown: TaxBreakdownRow[] } {
  const key = (l: TaxableLine) => `${l.taxCode}\u0000${new Dec(l.taxRate).toFixed()}`;
  const groups = new Map<string, TaxBreakdownRow>();
  const running = new Map<string, { net: bigint; tax: bigint }>();
  const taxes = lines.map((l) => {
    const k = key(l);
    const g = groups.get(k) ?? { taxCode: l.taxCode, taxRate: new Dec(l.taxRate).toFixed(), net: 0n, tax: 0n };
    groups.set(k, g);
    let tax: bigint;
    if (calculation === 'perLine') tax = multiplyAmount(l.net, l.taxRate, rounding);
    else {
      const r = running.get(k) ?? { net: 0n, tax: 0n };
      r.net += l.net;
      const cumulative = multiplyAmount(r.net, l.taxRate, rounding);
      tax = cumulative - r.tax;
      r.tax = cumulative;
      running.set(k, r);
    }
    g.net += l.net;
    g.tax += tax;
    return tax;
  });
  const byCodeAndRate = (a: TaxBreakdownRow, b: TaxBreakdownRow) =>
    a.taxCode < b.taxCode ? -1 : a.taxCode > b.taxCode ? 1 : new Dec(a.taxRate).cmp(b.taxRate);
  return { taxes, breakdown: [...groups.values()].sort(byCodeAndRate) };
}
