import { z } from 'zod';
import { JsonText, defineRoute } from '../../route.ts';
import { BooleanFlag, Code, IsoDate } from '../../schemas.ts';
import { today } from '../../../domain/dates.ts';
import { customerStatementJson, customerStatements, customerStatementsOf } from '../../../ledger/reports/statement.ts';
import { customerBalance, customerBalances } from '../../../ledger/reports/balance.ts';
import { AGING_BASES } from '../../../domain/aging.ts';
import { Basis, DateText, Money, StatementSchema } from './schemas.ts';

const UpTo = IsoDate.optional().meta({ description: 'The statement date (default today, UTC).' });

/** Customer codes separated by commas, as one query parameter: `?codes=ACME,GLOBEX`. */
const CustomerCodes = z
  .string()
  .transform((v) => v.split(','))
  .pipe(
    z
      .array(Code)
      .min(1)
      .max(500, 'must name at most 500 customers')
      .refine((codes) => new Set(codes).size === codes.length, { message: 'must not name a customer twice' }),
  )
  .meta({ description: 'Customer codes separated by commas (at most 500).', examples: ['ACME,GLOBEX'] });

// Query objects here are strict: a misspelt `upto` must not quietly give today's figures.

export const customerStatementsRoute = defineRoute({
  method: 'GET',
  path: '/v1/customers/statements',
  operationId: 'getCustomersStatement',
  summary: 'Aged statements of every customer, or of those named',
  description:
    'AccountsIQ GetCustomersStatement: one statement per customer (by code) as at `upTo`. Customers with nothing ' +
    'open are left out unless `showZeros=true`. With `codes`, only those customers, each shown even with nothing ' +
    'open; a code this entity does not have is 404 naming it.',
  tags: ['reports'],
  auth: 'entity',
  query: z.strictObject({
    upTo: UpTo,
    basis: Basis,
    showZeros: BooleanFlag.default(false).meta({ description: 'Include customers with nothing open.' }),
    codes: CustomerCodes.optional(),
  }),
  success: {
    status: 200,
    description: 'The statements.',
    schema: z.object({ upTo: DateText, basis: z.enum(AGING_BASES), statements: z.array(StatementSchema) }),
  },
  errors: ['NOT_FOUND'],
  handler: async ({ db, query, entity }) => {
    const upTo = query.upTo ?? today();
    const statements = query.codes
      ? await customerStatementsOf(db, entity.id, query.codes, upTo, query.basis)
      : await customerStatements(db, entity.id, upTo, query.basis, query.showZeros);
    return { upTo, basis: query.basis, statements };
  },
});

export const customerStatementRoute = defineRoute({
  method: 'GET',
  path: '/v1/customers/{code}/statement',
  operationId: 'getCustomerStatement',
  summary: "A customer's aged statement as at a date",
  description:
    'Open items as at `upTo` (documents and allocations dated later are ignored, so a past statement reads as ' +
    'it did then), aged into current, 1–30, 31–60, 61–90, 91–120 and over 120 days. Credits are negative and ' +
    'aged from their own date.',
  tags: ['reports'],
  auth: 'entity',
  params: z.strictObject({ code: Code }),
  query: z.strictObject({ upTo: UpTo, basis: Basis }),
  success: { status: 200, description: 'The statement.', schema: StatementSchema },
  errors: ['NOT_FOUND'],
  // Written as JSON text straight from the query: a customer with 10,000 open items is a 2.4 MB answer.
  handler: async ({ db, params, query, entity }) =>
    new JsonText(await customerStatementJson(db, entity.id, params.code, query.upTo ?? today(), query.basis)),
});

const BalanceSchema = z.object({
  customerCode: z.string(),
  currency: z.string(),
  at: DateText,
  balance: Money,
  creditLimit: Money.meta({ description: '"0.00" means no limit.' }),
  creditLeft: Money,
  overCreditLimit: z.boolean(),
  overCreditLimitBy: Money.meta({ description: 'The amount over the credit limit; "0.00" when within it.' }),
});

const BalanceDate = IsoDate.optional().meta({ description: 'The balance date (default today, UTC).' });

export const customerBalancesRoute = defineRoute({
  method: 'GET',
  path: '/v1/customers/balances',
  operationId: 'getCustomersBalances',
  summary: 'Balances and credit positions of the customers named, in one call',
  description:
    'GetAccountBalanceInformation for several customers at once, ordered by code, each in its own currency. ' +
    'A code this entity does not have is 404 naming it (`details.customerCodes`).',
  tags: ['reports'],
  auth: 'entity',
  query: z.strictObject({ codes: CustomerCodes, at: BalanceDate }),
  success: {
    status: 200,
    description: 'The balances.',
    schema: z.object({ at: DateText, balances: z.array(BalanceSchema) }),
  },
  errors: ['NOT_FOUND'],
  handler: async ({ db, query, entity }) => {
    const at = query.at ?? today();
    return { at, balances: await customerBalances(db, entity.id, query.codes, at) };
  },
});

export const customerBalanceRoute = defineRoute({
  method: 'GET',
  path: '/v1/customers/{code}/balance',
  operationId: 'getCustomerBalance',
  summary: "A customer's balance and credit position",
  description:
    'AccountsIQ GetAccountBalanceInformation: the balance as at `at`, the credit limit (0 = no limit), the credit ' +
    'left under it (0 when there is no limit or it is reached) and whether the balance is over it.',
  tags: ['reports'],
  auth: 'entity',
  params: z.strictObject({ code: Code }),
  query: z.strictObject({ at: BalanceDate }),
  success: { status: 200, description: 'The balance information.', schema: BalanceSchema },
  errors: ['NOT_FOUND'],
  handler: async ({ db, params, query, entity }) => customerBalance(db, entity.id, params.code, query.at ?? today()),
});
