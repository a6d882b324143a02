import { z } from 'zod';
import { formatAmount } from '../../domain/money.ts';
import { postRevaluation, type Revaluation } from '../../ledger/posting/revaluations.ts';
import { controlReconciliation, revaluationFigures } from '../../ledger/reports/revaluation.ts';
import { defineRoute, type RouteContext } from '../route.ts';
import { IsoDate } from '../schemas.ts';
import { DateText, Money, TransactionType } from './reports/schemas.ts';

const Figures = {
  baseOutstanding: Money.meta({ description: 'Base amount still outstanding, at the rates booked (debits positive).' }),
  revaluedBase: Money.meta({ description: 'The outstanding foreign amount at the revaluation rate, in base.' }),
  difference: Money.meta({ description: 'revaluedBase − baseOutstanding: positive a gain, negative a loss.' }),
};

const Item = z.object({
  transactionId: z.number().int(),
  type: TransactionType,
  number: z.number().int(),
  externalReference: z.string(),
  transactionDate: DateText,
  bookedRate: z.string(),
  outstanding: Money.meta({ description: 'In the document currency; credits negative.' }),
  ...Figures,
});

const Customer = z.object({
  customerCode: z.string(),
  currency: z.string(),
  rate: z.string().meta({ description: 'The rate in force on `at`.' }),
  outstanding: Money.meta({ description: 'Net outstanding in the customer currency.' }),
  ...Figures,
  items: z.array(Item),
});

const Reconciliation = z
  .object({
    controlAccount: Money,
    openItems: Money,
    revaluation: Money,
    difference: Money,
  })
  .meta({
    description:
      'The debtors control account(s) as at `at` = open items (base, at booked rates) + revaluations in force ' +
      '(posted on or before `at`, not yet reversed); `difference` is zero in a sound ledger.',
  });

export const revaluationReportRoute = defineRoute({
  method: 'GET',
  path: '/v1/reports/revaluation',
  operationId: 'getRevaluationReport',
  summary: 'Unrealised exchange differences on open items as at a date',
  description:
    'Every open item in a foreign currency as at `at` (documents dated on or before it, less allocations dated on or ' +
    'before it), its outstanding amount at the rate in force on `at` against the base amount still outstanding at the ' +
    'rates it was booked at; per item, per customer and currency, per currency and in total, in the base currency. ' +
    'Nothing is posted; `POST /v1/revaluations` posts these differences.',
  tags: ['reports'],
  auth: 'entity',
  query: z.strictObject({ at: IsoDate.meta({ description: 'The revaluation date (a period end).' }) }),
  success: {
    status: 200,
    description: 'The revaluation report.',
    schema: z.object({
      at: DateText,
      baseCurrency: z.string(),
      rates: z.array(z.object({ currency: z.string(), rate: z.string(), date: DateText })),
      customers: z.array(Customer),
      currencies: z.array(z.object({ currency: z.string(), outstanding: Money, ...Figures })),
      totals: z.object(Figures),
      controlAccount: Reconciliation,
    }),
  },
  errors: ['EXCHANGE_RATE_MISSING'],
  handler: async ({ db, entity, query }) => {
    const base = entity.baseCurrency;
    const f = await revaluationFigures(db, entity.id, base, query.at, 'query.at');
    const rec = await controlReconciliation(db, entity.id, query.at);
    const money = (v: bigint) => formatAmount(v, base);
    const figures = (x: { baseOutstanding: bigint; revaluedBase: bigint; difference: bigint }) => ({
      baseOutstanding: money(x.baseOutstanding),
      revaluedBase: money(x.revaluedBase),
      difference: money(x.difference),
    });
    const perCurrency = new Map<
      string,
      { outstanding: bigint; baseOutstanding: bigint; revaluedBase: bigint; difference: bigint }
    >();
    for (const c of f.customers) {
      const t = perCurrency.get(c.currency) ?? {
        outstanding: 0n,
        baseOutstanding: 0n,
        revaluedBase: 0n,
        difference: 0n,
      };
      t.outstanding += c.outstanding;
      t.baseOutstanding += c.baseOutstanding;
      t.revaluedBase += c.revaluedBase;
      t.difference += c.difference;
      perCurrency.set(c.currency, t);
    }
    return {
      at: f.at,
      baseCurrency: base,
      rates: f.rates,
      customers: f.customers.map((c) => ({
        customerCode: c.customerCode,
        currency: c.currency,
        rate: c.rate,
        outstanding: formatAmount(c.outstanding, c.currency),
        ...figures(c),
        items: c.items.map((i) => ({
          transactionId: i.transactionId,
          type: i.type,
          number: i.number,
          externalReference: i.externalReference,
          transactionDate: i.transactionDate,
          bookedRate: i.bookedRate,
          outstanding: formatAmount(i.outstanding, c.currency),
          ...figures(i),
        })),
      })),
      currencies: [...perCurrency]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([currency, t]) => ({ currency, outstanding: formatAmount(t.outstanding, currency), ...figures(t) })),
      totals: figures(f.totals),
      controlAccount: {
        controlAccount: money(rec.controlAccount),
        openItems: money(rec.openItems),
        revaluation: money(rec.revaluation),
        difference: money(rec.difference),
      },
    };
  },
});

function revaluationBody(r: Revaluation) {
  return {
    revaluationId: r.revaluationId,
    at: r.at,
    reversalDate: r.reversalDate,
    created: r.created,
    baseCurrency: r.baseCurrency,
    postings: r.postings.map((p) => ({
      customerCode: p.customerCode,
      currency: p.currency,
      rate: p.rate,
      difference: formatAmount(p.difference, r.baseCurrency),
      transactionId: p.transactionId,
      number: p.number,
      reversalTransactionId: p.reversalTransactionId,
      reversalNumber: p.reversalNumber,
    })),
    totalDifference: formatAmount(r.totalDifference, r.baseCurrency),
  };
}

export const postRevaluationRoute = defineRoute({
  method: 'POST',
  path: '/v1/revaluations',
  operationId: 'postRevaluation',
  summary: 'Post the unrealised exchange differences of a date (RV), reversed the next day',
  description:
    'Posts, per customer and currency with a difference, an RV transaction dated `at` between the customer’s control ' +
    'account and the unrealised exchange gains and losses account (7910), and its reversal dated the day after (the ' +
    'first day of the next period). Once per date: a second request for the same date answers 200 with the ' +
    'revaluation first posted (`created: false`) and posts nothing; a database unique key enforces it.',
  tags: ['sales'],
  auth: 'entity',
  body: z.strictObject({ at: IsoDate.meta({ description: 'The revaluation date (a period end).' }) }),
  example: { at: '2026-12-31' },
  success: {
    status: 201,
    description: 'The revaluation posted (200 with created false when the date was already revalued).',
    schema: z.object({
      revaluationId: z.number().int(),
      at: DateText,
      reversalDate: DateText,
      created: z.boolean(),
      baseCurrency: z.string(),
      postings: z.array(
        z.object({
          customerCode: z.string(),
          currency: z.string(),
          rate: z.string(),
          difference: Money.meta({ description: 'Base currency: positive a gain, negative a loss.' }),
          transactionId: z.number().int(),
          number: z.number().int(),
          reversalTransactionId: z.number().int(),
          reversalNumber: z.number().int(),
        }),
      ),
      totalDifference: Money,
    }),
  },
  errors: ['EXCHANGE_RATE_MISSING', 'PERIOD_LOCKED', 'DATE_OUT_OF_RANGE', 'IDEMPOTENCY_KEY_REUSED'],
  handler: async (ctx: RouteContext<unknown, unknown, { at: string }>) => {
    const r = await postRevaluation({ db: ctx.db, entity: ctx.entity, actor: ctx.principal.actor }, ctx.body.at);
    if (r.created) {
      await ctx.audit({
        action: 'revaluation.posted',
        objectType: 'revaluation',
        objectId: r.revaluationId,
        after: revaluationBody(r),
      });
    } else ctx.setStatus(200);
    return revaluationBody(r);
  },
});

export const revaluationRoutes = [revaluationReportRoute, postRevaluationRoute];
