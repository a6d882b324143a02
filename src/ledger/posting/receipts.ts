import { DomainError } from '../../domain/errors.ts';
import type { JournalLine } from '../../domain/documents.ts';
import { Dec, toBaseAmount } from '../../domain/money.ts';
import { exchangeRateFor, join, positiveAmountOf, rateWanted } from './common.ts';
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
  /** The rate the bank line was valued at (`bankRateFor`). */
  bankRate: string;
  /** The GL account the money went into (the bank account's). */
  bankGl: string;
}

export const DEFAULT_BANK = 'BANK';

export function receiptReferences(r: ReceiptInput) {
  return { banks: [r.bankAccountCode ?? DEFAULT_BANK], departments: [r.departmentId ?? null] };
}

/**
 * The rate the bank line is valued at. A bank account in the customer's currency books the receipt
 * at the document's rate, so a different `bankExchangeRate` would be ignored and is refused. A bank
 * account in the base currency (for a foreign-currency customer) books what actually arrived:
 * the payment at `bankExchangeRate` (default: the document's rate).
 */
export function bankRateFor(
  currency: string,
  bankCurrency: string,
  rate: string,
  given: string | undefined,
  field: string,
): string {
  if (given === undefined) return rate;
  if (bankCurrency === currency && !new Dec(given).eq(rate)) {
    throw new DomainError(
      'BANK_EXCHANGE_RATE_NOT_APPLICABLE',
      `${field}: the bank account holds ${bankCurrency}, the receipt's currency, so it is booked at the exchange rate ${rate}; ` +
        `a bankExchangeRate of ${given} would be ignored`,
      [{ field, message: "would be ignored: the bank account holds the receipt's currency" }],
    );
  }
  return bankCurrency === currency ? rate : new Dec(given).toFixed();
}

/**
 * The receipt's journal: the control account credited at the document's rate (what the receipt
 * clears of the customer's open items), the bank debited at the bank rate, and any difference
 * between the two in base currency to exchange gains and losses.
 */
function receiptJournal(
  ctx: PostingContext,
  customer: PostingCustomer,
  bank: { glAccountCode: string; departmentId: string | null },
  description: string,
  amount: bigint,
  rate: string,
  bankRate: string,
): { lines: JournalLine[]; baseGross: bigint; fx: bigint } {
  const base = ctx.entity.baseCurrency;
  const controlBase = toBaseAmount(amount, customer.currency, base, rate);
  const bankBase = toBaseAmount(amount, customer.currency, base, bankRate);
  const line = (role: JournalLine['role'], glAccountCode: string, amt: bigint, baseAmount: bigint): JournalLine => ({
    role,
    glAccountCode,
    departmentId: role === 'bank' ? bank.departmentId : null,
    taxCode: null,
    description: role === 'fx' ? 'Exchange difference on receipt' : description,
    amount: amt,
    baseAmount,
  });
  const lines = [
    line('control', customer.controlGlAccountCode, -amount, -controlBase),
    line('bank', bank.glAccountCode, amount, bankBase),
  ];
  const fx = controlBase - bankBase;
  if (fx !== 0n) lines.push(line('fx', ctx.entity.roles.fxGainLoss, 0n, fx));
  return { lines, baseGross: controlBase, fx };
}

/**
 * Builds a sales receipt: money into the bank's GL account, the debtors control credited. A bank
 * account must hold the customer's currency or the base currency; see `bankRateFor` for the rate
 * the bank line takes.
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
  const rate = exchangeRateFor(ctx, currency, input.exchangeRate, join(prefix, 'exchangeRate'), {
    rates: refs.rates,
    date: input.paymentDate,
  });
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
  const bankRate = bankRateFor(currency, bank.currency, rate, input.bankExchangeRate, join(prefix, 'bankExchangeRate'));
  const description = input.description ?? '';
  const journal = receiptJournal(
    ctx,
    customer,
    { glAccountCode: bank.glAccountCode, departmentId },
    description,
    amount,
    rate,
    bankRate,
  );
  if (journal.fx !== 0n) {
    const what = "The exchange difference between the receipt's exchangeRate and bankExchangeRate";
    refs.requireRole(ctx.entity.roles, 'fxGainLoss', join(prefix, 'bankExchangeRate'), what);
  }
  return {
    entityId: ctx.entity.id,
    type: 'SR',
    customerCode: customer.code,
    currency,
    exchangeRate: rate,
    // A rate from the entity's dated rates was set deliberately; only a rate sent is checked. A
    // bankExchangeRate the bank line takes (a base-currency bank) is a rate sent too: it is checked
    // against the same band and confirmed by the same confirmExchangeRate.
    rateCheck: {
      field: join(prefix, 'exchangeRate'),
      confirmed: input.exchangeRate === undefined || input.confirmExchangeRate === true,
      ...(input.bankExchangeRate !== undefined && bank.currency !== currency
        ? {
            others: [
              {
                field: join(prefix, 'bankExchangeRate'),
                rate: bankRate,
                confirmed: input.confirmExchangeRate === true,
              },
            ],
          }
        : {}),
    },
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
      ...(journal.fx !== 0n ? { bankExchangeDifference: journal.fx.toString() } : {}),
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
  const refs = await loadReferences(ctx.db, ctx.entity.id, {
    ...receiptReferences(input),
    rates: rateWanted(ctx, customer.currency, input.exchangeRate, input.paymentDate),
  });
  const t = buildReceipt(ctx, customer, input, refs, duplicateCheck);
  await requirePeriodOpen(ctx.db, ctx.entity.id, input.paymentDate, 'paymentDate', 'post a receipt');
  await checkReceiptReference(ctx, t, 'checkReference');
  const posted = await insertTransaction(ctx.db, t);
  const bankGl = t.lines.find((l) => l.role === 'bank')!.glAccountCode;
  return { ...posted, amount: t.gross, currency: t.currency, bankRate: String(t.details.bankExchangeRate), bankGl };
}
