import { formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { ItemError, TargetCallContext, TargetDocument, TargetPayment } from '../../sync/target.ts';
import {
  type BatchOperation,
  type QboEntity,
  type QuickBooksApi,
  describeFault,
  faultCode,
  requestIdFor,
} from './api.ts';
import {
  type Company,
  carriesReference,
  depositAccount,
  docNumberFor,
  findAccount,
  isUS,
  minorUnits,
  money,
  referenceNote,
} from './map.ts';
import { queryIn } from './names.ts';
import { SYSTEM } from './settings.ts';
import { ambiguity, feeAmbiguous, matchFees, readPaymentFees, remoteFeeRemedy } from '../../sync/fee-match.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) as QuickBooks records one: a Purchase paid in
 * cash out of the bank the money reaches, its one line an AccountBasedExpenseLineDetail on the
 * bank-charges expense account. That is how Intuit's own QuickBooks Payments books its fees (the
 * payment gross to the customer, the fee a separate withdrawal to an expense account), and it
 * leaves the payment in Undeposited Funds for the user's own bank deposit. The other pattern, a
 * Deposit with the fee as a negative line, would deposit every payment alone and take that
 * grouping away from the user.
 *
 * Exactly once, without a second kind in the engine: the fee is written before its payment and
 * carries the payment's reference (DocNumber, whole in PrivateNote). Each attempt looks the fees
 * up first and writes only those missing; the payment is written only once its fee is there. So a
 * payment QuickBooks holds always has its fee, the engine's lookup of the payment (after a lost
 * answer) stays what it was, and a payment refused after its fee was booked finds that fee again
 * when it is sent again.
 *
 * A reference is unique per customer, not per company (two customers' payments may both be
 * "Order 1001"), so the reference alone does not tell whose fee a Purchase is. Its PrivateNote
 * also names the payment's customer, "ledgerlink customer: <Customer Id>" on its first line
 * (`identify`). A fee booked before that mark is taken as a payment's own only when nothing else
 * can be meant; otherwise the payment is parked (PAYMENT_FEE_AMBIGUOUS) rather than its fee booked
 * twice or lost.
 *
 * Reconciliation reads the fees back the same way (`readFees`), so two payments under one
 * reference are each compared with their own fee.
 */

/** A fee QuickBooks now holds for a payment. */
export interface BookedFee {
  id: string;
  /** The fee as text ("EUR 1.20"), for the payment's run record. */
  label: string;
  found: boolean;
}

const settingMissing = (message: string, field: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field,
});

const isError = (v: unknown): v is ItemError => typeof v === 'object' && v !== null && 'code' in v && 'retryable' in v;

/**
 * The expense account fees go to: `accounts.fees`, else the company's one active account of type
 * Expense and subtype BankCharges (QuickBooks' "Bank Charges"); none or several name the setting.
 */
export function feesAccount(c: Company, accounts: Record<string, string> | undefined): QboEntity | ItemError {
  const key = accounts?.fees;
  if (key !== undefined)
    return (
      findAccount(c, key) ??
      settingMissing(`accounts.fees "${key}" is not an account of this QuickBooks company`, 'accounts.fees')
    );
  const charges = c.accounts.filter(
    (a) => a.AccountType === 'Expense' && a.AccountSubType === 'BankCharges' && a.Active !== false,
  );
  if (charges.length === 1) return charges[0]!;
  return settingMissing(
    charges.length === 0
      ? "this QuickBooks company has no bank-charges expense account for the payment provider's fee: add target.accounts.fees (an expense account's name, number or id)"
      : `this QuickBooks company has ${charges.length} bank-charges accounts (${charges.map((a) => String(a.Name)).join(', ')}): choose one in target.accounts.fees`,
    'accounts.fees',
  );
}

/**
 * The bank the fee is paid out of: the payment's own deposit account when it is a bank account;
 * when the payment waits in Undeposited Funds, `accounts.feesBank`, else the company's one bank
 * account (a Purchase in cash must come out of a bank account).
 */
export function feesBankAccount(
  c: Company,
  accounts: Record<string, string> | undefined,
  deposit: QboEntity,
): QboEntity | ItemError {
  const key = accounts?.feesBank;
  if (key !== undefined) {
    const named = findAccount(c, key);
    if (named?.AccountType === 'Bank') return named;
    return settingMissing(
      `accounts.feesBank "${key}" is not a bank account of this QuickBooks company`,
      'accounts.feesBank',
    );
  }
  if (deposit.AccountType === 'Bank') return deposit;
  const banks = c.accounts.filter((a) => a.AccountType === 'Bank' && a.Active !== false);
  if (banks.length === 1) return banks[0]!;
  return settingMissing(
    `the payment goes to ${String(deposit.Name)}, not a bank account, and this QuickBooks company has ${banks.length === 0 ? 'no bank account' : `${banks.length} bank accounts`} to pay the provider's fee out of: set target.accounts.feesBank`,
    'accounts.feesBank',
  );
}

/** The line of a fee's PrivateNote naming the customer whose payment it is. */
export const feeMark = (customerTargetId: string) => `ledgerlink customer: ${customerTargetId}`;
const MARK = /^ledgerlink customer: (\S+)$/m;

/** The customer a fee's note names, or null for a fee booked before fees were marked (or whose mark was edited away). */
const markOf = (e: QboEntity): string | null =>
  typeof e.PrivateNote === 'string' ? (MARK.exec(e.PrivateNote)?.[1] ?? null) : null;

/** Whose fee each purchase carrying these payments' references is (`matchFees`). */
const identify = (payments: { reference: string; customer: string }[], byReference: Map<string, QboEntity[]>) =>
  matchFees(payments, byReference, markOf);

/** A payment parked because which unmarked fee is its own cannot be told. */
function ambiguous(reference: string, customer: string, purchases: QboEntity[], why: string): ItemError {
  const ids = purchases.map((e) => `Purchase ${e.Id}`).join(', ');
  return feeAmbiguous(
    `QuickBooks holds expenses numbered ${docNumberFor(reference)} booked before ledgerlink marked each fee with its payment's customer (${ids}), and whether one is this payment's fee cannot be told: ${why}. Nothing was booked, so that no fee is booked twice or lost. If one is this payment's fee, add the line "${feeMark(customer)}" at the start of its memo (private note); if one is another payment's, add "ledgerlink customer: <Id of that payment's customer>"; then retry.`,
  );
}

/** Whether an unmarked fee is what the booking would record for this payment's fee. */
function sameFee(e: QboEntity, company: Company, currency: string, fee: bigint, date: string): boolean {
  const held = (e.CurrencyRef as { value?: string } | undefined)?.value ?? company.homeCurrency;
  return held === currency && minorUnits(e.TotalAmt, held) === fee && e.TxnDate === date;
}

interface Wanted {
  n: number;
  payment: TargetPayment;
  fee: bigint;
  bank: QboEntity;
  expense: QboEntity;
}

/** The Purchase recording one fee. */
function purchase(c: Company, w: Wanted): Record<string, unknown> {
  const p = w.payment.record;
  return {
    PaymentType: 'Cash',
    AccountRef: { value: w.bank.Id },
    DocNumber: docNumberFor(p.externalReference),
    // The mark first, the reference last (as on every document: EARLY_NOTE in documents.ts).
    PrivateNote: `${feeMark(w.payment.customerTargetId)}\n${referenceNote(p.externalReference)}`,
    TxnDate: p.date,
    CurrencyRef: { value: p.currency },
    Line: [
      {
        Description: `Payment provider fee on ${p.externalReference}`,
        Amount: money(w.fee, p.currency),
        DetailType: 'AccountBasedExpenseLineDetail',
        AccountBasedExpenseLineDetail: { AccountRef: { value: w.expense.Id } },
      },
    ],
    // A provider's fee carries no VAT (a financial service); a US company has no tax on purchases here.
    ...(isUS(c) ? {} : { GlobalTaxCalculation: 'NotApplicable' }),
  };
}

/**
 * Books the fees of these payments (index in the call → payment), before the payments themselves:
 * for each, the fee QuickBooks now holds (found or written), why it could not be booked, or
 * nothing for a payment without a fee. No call at all when none has a fee.
 */
export async function bookFees(
  api: QuickBooksApi,
  company: Company,
  accounts: Record<string, string> | undefined,
  ctx: TargetCallContext,
  payments: { n: number; payment: TargetPayment }[],
): Promise<Map<number, BookedFee | ItemError>> {
  const out = new Map<number, BookedFee | ItemError>();
  const wanted: Wanted[] = [];
  for (const { n, payment } of payments) {
    const p = payment.record;
    if (p.fee === null || p.fee === undefined) continue;
    const fee = parseAmount(p.fee, p.currency);
    if (!fee.ok) {
      out.set(n, { code: 'AMOUNT_INVALID', message: `fee: ${fee.error.message}`, retryable: false, field: 'fee' });
      continue;
    }
    if (fee.value === 0n) continue;
    if (fee.value < 0n) {
      out.set(n, { code: 'AMOUNT_INVALID', message: 'fee: a fee is never negative', retryable: false, field: 'fee' });
      continue;
    }
    const expense = feesAccount(company, accounts);
    if (isError(expense)) {
      out.set(n, expense);
      continue;
    }
    const deposit = depositAccount(company, accounts, payment.bankAccountCode);
    const bank = isError(deposit) ? deposit : feesBankAccount(company, accounts, deposit);
    if (isError(bank)) {
      out.set(n, bank);
      continue;
    }
    wanted.push({ n, payment, fee: fee.value, bank, expense });
  }
  if (wanted.length === 0) return out;
  const label = (w: Wanted) => `${w.payment.record.currency} ${formatAmount(w.fee, w.payment.record.currency)}`;
  const earlier = identify(
    wanted.map((w) => ({ reference: w.payment.record.externalReference, customer: w.payment.customerTargetId })),
    await feesByReference(
      api,
      ctx,
      wanted.map((w) => w.payment.record.externalReference),
    ),
  );
  const toWrite: Wanted[] = [];
  for (const [i, w] of wanted.entries()) {
    const e = earlier[i]!;
    const p = w.payment.record;
    const found = (f: QboEntity) => out.set(w.n, { id: f.Id, label: label(w), found: true });
    if (e.kind === 'none') toWrite.push(w);
    else if (e.kind === 'marked') found(e.docs[0]!);
    // An unmarked fee is this payment's as it would book it (amount, currency, date), or not told.
    else if (e.kind === 'unmarked' && sameFee(e.doc, company, p.currency, w.fee, p.date)) found(e.doc);
    else if (e.kind === 'unmarked')
      out.set(
        w.n,
        ambiguous(
          p.externalReference,
          w.payment.customerTargetId,
          [e.doc],
          `it is ${String(e.doc.TotalAmt)} on ${String(e.doc.TxnDate)}, and this payment's fee ${label(w)} on ${p.date}`,
        ),
      );
    else
      out.set(
        w.n,
        ambiguous(
          p.externalReference,
          w.payment.customerTargetId,
          e.docs,
          ambiguity(e, `there are ${e.docs.length} under the reference`),
        ),
      );
  }
  for (let i = 0; i < toWrite.length; i += 30) {
    const part = toWrite.slice(i, i + 30);
    const ops: BatchOperation[] = part.map((w) => ({
      entity: 'Purchase',
      operation: 'create',
      body: purchase(company, w),
    }));
    const answers = await api.batch(
      ops,
      requestIdFor(
        part.map((w) => `${w.payment.idempotencyKey}:fee`),
        'fee',
      ),
      ctx.signal,
    );
    answers.forEach((a, k) => {
      const w = part[k]!;
      if (a.ok) return void out.set(w.n, { id: a.entity!.Id, label: label(w), found: false });
      const code = faultCode(a.fault);
      out.set(w.n, {
        code: 'TARGET_REFUSED',
        message: `QuickBooks refused the payment provider's fee of ${label(w)} (the payment was not sent): ${describeFault(a.fault)}`,
        // A system fault inside a 200: nothing written; the payment is sent again, its fee looked up first.
        retryable: code === '10000' || /SystemFault/i.test(a.fault.type ?? ''),
        field: 'fee',
      });
    });
  }
  return out;
}

/** Fee purchases by the payment reference they carry: a query per 100 references, 30 queries a call. */
async function feesByReference(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  references: string[],
): Promise<Map<string, QboEntity[]>> {
  const refs = [...new Set(references)];
  const rows = await queryIn(api, ctx, 'Purchase', 'DocNumber', refs.map(docNumberFor), {
    what: 'fee lookup',
    retryable: false,
  });
  const out = new Map<string, QboEntity[]>();
  for (const r of refs) {
    const found = rows.filter((e) => e.PaymentType === 'Cash' && carriesReference(e, r));
    if (found.length > 0) out.set(r, found);
  }
  return out;
}

/**
 * Sets the fee QuickBooks holds for each of these payments (`TargetDocument.fee`, for
 * reconciliation): its cash Purchases as the fee booking identifies them (`identify`: marked with
 * the payment's customer, or the one unmarked fee under a reference no other payment read here
 * has), their `TotalAmt` in their currency (the company's when they name none); null when there is
 * none. Several marked for it all left the bank: summed, and named together. A payment without a
 * reference, or whose unmarked fee cannot be told from another payment's, is left unknown (not
 * compared, and the report says so). One batch call per 3,000 references.
 */
export async function readFees(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  company: Company,
  payments: TargetDocument[],
): Promise<void> {
  await readPaymentFees(payments, {
    byReference: (references) => feesByReference(api, ctx, references),
    markOf,
    reader: () => ({
      currencyOf: (e) => (e.CurrencyRef as { value?: string } | undefined)?.value ?? company.homeCurrency,
      amountOf: (e, currency) => minorUnits(e.TotalAmt, currency),
      idOf: (e) => e.Id,
      label: (ids) => `expense (Purchase ${ids.join(' and ')})`,
      notAnAmount: (e) =>
        new ConnectorError(SYSTEM, `Purchase ${e.Id} has a TotalAmt that is not an amount: ${String(e.TotalAmt)}`, {
          retryable: false,
        }),
    }),
  });
}

/** What to do in QuickBooks about a payment whose fee is not what the source says (reconciliation). */
export const quickbooksFeeRemedy = remoteFeeRemedy(
  'QuickBooks',
  (reference) =>
    `record it in QuickBooks as an expense paid in cash out of the bank the payment went to, to Bank Charges, numbered ${docNumberFor(reference)}, as ledgerlink books a fee`,
);
