import { z } from 'zod';
import { fieldError } from '../../domain/errors.ts';
import { auditChange } from '../../ledger/audit.ts';
import {
  exchangeRateProblem,
  listCurrencies,
  listExchangeRates,
  putExchangeRate,
  refuseBaseCurrency,
} from '../../ledger/currencies.ts';
import { defineRoute } from '../route.ts';
import { Currency, ExchangeRate, IsoDate } from '../schemas.ts';
import { inBody } from './setup-shared.ts';

const CurrencyParams = z.object({ code: Currency });

const RateValue = ExchangeRate.superRefine((v, ctx) => {
  const problem = exchangeRateProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}).meta({
  description:
    'Units of the currency per one unit of base currency, the convention of a document’s exchangeRate ' +
    '("1.08" USD per EUR means 108.00 USD = 100.00 EUR); at most 10 decimals, 0.000001 to 1000000.',
  examples: ['1.08'],
});

const DatedRate = z.object({
  currency: z.string(),
  date: z.string().meta({ description: 'The first day the rate is in force (until the next rate’s date).' }),
  rate: z.string().meta({ description: 'Units of the currency per one unit of base currency.' }),
});

export const listCurrenciesRoute = defineRoute({
  method: 'GET',
  path: '/v1/currencies',
  operationId: 'listCurrencies',
  summary: 'List the foreign currencies with their latest rate',
  description:
    'The currencies that have dated rates or customers, other than the base currency, ordered by code, each with its ' +
    'newest rate (null when none is set yet), how many rates it has and how many customers are in it.',
  tags: ['setup'],
  auth: 'entity',
  success: {
    status: 200,
    description: 'The base currency and the foreign currencies.',
    schema: z.object({
      baseCurrency: z.string(),
      currencies: z.array(
        z.object({
          currency: z.string(),
          latestRate: z.object({ date: z.string(), rate: z.string() }).nullable(),
          rateCount: z.number().int(),
          customerCount: z.number().int(),
        }),
      ),
    }),
  },
  handler: async ({ db, entity }) => ({
    baseCurrency: entity.baseCurrency,
    currencies: await listCurrencies(db, entity),
  }),
});

export const listExchangeRatesRoute = defineRoute({
  method: 'GET',
  path: '/v1/currencies/{code}/rates',
  operationId: 'listExchangeRates',
  summary: 'List the dated exchange rates of a currency',
  description:
    'The rates set for the currency dated from `from` to `to` (both inclusive; either may be left out), oldest first. ' +
    'A document in the currency without its own exchangeRate takes the rate in force on its date: the latest one ' +
    'dated on or before it.',
  tags: ['setup'],
  auth: 'entity',
  params: CurrencyParams,
  query: z.strictObject({
    from: IsoDate.optional().meta({ description: 'The first date listed.' }),
    to: IsoDate.optional().meta({ description: 'The last date listed.' }),
  }),
  success: { status: 200, description: 'The rates, oldest first.', schema: z.array(DatedRate) },
  errors: ['EXCHANGE_RATE_FOR_BASE_CURRENCY'],
  handler: async ({ db, entity, params, query }) => {
    refuseBaseCurrency(entity, params.code, 'params.code');
    if (query.from !== undefined && query.to !== undefined && query.from > query.to) {
      throw fieldError('query.to', `${query.to} is before from (${query.from})`);
    }
    return listExchangeRates(db, entity.id, params.code, query.from, query.to);
  },
});

export const putExchangeRateRoute = defineRoute({
  method: 'PUT',
  path: '/v1/currencies/{code}/rates/{date}',
  operationId: 'putExchangeRate',
  summary: 'Set the exchange rate of a currency from a date',
  description:
    'Creates or replaces the rate in force from `date` until the next dated rate. Documents already posted keep the ' +
    'rate they were posted with; documents posted afterwards without their own exchangeRate take the rate in force ' +
    'on their date. The base currency takes no rates (it is 1). Audited (the same rate again changes nothing and ' +
    'is not).',
  tags: ['setup'],
  auth: 'entity',
  params: z.object({ code: Currency, date: IsoDate }),
  body: z.strictObject({ rate: RateValue }),
  example: { rate: '1.08' },
  success: { status: 200, description: 'The rate as saved (201 when it was created).', schema: DatedRate },
  errors: ['EXCHANGE_RATE_FOR_BASE_CURRENCY'],
  handler: async ({ db, entity, params, body, principal, audit, setStatus }) => {
    refuseBaseCurrency(entity, params.code, 'params.code');
    const saved = await inBody(() => putExchangeRate(db, entity, params.code, params.date, body.rate, principal.actor));
    if (!saved.changed) return saved.after;
    await audit({
      action: saved.created ? 'exchangeRate.created' : 'exchangeRate.updated',
      objectType: 'exchangeRate',
      objectId: `${params.code}/${params.date}`,
      ...auditChange(saved.before, saved.after),
    });
    if (saved.created) setStatus(201);
    return saved.after;
  },
});

export const currencyRoutes = [listCurrenciesRoute, listExchangeRatesRoute, putExchangeRateRoute];
