import { controlJournal } from '../../domain/documents.ts';
import { DomainError } from '../../domain/errors.ts';
import { Dec, formatAmount, parseAmount } from '../../domain/money.ts';
import { requirePeriodOpen } from '../../ledger/periods.ts';
import { loadReferences } from '../../ledger/posting/references.ts';
import { requireOpenAccounts, roleUse } from '../../ledger/posting/role-accounts.ts';
import type { PostingContext } from '../../ledger/posting/types.ts';
import { insertTransaction } from '../../ledger/posting/write.ts';
import type { CanonicalPayment } from '../../sync/canonical.ts';
import { type FeeDifference, type ItemResult, type TargetFee, failed } from '../../sync/target.ts';
import type { EntityContext } from '../../ledger/entities.ts';
import { receiptFee } from '../../ledger/receipt-fees.ts';
import { keyedFee } from './keyed-fees.ts';

/*
 * A payment provider's fee in the embedded ledger: a general journal, bank charges debited and the
 * bank credited, kept against its receipt in `receipt_fees` (migration 0114). A receipt has at
 * most one fee there (its primary key), so a payment linked to a receipt already in the ledger
 * finds the receipt's fee. A payment posts its fee when its receipt has none, unless the bookkeeper
 * keyed it by hand as a journal under the payment's reference (keyed-fees.ts), and is refused when
 * the fee there differs. A fee journal reversed leaves its receipt without a fee
 * (ledger/posting/journal-reversal.ts). Two runs linking the same payment at once take the
 * customer's row lock first, so the second finds the first's fee; the key is the backstop.
 */

/** A payment's fee in minor units (0 when it has none); one that does not parse refuses the payment. */
export function paymentFee(pay: Pick<CanonicalPayment, 'fee' | 'currency'>): bigint {
  // The engine parks a fee that does not parse for the currency; refused here all the same.
  const fee = pay.fee ? parseAmount(pay.fee, pay.currency) : null;
  if (fee && !fee.ok)
    throw new DomainError(
      fee.error.code === 'OUT_OF_RANGE' ? 'AMOUNT_OUT_OF_RANGE' : 'AMOUNT_HAS_TOO_MANY_DECIMALS',
      fee.error.message,
      [{ field: 'fee', message: fee.error.message }],
    );
  return fee?.value ?? 0n;
}

/** What a fee journal is posted from: the receipt it belongs to and the bank the fee comes out of. */
export interface FeePosting {
  receiptId: number;
  bankCode: string;
  fee: bigint;
  currency: string;
  /** The rate the receipt's bank line was valued at, so a foreign-currency fee is not booked in base as the same number. */
  rate: string;
  date: string;
  reference: string;
}

/**
 * Posts a payment provider's fee: bank charges debited and the bank credited (a general journal),
 * in the payment's currency at the rate its receipt took out of the bank (`rate`), on the
 * receipt's date, and records it as that receipt's fee. A bank-charges account that is inactive
 * or a header account (data from before setup refused to close a role account) refuses the fee
 * (GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST on `fee`), and so does a locked period
 * (PERIOD_LOCKED on `fee`). It is posted in the payment's savepoint, so its receipt is refused with
 * it and the engine parks the payment whole.
 */
export async function postFee(ctx: PostingContext, p: FeePosting): Promise<number> {
  await requirePeriodOpen(ctx.db, ctx.entity.id, p.date, 'fee', "post the payment provider's fee");
  const refs = await loadReferences(ctx.db, ctx.entity.id, { banks: [p.bankCode] });
  const bank = refs.requireBank(p.bankCode, 'bankAccountCode');
  await requireOpenAccounts(ctx.db, ctx.entity.id, [
    roleUse(ctx.entity.roles, 'bankCharges', 'fee', "The payment provider's fee"),
  ]);
  const journal = controlJournal(
    ctx.entity.roles.bankCharges,
    `Fee on ${p.reference}`,
    [
      {
        role: 'bank',
        glAccountCode: bank.glAccountCode,
        departmentId: null,
        description: `Fee on ${p.reference}`,
        amount: p.fee,
      },
    ],
    { currency: p.currency, baseCurrency: ctx.entity.baseCurrency, rate: p.rate },
    1n,
  );
  const posted = await insertTransaction(ctx.db, {
    entityId: ctx.entity.id,
    type: 'GJ',
    customerCode: null,
    currency: p.currency,
    exchangeRate: p.rate,
    transactionDate: p.date,
    dueDate: null,
    externalReference: p.reference.slice(0, 50),
    description: `Payment provider fee on ${p.reference}`,
    net: p.fee,
    tax: 0n,
    gross: p.fee,
    baseGross: journal.baseGross,
    duplicateChecked: false,
    relatedTransactionId: null,
    details: { fee: true },
    createdBy: ctx.actor,
    items: [],
    lines: journal.lines.map((l) => (l.role === 'control' ? { ...l, role: 'gl' as const } : l)),
  });
  await ctx.db.query(`INSERT INTO receipt_fees (receipt_id, fee_transaction_id, entity_id) VALUES ($1, $2, $3)`, [
    p.receiptId,
    posted.id,
    ctx.entity.id,
  ]);
  return posted.id;
}

/** A receipt a payment's fee belongs to: one already in the ledger, or one posted in this payment's savepoint (`isNew`). */
export interface FeeReceipt {
  id: number;
  label: string;
  customerCode: string;
  currency: string;
  date: string;
  /** Posted with this payment: refused, it goes with the fee, so a refusal names the payment rather than it. */
  isNew?: boolean;
}

/**
 * Where a receipt's money went: its bank account, the GL account behind it (null for a receipt with
 * no bank line, which no journal keyed by hand can be checked against), and the rate its bank line took.
 */
export interface ReceiptBank {
  code: string;
  gl: string | null;
  rate: string;
}

/** What became of a payment's fee: a journal keyed by hand was it (naming it), or it was posted. */
export type NewFee = { fee: 'recognised'; journal: string } | { fee: 'posted' };

/** What became of a linked payment's fee: its receipt had it, or as for any payment (`NewFee`). */
export type LinkedFee = { fee: 'booked' } | NewFee;

/**
 * The fee of a payment whose receipt has none recorded, whether the receipt was posted with it or
 * was in the ledger before: a fee journal keyed by hand under the payment's reference is looked
 * for first (keyed-fees.ts), and one that is this fee is recorded as the receipt's (`recognised`);
 * one that may not be refuses the payment, nothing posted. Otherwise the fee is posted out of the
 * receipt's bank at the rate its bank line took, on the receipt's date (`posted`).
 */
export async function paymentFeeOf(
  ctx: PostingContext,
  receipt: FeeReceipt,
  fee: bigint,
  bank: ReceiptBank,
  reference: string,
): Promise<NewFee | ItemResult> {
  const keyed = bank.gl === null ? null : await keyedFee(ctx, receipt, fee, bank.gl, reference);
  if (keyed) return 'recognised' in keyed ? { fee: 'recognised', journal: keyed.recognised } : keyed;
  await postFee(ctx, {
    receiptId: receipt.id,
    bankCode: bank.code,
    fee,
    currency: receipt.currency,
    rate: bank.rate,
    date: receipt.date,
    reference,
  });
  return { fee: 'posted' };
}

/**
 * The fee of a payment linked to a receipt already in the ledger (keyed by hand, or booked by
 * another pipeline), which the link alone left out of the books: the bank stayed too high by it.
 * Left as it is when the receipt has this fee already (`booked`), and refused when it has another
 * one (PAYMENT_FEE_DIFFERS on `fee`), nothing posted. When it has none, it is as for any payment
 * (`paymentFeeOf`), out of the receipt's bank (the bank it says, else the pipeline's). The caller
 * holds the customer's row lock, which orders two runs linking the same payment.
 */
export async function linkedFee(
  ctx: PostingContext,
  receipt: FeeReceipt,
  fee: bigint,
  bankCode: string,
  reference: string,
): Promise<LinkedFee | ItemResult> {
  const booked = await receiptFee(ctx.db, ctx.entity.id, receipt.id);
  if (booked) {
    if (booked.currency === receipt.currency && booked.gross === fee) return { fee: 'booked' };
    const said = (currency: string, amount: bigint) => `${currency} ${formatAmount(amount, currency)}`;
    return failed({
      code: 'PAYMENT_FEE_DIFFERS',
      message:
        `${receipt.label} of customer ${receipt.customerCode} already has a payment provider's fee of ` +
        `${said(booked.currency, booked.gross)} (${booked.label}); this payment's fee is ${said(receipt.currency, fee)}. ` +
        `Nothing was posted. If the ledger's fee is right, correct the fee in the source; if the source's is, ` +
        `reverse ${booked.label} (POST /v1/journals/${booked.transactionId}/reverse), which leaves the receipt without a fee; ` +
        `then retry this exception`,
      retryable: false,
      field: 'fee',
    });
  }
  // The bank and rate of the receipt's bank line, as buildReceipt records them (its document rate
  // when it names none: a receipt into a bank of its own currency), and the GL account it went into.
  const { rows } = await ctx.db.query<{ bank: string | null; rate: string; gl: string | null }>(
    `SELECT details->>'bankAccountCode' AS bank, coalesce(details->>'bankExchangeRate', exchange_rate::text) AS rate,
            (SELECT l.gl_account_code FROM journal_lines l WHERE l.transaction_id = t.id AND l.role = 'bank'
              ORDER BY l.line_no LIMIT 1) AS gl
       FROM transactions t WHERE id = $1`,
    [receipt.id],
  );
  const bank = rows[0]!;
  return paymentFeeOf(
    ctx,
    receipt,
    fee,
    { code: bank.bank ?? bankCode, gl: bank.gl, rate: new Dec(bank.rate).toFixed() },
    reference,
  );
}

/**
 * What a bookkeeper does about a receipt whose fee is not what the source says (reconciliation's
 * `fee-difference`): a fee is a journal recorded against its receipt, so a missing one is keyed and
 * recorded, and a wrong one reversed (which takes it off the receipt) before the right one is.
 */
export function feeRemedy(
  entity: Pick<EntityContext, 'baseCurrency'>,
  difference: FeeDifference,
  payment: { targetId: string; currency: string; fee: TargetFee | null },
): string {
  const record = `record it as the receipt's fee (PUT /v1/transactions/${payment.targetId}/fee)`;
  // A receipt's fee is in the receipt's currency: a journal keyed in another is not taken as it.
  const currency =
    payment.currency === entity.baseCurrency ? '' : ` in ${payment.currency} ("currency": "${payment.currency}")`;
  const keyed = `key the fee as a general journal${currency}, bank charges debited and the receipt's bank credited (POST /v1/journals), and ${record}`;
  const reverse = payment.fee
    ? `reverse ${payment.fee.label} (POST /v1/journals/${payment.fee.targetId}/reverse), which takes it off the receipt`
    : '';
  if (difference === 'missing') return keyed;
  if (difference === 'amount')
    return `if the source is right, ${reverse}, then ${keyed}; if the ledger is, correct the fee in the source`;
  return `if the source is right, ${reverse}; if the ledger is, correct the fee in the source`;
}
