import { parseAmount } from '../domain/money.ts';
import type { FeeDifference, ItemError, TargetDocument, TargetFee, TargetPayment } from './target.ts';

/*
 * Which fee document in a remote target is a payment's provider fee. A target books a fee as a
 * document of its own under the payment's reference (Xero spend money, a QuickBooks Purchase),
 * marked with the payment's customer: a reference is unique per customer only, so the reference
 * alone could name another customer's fee. Booking (before writing a fee, to write none twice) and
 * reconciliation (reading fees back) ask the same question the same way.
 */

/** What the fee documents under a payment's reference are to that payment. */
export type FeeMatch<T> =
  /** Its own: those marked with its customer. */
  | { kind: 'marked'; docs: T[] }
  /** The one unmarked fee under its reference, no other payment of the lookup sharing the reference. */
  | { kind: 'unmarked'; doc: T }
  | { kind: 'none' }
  /** Unmarked fees that could be its own or another payment's: never guessed. */
  | { kind: 'ambiguous'; docs: T[]; shared: boolean };

/**
 * Whose fee each document under these payments' references is (`payments[i]` → answer i): one
 * marked with the payment's customer is its own, one marked with another's never is. An unmarked
 * fee (booked before fees were marked, or its mark edited away) counts as the payment's only when
 * it is the only unmarked one under the reference and no other payment of the lookup has that
 * reference. `markOf` reads a document's mark (null: unmarked).
 */
export function matchFees<T>(
  payments: readonly { reference: string; customer: string }[],
  byReference: ReadonlyMap<string, T[]>,
  markOf: (doc: T) => string | null,
): FeeMatch<T>[] {
  return payments.map((p, i): FeeMatch<T> => {
    const under = byReference.get(p.reference) ?? [];
    const own = under.filter((d) => markOf(d) === p.customer);
    if (own.length > 0) return { kind: 'marked', docs: own };
    const unmarked = under.filter((d) => markOf(d) === null);
    if (unmarked.length === 0) return { kind: 'none' };
    const shared = payments.some((q, j) => j !== i && q.reference === p.reference);
    if (unmarked.length === 1 && !shared) return { kind: 'unmarked', doc: unmarked[0]! };
    return { kind: 'ambiguous', docs: unmarked, shared };
  });
}

/**
 * What the fees held under payment `d`'s reference are to it, when it is booked with the payments
 * of `batch`: asked with the others of the batch that carry a fee under the same reference, since
 * whose an unmarked fee is cannot be told between them.
 */
export function matchBatchFee<T>(
  d: TargetPayment,
  batch: readonly TargetPayment[],
  byReference: ReadonlyMap<string, T[]>,
  markOf: (doc: T) => string | null,
): FeeMatch<T> {
  const reference = d.record.externalReference;
  const sharing = batch.filter(
    (o) => o !== d && o.record.externalReference === reference && typeof paymentFee(o.record) === 'bigint',
  );
  return matchFees(
    [d, ...sharing].map((x) => ({ reference: x.record.externalReference, customer: x.customerTargetId })),
    byReference,
    markOf,
  )[0]!;
}

/** Why an ambiguous match cannot be told, in a few words; `several` says it of several unmarked fees. */
export const ambiguity = (
  match: { docs: unknown[]; shared: boolean },
  several = `there are ${match.docs.length} of them`,
) => (match.shared ? 'another payment sent with it has the same reference' : several);

/**
 * A payment parked because which unmarked fee is its own cannot be told: nothing is booked, so
 * that no fee is booked twice or lost. `message` names the documents and how to mark them.
 */
export const feeAmbiguous = (message: string): ItemError => ({
  code: 'PAYMENT_FEE_AMBIGUOUS',
  message: message.slice(0, 1000),
  retryable: false,
  field: 'fee',
});

/** The documents of a match that are the payment's fee: none when it has none, null when it cannot be told. */
export function feeDocs<T>(match: FeeMatch<T>): T[] | null {
  if (match.kind === 'ambiguous') return null;
  return match.kind === 'marked' ? match.docs : match.kind === 'unmarked' ? [match.doc] : [];
}

/** How a target's fee documents are read: their currency, amount (null: not an amount), id and label. */
export interface FeeDocReader<T> {
  currencyOf(doc: T): string;
  amountOf(doc: T, currency: string): bigint | null;
  idOf(doc: T): string;
  /** How messages name the fee, from its documents' ids ("spend money a and b"). */
  label(ids: string[]): string;
  /** The error for a document whose amount is not one. */
  notAnAmount(doc: T): Error;
}

/**
 * The fee a payment's documents come to: those in the payment's currency summed (the booking
 * records a fee in its payment's currency); when none is, those in the first one's currency, so a
 * fee in another currency is compared as it is. Several all left the bank: named together.
 */
export function heldFee<T>(docs: readonly T[], paymentCurrency: string, read: FeeDocReader<T>): TargetFee {
  const inPayments = docs.filter((d) => read.currencyOf(d) === paymentCurrency);
  const counted =
    inPayments.length > 0 ? inPayments : docs.filter((d) => read.currencyOf(d) === read.currencyOf(docs[0]!));
  const currency = read.currencyOf(counted[0]!);
  let amount = 0n;
  for (const d of counted) {
    const v = read.amountOf(d, currency);
    if (v === null) throw read.notAnAmount(d);
    amount += v;
  }
  const ids = counted.map((d) => read.idOf(d));
  return { targetId: ids[0]!, label: read.label(ids), currency, amount };
}

/**
 * Sets the fee a remote target holds for each of these payments (`TargetDocument.fee`, for
 * reconciliation), identified as the fee booking identifies it (`matchFees`) and summed
 * (`heldFee`); null when it holds none. A payment without a reference, or whose unmarked fee
 * cannot be told from another payment's, is left unknown: not compared, and the report says so.
 */
export async function readPaymentFees<T>(
  payments: readonly TargetDocument[],
  o: {
    /** The target's fee documents under these references. */
    byReference: (references: string[]) => Promise<ReadonlyMap<string, T[]>>;
    markOf: (doc: T) => string | null;
    reader: (payment: TargetDocument) => FeeDocReader<T>;
  },
): Promise<void> {
  const known = payments.filter((p) => p.externalReference !== '');
  if (known.length === 0) return;
  const matches = matchFees(
    known.map((p) => ({ reference: p.externalReference, customer: p.customerTargetId })),
    await o.byReference(known.map((p) => p.externalReference)),
    o.markOf,
  );
  known.forEach((p, i) => {
    const docs = feeDocs(matches[i]!);
    if (docs === null) return;
    // The booking records a fee in its payment's currency; one in another is compared as it is.
    p.fee = docs.length === 0 ? null : heldFee(docs, p.currency, o.reader(p));
  });
}

/**
 * What to do about a payment whose fee in a remote target is not what the source says
 * (`TargetConnector.feeRemedy`): `missing` says how the platform books one by hand; a wrong or
 * unexpected fee is corrected on whichever side is wrong.
 */
export function remoteFeeRemedy(
  platform: string,
  missing: (reference: string) => string,
): (difference: FeeDifference, payment: { reference: string; fee: TargetFee | null }) => string {
  return (difference, payment) => {
    if (difference === 'missing' || !payment.fee) return missing(payment.reference);
    const fix = difference === 'amount' ? 'correct' : 'delete';
    return `if the source is right, ${fix} ${payment.fee.label} in ${platform}; if ${platform} is, correct the fee in the source`;
  };
}

/**
 * A payment's provider fee in minor units of its currency, as a target books it: null when it has
 * none (absent, or zero), AMOUNT_INVALID on `fee` when it is not an amount of the currency or is
 * below zero (a fee is what the provider kept; the engine parks those first, a target called
 * directly refuses them by itself).
 */
export function paymentFee(p: { fee?: string | null | undefined; currency: string }): bigint | null | ItemError {
  if (p.fee === null || p.fee === undefined) return null;
  const fee = parseAmount(p.fee, p.currency);
  if (!fee.ok) return { code: 'AMOUNT_INVALID', message: `fee: ${fee.error.message}`, retryable: false, field: 'fee' };
  if (fee.value < 0n)
    return { code: 'AMOUNT_INVALID', message: 'fee: a fee is never negative', retryable: false, field: 'fee' };
  return fee.value === 0n ? null : fee.value;
}
