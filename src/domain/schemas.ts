import { z } from 'zod';
import { MAX_DATE, MIN_DATE, dateProblem } from './dates.ts';
import { isKnownCurrency } from './currency.ts';
import { Dec, UNIT_DECIMALS } from './money.ts';

/**
 * Value schemas shared by the API, the sync engine and connectors. Amounts arrive as decimal strings or JSON numbers (kept exact by the
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

/**
 * A quantity or a unit price: a plain decimal (a string, or a JSON integer) of at most
 * UNIT_DECIMALS decimals and 15 integer digits. It leaves the schema in one stable form ("3.50" and
 * 3.5 both become "3.5"), so that two sends of the same line store and hash alike.
 */
function unitDecimal(what: string, sign: 'positive' | 'any') {
  return z
    .union([z.string(), z.number().int()])
    .transform((v) => String(v).trim())
    .superRefine((v, ctx) => {
      const fail = (message: string) => ctx.addIssue({ code: 'custom', message });
      if (!/^-?\d{1,15}(\.\d+)?$/.test(v) || v.length > 40)
        return fail(`must be a decimal number such as "12.3333" (at most 15 digits before the point)`);
      const d = new Dec(v);
      if (d.decimalPlaces() > UNIT_DECIMALS)
        return fail(`has ${d.decimalPlaces()} decimals; a ${what} has at most ${UNIT_DECIMALS}`);
      if (sign === 'positive' && !d.gt(0)) fail(`must be more than zero; a ${what} is never zero or negative`);
    })
    .transform((v) => new Dec(v).toFixed());
}

export const Quantity = unitDecimal('quantity', 'positive').meta({
  description: `How many units, more than zero, at most ${UNIT_DECIMALS} decimals ("3", "1.5"). A credit is a negative unit price, never a negative quantity.`,
  examples: ['3'],
});

export const UnitPrice = unitDecimal('unit price', 'any').meta({
  description: `The price of one unit before VAT, at most ${UNIT_DECIMALS} decimals ("12.3333"); negative for a discount or credit line.`,
  examples: ['12.3333'],
});

export const Rate = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .refine((v) => /^\d+(\.\d{1,10})?$/.test(v), { message: 'must be a non-negative decimal such as "0.21"' })
  .meta({ description: 'A rate as a decimal fraction ("0.21" for 21%).', examples: ['0.21'] });

/** Above what an exchange_rate column holds (numeric(20, 10)): ten digits before the point. */
const RATE_LIMIT = new Dec('10000000000');

export const ExchangeRate = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .refine((v) => /^\d+(\.\d{1,10})?$/.test(v) && /[1-9]/.test(v) && new Dec(v).lt(RATE_LIMIT), {
    message: 'must be a positive decimal below 10000000000 such as "1.0825"',
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

/**
 * Characters that render as nothing: format characters (U+200B ZERO WIDTH SPACE, joiners, the bidi
 * marks and overrides such as U+202E) and Unicode's other default-ignorable code points (fillers
 * such as U+3164, variation selectors).
 */
const INVISIBLE_CLASS = String.raw`\p{Cf}\p{Default_Ignorable_Code_Point}`;
const INVISIBLE = new RegExp(`[${INVISIBLE_CLASS}]`, 'u');
const VISIBLE = new RegExp(String.raw`[^\s${INVISIBLE_CLASS}]`, 'u');

/** Codes (customers, GL accounts, tax codes, departments) are upper case, at most 50 characters. */
export const Code = z
  .string()
  .min(1, 'must not be empty')
  .max(50, 'must be at most 50 characters')
  .refine((v) => v === v.toUpperCase(), { message: 'must be upper case' })
  .refine((v) => !/[\s/?#%\\]/.test(v), { message: 'must not contain spaces, slashes, ?, #, % or \\' })
  // A NUL (as %00 in a path) cannot be stored in PostgreSQL text and would fail as a server error.
  .refine((v) => !/\p{Cc}/u.test(v), { message: 'must not contain control characters' })
  // Invisible characters make look-alikes: "ACME" followed by U+200B lists like ACME and is
  // another customer. A stored code is not rewritten; the API no longer takes one such as a key.
  .refine((v) => !INVISIBLE.test(v), {
    message: 'must not contain invisible characters (zero-width spaces or joiners, direction marks such as U+202E)',
  })
  .meta({ examples: ['CUST001'] });

/** Whether text shows anything: not only white space and invisible characters. A name of those alone lists and prints as nothing. */
export function showsText(text: string): boolean {
  return VISIBLE.test(text);
}

export const Currency = z
  .string()
  .refine(isKnownCurrency, { message: 'must be an ISO 4217 currency code such as "EUR"' })
  .meta({ examples: ['EUR'] });

export const Reference = z.string().max(50, 'must be at most 50 characters');
export const Description = z.string().max(500, 'must be at most 500 characters');
