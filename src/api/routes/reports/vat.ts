import { z } from 'zod';
import { defineRoute } from '../../route.ts';
import { IsoDate } from '../../schemas.ts';
import { fieldError } from '../../../domain/errors.ts';
import { vatReport } from '../../../ledger/reports/vat.ts';
import { DateText, Money } from './schemas.ts';

const Figures = z.object({ net: Money, vat: Money });
const Line = z.object({
  sales: Figures.meta({ description: 'Invoices: net sold and output VAT charged.' }),
  creditNotes: Figures.meta({ description: 'Credit notes: net and VAT given back.' }),
  discounts: Figures.meta({
    description: 'Settlement discounts posted with discountVatTreatment adjustVat, less their reversals.',
  }),
  netVat: Money.meta({ description: 'Output VAT due: sales − credit notes − discounts.' }),
});

export const vatReportRoute = defineRoute({
  method: 'GET',
  path: '/v1/reports/vat',
  operationId: 'getVatReport',
  summary: 'Output VAT per tax code for a period, in the base currency',
  description:
    'From the journal lines of invoices, credit notes and settlement discounts (and their reversals) dated from `from` ' +
    'to `to` inclusive, per tax code: net and VAT of sales, of credit notes and of discounts, and the VAT due. ' +
    'It reads the lines the trial balance sums, so the total VAT due equals the movement on the VAT accounts.',
  tags: ['reports'],
  auth: 'entity',
  query: z.strictObject({
    from: IsoDate.meta({ description: 'The first date of the period.' }),
    to: IsoDate.meta({ description: 'The last date of the period.' }),
  }),
  success: {
    status: 200,
    description: 'The VAT report.',
    schema: z.object({
      from: DateText,
      to: DateText,
      currency: z.string(),
      taxCodes: z.array(Line.extend({ taxCode: z.string() })),
      totals: Line,
    }),
  },
  handler: async ({ db, query, entity }) => {
    if (query.from > query.to) throw fieldError('query.to', `${query.to} is before from (${query.from})`);
    return vatReport(db, entity.id, entity.baseCurrency, query.from, query.to);
  },
});
