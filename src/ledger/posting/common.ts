import { DomainError } from '../../domain/errors.ts';
import { Dec, isStorable, parseAmount } from '../../domain/money.ts';
import type { RateWanted, RatesInForce } from './dated-rates.ts';
import type { PostingContext } from './types.ts';

/** Parses decimal text into minor units of `currency`, naming the field when it cannot. */
export function amountOf(text: string, currency: string, field: string): bigint {
  const v = parseAmount(text, currency);
  if (v.ok) {
    if (!isStorable(v.value)) throw outOfRange(field, text);
    return v.value;
  }
  if (v.error.code === 'OUT_OF_RANGE') throw outOfRange(field, text);
  if (v.error.code === 'TOO_MANY_DECIMALS') {
    throw new DomainError(
      'AMOUNT_HAS_TOO_MANY_DECIMALS',
      `${field}: ${text} has more decimals than ${currency} allows`,
      [{ field, message: `more decimals than ${currency} allows` }],
    );
  }
  throw new DomainError('VALIDATION_ERROR', `${field}: must be a decimal number`, [
    { field, message: 'must be a decimal number' },
  ]);
}

/** An amount, or a total or base value computed from amounts, that a bigint column cannot hold. */
export function outOfRange(field: string, text?: string): DomainError {
  return new DomainError(
    'AMOUNT_OUT_OF_RANGE',
    `${field}: ${text !== undefined ? `${text} is` : 'the amount is'} beyond the largest storable value`,
    [{ field, message: 'beyond the largest storable value' }],
  );
}

export function positiveAmountOf(text: string, currency: string, field: string, allowZero = false): bigint {
  const v = amountOf(text, currency, field);
  if (v < 0n || (!allowZero && v === 0n)) {
    const message = allowZero ? 'must not be negative' : 'must be greater than zero';
    throw new DomainError('VALIDATION_ERROR', `${field}: ${message}`, [{ field, message }]);
  }
  return v;
}

/**
 * The exchange rate of a document: 1 in the base currency (any other value is refused); in a
 * foreign currency the rate given, or else the entity's rate in force on the document's date
 * (the latest dated on or before it, `inForce`), or EXCHANGE_RATE_MISSING: guessing a rate would
 * misstate the books. Every posting path (invoices, drafts, credit notes, receipts, journals,
 * post-pay-allocate) takes its rate here.
 */
export function exchangeRateFor(
  ctx: PostingContext,
  currency: string,
  given: string | undefined,
  field: string,
  inForce: { rates: RatesInForce; date: string },
): string {
  if (currency === ctx.entity.baseCurrency) {
    if (given !== undefined && !new Dec(given).eq(1)) {
      throw new DomainError('EXCHANGE_RATE_MUST_BE_ONE', `${field}: the document is in the base currency ${currency}`, [
        { field, message: 'must be 1 for the base currency' },
      ]);
    }
    return '1';
  }
  if (given !== undefined) return new Dec(given).toFixed();
  const dated = inForce.rates.get(currency, inForce.date);
  if (dated === null) {
    throw new DomainError(
      'EXCHANGE_RATE_MISSING',
      `${field}: no ${currency} rate is dated on or before ${inForce.date}; send exchangeRate, or set the rate with ` +
        `PUT /v1/currencies/${currency}/rates/{date}`,
      [{ field, message: `no ${currency} rate in force on ${inForce.date}` }],
    );
  }
  return dated.rate;
}

/**
 * The (currency, date) pair whose rate a document may need: none in the base currency or when the
 * request gives its own rate. Posting paths pass these to `loadReferences` (`rates`).
 */
export function rateWanted(
  ctx: PostingContext,
  currency: string | undefined,
  given: string | undefined,
  date: string | undefined,
): RateWanted[] {
  if (currency === undefined || date === undefined || given !== undefined || currency === ctx.entity.baseCurrency)
    return [];
  return [{ currency, date }];
}

export function checkDueDate(transactionDate: string, dueDate: string, field: string): void {
  if (dueDate < transactionDate) {
    throw new DomainError('DUE_DATE_BEFORE_TRANSACTION_DATE', `${field}: ${dueDate} is before ${transactionDate}`, [
      { field, message: 'before the document date' },
    ]);
  }
}

export function join(prefix: string, field: string): string {
  return prefix ? `${prefix}.${field}` : field;
}
