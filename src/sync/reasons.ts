import { ERROR_CODES, type ErrorCode } from '../domain/errors.ts';

/*
 * The closed list of reasons a record can be parked with (an exception's `reasonCode`).
 *
 * An exception carries either one of the REASON_CODES below (the sync engine, a source or a
 * target could not take the record) or one of the ledger's ERROR_CODES (src/domain/errors.ts):
 * when the embedded ledger refuses a posting, its DomainError code is parked as it is, and any
 * of them can be. So the whole list is REASON_CODES ∪ ERROR_CODES, and the two tables do not
 * overlap (src/sync/reasons.test.ts checks both, and that no code in src/ parks anything else).
 *
 * docs/errors.md ("Exception reason codes") is generated from this table by `npm run docs`.
 * Adding a reason: add it here with what it means and what to do, then regenerate the docs.
 */
export const REASON_CODES = {
  // A source's record is not usable as it stands
  IMPORT_ROW_INVALID:
    'A row of an imported CSV or XLSX file is wrong (a missing column, a bad date or amount); the message names the line, column and problem, and every line of the same document is refused with it. Correct the file and import it again: rows already posted are not posted twice.',
  SOURCE_ITEM_INVALID:
    'The source sent a record that does not match what its connector expects (for iXpole, an instalment missing a field or with a bad value); the message names the field. Correct it in the source system: the next run that reads it posts it and resolves the exception.',
  SOURCE_CUSTOMER_NOT_FOUND:
    'A document names a customer the source could not return when asked (deleted, or not visible to these credentials). Restore or share the customer in the source, then retry the exception; it also runs again by itself once a run books that customer.',
  SOURCE_PRODUCT_NOT_FOUND:
    'A document line names a product the source could not return when asked. Restore the product in the source, then retry the exception; it also runs again by itself once a run books that product.',
  SOURCE_DOCUMENT_UNSUPPORTED:
    'The source holds a document ledgerlink cannot send yet (from the embedded ledger: a sales credit journal, a settlement discount, a reversed allocation); the message names it. Nothing was sent. Book its counterpart in the target by hand, then resolve the exception.',
  WEBHOOK_EVENT_INVALID:
    'A stored canonical webhook event no longer matches the event schema (it was received under an older version). Send the event again in the current format; this exception can then be resolved.',
  STRIPE_CUSTOMER_NOT_FOUND:
    'Stripe has no customer with the id the payment or refund names (deleted?). Attach an existing customer to the payment in Stripe and resend the event from Stripe, or book the payment by hand; then resolve the exception.',
  STRIPE_PAYMENT_WITHOUT_CUSTOMER:
    'A Stripe payment has no customer and names no invoice of a known customer. Set a customer on the payment intent, or `metadata.invoice_reference` to the invoice it pays, and resend the event from Stripe (or book the payment by hand); then resolve the exception.',
  STRIPE_API_ERROR:
    'Stripe refused a request needed to read the event (not a temporary failure: those are retried). The message has Stripe’s answer; fix what it names (often a restricted key without read access), resend the event from Stripe or book the payment by hand, then resolve the exception.',
  INVOICE_ALREADY_POSTED_CHANGED:
    'The source sent again an invoice that is already booked (or already in a daily summary) with another total, currency or date; the message says what changed. Posted documents never change, and nothing was sent. Book the difference (a credit note or a further invoice), then resolve the exception; reconciliation shows the difference until then. The same change sent again is not parked again.',
  CREDIT_NOTE_ALREADY_POSTED_CHANGED:
    'The source sent again a credit note that is already booked with another total, currency or date; the message says what changed. Posted documents never change, and nothing was sent. Book the difference (a further credit note, or an invoice), then resolve the exception; the customer’s balance in reconciliation shows the difference until then.',
  PAYMENT_ALREADY_POSTED_CHANGED:
    'The source sent again a payment that is already booked (or already in a posted daily summary) with another amount, currency or date, or with another provider fee (payments booked from 2026-12-06 on); the message says what changed. Posted documents never change, and nothing was sent. Book the difference (a further payment, or a refund; a fee, by correcting the fee the target holds for the payment: in the embedded ledger, reverse its fee journal and record the right one, PUT /v1/transactions/{id}/fee), then resolve the exception; reconciliation shows a difference of amount, date or fee (`fee-difference`) until then.',
  PAYMENT_FEE_DIFFERS:
    'The embedded ledger has the payment’s fee already, and not as the source sends it: the payment’s receipt (keyed by hand or booked by another pipeline) has another fee recorded, or, when it has none (or the payment is new), the one general journal keyed by hand under the payment’s reference that takes money out of the GL account the receipt goes into takes another amount, or is in another currency. The message names the journal and shows both amounts (field `fee`). Nothing was posted, not even the receipt of a new payment: a fee is never posted twice. If the ledger’s fee is right, correct the fee in the source: the next run that brings the payment resolves the exception. If the journal is another receipt’s fee, record it as that receipt’s (PUT /v1/transactions/{id}/fee). If it is wrong, reverse it (POST /v1/journals/{id}/reverse): the receipt is left without a fee, and the retried payment’s fee is posted. Then retry the exception.',
  PAYMENT_FEE_AMBIGUOUS:
    'The payment’s receipt has no provider fee recorded (or the payment is new), and which general journal keyed by hand is its fee cannot be told: several journals under the payment’s reference take money out of the GL account the receipt goes into, or another customer’s receipt with the same reference went into that account with no fee recorded, so the journal could be its fee; the message names them (field `fee`). Nothing was posted: a fee is never chosen by guess, nor posted twice. Record each journal that is a receipt’s fee as that receipt’s (PUT /v1/transactions/{id}/fee), reverse one keyed in error (POST /v1/journals/{id}/reverse), then retry the exception: one journal left is taken as the fee when it is, and with none the fee is posted. Parked as retryable when another receipt took the journal as its fee at the same moment: retry the exception. In Xero and QuickBooks: a fee booked before ledgerlink marked each fee with its payment’s customer (Xero spend money, a QuickBooks Purchase) is under the payment’s reference, and whether it is this payment’s cannot be told (another payment shares the reference, or it has another amount, currency or date); the message names them and the mark to add to the right one. Nothing was booked. Add the mark, then retry the exception.',
  REFUND_ALREADY_POSTED_CHANGED:
    'The source sent again a refund that is already booked with another amount, date or payment; the message says what changed. Nothing was sent. Book the difference in the target (another refund, or its reversal), then resolve the exception; reconciliation shows the difference until then (for refunds booked from 2026-12-06 on).',
  ALLOCATION_ALREADY_MADE_CHANGED:
    'The source sent again an allocation that is already made with another amount, date or documents; the message says what changed. Nothing was changed. If the source’s is right, reverse the allocation and allocate again in the target, then resolve the exception.',
  AMOUNT_INVALID:
    'An amount in the source record does not parse for its currency (a fee of 1.234 EUR, text where a number belongs); the message names the field. Nothing of the record is booked. Correct it in the source: the next run (or import, or webhook) that brings the record posts it and resolves the exception.',
  LINE_AMOUNT_MISMATCH:
    'A line carries a quantity and a unit price, and its netAmount is not quantity × unit price rounded half up to the currency’s decimals; the message shows both numbers. Nothing of the document is booked. Correct the line in the source: the next run (or import, or webhook) that brings the document posts it and resolves the exception.',
  // What the record refers to is not there
  CUSTOMER_NAME_BLANK:
    'The source sent a customer whose name is only blanks or invisible characters (spaces, zero-width spaces or joiners); it would list and print as nothing, so it is not booked, as the API refuses such a name (field `name`). The documents that name a customer not booked yet are parked with it (field `customerSourceId`). Give the customer a name in the source: the next run that brings it books it and resolves the exception, and its documents run again by themselves. A customer already booked keeps the name it has.',
  CUSTOMER_NOT_SYNCED:
    'The document names a customer this pipeline has not received yet, and the source cannot be asked for it. Send the customer (or import the customers file): once the pipeline has booked it, the document runs again by itself (docs/sync.md, “Parked dependants run again once what they need is booked”).',
  PRODUCT_NOT_SYNCED:
    'A document line names a product this pipeline has not received yet, and the source cannot be asked for it. Send the product: once the pipeline has booked it, the document runs again by itself.',
  CURRENCY_MISMATCH:
    'The document is in another currency than its customer’s account. Correct the currency in the source (the next run that brings the document posts it), or book it by hand to a customer account in that currency and resolve the exception.',
  ALLOCATION_DOCUMENT_NOT_SYNCED:
    'The allocation sets a payment or credit note against an invoice, and one of the two is not booked in the target by this pipeline (it is parked itself, or the source never sent it). Fix and retry that document (its exception names why), or send it: once it is booked, this one runs again by itself. A document only waiting for a retry in the target parks nothing: what depends on it waits behind it and goes through on its own (docs/sync.md, “Dependants wait for what is on its way”).',
  // Mapping lines to the ledger
  MAPPING_PRODUCT_NOT_SYNCED:
    'A line names a product that is not in the ledger. Send or create the product, then retry the exception.',
  MAPPING_NO_GL_ACCOUNT:
    'No GL account could be found for a line: none on the line, the product, the mapping or the customer. Set one on the product or a `mapping.defaultGlAccountCode` on the pipeline, then retry.',
  MAPPING_NO_TAX_CODE_FOR_RATE:
    'No tax code has the VAT rate of a line. Add one (`PUT /v1/tax-codes/{code}`) or map the rate in the pipeline’s `mapping.vatRates`, then retry.',
  // The target
  TARGET_REFUSED:
    'The target refused the document; its message says why (a closed period, a field it requires). Nothing was written to the target. Fix what it names: in the target, then retry the exception; or in the source, and the next run that brings the document sends it again.',
  TARGET_UNAVAILABLE:
    'The target kept failing or timing out; the document was retried automatically, then parked, and the message ends with the target’s last answer (`…after 10 attempts; the last: NetSuite: … answered 503`). Check the target’s status and the pipeline’s credentials, then retry: a document the target did receive is found by its reference and never sent twice. A refund whose payment was unapplied for it when the target stopped answering, and which could not be applied again, is parked at once, saying which invoice owes the money again.',
  TARGET_AUTH_REVOKED:
    'The accounting platform no longer accepts this pipeline’s connection (the user revoked it, or its refresh token expired). Nothing was written. Connect again (open `GET /v1/connections/{pipeline}/oauth/start` signed in as the entity, or set a new `refreshToken` in the pipeline’s target), then retry the exceptions.',
  TARGET_SETTING_MISSING:
    'The accounting platform has nothing ledgerlink can match for a value of this document (a VAT rate with no tax rate of that percentage, no default sales or bank account). Nothing was written. Add the mapping the message names to the pipeline’s target (`taxRates`, `accounts`), or create it in the platform, then retry the exception.',
  PAYMENT_FEE_NOT_SUPPORTED:
    'The payment carries a payment provider’s fee, and the pipeline’s target books no fee (a target plugin that does not declare `capabilities.fees`; every built-in target books fees): booked at its gross amount alone, it would leave the platform’s bank higher than what the provider paid out, by the fee. Nothing was sent. To book such payments at their gross amount and key each fee yourself (or let a bank rule in the platform book it), set the pipeline’s `options.fees` to "leave" and retry the exception; or send them through a pipeline whose target books fees (every built-in target: docs/connectors/platforms.md says how each does).',
  TARGET_CAPABILITY_MISSING:
    'The pipeline’s target cannot take this kind of document (for example refunds or drafts). Book it by hand and resolve the exception, or send such documents to a pipeline whose target takes them.',
  POSTING_FAILED:
    'Booking the record failed for a reason that is not a business rule (the target or the ledger raised an unexpected error); the rest of its page was booked and later records go on. The server log has the details. Fix the cause (often a value no rule checked yet), then retry the exception, or correct the record in the source.',
  // Back to the source
  WRITE_BACK_FAILED:
    'The document was booked, but telling the source (its number, PDF or payment status) failed for good after retries. The booking stands. Fix what the message names (often credentials, or a record deleted in the source): the next time the source sends the document its write-back is queued again. Then resolve the exception.',
  EARLY_PAYMENT_NOT_APPLIED:
    'A payment reached the target before the invoice it names and was booked unapplied on the customer (an overpayment in Xero); once the pipeline booked that invoice, applying the payment to it failed for good (the target refused it, or could not be reached ten times). Both documents stand; the message says why. Apply the payment to the invoice in the target, then resolve the exception; or fix what stood in the way (approve the invoice, open the period) and retry it: the payment is noted again and applied by the run the retry starts.',
} as const satisfies Record<string, string>;

/**
 * Reasons whose exception holds nothing to send again: the source changed a document already
 * booked, which never changes. A person books the correction and resolves the exception; a
 * retry is refused saying so, and the dashboard offers none.
 */
export const RESOLVED_BY_HAND: ReadonlySet<string> = new Set<ReasonCode>([
  'INVOICE_ALREADY_POSTED_CHANGED',
  'CREDIT_NOTE_ALREADY_POSTED_CHANGED',
  'PAYMENT_ALREADY_POSTED_CHANGED',
  'REFUND_ALREADY_POSTED_CHANGED',
  'ALLOCATION_ALREADY_MADE_CHANGED',
]);

/** A reason of the sync engine, a source or a target. */
export type ReasonCode = keyof typeof REASON_CODES;

/** Every code an exception can carry: a reason, or the ledger's error code when it refused a posting. */
export type ExceptionCode = ReasonCode | ErrorCode;

/** True for a code in the closed list (REASON_CODES ∪ ERROR_CODES). */
export function isExceptionCode(code: string): code is ExceptionCode {
  return Object.hasOwn(REASON_CODES, code) || Object.hasOwn(ERROR_CODES, code);
}
