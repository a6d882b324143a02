import { z } from 'zod';
import { PipelineName } from './pipelines.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { IsoDate } from '../schemas.ts';
import { DomainError } from '../../domain/errors.ts';
import { requirePipeline } from '../../sync/pipelines.ts';
import { reconcile, reconcileWindow } from '../../sync/reconcile.ts';
import { scopeOf } from './sync-shared.ts';

const Totals = z.object({ count: z.number(), total: z.string() });
const Side = z.object({ invoices: Totals, creditNotes: Totals, payments: Totals });

/** The reconciliation report: what the synchronous route answers and a stored reconciliation keeps. */
export const ReconciliationView = z.object({
  pipeline: z.string(),
  from: z.string(),
  to: z.string(),
  summary: z.object({
    matched: z.number(),
    mismatched: z.number(),
    sourceDocuments: z.number(),
    ledgerDocuments: z.number(),
    fees: z
      .object({
        compared: z.number().meta({ description: 'Payments found in the target whose provider fee was compared.' }),
        notCompared: z.number().meta({
          description:
            'Payments found in the target whose fee was not compared: the target cannot tell a payment’s fee, or the payment was booked before 2026-12-06 (`notes` says which).',
        }),
      })
      .optional()
      .meta({
        description:
          'Provider fees compared (a daily summary’s receipt counts once). Absent from reports stored before 2026-12-07.',
      }),
  }),
  days: z.array(
    z.object({
      date: z.string(),
      customerCode: z.string().nullable(),
      customerSourceId: z.string().nullable(),
      currency: z.string(),
      source: Side,
      target: Side,
      difference: Side.meta({ description: 'Ledger less source.' }),
      matched: z.boolean(),
    }),
  ),
  openBalances: z.array(
    z.object({
      customerCode: z.string(),
      currency: z.string(),
      source: z.string(),
      target: z.string(),
      difference: z.string(),
      matched: z.boolean(),
    }),
  ),
  mismatches: z.array(
    z.object({
      kind: z.enum([
        'missing-in-ledger',
        'not-from-source',
        'amount-difference',
        'date-difference',
        'fee-difference',
        'open-balance-difference',
      ]),
      reason: z.string(),
      documentKind: z.enum(['invoice', 'creditNote', 'payment', 'refund']).nullable(),
      sourceId: z.string().nullable(),
      externalReference: z.string().nullable(),
      customerCode: z.string().nullable(),
      currency: z.string().nullable(),
      date: z.string().nullable(),
      sourceAmount: z.string().nullable(),
      targetAmount: z.string().nullable(),
      exceptionId: z.number().nullable(),
      transactionId: z.number().nullable(),
      targetId: z.string().nullable().meta({ description: "The target's id of the document, whatever the target." }),
      feeTargetId: z.string().nullable().optional().meta({
        description:
          "A `fee-difference`: the target's id of the fee's own document when it holds one (a ledger general journal, a Xero spend money, a QuickBooks Purchase); otherwise null. Absent from reports stored before 2026-12-07.",
      }),
      message: z.string(),
    }),
  ),
  notes: z.array(z.string()).optional().meta({
    description:
      'What the report could not compare, to show beside it: payments whose provider fee the target cannot tell, or that were booked before their fee was kept. Absent from reports stored before 2026-12-07.',
  }),
});

/** The window of a reconciliation, also `ledgerlink reconcile --from --to`. */
export const ReconcileQuery = z.object({ from: IsoDate.optional(), to: IsoDate.optional() });

const reconciliationRoute = defineRoute({
  method: 'GET',
  path: '/v1/pipelines/{name}/reconciliation',
  operationId: 'reconcilePipeline',
  summary: 'Source against ledger: totals per day, customer and currency, open balances, and every mismatch',
  description:
    "Compares what the pipeline's source sent (documents dated from `from` to `to`, parked ones included) with the ledger: counts and totals of " +
    "invoices, credit notes and payments per day, customer and currency on each side (`difference` is ledger less source), each customer's open balance as at " +
    '`to`, and a list of mismatches: `missing-in-ledger` (parked, with its exception id, or missing), `not-from-source` (in the ledger, not posted ' +
    'by this pipeline), `amount-difference` (reason `rounding` when within one minor unit per line), `date-difference`, `fee-difference` (a ' +
    "payment's provider fee: `missing` from the target, another `amount`, or `extra` in the target), `open-balance-difference`; `notes` says what " +
    'could not be compared (fees a target cannot tell). ' +
    'Defaults: `to` today, `from` 30 days before. The answer comes when the whole reconciliation is done: against a remote target (Xero, ' +
    'QuickBooks, …) and a large window that can take minutes, longer than HTTP clients and proxies wait. For those, ' +
    '`POST /v1/pipelines/{name}/reconciliations` has a worker do it and keeps the report, with its progress, for `GET /v1/reconciliations/{id}`.',
  tags: ['reconciliation'],
  auth: 'entityOrAdmin',
  params: PipelineName,
  query: ReconcileQuery,
  success: {
    status: 200,
    description: "The reconciliation; amounts are decimal strings in each row's currency.",
    schema: ReconciliationView,
  },
  errors: ['PIPELINE_NOT_FOUND'],
  handler: async (ctx) => {
    const window = reconcileWindow(ctx.query.from, ctx.query.to);
    if (!window)
      throw new DomainError('VALIDATION_ERROR', 'query.from: must not be after to', [
        { field: 'query.from', message: 'after to' },
      ]);
    const pipeline = await requirePipeline(ctx.db, ctx.services.sync.box, ctx.params.name, scopeOf(ctx), 'params.name');
    return reconcile(ctx.db, pipeline, window.from, window.to, ctx.services.sync.log, ctx.services.sync.box);
  },
});

export const reconciliationRoutes: AnyRoute[] = [reconciliationRoute];
