import { z } from 'zod';
import { postGeneralJournal } from '../../ledger/posting/general-journals.ts';
import { reversalAudit, reverseGeneralJournal } from '../../ledger/posting/journal-reversal.ts';
import { findGeneralJournal } from '../../ledger/reports/journals.ts';
import { DomainError } from '../../domain/errors.ts';
import { defineRoute } from '../route.ts';
import { ACCOUNT_LINE_ERRORS } from './posting-errors.ts';
import { Amount, Code, Currency, Description, ExchangeRate, IsoDate, Reference, TransactionId } from '../schemas.ts';
import { ConfirmExchangeRate } from '../sales-schemas.ts';
import { LineAnalysis } from '../analysis-schemas.ts';
import { DateText, Money, SafeTransactionId } from './reports/schemas.ts';

const GeneralJournalLine = z.strictObject({
  glAccountCode: Code.meta({ examples: ['6100'] }),
  debit: Amount.optional().meta({ description: 'Give exactly one of debit and credit, greater than zero.' }),
  credit: Amount.optional(),
  departmentId: Code.optional().meta({ description: 'Department (BI code); required on a departmental account.' }),
  analysis: LineAnalysis.optional(),
  description: Description.optional().meta({ description: "Defaults to the journal's description." }),
});

const Link = z.object({ transactionId: z.number().int(), number: z.number().int(), date: DateText }).nullable();

const GeneralJournal = z.object({
  transactionId: z.number().int(),
  number: z.number().int().meta({ description: 'The GJ number (shared with other general journals).' }),
  date: DateText,
  reference: z.string(),
  description: z.string(),
  currency: z.string().meta({
    description: "The journal's currency (a payment provider's fee a pipeline posted is in the payment's).",
  }),
  exchangeRate: z
    .string()
    .meta({ description: 'Units of `currency` per unit of base currency; "1" in the base currency.' }),
  totalDebit: Money,
  totalCredit: Money,
  baseTotal: Money.meta({ description: 'The debits (and so the credits) in the base currency.' }),
  lines: z.array(
    z.object({
      lineNo: z.number().int(),
      glAccountCode: z.string(),
      debit: Money.nullable(),
      credit: Money.nullable(),
      baseAmount: Money.meta({
        description:
          "The line in the base currency, signed (debit positive). Each line is converted at the journal's rate; " +
          'what rounding leaves over goes to the largest line of its side, so both sides come to baseTotal.',
      }),
      departmentId: z.string().nullable(),
      analysis: z
        .record(z.string(), z.string())
        .meta({ description: 'The codes stored on the line (given, or from its department), by dimension.' }),
      description: z.string(),
    }),
  ),
  reverses: Link.meta({ description: 'The journal this one reverses.' }),
  reversedBy: Link.meta({ description: 'The reversal of this journal.' }),
  createdBy: z.string(),
  createdAt: z.string(),
});

export const postJournalRoute = defineRoute({
  method: 'POST',
  path: '/v1/journals',
  operationId: 'postGeneralJournal',
  summary: 'Post a general journal (GJ), optionally reversing',
  description:
    'A balanced journal between GL accounts (no customer, never an open item), in the trial balance from its date, ' +
    'in the base currency or in `currency` at `exchangeRate` (the rate in force on its date when omitted). Control ' +
    'accounts are refused, and in a foreign currency a bank account’s GL account holding a third currency. ' +
    'With `reversal: {date}` the reversing journal (debits and ' +
    'credits swapped, same departments and analysis codes) is posted in the same transaction, dated that day, and ' +
    'the two are linked (`reversedBy`, `reverses`). Send an Idempotency-Key to post once however often a request is retried.',
  tags: ['sales'],
  auth: 'entity',
  body: z.strictObject({
    date: IsoDate,
    reference: Reference.optional(),
    description: Description.optional(),
    currency: Currency.optional().meta({ description: 'The base currency when omitted.' }),
    exchangeRate: ExchangeRate.optional().meta({
      description:
        'Units of `currency` per unit of base currency; the entity’s rate in force on `date` when omitted ' +
        '(EXCHANGE_RATE_MISSING when it has none). 1 in the base currency.',
    }),
    confirmExchangeRate: ConfirmExchangeRate,
    lines: z.array(GeneralJournalLine).min(2, 'at least two lines').max(500, 'at most 500 lines'),
    reversal: z
      .strictObject({
        date: IsoDate.meta({ description: "After the journal's date, e.g. the next period's first day." }),
      })
      .optional(),
  }),
  example: {
    date: '2026-11-30',
    reference: 'ACCR-11',
    description: 'Accrued consultancy, November',
    lines: [
      { glAccountCode: '6100', debit: '1500.00', departmentId: 'NORTH' },
      { glAccountCode: '2300', credit: '1500.00' },
    ],
    reversal: { date: '2026-12-01' },
  },
  success: {
    status: 201,
    description: 'The posted journal (with `reversedBy` when a reversal was posted).',
    schema: GeneralJournal,
  },
  errors: [
    'JOURNAL_NOT_BALANCED',
    'JOURNAL_REVERSAL_DATE_NOT_AFTER_JOURNAL',
    ...ACCOUNT_LINE_ERRORS,
    'BANK_ACCOUNT_CURRENCY_MISMATCH',
    'EXCHANGE_RATE_MISSING',
    'EXCHANGE_RATE_MUST_BE_ONE',
    'EXCHANGE_RATE_IMPLAUSIBLE',
    'AMOUNT_HAS_TOO_MANY_DECIMALS',
    'AMOUNT_OUT_OF_RANGE',
    'PERIOD_LOCKED',
    'DATE_OUT_OF_RANGE',
    'IDEMPOTENCY_KEY_REUSED',
  ],
  handler: async (ctx) => {
    const posted = await postGeneralJournal({ db: ctx.db, entity: ctx.entity, actor: ctx.principal.actor }, ctx.body);
    const journal = (await findGeneralJournal(ctx.db, ctx.entity.id, posted.id))!;
    await ctx.audit({
      action: 'journal.posted',
      objectType: 'transaction',
      objectId: posted.id,
      after: ctx.body,
    });
    if (posted.reversalId !== null) {
      await ctx.audit({
        action: 'journal.reversal-posted',
        objectType: 'transaction',
        objectId: posted.reversalId,
        after: { reverses: posted.id, date: ctx.body.reversal!.date },
      });
    }
    return journal;
  },
});

export const getJournalRoute = defineRoute({
  method: 'GET',
  path: '/v1/journals/{id}',
  operationId: 'getGeneralJournal',
  summary: 'Read a general journal',
  description:
    'Any general journal (GJ) of the entity, with its lines and its reversal links; other ids are NOT_FOUND.',
  tags: ['sales'],
  auth: 'entity',
  params: z.object({ id: TransactionId }),
  success: { status: 200, description: 'The journal.', schema: GeneralJournal },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const journal = await findGeneralJournal(db, entity.id, params.id);
    if (!journal) throw new DomainError('NOT_FOUND', `general journal ${params.id} does not exist in this entity`);
    return journal;
  },
});

export const reverseJournalRoute = defineRoute({
  method: 'POST',
  path: '/v1/journals/{id}/reverse',
  operationId: 'reverseGeneralJournal',
  summary: 'Reverse a posted general journal',
  description:
    'Posts the reversing journal of a journal posted before (debits and credits swapped; same accounts, departments, ' +
    'analysis codes, currency and rate), linked to it (`reverses`, `reversedBy`): how a journal keyed in error is ' +
    'corrected, since posted documents never change. Dated the journal’s own date unless `date` says otherwise (on ' +
    'or after it, in an open period). Journals posted here and payment provider’s fees a pipeline posted can be ' +
    'reversed, each once. A fee journal reversed leaves its receipt without a fee (`feeOfReceipt`): record the right ' +
    'one keyed by hand (PUT /v1/transactions/{id}/fee), or a payment not booked yet that links to the receipt posts ' +
    'its fee. Send an Idempotency-Key ' +
    'to post once however often a request is retried.',
  tags: ['sales'],
  auth: 'entity',
  params: z.strictObject({ id: SafeTransactionId }),
  body: z
    .strictObject({
      date: IsoDate.optional().meta({ description: 'The reversal’s date; the journal’s own when omitted.' }),
      description: Description.optional().meta({ description: 'Defaults to “Reversal of” the journal’s description.' }),
    })
    .optional(),
  example: { date: '2026-11-30', description: 'Fee keyed twice' },
  success: {
    status: 201,
    description: 'The reversal posted, and the receipt the journal was the fee of.',
    schema: GeneralJournal.extend({
      feeOfReceipt: z.number().int().nullable().meta({
        description:
          'The receipt whose payment provider’s fee the reversed journal was: it has no fee recorded any more. Null otherwise.',
      }),
    }),
  },
  errors: [
    'NOT_FOUND',
    'JOURNAL_ALREADY_REVERSED',
    'JOURNAL_CANNOT_BE_REVERSED',
    'JOURNAL_REVERSAL_DATE_BEFORE_JOURNAL',
    'PERIOD_LOCKED',
    'DATE_OUT_OF_RANGE',
    'IDEMPOTENCY_KEY_REUSED',
  ],
  handler: async (ctx) => {
    const posted = await reverseGeneralJournal(
      { db: ctx.db, entity: ctx.entity, actor: ctx.principal.actor },
      ctx.params.id,
      ctx.body ?? {},
    );
    const reversal = (await findGeneralJournal(ctx.db, ctx.entity.id, posted.id))!;
    await ctx.audit(reversalAudit(ctx.params.id, posted));
    return { ...reversal, feeOfReceipt: posted.feeOfReceipt };
  },
});

export const journalRoutes = [postJournalRoute, getJournalRoute, reverseJournalRoute];
