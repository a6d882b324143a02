import { z } from 'zod';
import { MAX_DATE, MIN_DATE, dateProblem } from '../domain/dates.ts';
import { isKnownCurrency } from '../domain/currency.ts';

/**
 * Shared request schemas. Amounts arrive as decimal strings or JSON numbers (kept exact by the
 * body parser) and leave the schema as decimal text; the operation that knows the currency turns
 * them into minor units.
 */
export const DecimalText = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .refine((v) => v.length <= 40 && /^-?\d+(\.\d+)?([eE][-+]?\d{1,2})?$/.test(v), {
    message: 'must be a decimal number such as "120.50" (at most 40 characters)',
  })
  .meta({
    description: 'A decimal amount, as a string ("120.50") or a JSON number; never rounded.',
    examples: ['120.50'],
  });

export const Amount = DecimalText;

export const Rate = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .refine((v) => /^\d+(\.\d{1,10})?$/.test(v), { message: 'must be a non-negative decimal such as "0.21"' })
  .meta({ description: 'A rate as a decimal fraction ("0.21" for 21%).', examples: ['0.21'] });

export const ExchangeRate = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .refine((v) => /^\d+(\.\d{1,10})?$/.test(v) && /[1-9]/.test(v), {
    message: 'must be a positive decimal such as "1.0825"',
  })
  .meta({ description: 'Units of the document currency per one unit of base currency.', examples: ['1'] });

/**
 * A business date. A day the calendar does not have says so; a date outside the ledger's range
 * carries the error code DATE_OUT_OF_RANGE (the HTTP edge answers with it instead of VALIDATION_ERROR).
 */
export const IsoDate = z
  .string()
  .superRefine((v, ctx) => {
    const problem = dateProblem(v);
    if (!problem) return;
    ctx.addIssue({
      code: 'custom',
      message: problem.message,
      ...(problem.kind === 'OUT_OF_RANGE' ? { params: { errorCode: 'DATE_OUT_OF_RANGE' } } : {}),
    });
  })
  .meta({ description: `A calendar date, YYYY-MM-DD, from ${MIN_DATE} to ${MAX_DATE}.`, examples: ['2026-11-21'] });

/** Codes (customers, GL accounts, tax codes, departments) are upper case, at most 50 characters. */
export const Code = z
  .string()
  .min(1, 'must not be empty')
  .max(50, 'must be at most 50 characters')
  .refine((v) => v === v.toUpperCase(), { message: 'must be upper case' })
  .refine((v) => !/[\s/?#%\\]/.test(v), { message: 'must not contain spaces, slashes, ?, #, % or \\' })
  // A NUL (as %00 in a path) cannot be stored in PostgreSQL text and would fail as a server error.
  .refine((v) => !/\p{Cc}/u.test(v), { message: 'must not contain control characters' })
  .meta({ examples: ['CUST001'] });

export const Currency = z
  .string()
  .refine(isKnownCurrency, { message: 'must be an ISO 4217 currency code such as "EUR"' })
  .meta({ examples: ['EUR'] });

export const Reference = z.string().max(50, 'must be at most 50 characters');
export const Description = z.string().max(500, 'must be at most 500 characters');

export const TransactionId = z.coerce
  .number()
  .int('must be an integer')
  .positive('must be positive')
  .meta({ description: 'A transaction id as returned when it was posted.' });

export const Page = z.object({
  page: z.coerce.number().int().min(1).default(1).meta({ description: 'Page number, from 1.' }),
  pageSize: z.coerce.number().int().min(1).max(500).default(100).meta({ description: 'Items per page (at most 500).' }),
});

export const BooleanFlag = z
  .union([z.boolean(), z.enum(['true', 'false'])])
  .transform((v) => v === true || v === 'true');

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'A stable UPPER_SNAKE code; see /docs#errors.' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error' });

export function paged<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    page: z.number().int(),
    pageSize: z.number().int(),
    total: z.number().int(),
  });
}
