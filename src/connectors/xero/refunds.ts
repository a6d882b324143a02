import { formatAmount, parseAmount } from '../../domain/money.ts';
import { splitRefund } from '../../domain/refund-split.ts';
import type { ItemError, TargetCallContext, TargetRefund } from '../../sync/target.ts';
import { type Json, type XeroApi, str } from './api.ts';
import { amount, minorUnits } from './map.ts';

/*
 * The lines of a refund's credit note (docs/connectors/xero.md, "Refunds"): those of the invoice
 * the refunded payment paid, each scaled to the refunded share with src/domain/refund-split.ts
 * (the VAT total rounded once, the rounding on the line with the most VAT; the nets' rounding on
 * the last line), so that the credit note reverses the sale at the invoice's own tax rates,
 * accounts and tracking, and its total is the refund to the cent. The invoice is found through the
 * refunded payment: a receipt against it, or an early receipt (overpayment) applied to exactly one
 * invoice. When there is no such invoice the rates cannot be known and the refund is refused, as
 * the QuickBooks target refuses it; it is never booked at a rate that was guessed.
 */

/** The credit note's lines, or why they cannot be known. */
export type RefundLines = { lineAmountTypes: 'Exclusive' | 'NoTax'; lines: Json[] } | ItemError;

const refuse = (message: string, field = 'paymentExternalReference'): ItemError => ({
  code: 'TARGET_REFUSED',
  message,
  retryable: false,
  field,
});

const guids = (field: string, ids: string[]) => ids.map((id) => `${field}==Guid("${id}")`).join(' OR ');

function groups<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** What a refunded payment paid: the invoice (null when none or several) and what it holds unapplied. */
interface Paid {
  invoiceId: string | null;
  /** An overpayment's RemainingCredit; a payment made against an invoice holds none. */
  unapplied: unknown;
}

/** What each refunded payment paid, by payment target id. */
async function invoicesPaid(
  x: XeroApi,
  paymentIds: string[],
  overpaymentPrefix: string,
  signal?: AbortSignal,
): Promise<Map<string, Paid>> {
  const out = new Map<string, Paid>();
  const plain = paymentIds.filter((id) => !id.startsWith(overpaymentPrefix));
  const early = paymentIds.filter((id) => id.startsWith(overpaymentPrefix));
  for (const g of groups([...new Set(plain)], 25)) {
    const body = await x.get('/Payments', { where: guids('PaymentID', g) }, signal);
    for (const p of (body.Payments as Json[] | undefined) ?? [])
      out.set(str(p.PaymentID), { invoiceId: str((p.Invoice as Json | undefined)?.InvoiceID) || null, unapplied: 0 });
  }
  for (const g of groups([...new Set(early)], 25)) {
    const body = await x.get(
      '/Overpayments',
      {
        where: guids(
          'OverpaymentID',
          g.map((id) => id.slice(overpaymentPrefix.length)),
        ),
      },
      signal,
    );
    for (const o of (body.Overpayments as Json[] | undefined) ?? []) {
      const applied = new Set(
        ((o.Allocations as Json[] | undefined) ?? []).map((a) => str((a.Invoice as Json | undefined)?.InvoiceID)),
      );
      out.set(overpaymentPrefix + str(o.OverpaymentID), {
        invoiceId: applied.size === 1 ? [...applied][0]! : null,
        unapplied: o.RemainingCredit ?? 0,
      });
    }
  }
  return out;
}

/** Each refund's credit-note lines at the rates of the invoice its payment paid, in the order given. */
export async function refundLines(
  x: XeroApi,
  ctx: TargetCallContext,
  items: TargetRefund[],
  overpaymentPrefix: string,
): Promise<RefundLines[]> {
  const paid = await invoicesPaid(
    x,
    items.flatMap((i) => (i.paymentTargetId ? [i.paymentTargetId] : [])),
    overpaymentPrefix,
    ctx.signal,
  );
  const invoiceIds = [...new Set([...paid.values()].flatMap((v) => (v.invoiceId ? [v.invoiceId] : [])))];
  const invoices = new Map<string, Json>();
  for (const g of groups(invoiceIds, 50)) {
    const body = await x.get('/Invoices', { IDs: g.join(',') }, ctx.signal);
    for (const d of (body.Invoices as Json[] | undefined) ?? []) invoices.set(str(d.InvoiceID), d);
  }
  return items.map((item) =>
    linesFor(item, item.paymentTargetId ? paid.get(item.paymentTargetId) : undefined, invoices),
  );
}

function linesFor(item: TargetRefund, paid: Paid | undefined, invoices: Map<string, Json>): RefundLines {
  const r = item.record;
  const named = r.paymentExternalReference ?? '(none named)';
  if (!item.paymentTargetId)
    return refuse(
      `the refund names no payment this pipeline booked in Xero (${named}), so its VAT cannot be split at an invoice's rates: book it in Xero by hand`,
    );
  // Money the payment holds beyond its invoice (paid more than it owed) was never a sale: a credit
  // note would take VAT off for it. Refunding the overpayment is for a person to book in Xero.
  const unapplied = minorUnits(paid?.unapplied ?? 0, r.currency) ?? 0n;
  if (unapplied > 0n)
    return refuse(
      `the refunded payment ${named} holds ${r.currency} ${formatAmount(unapplied, r.currency)} unapplied in Xero (more than its invoice owed): that money was no sale, so a credit note at the invoice's rates would take VAT off it; refund the overpayment in Xero by hand`,
    );
  const inv = paid?.invoiceId ? invoices.get(paid.invoiceId) : undefined;
  if (!inv)
    return refuse(
      `the refunded payment ${named} paid no single invoice in Xero (an early receipt not yet applied, or applied to several), so the refund cannot be split by tax rate: book it in Xero by hand`,
    );
  const number = str(inv.InvoiceNumber);
  const refund = parseAmount(r.amount, r.currency);
  if (!refund.ok)
    return { code: 'AMOUNT_INVALID', message: `amount: ${refund.error.message}`, retryable: false, field: 'amount' };
  if (str(inv.CurrencyCode) !== r.currency)
    return refuse(
      `the refund is in ${r.currency}; invoice ${number} it refunds is in ${str(inv.CurrencyCode)}`,
      'currency',
    );
  const types = str(inv.LineAmountTypes);
  const source = Array.isArray(inv.LineItems) ? (inv.LineItems as Json[]) : [];
  const lines = source.map((l) => {
    const lineAmount = minorUnits(l.LineAmount ?? '0', r.currency) ?? 0n;
    const tax = types === 'NoTax' ? 0n : (minorUnits(l.TaxAmount ?? '0', r.currency) ?? 0n);
    // Inclusive lines hold their VAT: the credit note is sent exclusive, net and VAT apart.
    return { net: types === 'Inclusive' ? lineAmount - tax : lineAmount, tax };
  });
  const gross = minorUnits(inv.Total, r.currency) ?? 0n;
  const split = splitRefund(refund.value, lines, gross);
  if (!split)
    return refuse(
      `the refund of ${r.currency} ${r.amount} is more than invoice ${number} (${r.currency} ${formatAmount(gross, r.currency)}) or that invoice has no lines`,
      'amount',
    );
  const money = (v: bigint) => amount(formatAmount(v, r.currency));
  return {
    lineAmountTypes: types === 'NoTax' ? 'NoTax' : 'Exclusive',
    lines: split.lines.flatMap((share, n) => {
      const l = source[n]!;
      if (share.net === 0n && share.tax === 0n) return [];
      const tracking = (Array.isArray(l.Tracking) ? (l.Tracking as Json[]) : []).map((t) => ({
        Name: t.Name,
        Option: t.Option,
      }));
      return [
        {
          Description: (str(l.Description) || r.description || `Refund ${r.externalReference}`).slice(0, 4000),
          Quantity: amount('1'),
          UnitAmount: money(share.net),
          ...(types === 'NoTax' ? {} : { TaxAmount: money(share.tax) }),
          AccountCode: l.AccountCode,
          TaxType: l.TaxType,
          ...(tracking.length > 0 ? { Tracking: tracking } : {}),
        },
      ];
    }),
  };
}

/**
 * What a refund's credit note did to its customer's balance in Xero: the sale taken off (its
 * total) and the cash refunded put back, so a refund refunded in full leaves the balance as it was.
 */
export function refundBalanceEffect(note: Json, currency: string): bigint {
  const paid = ((note.Payments as Json[] | undefined) ?? [])
    .filter((p) => p.Status !== 'DELETED')
    .reduce((s, p) => s + (minorUnits(p.Amount, currency) ?? 0n), 0n);
  return paid - (minorUnits(note.Total, currency) ?? 0n);
}
