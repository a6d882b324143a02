/**
 * The rules of item documents (docs/ledger.md "The rules: net, tax and rounding") with plain
 * integer arithmetic and no decimal library, for the property tests: quantities and unit prices
 * in ten-thousandths, discount and tax rates in millionths, amounts in cents. Shares no code with
 * src/, so it is an independent oracle.
 */

export type TaxCalculation = 'perLine' | 'perDocument';
export type TaxRounding = 'halfUp' | 'halfEven';

export interface ItemLineSpec {
  q: bigint; // × 10⁻⁴
  p: bigint; // × 10⁻⁴
  d: bigint; // × 10⁻⁶
  taxCode: string;
}

/** A scaled integer as a decimal string with `places` decimals. */
export const dec = (v: bigint, places: number): string => {
  const neg = v < 0n;
  const s = (neg ? -v : v).toString().padStart(places + 1, '0');
  return `${neg ? '-' : ''}${s.slice(0, -places)}.${s.slice(-places)}`;
};

/** n / d rounded to an integer, at the half away from zero or to even. */
export function div(n: bigint, d: bigint, mode: TaxRounding): bigint {
  const neg = n < 0n;
  const a = neg ? -n : n;
  let q = a / d;
  const twice = (a % d) * 2n;
  if (twice > d || (twice === d && (mode === 'halfUp' || q % 2n === 1n))) q += 1n;
  return neg ? -q : q;
}

/**
 * Net of each line, and net and tax per tax code and in total, in cents. `rates` are the tax
 * codes' rates in millionths.
 */
export function itemTotals(
  lines: ItemLineSpec[],
  calc: TaxCalculation,
  mode: TaxRounding,
  rates: Record<string, bigint>,
) {
  // cents = q·p·(1 − d) / 10⁴ / 10⁴ / 10⁶ × 10².
  const nets = lines.map((l) => div(l.q * l.p * (1_000_000n - l.d), 10n ** 12n, mode));
  const byCode = new Map<string, { net: bigint; tax: bigint }>();
  lines.forEach((l, i) => {
    const g = byCode.get(l.taxCode) ?? { net: 0n, tax: 0n };
    g.net += nets[i]!;
    if (calc === 'perLine') g.tax += div(nets[i]! * rates[l.taxCode]!, 1_000_000n, mode);
    byCode.set(l.taxCode, g);
  });
  if (calc === 'perDocument') for (const [code, g] of byCode) g.tax = div(g.net * rates[code]!, 1_000_000n, mode);
  const net = nets.reduce((s, v) => s + v, 0n);
  const tax = [...byCode.values()].reduce((s, g) => s + g.tax, 0n);
  return { nets, net, tax, byCode };
}
