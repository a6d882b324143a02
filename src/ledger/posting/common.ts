import { DomainError } from '../../domain/errors.ts';
import { Dec, isStorable, parseAmount } from '../../domain/money.ts';
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
 * The exchange rate of a document: 1 in the base currency (any other value is refused), and
 * required for a foreign-currency customer, since guessing a rate would misstate the books.
 */
export function exchangeRateFor(
  ctx: PostingContext,
  currency: string,
  given: string | undefined,
  field: string,
): string {
  if (currency === ctx.entity.baseCurrency) {
    if (given !== undefined && !new Dec(given).eq(1)) {
      throw new DomainError('EXCHANGE_RATE_MUST_BE_ONE', `${field}: the document is in the base currency ${currency}`, [
        { field, message: 'must be 1 for the base currency' },
      ]);
    }
    return '1';
  }
  if (given === undefined) {
    throw new DomainError(
      'EXCHANGE_RATE_REQUIRED',
      `${field}: the customer's currency ${currency} is not the base currency ${ctx.entity.baseCurrency}`,
      [{ field, message: 'required for a foreign-currency document' }],
    );
  }
  return new Dec(given).toFixed();
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
