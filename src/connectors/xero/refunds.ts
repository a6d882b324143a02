import { formatAmount, parseAmount } from '../../domain/money.ts';
import { splitRefund } from '../../domain/refund-split.ts';
import {
  type ItemError,
  type ItemResult,
  type TargetCallContext,
  type TargetRefund,
  failed,
  ok,
} from '../../sync/target.ts';
import { type Json, OVERPAYMENT, type XeroApi, refused, str } from './api.ts';
import type { XeroParts } from './credit-notes.ts';
import { amount, bankAccountFor, minorUnits } from './map.ts';

/*
 * How a refund is booked in Xero (docs/connectors/xero.md, "Refunds"). Money the refunded receipt
 * holds unapplied (an overpayment's RemainingCredit: it paid more than its invoice owed) was never
 * a sale: it is refunded first, in cash out of the overpayment (`PUT /Payments` with
 * `Overpayment.OverpaymentID`, Xero's "refund of an overpayment"). What is left reverses the sale: a
 * credit note of the invoice the receipt paid, each line scaled to the refunded share with
 * src/domain/refund-split.ts (the VAT total rounded once, the rounding on the line with the most
 * VAT; the nets' rounding on the last line), at the invoice's own tax rates, accounts and tracking,
 * refunded in cash. The invoice is found through the refunded payment: a receipt against it, or an
 * early receipt (overpayment) applied to exactly one invoice. When there is no such invoice the
 * rates cannot be known and that part is refused, as the QuickBooks target refuses it; it is never
 * booked at a rate that was guessed.
 */

/** A credit note's lines. */
export interface NoteLines {
  lineAmountTypes: 'Exclusive' | 'NoTax';
  lines: Json[];
}

/** How one refund is booked, or why it cannot be. */
export type RefundPlan =
  | {
      /** Cash out of the overpayment now (minor units), or null. */
      fromOverpayment: { overpaymentId: string; amount: bigint } | null;
      /** The credit note for the rest, or null when the overpayment covers it. */
      note: NoteLines | null;
    }
  | ItemError;

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
  /** The overpayment's id, when the receipt is one (an early receipt, or one that paid too much). */
  overpaymentId: string | null;
  /** The overpayment's currency and RemainingCredit; a payment made against an invoice holds none. */
  currency: string | null;
  unapplied: unknown;
}

/** What each refunded payment paid, by payment target id. */
async function invoicesPaid(x: XeroApi, paymentIds: string[], signal?: AbortSignal): Promise<Map<string, Paid>> {
  const out = new Map<string, Paid>();
  const plain = paymentIds.filter((id) => !id.startsWith(OVERPAYMENT));
  const early = paymentIds.filter((id) => id.startsWith(OVERPAYMENT));
  for (const g of groups([...new Set(plain)], 25)) {
    const body = await x.get('/Payments', { where: guids('PaymentID', g) }, signal);
    for (const p of (body.Payments as Json[] | undefined) ?? [])
      out.set(str(p.PaymentID), {
        invoiceId: str((p.Invoice as Json | undefined)?.InvoiceID) || null,
        overpaymentId: null,
        currency: null,
        unapplied: 0,
      });
  }
  for (const g of groups([...new Set(early)], 25)) {
    const body = await x.get(
      '/Overpayments',
      {
        where: guids(
          'OverpaymentID',
          g.map((id) => id.slice(OVERPAYMENT.length)),
        ),
      },
      signal,
    );
    for (const o of (body.Overpayments as Json[] | undefined) ?? []) {
      const applied = new Set(
        ((o.Allocations as Json[] | undefined) ?? []).map((a) => str((a.Invoice as Json | undefined)?.InvoiceID)),
      );
      out.set(OVERPAYMENT + str(o.OverpaymentID), {
        invoiceId: applied.size === 1 ? [...applied][0]! : null,
        overpaymentId: str(o.OverpaymentID),
        currency: str(o.CurrencyCode),
        unapplied: o.RemainingCredit ?? 0,
      });
    }
  }
  return out;
}

/**
 * How each refund is to be booked, in the order given. `refunded` is what earlier attempts already
 * refunded in cash out of the refund's overpayment (found by its reference), which is not refunded
 * again: a refund cut after that write goes on with the rest.
 */
async function planRefunds(
  x: XeroApi,
  ctx: TargetCallContext,
  items: TargetRefund[],
  refunded: (item: TargetRefund) => bigint,
): Promise<RefundPlan[]> {
  const paid = await invoicesPaid(
    x,
    items.flatMap((i) => (i.paymentTargetId ? [i.paymentTargetId] : [])),
    ctx.signal,
  );
  // The invoices the payments paid, whose rates a refund beyond an overpayment's rest reverses.
  const invoiceIds = [...new Set([...paid.values()].flatMap((p) => (p.invoiceId ? [p.invoiceId] : [])))];
  const invoices = new Map<string, Json>();
  for (const g of groups(invoiceIds, 50)) {
    // Paged: Xero lists an invoice's lines only in a page (up to 100, so one page holds the 50).
    const body = await x.get('/Invoices', { IDs: g.join(','), page: '1' }, ctx.signal);
    for (const d of (body.Invoices as Json[] | undefined) ?? []) invoices.set(str(d.InvoiceID), d);
  }
  // Refunds of one overpayment in the same batch share what it holds, in the order given; one
  // refused takes none of it.
  const holds = new Map<string, bigint>();
  return items.map((item): RefundPlan => {
    const p = item.paymentTargetId ? paid.get(item.paymentTargetId) : undefined;
    const over = p?.overpaymentId;
    const held = over ? holds.get(over) : undefined;
    const unapplied = held ?? minorUnits(p?.unapplied ?? 0, item.record.currency) ?? 0n;
    const plan = cashFirst(item, p, refunded(item), unapplied);
    if ('error' in plan) return plan.error;
    let note: NoteLines | null = null;
    if (plan.rest > 0n) {
      const lines = linesFor(item, p, invoices, plan.rest);
      if ('code' in lines) {
        const already = refunded(item);
        return already > 0n
          ? {
              ...lines,
              message: `${lines.message} (${item.record.currency} ${formatAmount(already, item.record.currency)} of it is already refunded from the overpayment)`,
            }
          : lines;
      }
      note = lines;
    }
    if (over) holds.set(over, unapplied - (plan.fromOverpayment?.amount ?? 0n));
    return { fromOverpayment: plan.fromOverpayment, note };
  });
}

/** The refund split: first out of what the overpayment holds unapplied, the rest by a credit note. */
function cashFirst(
  item: TargetRefund,
  paid: Paid | undefined,
  already: bigint,
  unapplied: bigint,
): { fromOverpayment: { overpaymentId: string; amount: bigint } | null; rest: bigint } | { error: ItemError } {
  const r = item.record;
  const named = r.paymentExternalReference ?? '(none named)';
  if (!item.paymentTargetId)
    return {
      error: refuse(
        `the refund names no payment this pipeline booked in Xero (${named}), so its VAT cannot be split at an invoice's rates: book it in Xero by hand`,
      ),
    };
  const amount = parseAmount(r.amount, r.currency);
  if (!amount.ok)
    return {
      error: { code: 'AMOUNT_INVALID', message: `amount: ${amount.error.message}`, retryable: false, field: 'amount' },
    };
  const left = amount.value - already;
  if (left <= 0n) return { fromOverpayment: null, rest: 0n };
  if (!paid?.overpaymentId) return { fromOverpayment: null, rest: left };
  if (paid.currency !== r.currency)
    return {
      error: refuse(
        `the refund is in ${r.currency}; the payment ${named} it refunds is in ${paid.currency}`,
        'currency',
      ),
    };
  const cash = left < unapplied ? left : unapplied;
  return {
    fromOverpayment: cash > 0n ? { overpaymentId: paid.overpaymentId, amount: cash } : null,
    rest: left - cash,
  };
}

/** The credit note reversing `refund` (minor units) of the sale, at the rates of the invoice the payment paid. */
function linesFor(
  item: TargetRefund,
  paid: Paid | undefined,
  invoices: Map<string, Json>,
  refund: bigint,
): NoteLines | ItemError {
  const r = item.record;
  const named = r.paymentExternalReference ?? '(none named)';
  const inv = paid?.invoiceId ? invoices.get(paid.invoiceId) : undefined;
  if (!inv)
    return refuse(
      `the refunded payment ${named} paid no single invoice in Xero (an early receipt not yet applied, or applied to several), so the refund cannot be split by tax rate: book it in Xero by hand`,
    );
  const number = str(inv.InvoiceNumber);
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
  const split = splitRefund(refund, lines, gross);
  if (!split)
    return refuse(
      `the refund of ${r.currency} ${formatAmount(refund, r.currency)}${paid?.overpaymentId ? ' beyond what the overpayment holds unapplied' : ''} is more than invoice ${number} (${r.currency} ${formatAmount(gross, r.currency)}) or that invoice has no lines`,
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

/**
 * A refund: first, in cash out of what its receipt holds unapplied (an overpayment's rest, never
 * a sale); then, for what is left, a credit note (ACCRECCREDIT, approved) at the rates of the
 * invoice the receipt paid and a cash refund on it (src/connectors/xero/refunds.ts). Each write
 * is found again by the refund's reference before it is made: the overpayment's refunds (never
 * refunded twice) and the credit note (reused), so a refund cut between writes is completed, not
 * doubled. Its target id is the credit note's, or the overpayment refund's when that was all.
 */
export async function createRefunds(
  x: XeroParts,
  ctx: TargetCallContext,
  items: TargetRefund[],
): Promise<ItemResult[]> {
  const o2 = await x.org(ctx.signal);
  const results: ItemResult[] = new Array<ItemResult>(items.length);
  const references = items.map((i) => i.record.externalReference);
  // By contact and reference: another customer's refund may hold the same reference.
  const whose = (contact: string, reference: string) => `${contact}\u0000${reference}`;
  const earlier = new Map<string, Json>();
  for (const c of await x.findBy(
    '/CreditNotes',
    'CreditNotes',
    'Reference',
    references,
    'Type=="ACCRECCREDIT" AND Status!="DELETED" AND Status!="VOIDED"',
    ctx.signal,
  ))
    earlier.set(whose(str((c.Contact as Json | undefined)?.ContactID), str(c.Reference)), c);
  const earlierOf = (item: TargetRefund) => earlier.get(whose(item.customerTargetId, item.record.externalReference));
  // What earlier attempts refunded out of each refund's overpayment (a receipt against an invoice holds none).
  const cashed = new Map<string, { ids: string[]; amount: bigint }>();
  for (const p of await x.findBy(
    '/Payments',
    'Payments',
    'Reference',
    items.flatMap((i) => (i.paymentTargetId?.startsWith(OVERPAYMENT) ? [i.record.externalReference] : [])),
    'PaymentType=="AROVERPAYMENTPAYMENT" AND Status!="DELETED"',
    ctx.signal,
  )) {
    const key = `${str(p.Reference)}\u0000${OVERPAYMENT}${str((p.Overpayment as Json | undefined)?.OverpaymentID)}`;
    const had = cashed.get(key) ?? { ids: [], amount: 0n };
    const currency = str((p.Overpayment as Json | undefined)?.CurrencyCode);
    cashed.set(key, {
      ids: [...had.ids, str(p.PaymentID)],
      amount: had.amount + (minorUnits(p.Amount, currency) ?? 0n),
    });
  }
  const cashedFor = (item: TargetRefund) => cashed.get(`${item.record.externalReference}\u0000${item.paymentTargetId}`);
  const notes: { el: Json; itemKey: string; n: number }[] = [];
  const credit = new Map<number, Json>();
  const fresh = items.flatMap((item, n) => (earlierOf(item) ? [] : [n]));
  const plans = await planRefunds(
    await x.api(),
    ctx,
    fresh.map((n) => items[n]!),
    (item) => cashedFor(item)?.amount ?? 0n,
  );
  const planOf = new Map(fresh.map((n, k) => [n, plans[k]!]));
  const toCash: { el: Json; itemKey: string; n: number }[] = [];
  items.forEach((item, n) => {
    const found = earlierOf(item);
    if (found) return void credit.set(n, found);
    const plan = planOf.get(n)!;
    if ('code' in plan) return void (results[n] = failed(plan));
    if (plan.fromOverpayment) {
      const bank = bankAccountFor(item.bankAccountCode, o2, x.settings);
      if (typeof bank !== 'string') return void (results[n] = failed(bank));
      toCash.push({
        el: {
          Overpayment: { OverpaymentID: plan.fromOverpayment.overpaymentId },
          Account: { Code: bank },
          Date: item.record.date,
          Amount: amount(formatAmount(plan.fromOverpayment.amount, item.record.currency)),
          Reference: item.record.externalReference,
        },
        itemKey: `${item.idempotencyKey}:overpayment`,
        n,
      });
    } else if (!plan.note) {
      // Refunded in full out of the overpayment by an earlier attempt.
      const id = cashedFor(item)?.ids[0];
      results[n] = id
        ? ok(id, { outcome: 'linked' })
        : failed({ code: 'AMOUNT_INVALID', message: 'amount: nothing to refund', retryable: false, field: 'amount' });
    }
  });
  (await x.writeAll(ctx, 'PUT', '/Payments', 'Payments', toCash, 'refund-overpayment')).forEach((a, i) => {
    const r = toCash[i]!;
    const plan = planOf.get(r.n)!;
    if (!a.ok) results[r.n] = failed(refused(a.messages));
    else if (!('code' in plan) && !plan.note) results[r.n] = ok(str(a.saved.PaymentID), { outcome: 'created' });
  });
  items.forEach((item, n) => {
    const plan = planOf.get(n);
    if (!plan || 'code' in plan || !plan.note || results[n]) return;
    const r = item.record;
    notes.push({
      el: {
        Type: 'ACCRECCREDIT',
        Contact: { ContactID: item.customerTargetId },
        Date: r.date,
        Reference: r.externalReference,
        Status: 'AUTHORISED',
        LineAmountTypes: plan.note.lineAmountTypes,
        CurrencyCode: r.currency,
        LineItems: plan.note.lines,
      },
      itemKey: item.idempotencyKey,
      n,
    });
  });
  (await x.writeAll(ctx, 'PUT', '/CreditNotes', 'CreditNotes', notes, 'refund-notes')).forEach((a, i) => {
    const r = notes[i]!;
    if (a.ok) credit.set(r.n, a.saved);
    else results[r.n] = failed(refused(a.messages));
  });
  const cash: { el: Json; itemKey: string; n: number }[] = [];
  for (const [n, note] of credit) {
    const item = items[n]!;
    const remaining = minorUnits(note.RemainingCredit, item.record.currency);
    if (remaining === 0n) {
      results[n] = ok(str(note.CreditNoteID), { number: str(note.CreditNoteNumber), outcome: 'linked' });
      continue;
    }
    const bank = bankAccountFor(item.bankAccountCode, o2, x.settings);
    if (typeof bank !== 'string') {
      results[n] = failed(bank);
      continue;
    }
    cash.push({
      el: {
        CreditNote: { CreditNoteID: note.CreditNoteID },
        Account: { Code: bank },
        Date: item.record.date,
        Amount: amount(str(note.RemainingCredit ?? item.record.amount)),
        Reference: item.record.externalReference,
      },
      itemKey: `${item.idempotencyKey}:cash`,
      n,
    });
  }
  (await x.writeAll(ctx, 'PUT', '/Payments', 'Payments', cash, 'refund-cash')).forEach((a, i) => {
    const r = cash[i]!;
    const note = credit.get(r.n)!;
    results[r.n] = a.ok
      ? ok(str(note.CreditNoteID), { number: str(note.CreditNoteNumber), outcome: 'created' })
      : failed(refused(a.messages));
  });
  return results;
}
