import { DomainError } from '../../domain/errors.ts';
import { controlJournal } from '../../domain/documents.ts';
import { exchangeRateFor, join, positiveAmountOf } from './common.ts';
import { type PostingCustomer, type References, loadReferences, lockCustomer } from './references.ts';
import {
  type CustomerTransaction,
  type PostedTransaction,
  duplicateError,
  insertTransaction,
  referenceExists,
} from './write.ts';
import type { PostingContext, ReceiptInput } from './types.ts';
import { checkDateInRange, requirePeriodOpen } from '../periods.ts';

export interface PostedReceipt extends PostedTransaction {
  amount: bigint;
  currency: string;
}

export const DEFAULT_BANK = 'BANK';

export function receiptReferences(r: ReceiptInput) {
  return { banks: [r.bankAccountCode ?? DEFAULT_BANK], departments: [r.departmentId ?? null] };
}

/**
 * Builds a sales receipt: money into the bank's GL account, the debtors control credited. A bank
 * account must hold the customer's currency or the base currency. Both lines are valued in base
 * at the document's rate; `bankExchangeRate` is recorded for bank reconciliation.
 */
export function buildReceipt(
  ctx: PostingContext,
  customer: PostingCustomer,
  input: ReceiptInput,
  refs: References,
  duplicateChecked: boolean,
  prefix = '',
): CustomerTransaction {
  const currency = customer.currency;
  checkDateInRange(input.paymentDate, join(prefix, 'paymentDate'));
  const rate = exchangeRateFor(ctx, currency, input.exchangeRate, join(prefix, 'exchangeRate'));
  const amount = positiveAmountOf(input.paymentAmount, currency, join(prefix, 'paymentAmount'));
  const bankCode = input.bankAccountCode ?? DEFAULT_BANK;
  const bank = refs.requireBank(bankCode, join(prefix, 'bankAccountCode'));
  const departmentId = input.departmentId ?? null;
  refs.requireDepartment(departmentId, join(prefix, 'departmentId'));
  if (bank.currency !== currency && bank.currency !== ctx.entity.baseCurrency) {
    throw new DomainError(
      'BANK_ACCOUNT_CURRENCY_MISMATCH',
      `Bank account ${bankCode} holds ${bank.currency}; the receipt is in ${currency}`,
      [{ field: join(prefix, 'bankAccountCode'), message: 'currency mismatch' }],
    );
  }
  const bankRate = input.bankExchangeRate ?? rate;
  const description = input.description ?? '';
  const journal = controlJournal(
    customer.controlGlAccountCode,
    description,
    [{ role: 'bank', glAccountCode: bank.glAccountCode, departmentId, description, amount }],
    { currency, baseCurrency: ctx.entity.baseCurrency, rate },
    -1n,
  );
  return {
    entityId: ctx.entity.id,
    type: 'SR',
    customerCode: customer.code,
    currency,
    exchangeRate: rate,
    transactionDate: input.paymentDate,
    dueDate: null,
    externalReference: input.checkReference,
    description,
    net: amount,
    tax: 0n,
    gross: amount,
    baseGross: journal.baseGross,
    duplicateChecked,
    relatedTransactionId: null,
    details: {
      bankAccountCode: bankCode,
      bankCurrency: bank.currency,
      bankExchangeRate: bankRate,
      ...(input.lodgmentNumber ? { lodgmentNumber: input.lodgmentNumber } : {}),
      ...(departmentId ? { departmentId } : {}),
    },
    createdBy: ctx.actor,
    items: [],
    lines: journal.lines,
  };
}

export async function checkReceiptReference(ctx: PostingContext, t: CustomerTransaction, field: string): Promise<void> {
  if (t.duplicateChecked && (await referenceExists(ctx.db, ctx.entity.id, t.customerCode, 'SR', t.externalReference))) {
    throw duplicateError('SR', t.customerCode, t.externalReference, field);
  }
}

/** AccountsIQ SaveSalesReceiptGetBackTransactionID. */
export async function postReceipt(
  ctx: PostingContext,
  input: ReceiptInput,
  duplicateCheck: boolean,
): Promise<PostedReceipt> {
  const customer = await lockCustomer(ctx.db, ctx.entity.id, input.customerCode, 'customerCode');
  const refs = await loadReferences(ctx.db, ctx.entity.id, receiptReferences(input));
  const t = buildReceipt(ctx, customer, input, refs, duplicateCheck);
  await requirePeriodOpen(ctx.db, ctx.entity.id, input.paymentDate, 'paymentDate', 'post a receipt');
  await checkReceiptReference(ctx, t, 'checkReference');
  const posted = await insertTransaction(ctx.db, t);
  return { ...posted, amount: t.gross, currency: t.currency };
}
