import { z } from 'zod';
import { defineRoute } from '../../route.ts';
import { BooleanFlag, IsoDate } from '../../schemas.ts';
import { today } from '../../../domain/dates.ts';
import { AGING_BASES } from '../../../domain/aging.ts';
import { formatAmount } from '../../../domain/money.ts';
import { agedDebtors } from '../../../ledger/reports/receivables.ts';
import { formatAging } from '../../../ledger/reports/statement.ts';
import { Aging, Basis, DateText, Money } from './schemas.ts';

export const agedDebtorsRoute = defineRoute({
  method: 'GET',
  path: '/v1/reports/aged-debtors',
  operationId: 'getAgedDebtors',
  summary: 'Aged debtors summary: each customer’s balance by age, and the totals per currency',
  description:
    'What every customer owes as at `upTo`, aged in the buckets of the statements, without the documents: the ' +
    'summary `GET /v1/customers/statements` gives with every open item. Each customer in its own currency, by ' +
    'code; totals per currency, since amounts of two currencies are never added. Customers with nothing open are ' +
    'left out unless `showZeros=true`; one whose open items net to zero is shown.',
  tags: ['reports'],
  auth: 'entity',
  query: z.strictObject({
    upTo: IsoDate.optional().meta({ description: 'The report date (default today, UTC).' }),
    basis: Basis,
    showZeros: BooleanFlag.default(false).meta({ description: 'Include customers with nothing open.' }),
  }),
  success: {
    status: 200,
    description: 'The report.',
    schema: z.object({
      upTo: DateText,
      basis: z.enum(AGING_BASES),
      customers: z.array(
        z.object({
          customerCode: z.string(),
          customerName: z.string(),
          currency: z.string(),
          openItems: z.number().int().meta({ description: 'Documents with something open as at upTo.' }),
          currentBalance: Money.meta({ description: 'Σ signed outstanding of its open items = Σ of the buckets.' }),
          aging: Aging,
        }),
      ),
      totals: z.array(
        z.object({
          currency: z.string(),
          customers: z.number().int().meta({ description: 'Customers of this currency with something open.' }),
          currentBalance: Money,
          aging: Aging,
        }),
      ),
    }),
  },
  handler: async ({ db, query, entity }) => {
    const upTo = query.upTo ?? today();
    const report = await agedDebtors(db, entity.id, upTo, query.basis, query.showZeros);
    return {
      upTo,
      basis: query.basis,
      customers: report.customers.map((c) => ({
        customerCode: c.customerCode,
        customerName: c.customerName,
        currency: c.currency,
        openItems: c.openItems,
        currentBalance: formatAmount(c.balance, c.currency),
        aging: formatAging(c.aging, c.currency),
      })),
      totals: report.totals.map((t) => ({
        currency: t.currency,
        customers: t.customers,
        currentBalance: formatAmount(t.balance, t.currency),
        aging: formatAging(t.aging, t.currency),
      })),
    };
  },
});
