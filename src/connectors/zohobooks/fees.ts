import type { LosslessNumber } from 'lossless-json';
import { formatAmount, parseAmount } from '../../domain/money.ts';
import { remoteFeeRemedy } from '../../sync/fee-match.ts';
import type { CanonicalPayment } from '../../sync/canonical.ts';
import type { FeeDifference, ItemError, TargetFee } from '../../sync/target.ts';
import { type ZohoObject, text } from './api.ts';
import { minor, num } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) in Zoho Books: the customer payment's own
 * `bank_charges` (zoho.com/books/api/v3/customer-payments), as a Zoho user records a bank's or a
 * gateway's charge on "Record Payment". The payment keeps its gross `amount`, applied to the
 * invoice; Zoho deposits the amount less the charges and books the charges to its own Bank Fees
 * and Charges expense account, which the payment names no field for: there is no fee account to
 * set or discover here, and none is pretended.
 *
 * Being a field of the payment, the fee is exactly once with the payment: the same request writes
 * both, the lookup after a lost answer finds both, and two customers' payments under one reference
 * each carry their own. An update of the payment (applying it to an invoice later, unapplying it
 * for a refund) sends the charges back as read, so that no update drops them.
 */

/** The bank charges a payment of `amount` is booked with: 0 without a fee; a fee that is not one is refused. */
export function bankCharges(r: Pick<CanonicalPayment, 'fee' | 'currency' | 'externalReference'>, amount: bigint) {
  if (r.fee === null || r.fee === undefined) return 0n;
  const fee = parseAmount(r.fee, r.currency);
  const refuse = (why: string): ItemError => ({
    code: 'AMOUNT_INVALID',
    message: `Payment ${r.externalReference}: the fee ${r.fee} ${why}`,
    retryable: false,
    field: 'fee',
  });
  if (!fee.ok) return refuse(`is not an amount in ${r.currency} (${fee.error.message})`);
  if (fee.value < 0n) return refuse('is below zero: a fee is what the payment provider kept');
  // The bank receives the amount less the charges: more than the payment would be money taken out.
  if (fee.value > amount) return refuse(`is more than the payment (${formatAmount(amount, r.currency)})`);
  return fee.value;
}

/** A payment's bank charges as read, as they are sent back with an update: none when it has none. */
export function chargesAsRead(pay: ZohoObject, currency: string): { bank_charges?: LosslessNumber } {
  const charges = minor(pay.bank_charges, currency) ?? 0n;
  return charges > 0n ? { bank_charges: num(formatAmount(charges, currency)) } : {};
}

/** The fee a payment, as read, holds (`TargetDocument.fee`): its bank charges, or null when it has none. */
export function feeOf(pay: ZohoObject, currency: string): TargetFee | null {
  const charges = minor(pay.bank_charges, currency) ?? 0n;
  if (charges === 0n) return null;
  const id = text(pay.payment_id);
  const number = text(pay.payment_number);
  return {
    targetId: id,
    label: `the bank charges of payment ${number || id}`,
    currency,
    amount: charges,
  };
}

const remedy = remoteFeeRemedy(
  SYSTEM,
  (reference) =>
    `edit payment ${reference} in ${SYSTEM} and enter the payment provider's fee under Bank Charges, or correct the fee in the source`,
);

/** What to do about a payment whose fee in Zoho Books is not what the source says. */
export function zohoFeeRemedy(
  difference: FeeDifference,
  payment: { reference: string; fee: TargetFee | null },
): string {
  // Bank charges are a field of the payment: one the source says is not there is cleared, not deleted.
  if (difference === 'extra' && payment.fee)
    return `if the source is right, clear ${payment.fee.label} in ${SYSTEM}; if ${SYSTEM} is, correct the fee in the source`;
  return remedy(difference, payment);
}
