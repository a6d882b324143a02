import { type JournalLine } from './documents.ts';
import { toBaseAmount } from './money.ts';

/** One tax code's share of an invoice: its net and VAT, and the account its VAT went to. */
export interface VatShare {
  taxCode: string;
  glAccountCode: string;
  net: bigint;
  tax: bigint;
}

/** Rounds a × b ÷ c half-up, for non-negative a, b and positive c, exactly in integers. */
function mulDivHalfUp(a: bigint, b: bigint, c: bigint): bigint {
  return (2n * a * b + c) / (2n * c);
}

/**
 * Splits a settlement discount into net and VAT per tax code in the proportions of the invoice
 * (UK/Irish prompt-payment rules): each code's VAT part is discount × its VAT ÷ the invoice
 * gross, half-up; the rest is net, shared between the codes by their net, the last code taking
 * the remainder so the parts add up to the discount exactly.
 */
export function splitDiscount(discount: bigint, shares: readonly VatShare[], gross: bigint): VatShare[] {
  if (gross <= 0n || shares.length === 0) return [];
  const taxes = shares.map((s) => mulDivHalfUp(discount, s.tax, gross));
  const netTotal = discount - taxes.reduce((a, b) => a + b, 0n);
  const netSum = shares.reduce((a, s) => a + s.net, 0n);
  let given = 0n;
  return shares.map((s, k) => {
    const net = k === shares.length - 1 ? netTotal - given : netSum > 0n ? mulDivHalfUp(netTotal, s.net, netSum) : 0n;
    given += net;
    return { ...s, net, tax: taxes[k]! };
  });
}

/**
 * The journal of a settlement discount whose VAT part reduces output VAT: control credited with
 * the discount; discount allowed debited with each code's net part and the code's VAT account with
 * its VAT part. Each part is converted at the invoice's rate; the control line takes the base the
 * allocation cleared, and any rounding difference goes to the last discount-allowed line.
 */
export function discountVatJournal(
  controlAccount: string,
  discountAccount: string,
  description: string,
  parts: readonly VatShare[],
  discount: bigint,
  discountBase: bigint,
  conv: { currency: string; baseCurrency: string; rate: string },
): JournalLine[] {
  const base = (v: bigint) => toBaseAmount(v, conv.currency, conv.baseCurrency, conv.rate);
  const lines: JournalLine[] = [
    {
      role: 'control',
      glAccountCode: controlAccount,
      departmentId: null,
      taxCode: null,
      description,
      amount: -discount,
      baseAmount: -discountBase,
    },
  ];
  let lastNet = -1;
  for (const p of parts) {
    if (p.net !== 0n) {
      lastNet = lines.length;
      lines.push({
        role: 'discount',
        glAccountCode: discountAccount,
        departmentId: null,
        taxCode: p.taxCode,
        description,
        amount: p.net,
        baseAmount: base(p.net),
      });
    }
    if (p.tax !== 0n) {
      lines.push({
        role: 'tax',
        glAccountCode: p.glAccountCode,
        departmentId: null,
        taxCode: p.taxCode,
        description: `Tax ${p.taxCode} on ${description}`,
        amount: p.tax,
        baseAmount: base(p.tax),
      });
    }
  }
  const residue = -lines.reduce((s, l) => s + l.baseAmount, 0n);
  const target = lines[lastNet >= 0 ? lastNet : lines.length - 1]!;
  target.baseAmount += residue;
  return lines;
}
