import { z } from 'zod';
import { defineRoute } from '../../route.ts';
import { IsoDate } from '../../schemas.ts';
import { today } from '../../../domain/dates.ts';
import { trialBalance } from '../../../ledger/reports/trial-balance.ts';
import { DateText, Money } from './schemas.ts';

export const trialBalanceRoute = defineRoute({
  method: 'GET',
  path: '/v1/reports/trial-balance',
  operationId: 'getTrialBalance',
  summary: 'Trial balance in the base currency as at a date',
  description:
    'Each GL account’s net of the journal lines of transactions dated on or before `at`, in the base currency: ' +
    'a net debit under `debit`, a net credit under `credit`. Accounts that net to zero are left out.',
  tags: ['reports'],
  auth: 'entity',
  query: z.strictObject({ at: IsoDate.optional().meta({ description: 'The date (default today, UTC).' }) }),
  success: {
    status: 200,
    description: 'The trial balance; the totals are equal.',
    schema: z.object({
      at: DateText,
      currency: z.string(),
      accounts: z.array(
        z.object({ code: z.string(), name: z.string(), type: z.string(), debit: Money, credit: Money }),
      ),
      totals: z.object({ debit: Money, credit: Money }),
    }),
  },
  handler: async ({ db, query, entity }) => trialBalance(db, entity.id, entity.baseCurrency, query.at ?? today()),
});
