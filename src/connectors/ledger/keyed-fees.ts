import type { Queryable } from '../../db/database.ts';
import { type TransactionType, documentLabel } from '../../domain/documents.ts';
import { formatAmount } from '../../domain/money.ts';
import { withReference } from '../../ledger/reference-lookup.ts';
import type { PostingContext } from '../../ledger/posting/types.ts';
import { type ItemResult, failed } from '../../sync/target.ts';
import type { FeeReceipt } from './fees.ts';

/*
 * A payment provider's fee keyed by hand. A bookkeeper who keys a receipt by hand often keys its
 * fee too, as a general journal under the payment's reference (POST /v1/journals: bank charges
 * debited, the bank credited), and some key the fee alone, before the payment comes. A pipeline
 * linking the payment to that receipt, or posting its receipt, finds nothing in `receipt_fees`,
 * and posting its fee would take it out of the bank a second time. So before it posts a fee, it
 * looks for such a journal, and takes one only when nothing else could be meant:
 *
 * - a general journal of the entity under the payment's reference (trimmed, any case: as receipts
 *   are matched), whatever its date (a fee is often keyed on the provider's payout date);
 * - that takes money out of the GL account the receipt's money went into (its lines there sum to a
 *   credit); where the other side went is the bookkeeper's choice (bank charges, or an account of
 *   their own for provider fees), and the bank is what a second fee would put wrong;
 * - that is no receipt's fee already (`receipt_fees`), neither a reversal nor reversed (a journal
 *   posted with its reversal takes nothing out of the bank in the end).
 *
 * One such journal of the payment's currency taking exactly its fee is its fee: recorded as the
 * receipt's fee, nothing posted. Otherwise nothing is chosen and nothing is posted: one journal
 * with another amount or currency is PAYMENT_FEE_DIFFERS; several journals, or another receipt under the same reference into the same
 * account with no fee of its own (a journal has no customer: it could be that receipt's fee), are
 * PAYMENT_FEE_AMBIGUOUS. With no such journal the fee is posted as before. The refusals say how to
 * settle them: a journal that is another receipt's fee is recorded as that receipt's (PUT
 * /v1/transactions/{id}/fee, receipt-fee.ts), and one keyed in error is reversed (POST
 * /v1/journals/{id}/reverse); either takes it out of the candidates, so a retry decides again.
 */

/** A general journal that could be a payment's fee keyed by hand. */
interface KeyedJournal {
  id: number;
  label: string;
  currency: string;
  /** What it takes out of the bank's GL account, net, in its currency. */
  taken: bigint;
}

type LabelRow = { id: string; number: string; type: TransactionType; external_reference: string };
const labelOf = (r: LabelRow) =>
  documentLabel({ type: r.type, number: r.number, externalReference: r.external_reference });
const said = (currency: string, amount: bigint) => `${currency} ${formatAmount(amount, currency)}`;

/** The general journals under `reference` that take money out of `bankGl` and could be a fee keyed by hand. */
async function keyedJournals(db: Queryable, entityId: string, reference: string, bankGl: string) {
  const { rows } = await db.query<LabelRow & { currency: string; taken: string }>(
    `SELECT t.id, t.number, t.type, t.external_reference, trim(t.currency) AS currency, (-sum(l.amount))::text AS taken
       FROM ${withReference('$1', '$2', 'id, number, type, currency, external_reference, related_transaction_id')} t
       JOIN journal_lines l ON l.transaction_id = t.id AND l.gl_account_code = $3
      WHERE t.type = 'GJ' AND t.related_transaction_id IS NULL
        AND NOT EXISTS (SELECT 1 FROM receipt_fees f WHERE f.fee_transaction_id = t.id)
        AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.related_transaction_id = t.id AND r.type = 'GJ')
      GROUP BY t.id, t.number, t.type, t.external_reference, t.currency
     HAVING sum(l.amount) < 0
      ORDER BY t.id`,
    [entityId, reference, bankGl],
  );
  return rows.map((r): KeyedJournal => ({
    id: Number(r.id),
    label: labelOf(r),
    currency: r.currency,
    taken: BigInt(r.taken),
  }));
}

/** Other receipts under `reference` into `bankGl` with no fee recorded: a journal under that reference could be theirs. */
async function feelessReceipts(db: Queryable, entityId: string, reference: string, bankGl: string, receiptId: number) {
  const { rows } = await db.query<LabelRow & { customer_code: string }>(
    `SELECT r.id, r.number, r.type, r.external_reference, r.customer_code
       FROM ${withReference('$1', '$2', 'id, number, type, external_reference, customer_code')} r
      WHERE r.type = 'SR' AND r.id <> $4
        AND EXISTS (SELECT 1 FROM journal_lines l WHERE l.transaction_id = r.id AND l.role = 'bank' AND l.gl_account_code = $3)
        AND NOT EXISTS (SELECT 1 FROM receipt_fees f WHERE f.receipt_id = r.id)
      ORDER BY r.id`,
    [entityId, reference, bankGl, receiptId],
  );
  return rows.map((r) => `${labelOf(r)} of customer ${r.customer_code}`);
}

/**
 * The fee of a payment linked to `receipt`, which has none recorded, as a general journal keyed by
 * hand (see above): null when there is none (the fee is to be posted); the journal's label when it
 * was recognised and recorded as the receipt's fee; or the refusal when a journal is there but is
 * not this fee, or which one is cannot be told. Runs under the customer's row lock; two receipts
 * of different customers taking one journal at once are kept apart by `receipt_fees`' key on the
 * journal, the second refused (PAYMENT_FEE_AMBIGUOUS, retryable).
 */
export async function keyedFee(
  ctx: PostingContext,
  receipt: FeeReceipt,
  fee: bigint,
  bankGl: string,
  reference: string,
): Promise<{ recognised: string } | ItemResult | null> {
  const journals = await keyedJournals(ctx.db, ctx.entity.id, reference, bankGl);
  if (journals.length === 0) return null;
  const others = await feelessReceipts(ctx.db, ctx.entity.id, reference, bankGl, receipt.id);
  // A receipt posted with this payment goes if it is refused: the refusal names the payment.
  const what = receipt.isNew
    ? `Payment ${reference} of customer ${receipt.customerCode} has a payment provider's fee`
    : `${receipt.label} of customer ${receipt.customerCode} has no payment provider's fee recorded`;
  const went = receipt.isNew ? 'where the payment goes' : 'where the receipt went';
  const theFee = `this payment's fee is ${said(receipt.currency, fee)}`;
  const reverse = (j: KeyedJournal) => `POST /v1/journals/${j.id}/reverse`;
  const recordAs = receipt.isNew
    ? `as that receipt's (PUT /v1/transactions/{receipt}/fee)`
    : `as that receipt's (PUT /v1/transactions/{receipt}/fee; this receipt is ${receipt.id})`;
  if (journals.length > 1 || others.length > 0) {
    const listed = journals.map((j) => `${j.label} (${said(j.currency, j.taken)})`).join(', ');
    const takes = journals.length > 1 ? 'take' : 'takes';
    return failed({
      code: 'PAYMENT_FEE_AMBIGUOUS',
      message:
        `${what}, and which journal keyed by hand is its fee cannot be told: ${listed} under its reference ${takes} ` +
        `money out of GL account ${bankGl}, ${went}` +
        (others.length > 0
          ? `, and ${others.join(', ')} went there under the same reference with no fee recorded`
          : '') +
        `; ${theFee}. Nothing was posted. Record a journal that is a receipt's fee ${recordAs}, and reverse one keyed ` +
        `in error (${journals.map(reverse).join(', ')}); then retry this exception. With one journal left it is ` +
        `taken as this fee if it is, and with none the fee is posted`,
      retryable: false,
      field: 'fee',
    });
  }
  const journal = journals[0]!;
  if (journal.currency !== receipt.currency || journal.taken !== fee)
    return failed({
      code: 'PAYMENT_FEE_DIFFERS',
      message:
        `${what}, and ${journal.label}, keyed under its reference, takes ${said(journal.currency, journal.taken)} ` +
        `out of GL account ${bankGl}, ${went}; ${theFee}. Nothing was posted. If the journal is this fee and ` +
        `right, correct the fee in the source; if it is another receipt's fee, record it ${recordAs}; if it is ` +
        `wrong, reverse it (${reverse(journal)}) and the source's fee is posted; then retry this exception`,
      retryable: false,
      field: 'fee',
    });
  // Every unique key of receipt_fees: this receipt (held by the customer's lock) and this journal.
  const { rows } = await ctx.db.query(
    `INSERT INTO receipt_fees (receipt_id, fee_transaction_id, entity_id) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING RETURNING receipt_id`,
    [receipt.id, journal.id, ctx.entity.id],
  );
  if (rows.length === 0)
    return failed({
      code: 'PAYMENT_FEE_AMBIGUOUS',
      message:
        `${journal.label}, keyed under reference ${reference} of customer ${receipt.customerCode}'s payment, was ` +
        `recorded as the fee of another receipt at the same moment. Nothing was posted. Retry this exception: the ` +
        `payment is looked at again`,
      retryable: true,
      field: 'fee',
    });
  return { recognised: journal.label };
}
