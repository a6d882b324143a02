import { Dec, absBig, sumBig } from './money.ts';

/**
 * The EN 16931 VAT categories (UNCL 5305) Peppol BIS 3.0 uses for sales: S standard rate, Z zero
 * rated, E exempt, AE reverse charge, K intra-community supply, G export outside the EU, O not
 * subject to VAT.
 */
export const VAT_CATEGORIES = ['S', 'Z', 'E', 'AE', 'K', 'G', 'O'] as const;
export type VatCategory = (typeof VAT_CATEGORIES)[number];

/** The categories whose VAT breakdown must carry an exemption reason (BR-E-10, BR-AE-10, BR-IC-10, BR-G-10, BR-O-10). */
export const EXEMPT_CATEGORIES: ReadonlySet<VatCategory> = new Set(['E', 'AE', 'K', 'G', 'O']);

/** The VATEX code a category takes when its tax code names none (E has no single one: it needs a reason). */
export const DEFAULT_EXEMPTION_CODES: Partial<Record<VatCategory, string>> = {
  AE: 'VATEX-EU-AE',
  K: 'VATEX-EU-IC',
  G: 'VATEX-EU-G',
  O: 'VATEX-EU-O',
};

/** The category a tax code without one takes: standard for a positive rate, zero rated for 0. */
export function defaultVatCategory(rate: string): VatCategory {
  return new Dec(rate).gt(0) ? 'S' : 'Z';
}

/** Why `rate` cannot go with `category` (BR-S-05, BR-Z-05, BR-E-05, ...), or null. */
export function categoryRateProblem(category: VatCategory, rate: string): string | null {
  const positive = new Dec(rate).gt(0);
  if (category === 'S') return positive ? null : 'category S (standard rate) needs a rate above 0';
  return positive ? `category ${category} needs a rate of 0, not ${rate}` : null;
}

/** A rate as the percent UBL shows: "0.21" → "21", "0.135" → "13.5". */
export function ratePercent(rate: string): string {
  return new Dec(rate).mul(100).toFixed();
}

/** An e-invoice line: minor units of the document currency, signed (a discount line is negative). */
export interface EInvoiceLine {
  net: bigint;
  tax: bigint;
  category: VatCategory;
  /** The VAT rate as a fraction ("0.21"). */
  rate: string;
}

/** One row of the VAT breakdown (BG-23): a category and rate, its taxable amount and its VAT. */
export interface VatBreakdownRow {
  category: VatCategory;
  rate: string;
  taxable: bigint;
  tax: bigint;
}

/** The document totals (BG-22). Without document-level allowances or charges, net = line total. */
export interface EInvoiceTotals {
  lineExtension: bigint;
  taxExclusive: bigint;
  tax: bigint;
  taxInclusive: bigint;
  prepaid: bigint;
  payable: bigint;
}

/** The VAT breakdown: one row per category and rate, in category order then rate. */
export function vatBreakdown(lines: readonly EInvoiceLine[]): VatBreakdownRow[] {
  const rows = new Map<string, VatBreakdownRow>();
  for (const l of lines) {
    const rate = new Dec(l.rate).toFixed();
    const key = `${l.category}|${rate}`;
    const row = rows.get(key) ?? { category: l.category, rate, taxable: 0n, tax: 0n };
    row.taxable += l.net;
    row.tax += l.tax;
    rows.set(key, row);
  }
  return [...rows.values()].sort(
    (a, b) =>
      VAT_CATEGORIES.indexOf(a.category) - VAT_CATEGORIES.indexOf(b.category) || new Dec(a.rate).cmp(new Dec(b.rate)),
  );
}

/** The totals from the lines as posted: nothing recomputed, so they agree with the ledger to the cent. */
export function documentTotals(lines: readonly EInvoiceLine[], prepaid = 0n): EInvoiceTotals {
  const lineExtension = sumBig(lines.map((l) => l.net));
  const tax = sumBig(lines.map((l) => l.tax));
  const taxInclusive = lineExtension + tax;
  return { lineExtension, taxExclusive: lineExtension, tax, taxInclusive, prepaid, payable: taxInclusive - prepaid };
}

/**
 * The EN 16931 calculation rules a document breaks, each as "RULE: why"; empty when it satisfies
 * them. `unit` is one unit of the currency in minor units (100 for EUR): the rounding tolerance
 * BR-CO-17 and BR-S-09 allow, as the official Schematron checks them.
 */
export function en16931TotalsProblems(
  lines: readonly EInvoiceLine[],
  breakdown: readonly VatBreakdownRow[],
  totals: EInvoiceTotals,
  unit: bigint,
): string[] {
  const problems: string[] = [];
  const lineSum = sumBig(lines.map((l) => l.net));
  if (totals.lineExtension !== lineSum) problems.push('BR-CO-10: the line total is not the sum of the line nets');
  if (totals.taxExclusive !== totals.lineExtension) {
    problems.push('BR-CO-13: the total without VAT is not the line total (no document allowances or charges)');
  }
  if (totals.tax !== sumBig(breakdown.map((b) => b.tax))) {
    problems.push('BR-CO-14: the VAT total is not the sum of the VAT per category');
  }
  if (totals.taxInclusive !== totals.taxExclusive + totals.tax) {
    problems.push('BR-CO-15: the total with VAT is not the total without VAT plus the VAT total');
  }
  if (totals.payable !== totals.taxInclusive - totals.prepaid) {
    problems.push('BR-CO-16: the amount due is not the total with VAT less the amount paid');
  }
  if (sumBig(breakdown.map((b) => b.taxable)) !== totals.taxExclusive) {
    problems.push('BR-S-08 etc.: the taxable amounts per category do not add up to the total without VAT');
  }
  for (const b of breakdown) {
    const label = `category ${b.category} at ${ratePercent(b.rate)}%`;
    const rateProblem = categoryRateProblem(b.category, b.rate);
    if (rateProblem) problems.push(`BR-${b.category}-05: ${label}: ${rateProblem}`);
    if (b.category !== 'S' && b.tax !== 0n) problems.push(`BR-${b.category}-09: ${label} must carry no VAT`);
    // BR-CO-17 / BR-S-09 as the Schematron tests them: |VAT| within less than one unit of the currency
    // of round(|taxable| × rate, 2 decimals), XPath's round() going half up.
    const major = (minor: bigint) => new Dec(absBig(minor).toString()).div(unit.toString());
    const expected = major(b.taxable).mul(b.rate).toDecimalPlaces(2, Dec.ROUND_HALF_UP);
    if (major(b.tax).minus(expected).abs().gte(1)) {
      problems.push(
        `BR-CO-17: ${label}: the VAT ${major(b.tax).toFixed()} differs from taxable × rate (${expected.toFixed()}) by one unit or more`,
      );
    }
  }
  if (breakdown.some((b) => b.category === 'O') && breakdown.some((b) => b.category !== 'O')) {
    problems.push('BR-O-11: a document with category O (not subject to VAT) may hold no other category');
  }
  return problems;
}

/** What a line was computed from, when it was written as an item line (null on batch lines). */
export interface LineQuantities {
  quantity: string | null;
  unitPrice: string | null;
  discountRate: string | null;
}

/**
 * A line's quantity and price as EN 16931 states them: BT-129 quantity, BT-146 net price (never
 * negative, BR-27), and for a line discount the gross price (BT-148) and the price discount
 * (BT-147), with net price = gross price − discount (PEPPOL-EN16931-R046). Decimal text in major
 * units; the base quantity (BT-149) is always 1.
 */
export interface LinePrice {
  quantity: string;
  netPrice: string;
  grossPrice: string | null;
  priceDiscount: string | null;
}

/** The slack PEPPOL-EN16931-R120 allows between the line net and quantity × net price. */
const LINE_SLACK = new Dec('0.02');

/**
 * The quantity and price a line shows on the e-invoice. An item line shows its quantity and its
 * unit price net of the line discount, so that quantity × net price rounds to the line's net
 * (R120); a negative unit price (a discount line) becomes a negative quantity at a positive price.
 * A batch line, or an item line whose net the currency's rounding puts beyond R120's slack (a
 * currency without decimals), is one unit at its net.
 */
export function linePrice(net: bigint, q: LineQuantities, decimals: number): LinePrice {
  const major = new Dec(net.toString()).div(new Dec(10).pow(decimals));
  const fixed = (d: Dec) => d.toFixed(Math.max(d.decimalPlaces(), decimals));
  const oneUnit: LinePrice = {
    quantity: net < 0n ? '-1' : '1',
    netPrice: fixed(major.abs()),
    grossPrice: null,
    priceDiscount: null,
  };
  if (q.quantity === null || q.unitPrice === null) return oneUnit;
  const unitPrice = new Dec(q.unitPrice);
  const discount = new Dec(q.discountRate ?? '0');
  const gross = unitPrice.abs();
  const netPrice = gross.mul(new Dec(1).minus(discount));
  const quantity = unitPrice.isNegative() ? new Dec(q.quantity).neg() : new Dec(q.quantity);
  if (quantity.mul(netPrice).minus(major).abs().gt(LINE_SLACK)) return oneUnit;
  return {
    quantity: quantity.toFixed(),
    netPrice: fixed(netPrice),
    grossPrice: discount.isZero() ? null : fixed(gross),
    priceDiscount: discount.isZero() ? null : fixed(gross.minus(netPrice)),
  };
}

/** A line as the e-invoice states it: its net in major units and its quantity and price. */
export interface StatedLine extends LinePrice {
  /** BT-131, major units as written ("89.99"). */
  lineExtension: string;
  /** BT-149, "1" when absent. */
  baseQuantity?: string;
}

/**
 * The EN 16931 and Peppol line rules a stated line breaks, each as "RULE: why": the net price and
 * gross price are not negative (BR-27, BR-28), the net price is the gross price less the discount
 * (PEPPOL-EN16931-R046), the base quantity is positive (R121) and the line net is quantity × net
 * price ÷ base quantity within 0.02 (R120).
 */
export function en16931LineProblems(line: StatedLine): string[] {
  const problems: string[] = [];
  const price = new Dec(line.netPrice);
  const base = new Dec(line.baseQuantity ?? '1');
  if (price.isNegative()) problems.push('BR-27: the net price is negative');
  if (line.grossPrice !== null && new Dec(line.grossPrice).isNegative()) {
    problems.push('BR-28: the gross price is negative');
  }
  if (line.grossPrice !== null && !new Dec(line.grossPrice).minus(line.priceDiscount ?? '0').eq(price)) {
    problems.push('PEPPOL-EN16931-R046: the net price is not the gross price less the price discount');
  }
  if (!base.gt(0)) problems.push('PEPPOL-EN16931-R121: the base quantity is not positive');
  else if (new Dec(line.quantity).mul(price).div(base).minus(line.lineExtension).abs().gt(LINE_SLACK)) {
    problems.push(
      `PEPPOL-EN16931-R120: the line net ${line.lineExtension} is not quantity ${line.quantity} × price ${line.netPrice}`,
    );
  }
  return problems;
}
