import type { ErrorCode } from '../../domain/errors.ts';

/**
 * The error codes posting shares across routes, in one place so that every route that posts lines
 * lists the same, complete set (an OpenAPI `errors` list a client can rely on). A route adds its
 * own (customer or supplier, duplicate reference, credit checks) beside them.
 */

/** A line posted to a GL account: the account, its department and its analysis codes. */
export const ACCOUNT_LINE_ERRORS = [
  'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
  'GLACCOUNT_IS_CONTROL_ACCOUNT',
  'GLACCOUNT_NO_DEPARTMENT_IS_DEPARTMENTAL',
  'DEPARTMENT_DOES_NOT_EXIST',
  'ANALYSIS_CODE_DOES_NOT_EXIST',
  'ANALYSIS_CODE_IS_INACTIVE',
] as const satisfies readonly ErrorCode[];

/**
 * The lines of a sales or purchase document (batch, draft, item, intercompany, back-to-back,
 * post-pay-allocate): the account line errors, the tax code and rate, and the document's total.
 */
export const LINE_POSTING_ERRORS = [
  ...ACCOUNT_LINE_ERRORS,
  'TAX_CODE_DOES_NOT_EXIST',
  'TAX_CODE_HAS_NO_RATE_ON_DATE',
  'TAX_AMOUNT_ON_ZERO_RATE',
  'DOCUMENT_TOTAL_MUST_BE_POSITIVE',
] as const satisfies readonly ErrorCode[];

/** A document's header besides its customer or supplier: amounts, exchange rate, dates and period. */
export const DOCUMENT_POSTING_ERRORS = [
  'AMOUNT_HAS_TOO_MANY_DECIMALS',
  'AMOUNT_OUT_OF_RANGE',
  'EXCHANGE_RATE_MISSING',
  'EXCHANGE_RATE_MUST_BE_ONE',
  'EXCHANGE_RATE_IMPLAUSIBLE',
  'PERIOD_LOCKED',
  'DATE_OUT_OF_RANGE',
] as const satisfies readonly ErrorCode[];
