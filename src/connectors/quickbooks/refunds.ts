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
import type { QboEntity } from './api.ts';
import { type Built, type DocumentContext, currencyOf, isError, send } from './documents.ts';
import { docNumberFor, isUS, minorUnits, money, referenceNote, scalar } from './map.ts';
import { readByIds } from './names.ts';
import {
  type Cashed,
  journalBody,
  journalRefund,
  journalsByReference,
  linesOf,
  linkJournals,
  links,
  refundFrom,
  refusal,
  saidOfCash,
  writeJournals,
} from './refund-cash.ts';

/*
 * How a refund is booked in QuickBooks Online (docs/connectors/quickbooks.md, "Refunds"). Money the
 * refunded payment holds unapplied (`UnappliedAmt`: it paid more than its invoice owed) was never a
 * sale, and QuickBooks keeps it as a credit on the customer: it is refunded first, in cash, with no
 * tax touched, as Intuit's help tells a person to ("Record a refund for an overpayment or credit":
 * the money out of the bank on Accounts Receivable for the customer, then linked to the customer's
 * credit). Through the API that is a JournalEntry debiting Accounts Receivable for the customer and
 * crediting the bank (Intuit's JournalEntry reference: an A/R line names its customer), which the
 * refunded Payment then links (a line with `LinkedTxn.TxnType: JournalEntry`, one of the types
 * Intuit's Payment reference lists for Line.LinkedTxn), so that the credit and the refund offset
 * each other. What is left reverses the sale: a RefundReceipt at the rates of the invoice the
 * payment paid, scaled to that share (the last line takes the rounding), the invoice staying paid.
 *
 * Exactly once: the journal entry carries the refund's reference (DocNumber, whole in PrivateNote)
 * and is looked up before it is written; the payment is read before it is linked; the receipt is
 * written last, only once the cash part is linked, so the engine's lookup of the refund after a lost
 * answer (the RefundReceipt by DocNumber) finds it only when nothing is left to do. A refund cut
 * between writes is completed by the next attempt, never doubled.
 */

/** One refund as it will be booked. */
interface Plan extends Cashed {
  /** The RefundReceipt reversing the rest of the sale, or null when the cash covers the refund. */
  receipt: Built | null;
}

const invoiceOf = (p: QboEntity | undefined) =>
  linesOf(p)
    .flatMap((l) => l.LinkedTxn ?? [])
    .find((t) => t.TxnType === 'Invoice')?.TxnId;

/** The RefundReceipt reversing `refund` (minor units) of the sale the payment paid, at the invoice's rates. */
function receiptBody(
  c: DocumentContext,
  item: TargetRefund,
  inv: QboEntity | undefined,
  refund: bigint,
  cash: bigint,
): Built | ItemError {
  const r = item.record;
  const part =
    cash > 0n ? `${r.currency} ${formatAmount(refund, r.currency)} beyond what the payment holds unapplied` : null;
  if (!inv)
    return refusal(
      `the refunded payment ${r.paymentExternalReference ?? '(none named)'} paid no invoice this pipeline booked in QuickBooks, so the refund${part ? ` of ${part}` : ''} cannot be split by tax rate: book it by hand`,
    );
  const invTotal = minorUnits(inv.TotalAmt, r.currency);
  const invTax =
    minorUnits((inv.TxnTaxDetail as { TotalTax?: unknown } | undefined)?.TotalTax ?? '0', r.currency) ?? 0n;
  if (invTotal === null || invTotal <= 0n || refund > invTotal || currencyOf(inv, c.company) !== r.currency)
    return refusal(
      `the refund of ${part ?? `${r.currency} ${r.amount}`} exceeds invoice ${scalar(inv.DocNumber)} or is in another currency`,
      'amount',
    );
  const sourceLines = ((inv.Line as Record<string, unknown>[]) ?? []).filter(
    (l) => l.DetailType === 'SalesItemLineDetail',
  );
  // QuickBooks keeps the invoice's VAT as one total: scaled as a whole; the last line takes the rounding.
  const split = splitRefund(
    refund,
    sourceLines.map((l) => ({ net: minorUnits(l.Amount, r.currency) ?? 0n, tax: 0n })),
    invTotal,
    invTax,
  );
  if (!split)
    return refusal(
      `invoice ${scalar(inv.DocNumber)} has no lines to scale the refund of ${r.currency} ${r.amount} to`,
      'amount',
    );
  const account = refundFrom(c, item.bankAccountCode);
  if (isError(account)) return account;
  const docNumber = docNumberFor(r.externalReference);
  return {
    entity: 'RefundReceipt',
    body: {
      DocNumber: docNumber,
      PrivateNote: referenceNote(r.externalReference),
      TxnDate: r.date,
      CustomerRef: { value: item.customerTargetId },
      CurrencyRef: { value: r.currency },
      PaymentRefNum: docNumber,
      DepositToAccountRef: { value: account.Id },
      Line: sourceLines.map((l, n) => {
        const detail = l.SalesItemLineDetail as Record<string, unknown>;
        return {
          ...(l.Description ? { Description: l.Description } : {}),
          Amount: money(split.lines[n]!.net, r.currency),
          DetailType: 'SalesItemLineDetail',
          SalesItemLineDetail: {
            ItemRef: { value: (detail.ItemRef as { value: string }).value },
            TaxCodeRef: { value: (detail.TaxCodeRef as { value: string }).value },
            ...(detail.ItemAccountRef
              ? { ItemAccountRef: { value: (detail.ItemAccountRef as { value: string }).value } }
              : {}),
          },
        };
      }),
      TxnTaxDetail: { TotalTax: money(split.tax, r.currency) },
      ...(isUS(c.company) ? {} : { GlobalTaxCalculation: 'TaxExcluded' }),
    },
  };
}

/**
 * How one refund is to be booked: first out of what its payment holds unapplied (`holds`: what
 * this batch's earlier refunds of the same payment left), the rest by a RefundReceipt. A journal
 * entry an earlier attempt wrote is the cash part as it stands, linked now if it is not yet.
 */
function plan(
  c: DocumentContext,
  item: TargetRefund,
  n: number,
  payments: Map<string, QboEntity>,
  invoices: Map<string, QboEntity>,
  journals: Map<string, QboEntity>,
  holds: Map<string, bigint>,
): Plan | ItemError {
  const r = item.record;
  const total = parseAmount(r.amount, r.currency);
  if (!total.ok)
    return { code: 'AMOUNT_INVALID', message: `amount: ${total.error.message}`, retryable: false, field: 'amount' };
  const pay = payments.get(item.paymentTargetId ?? '');
  const named = r.paymentExternalReference ?? item.paymentTargetId ?? '(none named)';
  const journal = journals.get(`${item.customerTargetId}\u0000${r.externalReference}`) ?? null;
  const fmt = (v: bigint) => `${r.currency} ${formatAmount(v, r.currency)}`;
  let cash: Plan['cash'] = null;
  let left: bigint | null = null;
  // Never refunded twice: a journal entry an earlier attempt wrote stands for the cash part, whatever became of the payment.
  if (journal && !pay)
    return refusal(
      `QuickBooks JournalEntry ${journal.Id} (${scalar(journal.DocNumber)}) already refunds ${fmt(journalRefund(journal, r.currency)?.amount ?? 0n)} of the customer's credit, but payment ${named} is no longer in QuickBooks to link it to: finish the refund in QuickBooks by hand, then resolve this exception`,
    );
  if (pay) {
    const unapplied = holds.get(pay.Id) ?? minorUnits(pay.UnappliedAmt ?? 0, currencyOf(pay, c.company)) ?? 0n;
    if (journal) {
      const amount = journalRefund(journal, r.currency)?.amount ?? 0n;
      const linked = links(pay, journal.Id);
      if (!linked && amount > unapplied)
        return refusal(
          `QuickBooks JournalEntry ${journal.Id} (${scalar(journal.DocNumber)}) already refunds ${fmt(amount)} of the customer's credit, but payment ${named} now holds only ${fmt(unapplied)} unapplied to link it to: link it in QuickBooks by hand (Receive payment), then resolve this exception`,
        );
      cash = { amount, journal, body: null, linked, done: linked };
      left = linked ? unapplied : unapplied - amount;
    } else if (unapplied > 0n) {
      if (currencyOf(pay, c.company) !== r.currency)
        return refusal(
          `the refund is in ${r.currency}; the payment ${named} it refunds is in ${currencyOf(pay, c.company)}`,
          'currency',
        );
      const amount = total.value < unapplied ? total.value : unapplied;
      const body = journalBody(c, item, pay, amount);
      if (isError(body)) return body;
      cash = { amount, journal: null, body, linked: false, done: false };
      left = unapplied - amount;
    }
  }
  const rest = total.value - (cash?.amount ?? 0n);
  let receipt: Built | null = null;
  if (rest > 0n) {
    const built = receiptBody(c, item, invoices.get(invoiceOf(pay) ?? ''), rest, cash?.amount ?? 0n);
    if (isError(built))
      return cash?.journal
        ? {
            ...built,
            message: `${built.message} (${fmt(cash.amount)} of it is already refunded out of the customer's credit: QuickBooks JournalEntry ${cash.journal.Id})`,
          }
        : built;
    receipt = built;
  }
  if (pay && left !== null) holds.set(pay.Id, left);
  return { n, item, cash, receipt };
}

/**
 * Refunds: first, in cash out of what the refunded payment holds unapplied (a JournalEntry on the
 * customer's receivable, linked to the payment); then, for what is left, a RefundReceipt at the
 * rates of the invoice the payment paid. The target id is the RefundReceipt's, or the journal
 * entry's when that was all.
 */
export async function createRefunds(
  c: DocumentContext,
  ctx: TargetCallContext,
  items: TargetRefund[],
): Promise<ItemResult[]> {
  const results: (ItemResult | undefined)[] = new Array<ItemResult | undefined>(items.length);
  const payments = await readByIds(
    c.api,
    ctx,
    'Payment',
    items.flatMap((i) => (i.paymentTargetId ? [i.paymentTargetId] : [])),
  );
  const invoices = await readByIds(
    c.api,
    ctx,
    'Invoice',
    items.flatMap((i) => {
      const id = invoiceOf(payments.get(i.paymentTargetId ?? ''));
      return id ? [id] : [];
    }),
  );
  const journals = await journalsByReference(
    c.api,
    ctx,
    c.company,
    items
      .filter((i) => i.paymentTargetId)
      .map((i) => ({ reference: i.record.externalReference, customerTargetId: i.customerTargetId })),
  );
  const holds = new Map<string, bigint>();
  const plans: Plan[] = [];
  items.forEach((item, n) => {
    const p = plan(c, item, n, payments, invoices, journals, holds);
    if (isError(p)) results[n] = failed(p);
    else plans.push(p);
  });
  await writeJournals(c, ctx, plans, results);
  await linkJournals(c, ctx, plans, payments, results);
  const receipts = plans.filter((p) => !results[p.n] && p.receipt);
  const sent = await send(
    c,
    ctx,
    'refund',
    receipts.map((p) => p.receipt!),
    receipts.map((p) => p.item.idempotencyKey),
    (e) => scalar(e.DocNumber),
  );
  sent.forEach((r, k) => {
    const p = receipts[k]!;
    const cash = saidOfCash(p);
    if (r.ok)
      results[p.n] = cash ? { ...r, message: `${cash}; the rest as a refund receipt at the invoice's rates` } : r;
    else
      results[p.n] = cash
        ? failed({
            ...r.error,
            message: `${r.error.message} (${cash}; not refunded again when the refund is sent again)`,
          })
        : r;
  });
  for (const p of plans) {
    if (results[p.n]) continue;
    const journal = p.cash?.journal;
    results[p.n] = journal
      ? ok(journal.Id, {
          number: scalar(journal.DocNumber),
          outcome: p.cash!.done ? 'linked' : 'created',
          message: saidOfCash(p),
        })
      : failed({ code: 'AMOUNT_INVALID', message: 'amount: nothing to refund', retryable: false, field: 'amount' });
  }
  return results.map((r) => r!);
}
