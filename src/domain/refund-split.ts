/*
 * A refund of part of an invoice, at the invoice's own VAT rates: each line's net and VAT scaled
 * by refund ÷ invoice gross, in exact integer arithmetic on minor units. Shared by the targets that
 * book a refund as a reversed sale (QuickBooks' RefundReceipt, Xero's refund credit note), so that
 * both split the same refund the same way.
 */

/** One line of the refunded invoice, in minor units. */
export interface RefundLine {
  net: bigint;
  tax: bigint;
}

/** a × b ÷ c rounded half away from zero, exactly; c > 0. */
function mulDivHalfUp(a: bigint, b: bigint, c: bigint): bigint {
  const p = a * b;
  const q = (2n * (p < 0n ? -p : p) + c) / (2n * c);
  return p < 0n ? -q : q;
}

/**
 * Scales an invoice's lines to a refund of `refund` out of its `gross`: the VAT total is the
 * invoice's VAT × refund ÷ gross (half up), shared between the lines by their own VAT, the line
 * with the most VAT taking what rounding left (never a zero-rated line while another has VAT);
 * each net is its line's net × refund ÷ gross (half up), the last line taking what rounding left,
 * so that the nets and VAT add up to the refund exactly.
 *
 * `totalTax` is the invoice's VAT when the platform keeps it apart from the lines (QuickBooks'
 * TxnTaxDetail); it defaults to the lines' VAT. Refused (null) when the invoice's gross is not
 * positive, the refund is not positive, or the refund exceeds the gross: no rate can be inferred.
 *
 * @example splitRefund(1210n, [{ net: 1000n, tax: 210n }, { net: 1000n, tax: 0n }], 2210n)
 *   // → { tax: 115n, lines: [{ net: 548n, tax: 115n }, { net: 547n, tax: 0n }] }
 */
export function splitRefund(
  refund: bigint,
  lines: readonly RefundLine[],
  gross: bigint,
  totalTax: bigint = lines.reduce((s, l) => s + l.tax, 0n),
): { tax: bigint; lines: RefundLine[] } | null {
  if (gross <= 0n || refund <= 0n || refund > gross || lines.length === 0) return null;
  const tax = mulDivHalfUp(totalTax, refund, gross);
  const taxes = lines.map((l) => mulDivHalfUp(l.tax, refund, gross));
  const taxLeft = tax - taxes.reduce((s, v) => s + v, 0n);
  if (taxLeft !== 0n) {
    // The line with the largest VAT (the first of equals) takes the rounding of the VAT.
    let k = 0;
    lines.forEach((l, i) => {
      const abs = (v: bigint) => (v < 0n ? -v : v);
      if (abs(l.tax) > abs(lines[k]!.tax)) k = i;
    });
    taxes[k] = taxes[k]! + taxLeft;
  }
  const nets = lines.map((l) => mulDivHalfUp(l.net, refund, gross));
  const last = nets.length - 1;
  nets[last] = nets[last]! + (refund - tax - nets.reduce((s, v) => s + v, 0n));
  return { tax, lines: lines.map((_, i) => ({ net: nets[i]!, tax: taxes[i]! })) };
}
