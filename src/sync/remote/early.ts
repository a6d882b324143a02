import { type EarlyPayment, type ItemResult, failed, ok } from '../target.ts';

/*
 * What a target's `applyEarlyPayments` answers for one payment booked before its invoice, in the
 * same words for every platform (the run's record and the audit trail show them): `where` names
 * the invoice in the platform ("NetSuite INV-12"), `verb` is the platform's own (AccountsIQ and
 * Xero allocate, the others apply).
 */

type Verb = 'apply' | 'allocate';

/** Nothing was left to apply: the payment has no money left, or the invoice owes nothing (read just before). */
export function nothingToApply(
  e: EarlyPayment,
  where: string,
  paymentSpent: boolean,
  verb: Verb = 'apply',
): ItemResult {
  return ok(e.paymentTargetId, {
    outcome: 'unchanged',
    message: `nothing to ${verb} to invoice ${e.invoiceReference} (${where}): ${
      paymentSpent ? 'the payment has nothing left' : 'the invoice is paid'
    }`,
  });
}

/** `amount` (decimal text in the payment's currency) applied; `rest` says where what is left stays, if any. */
export function appliedEarly(
  e: EarlyPayment,
  where: string,
  amount: string,
  rest: string | null,
  verb: Verb = 'apply',
): ItemResult {
  return ok(e.paymentTargetId, {
    outcome: 'updated',
    message: `${verb === 'apply' ? 'applied' : 'allocated'} ${e.currency} ${amount} to invoice ${e.invoiceReference} (${where}), booked after it${
      rest ? `; ${rest}` : ''
    }`,
  });
}

/** The payment is no longer in the platform (deleted or voided there): nothing to apply, for a person. */
export function paymentGone(e: EarlyPayment, system: string): ItemResult {
  return failed({
    code: 'TARGET_REFUSED',
    message: `payment ${e.paymentReference} (${system} id ${e.paymentTargetId}) is no longer in ${system}`,
    retryable: false,
  });
}

/** The platform holds no invoice of the payment's customer under the reference it names. */
export function invoiceMissing(e: EarlyPayment, system: string, customer: string): ItemResult {
  return failed({
    code: 'TARGET_REFUSED',
    message: `${system} holds no invoice ${e.invoiceReference} of customer ${customer}`,
    retryable: false,
  });
}
