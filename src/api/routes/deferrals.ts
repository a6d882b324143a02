import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route.ts';
import { IsoDate } from '../schemas.ts';
import { today } from '../../domain/dates.ts';
import { formatAmount } from '../../domain/money.ts';
import { releaseDeferrals } from '../../ledger/posting/deferral-release.ts';
import { deferralReport } from '../../ledger/reports/deferrals.ts';
import { DateText, Money } from './reports/schemas.ts';

/** Deferred revenue: posting the releases that are due, and the report of what is deferred. */

const releaseRoute = defineRoute({
  method: 'POST',
  path: '/v1/deferrals/release',
  operationId: 'releaseDeferrals',
  summary: 'Post the deferred revenue releases due up to a date',
  description:
    'Posts each scheduled release of a deferred invoice line due on or before `upTo` that was neither posted nor ' +
    "credited: one general journal (GJ) per release, the deferred revenue account debited and the line's revenue " +
    'account credited, with its department, at the invoice’s exchange rate. Idempotent: each release posts at most ' +
    'once (enforced by the database), so running it again, or twice at the same time, posts nothing more. A release ' +
    'due on or before the lock date is posted on the first day after it. A release whose deferred or revenue account ' +
    'is inactive or a header account is not posted: it is listed under `failed` with the reason and stays due; the ' +
    'other releases post.',
  tags: ['sales'],
  auth: 'entity',
  query: z.strictObject({
    upTo: IsoDate.optional().meta({ description: 'Post what is due on or before this date (default today, UTC).' }),
  }),
  success: {
    status: 200,
    description: 'The releases posted by this call (empty when nothing was due).',
    schema: z.object({
      upTo: DateText,
      released: z.array(
        z.object({
          releaseId: z.number().int(),
          invoiceTransactionId: z.number().int(),
          invoiceNumber: z.number().int(),
          lineNo: z.number().int(),
          seq: z.number().int().meta({ description: 'Which release of the line: 1 to months.' }),
          months: z.number().int(),
          dueDate: DateText,
          postedOn: DateText.meta({ description: 'The journal’s date: the due date, or later when that was locked.' }),
          amount: Money,
          baseAmount: Money,
          currency: z.string(),
          transactionId: z.number().int().meta({ description: 'The general journal (GJ).' }),
          transactionNumber: z.number().int(),
        }),
      ),
      failed: z
        .array(
          z.object({
            releaseId: z.number().int(),
            invoiceTransactionId: z.number().int(),
            invoiceNumber: z.number().int(),
            lineNo: z.number().int(),
            seq: z.number().int(),
            dueDate: DateText,
            glAccountCode: z.string(),
            code: z.literal('GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST'),
            message: z.string(),
          }),
        )
        .meta({
          description:
            'Releases due but not posted: their deferred or revenue account is inactive or a header account. ' +
            'They stay due; reopen the account and run again.',
        }),
    }),
  },
  errors: ['DATE_OUT_OF_RANGE', 'IDEMPOTENCY_KEY_REUSED'],
  handler: async (ctx) => {
    const upTo = ctx.query.upTo ?? today();
    const run = await releaseDeferrals({ db: ctx.db, entity: ctx.entity, actor: ctx.principal.actor }, upTo);
    const released = run.released.map((r) => ({
      ...r,
      amount: formatAmount(r.amount, r.currency),
      baseAmount: formatAmount(r.baseAmount, ctx.entity.baseCurrency),
    }));
    if (released.length > 0) {
      await ctx.audit({
        action: 'deferrals.released',
        objectType: 'deferral-release',
        after: {
          upTo,
          transactionIds: released.map((r) => r.transactionId),
          releaseIds: released.map((r) => r.releaseId),
        },
      });
    }
    return { upTo, released, failed: run.failed };
  },
});

const Figures = z.object({
  deferred: Money.meta({ description: 'The deferred total.' }),
  released: Money.meta({ description: 'Moved to revenue by releases posted on or before `at`.' }),
  credited: Money.meta({
    description: 'Taken off the deferred account by credit notes dated on or before `at` (their releases cancelled).',
  }),
  remaining: Money.meta({ description: 'deferred − released − credited: still on the deferred account at `at`.' }),
});

const reportRoute = defineRoute({
  method: 'GET',
  path: '/v1/reports/deferrals',
  operationId: 'getDeferralReport',
  summary: 'Deferred revenue per invoice and line as at a date',
  description:
    'Every deferred invoice line of invoices dated on or before `at`: deferred, released, credited and remaining, in ' +
    'the invoice currency and in the base currency. The base `totals.remaining` equals the balance of the deferred ' +
    'revenue accounts in the trial balance at the same date.',
  tags: ['reports'],
  auth: 'entity',
  query: z.strictObject({ at: IsoDate.optional().meta({ description: 'The date (default today, UTC).' }) }),
  success: {
    status: 200,
    description: 'The deferrals.',
    schema: z.object({
      at: DateText,
      baseCurrency: z.string(),
      invoices: z.array(
        Figures.extend({
          transactionId: z.number().int(),
          number: z.number().int(),
          externalReference: z.string(),
          customerCode: z.string(),
          invoiceDate: DateText,
          currency: z.string(),
          lines: z.array(
            Figures.extend({
              lineNo: z.number().int(),
              revenueGlAccountCode: z.string(),
              deferredGlAccountCode: z.string(),
              departmentId: z.string().nullable(),
              months: z.number().int(),
              startDate: DateText,
              dueUnreleased: Money.meta({ description: 'Due on or before `at` but not released yet.' }),
              base: Figures.meta({ description: 'The same figures in the base currency.' }),
            }),
          ),
        }),
      ),
      totals: Figures.meta({ description: 'In the base currency.' }),
    }),
  },
  handler: async ({ db, query, entity }) => deferralReport(db, entity.id, entity.baseCurrency, query.at ?? today()),
});

export const deferralRoutes: AnyRoute[] = [releaseRoute, reportRoute];
