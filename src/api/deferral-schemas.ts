import { z } from 'zod';
import { MAX_DEFERRAL_MONTHS } from '../domain/deferrals.ts';
import { Code, IsoDate } from './schemas.ts';

/** An invoice line's deferral (docs/ledger.md "Deferred revenue"). */
export const Deferral = z
  .strictObject({
    months: z
      .number()
      .int('must be a whole number of months')
      .min(1)
      .max(MAX_DEFERRAL_MONTHS)
      .meta({ description: `Number of monthly releases, 1 to ${MAX_DEFERRAL_MONTHS}.`, examples: [12] }),
    startDate: IsoDate.meta({
      description:
        "Due date of the first release; the others fall on the same day of the following months (clamped to a month's end). " +
        "Not before the first day of the invoice's month.",
      examples: ['2026-11-01'],
    }),
    glAccountCode: Code.optional().meta({
      description: "The deferred revenue account (a liability); defaults to the entity's (2300 in the default chart).",
    }),
  })
  .meta({
    description:
      "Defers the line's revenue: its net is credited to the deferred revenue account and released to the line's " +
      'glAccountCode in equal monthly parts (the remainder on the last) by POST /v1/deferrals/release. Invoices only.',
  });
