import { formatAmount } from '../../domain/money.ts';
import {
  type ItemError,
  type ItemResult,
  type TargetCallContext,
  type TargetRefund,
  failed,
} from '../../sync/target.ts';
import { type BatchAnswer, type QboEntity, type QuickBooksApi, describeFault, faultCode, requestIdFor } from './api.ts';
import { type DocumentContext, byReference, currencyOf, isError } from './documents.ts';
import {
  type Company,
  depositAccount,
  docNumberFor,
  findAccount,
  isUS,
  minorUnits,
  money,
  referenceNote,
} from './map.ts';
import { readByIds } from './names.ts';
import { type Refused, type Retried, againUnderSharedNumber, refusedForNumber } from './doc-numbers.ts';

/*
 * The cash part of a refund (src/connectors/quickbooks/refunds.ts): what the refunded payment holds
 * unapplied, a credit on the customer, refunded with no tax touched. A JournalEntry debits the
 * customer's Accounts Receivable (its A/R line names the customer, as Intuit's JournalEntry
 * reference requires) and credits the bank; the payment then links it, a line with
 * `LinkedTxn.TxnType: JournalEntry` (a type Intuit's Payment reference lists for Line.LinkedTxn),
 * so that the credit and the refund offset each other: what Intuit's help has a person do in
 * QuickBooks ("Record a refund for an overpayment or credit": the money out of the bank on
 * Accounts Receivable, then linked to the customer's credit in Receive payment). The journal entry
 * carries the refund's reference (DocNumber, whole in PrivateNote) and is looked up before it is
 * written; the payment is read before it is linked, its lines replaced whole.
 */

const STALE = '5010';

interface Link {
  TxnId: string;
  TxnType: string;
  TxnLineId?: string;
}
interface PaymentLine {
  Amount?: unknown;
  LinkedTxn?: Link[];
}
/** A line of a JournalEntry as QuickBooks answers it. */
export interface JournalLine {
  Amount?: unknown;
  JournalEntryLineDetail?: {
    PostingType?: string;
    AccountRef?: { value?: string };
    Entity?: { EntityRef?: { value?: string } };
  };
}

/** A refund's cash part: its journal entry (found, or to write) and whether the payment links it. */
export interface CashRefund {
  amount: bigint;
  journal: QboEntity | null;
  /** The journal entry to write; null when an earlier attempt wrote it. */
  body: Record<string, unknown> | null;
  linked: boolean;
  /** An earlier attempt had written and linked it: nothing is written now. */
  done: boolean;
}

/** A refund with its cash part, as the writes below take it. */
export interface Cashed {
  n: number;
  item: TargetRefund;
  cash: CashRefund | null;
}

export const refusal = (message: string, field = 'paymentExternalReference'): ItemError => ({
  code: 'TARGET_REFUSED',
  message,
  retryable: false,
  field,
});

export const linesOf = (p: QboEntity | undefined) => (p?.Line as PaymentLine[] | undefined) ?? [];
export const links = (p: QboEntity | undefined, journalId: string) =>
  linesOf(p).some((l) => (l.LinkedTxn ?? []).some((t) => t.TxnType === 'JournalEntry' && t.TxnId === journalId));

/**
 * What a refund's journal entry refunds: the customer and amount of its Accounts Receivable debit,
 * the line that names a customer (QuickBooks answers TotalAmt 0 for a journal entry).
 */
export function journalRefund(je: QboEntity, currency: string): { customerId: string; amount: bigint } | null {
  for (const l of (je.Line as JournalLine[] | undefined) ?? []) {
    const d = l.JournalEntryLineDetail;
    const customerId = d?.Entity?.EntityRef?.value;
    if (d?.PostingType === 'Debit' && customerId) return { customerId, amount: minorUnits(l.Amount, currency) ?? 0n };
  }
  return null;
}

/** Refunds' journal entries by the reference they carry and the customer of their A/R debit. */
export const journalsByReference = (
  api: QuickBooksApi,
  ctx: TargetCallContext,
  company: Company,
  wanted: { reference: string; customerTargetId: string }[],
) => byReference(api, ctx, 'JournalEntry', wanted, (e) => journalRefund(e, currencyOf(e, company))?.customerId);

/**
 * The Accounts Receivable account a customer's credit sits on: `accounts.receivable`, else the
 * refunded payment's own ARAccountRef, else the company's one active A/R account in the refund's
 * currency.
 */
function receivableAccount(c: DocumentContext, payment: QboEntity, currency: string): QboEntity | ItemError {
  const key = c.accounts?.receivable;
  if (key !== undefined)
    return (
      findAccount(c.company, key) ?? {
        code: 'TARGET_SETTING_MISSING',
        message: `accounts.receivable "${key}" is not an account of this QuickBooks company`,
        retryable: false,
        field: 'accounts.receivable',
      }
    );
  const own = findAccount(c.company, (payment.ARAccountRef as { value?: string } | undefined)?.value ?? '');
  if (own) return own;
  const ar = c.company.accounts.filter(
    (a) =>
      a.AccountType === 'Accounts Receivable' &&
      a.Active !== false &&
      ((a.CurrencyRef as { value?: string } | undefined)?.value ?? c.company.homeCurrency) === currency,
  );
  if (ar.length === 1) return ar[0]!;
  return {
    code: 'TARGET_SETTING_MISSING',
    message: `this QuickBooks company has ${ar.length === 0 ? 'no' : ar.length} Accounts Receivable account${ar.length === 1 ? '' : 's'} in ${currency} to refund the customer's credit from: set target.accounts.receivable`,
    retryable: false,
    field: 'accounts.receivable',
  };
}

/** The account a refund's money comes out of: `accounts.bank`, the mapped bank account, else the company's first bank account. */
export function refundFrom(c: DocumentContext, mapped: string): QboEntity | ItemError {
  if (c.accounts?.bank !== undefined || (mapped && findAccount(c.company, mapped)))
    return depositAccount(c.company, c.accounts, mapped);
  return c.company.accounts.find((a) => a.AccountType === 'Bank') ?? depositAccount(c.company, c.accounts, mapped);
}

/** The journal entry refunding `amount` of a customer's credit: A/R debited for the customer, the bank credited, no tax. */
export function journalBody(
  c: DocumentContext,
  item: TargetRefund,
  payment: QboEntity,
  amount: bigint,
): Record<string, unknown> | ItemError {
  const r = item.record;
  const receivable = receivableAccount(c, payment, r.currency);
  if (isError(receivable)) return receivable;
  const bank = refundFrom(c, item.bankAccountCode);
  if (isError(bank)) return bank;
  const paid = r.paymentExternalReference ?? payment.Id;
  const description = `Refund ${r.externalReference}: the customer's credit on payment ${paid}`.slice(0, 4000);
  const line = (posting: 'Debit' | 'Credit', account: QboEntity, customer: boolean) => ({
    Description: description,
    Amount: money(amount, r.currency),
    DetailType: 'JournalEntryLineDetail',
    JournalEntryLineDetail: {
      PostingType: posting,
      AccountRef: { value: account.Id },
      ...(customer ? { Entity: { Type: 'Customer', EntityRef: { value: item.customerTargetId } } } : {}),
    },
  });
  return {
    DocNumber: docNumberFor(r.externalReference),
    PrivateNote: referenceNote(r.externalReference),
    TxnDate: r.date,
    CurrencyRef: { value: r.currency },
    // At the payment's own rate, so that the credit is taken off at what it was booked for.
    ...(r.currency !== c.company.homeCurrency && payment.ExchangeRate !== undefined
      ? { ExchangeRate: payment.ExchangeRate }
      : {}),
    Line: [line('Debit', receivable, true), line('Credit', bank, false)],
    // No tax on either line; Intuit's reference asks non-US companies for the tax model.
    ...(isUS(c.company) ? {} : { GlobalTaxCalculation: 'TaxExcluded' }),
  };
}

/** A Fault inside a batch answer, as the refund's error. */
function faulted(a: Extract<BatchAnswer, { ok: false }>, what: string): ItemError {
  const code = faultCode(a.fault);
  return {
    code: 'TARGET_REFUSED',
    message: `QuickBooks refused the ${what}: ${describeFault(a.fault)}`,
    // A system fault inside a 200: nothing was written; the engine looks it up and sends it again.
    retryable: code === '10000' || /SystemFault/i.test(a.fault.type ?? ''),
    field: a.fault.Error?.[0]?.element || undefined,
  };
}

/** Writes the journal entries not found, 30 a batch call, each under a requestid of its refunds' keys. */
export async function writeJournals(
  c: DocumentContext,
  ctx: TargetCallContext,
  plans: Cashed[],
  results: (ItemResult | undefined)[],
): Promise<void> {
  const todo = plans.filter((p) => p.cash?.body);
  for (let i = 0; i < todo.length; i += 30) {
    const part = todo.slice(i, i + 30);
    const answers = await c.api.batch(
      part.map((p) => ({ entity: 'JournalEntry', operation: 'create', body: p.cash!.body! })),
      requestIdFor(
        part.map((p) => `${p.item.idempotencyKey}:cash`),
        'refund-cash',
      ),
      ctx.signal,
    );
    // A journal number another customer's refund of ours holds: sent again as Intuit allows (doc-numbers.ts).
    const again = new Map<number, Retried>();
    const shared = answers.flatMap((a, k): Refused[] =>
      refusedForNumber(a)
        ? [
            {
              n: k,
              entity: 'JournalEntry',
              body: part[k]!.cash!.body!,
              customerTargetId: part[k]!.item.customerTargetId,
              key: `${part[k]!.item.idempotencyKey}:cash`,
            },
          ]
        : [],
    );
    if (shared.length > 0)
      for (const r of await againUnderSharedNumber(
        c.api,
        ctx,
        shared,
        (e) => journalRefund(e, currencyOf(e, c.company))?.customerId,
      ))
        again.set(r.n, r);
    answers.forEach((first, k) => {
      const p = part[k]!;
      const retried = again.get(k);
      const a = retried && 'answer' in retried ? retried.answer : first;
      if (a.ok) p.cash!.journal = a.entity!;
      else {
        const error = faulted(a, "journal entry refunding the customer's credit (nothing was refunded)");
        const why = retried && 'refusedBecause' in retried ? ` (${retried.refusedBecause})` : '';
        results[p.n] = failed({ ...error, message: `${error.message}${why}` });
      }
    });
  }
}

/**
 * Links each new journal entry to the payment whose credit it refunds: the payment's lines are
 * replaced whole, so they are sent as read with a line added per journal entry, under the
 * SyncToken read. A stale one (5010) is read again and retried once; an update of several refunds
 * refused is sent again one refund at a time, so that one never sinks the others.
 */
export async function linkJournals(
  c: DocumentContext,
  ctx: TargetCallContext,
  plans: Cashed[],
  read: Map<string, QboEntity>,
  results: (ItemResult | undefined)[],
): Promise<void> {
  let payments = read;
  const retried = new Set<Cashed>();
  const alone = new Set<string>();
  for (let round = 0; round < plans.length + 2; round++) {
    const pending = plans.filter((p) => !results[p.n] && p.cash?.journal && !p.cash.linked);
    if (pending.length === 0) return;
    const byPayment = new Map<string, Cashed[]>();
    for (const p of pending) {
      const id = p.item.paymentTargetId!;
      const group = byPayment.get(id) ?? [];
      if (!(alone.has(id) && group.length === 1)) byPayment.set(id, [...group, p]);
    }
    const sends = [...byPayment].map(([id, group]) => {
      const pay = payments.get(id);
      const currency = pay ? currencyOf(pay, c.company) : group[0]!.item.record.currency;
      const lines = linesOf(pay).map((l) => ({
        Amount: l.Amount,
        LinkedTxn: (l.LinkedTxn ?? []).map((t) => ({
          TxnId: t.TxnId,
          TxnType: t.TxnType,
          ...(t.TxnLineId ? { TxnLineId: t.TxnLineId } : {}),
        })),
      }));
      for (const p of group)
        lines.push({
          Amount: money(p.cash!.amount, currency),
          LinkedTxn: [{ TxnId: p.cash!.journal!.Id, TxnType: 'JournalEntry' }],
        });
      return { id, pay, group, lines };
    });
    for (const s of sends.filter((x) => !x.pay))
      for (const p of s.group)
        results[p.n] = failed(
          refusal(
            `payment ${p.item.record.paymentExternalReference ?? s.id} disappeared from QuickBooks; QuickBooks JournalEntry ${p.cash!.journal!.Id} refunds ${p.item.record.currency} ${formatAmount(p.cash!.amount, p.item.record.currency)} of the customer's credit and is linked to no payment`,
          ),
        );
    const live = sends.filter((x) => x.pay);
    let reread = false;
    for (let i = 0; i < live.length; i += 30) {
      const chunk = live.slice(i, i + 30);
      const answers = await c.api.batch(
        chunk.map((s) => ({
          entity: 'Payment',
          operation: 'update',
          body: { Id: s.id, SyncToken: s.pay!.SyncToken, sparse: true, Line: s.lines },
        })),
        // The SyncToken is part of the key: a retry after a stale token is a new request, not a replay.
        requestIdFor(
          chunk.map((s) => `${s.group.map((p) => p.item.idempotencyKey).join('\u0000')}\u0000${s.pay!.SyncToken}`),
          `refund-link:${round}`,
        ),
        ctx.signal,
      );
      answers.forEach((a, k) => {
        const s = chunk[k]!;
        if (a.ok) {
          for (const p of s.group) p.cash!.linked = true;
          return;
        }
        const code = faultCode(a.fault);
        if (code === STALE && s.group.every((p) => !retried.has(p))) {
          // Someone changed the Payment since it was read: read again, and retry once.
          for (const p of s.group) retried.add(p);
          reread = true;
          return;
        }
        if (code !== STALE && s.group.length > 1) {
          alone.add(s.id);
          return;
        }
        for (const p of s.group) {
          const error = faulted(
            a,
            `link of QuickBooks JournalEntry ${p.cash!.journal!.Id} (the refund of the customer's credit) to payment ${p.item.record.paymentExternalReference ?? s.id}`,
          );
          // Stale twice: someone keeps editing it; a later attempt finds the journal entry and links it.
          results[p.n] = failed(code === STALE ? { ...error, retryable: true } : error);
        }
      });
    }
    if (reread)
      payments = await readByIds(
        c.api,
        ctx,
        'Payment',
        plans.flatMap((p) => (p.item.paymentTargetId ? [p.item.paymentTargetId] : [])),
      );
  }
  for (const p of plans)
    if (!results[p.n] && p.cash?.journal && !p.cash.linked)
      results[p.n] = failed({
        ...refusal('the payment kept changing in QuickBooks while its refund was linked'),
        retryable: true,
      });
}

/** What a refund's run record says of its cash part. */
export function saidOfCash(p: Cashed): string | null {
  const cash = p.cash;
  if (!cash?.journal) return null;
  const r = p.item.record;
  return `${r.currency} ${formatAmount(cash.amount, r.currency)} refunded out of what payment ${r.paymentExternalReference ?? p.item.paymentTargetId} held unapplied (QuickBooks JournalEntry ${cash.journal.Id}, no tax, linked to the payment)`;
}
