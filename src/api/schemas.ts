import { z } from 'zod';

export {
  Amount,
  Code,
  Currency,
  DecimalText,
  Description,
  ExchangeRate,
  IsoDate,
  Rate,
  Reference,
} from '../domain/schemas.ts';

export const TransactionId = z.coerce
  .number()
  .int('must be an integer')
  .positive('must be positive')
  .meta({ description: 'A transaction id as returned when it was posted.' });

export const Page = z.object({
  page: z.coerce.number().int().min(1).default(1).meta({ description: 'Page number, from 1.' }),
  pageSize: z.coerce.number().int().min(1).max(500).default(100).meta({ description: 'Items per page (at most 500).' }),
});

/**
 * An instant for the modified-since queries. The offset is required: a bare local time would mean
 * whatever the server's zone is. Years 0001–9999, the range PostgreSQL's timestamptz takes.
 */
export const ModifiedSince = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time with Z or an offset' })
  .refine((v) => v.slice(0, 4) !== '0000', { message: 'must be in the years 0001 to 9999' })
  .meta({
    description: 'Changed at or after this instant, ISO 8601 with Z or an offset (inclusive).',
    examples: ['2026-11-21T09:30:00Z'],
  });

/** A yes/no field that may come as text (a query string, a form field): `true` or `false`, nothing else. */
export const BooleanFlag = z
  .union([z.boolean(), z.enum(['true', 'false'])], { error: 'must be true or false' })
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

export const Warnings = z
  .array(
    z.object({
      code: z.enum(['TAX_AMOUNT_DIFFERS_FROM_RATE']),
      field: z.string().meta({ description: 'The line at fault: `lines[0].taxAmount`.' }),
      message: z.string(),
    }),
  )
  .meta({
    description:
      'What was accepted but deserves a look: a supplied taxAmount that differs from netAmount × rate by more than ' +
      'the entity’s vatTolerance (see /v1/settings). Present only when there is something to say.',
  })
  .optional();

/** `warnings` only when there are some, so a clean posting answers exactly as before. */
export const withWarnings = (w: readonly unknown[]) => (w.length > 0 ? { warnings: w } : {});
