import { z } from 'zod';
import { defineRoute } from '../../route.ts';
import { Code, IsoDate, ModifiedSince, Page, paged } from '../../schemas.ts';
import { listTransactions } from '../../../ledger/reports/transaction-list.ts';
import { getTransaction } from '../../../ledger/reports/transactions.ts';
import { AllocationStatusSchema, DateText, Money, SafeTransactionId, TransactionType } from './schemas.ts';

const LineCodes = z
  .record(z.string(), z.string())
  .meta({ description: 'Analysis codes stored on the line, by dimension ("1".."6"); {} when none.' });

const TransactionDetail = z.object({
  transactionId: z.number().int(),
  type: TransactionType,
  side: z.enum(['debit', 'credit', 'none']),
  number: z.number().int().meta({ description: 'The document number, unique per entity and type.' }),
  customerCode: z.string().nullable().meta({ description: 'Null only for general journals (GJ).' }),
  currency: z.string(),
  exchangeRate: z.string().meta({ description: 'Units of the document currency per one unit of base currency.' }),
  transactionDate: DateText,
  dueDate: DateText.nullable(),
  externalReference: z.string(),
  description: z.string(),
  net: Money,
  tax: Money,
  gross: Money,
  baseGross: Money.meta({ description: 'The gross in the entity’s base currency.' }),
  outstanding: Money.meta({ description: 'Gross less every active allocation, now.' }),
  status: AllocationStatusSchema,
  relatedTransactionId: z.number().int().nullable(),
  disputed: z.boolean().meta({ description: 'Flagged as disputed (POST /v1/transactions/{id}/dispute).' }),
  disputeReason: z.string().nullable(),
  details: z.unknown(),
  createdAt: z.string().meta({ description: 'When it was posted (ISO 8601, UTC).' }),
  orderNumber: z.string().nullable().meta({ description: "Item invoices: the customer's order number." }),
  deliveryDate: DateText.nullable().meta({ description: 'Item invoices: the delivery date.' }),
  vatBreakdown: z.array(z.object({ taxCode: z.string(), taxRate: z.string(), net: Money, tax: Money })).meta({
    description:
      'Net and tax per tax code and rate: as stored when an item document was posted (computed per line or per ' +
      'document), else the sum of the lines.',
  }),
  items: z.array(
    z.object({
      lineNo: z.number().int(),
      glAccountCode: z.string(),
      taxCode: z.string(),
      taxRate: z.string(),
      description: z.string(),
      departmentId: z.string().nullable(),
      net: Money,
      tax: Money,
      gross: Money,
      analysis: LineCodes,
      itemCode: z.string().nullable().optional().meta({ description: 'Item lines only, as the five fields below.' }),
      quantity: z.string().optional().meta({ description: 'Item lines only; absent on lines entered as net amounts.' }),
      unitPrice: z.string().optional(),
      discountRate: z.string().nullable().optional().meta({ description: 'A fraction ("0.1" = 10 %).' }),
      note: z.string().nullable().optional(),
    }),
  ),
  lines: z.array(
    z.object({
      lineNo: z.number().int(),
      role: z.enum(['control', 'net', 'tax', 'bank', 'gl', 'discount', 'fx']),
      glAccountCode: z.string(),
      departmentId: z.string().nullable(),
      taxCode: z.string().nullable(),
      description: z.string(),
      debit: Money,
      credit: Money,
      baseDebit: Money,
      baseCredit: Money,
      analysis: LineCodes,
    }),
  ),
  allocations: z.array(
    z.object({
      allocationId: z.number().int(),
      transactionId: z.number().int().meta({ description: 'The document on the other side.' }),
      type: TransactionType,
      number: z.number().int(),
      externalReference: z.string(),
      amount: Money,
      date: DateText,
      reference: z.string(),
      active: z.boolean(),
      reversalDate: DateText.nullable(),
    }),
  ),
});

export const getTransactionRoute = defineRoute({
  method: 'GET',
  path: '/v1/transactions/{id}',
  operationId: 'getTransaction',
  summary: 'One posted transaction with its lines, journal and allocations',
  description:
    'AccountsIQ GetTransaction plus GetAllocationsByTransactionId: the document, its lines as entered, its ' +
    'double-entry journal (document and base currency) and every allocation it took part in, reversed ones ' +
    'flagged with their reversal date.',
  tags: ['reports'],
  auth: 'entity',
  params: z.strictObject({ id: SafeTransactionId }),
  success: { status: 200, description: 'The transaction.', schema: TransactionDetail },
  errors: ['NOT_FOUND'],
  handler: async ({ db, params, entity }) => getTransaction(db, entity.id, entity.baseCurrency, params.id),
});

const TransactionQuery = z
  .strictObject({
    customerCode: Code.optional(),
    externalReference: z.string().min(1).max(50).optional().meta({ description: 'Exact match.' }),
    referenceStartsWith: z
      .string()
      .min(1)
      .max(50)
      .optional()
      .meta({ description: 'The external reference starts with this, ignoring case (`%` and `_` are literal).' }),
    number: z.coerce
      .number()
      .int()
      .positive()
      .refine((n) => Number.isSafeInteger(n), { message: 'is too large' })
      .optional()
      .meta({ description: 'The document number (one per type at most).' }),
    type: TransactionType.optional(),
    fromDate: IsoDate.optional().meta({ description: 'Transaction date on or after.' }),
    toDate: IsoDate.optional().meta({ description: 'Transaction date on or before.' }),
    modifiedSince: ModifiedSince.optional().meta({
      description:
        'Posted, amended (due date, dispute flag) or reversed in full at or after this instant (inclusive). ' +
        'Poll with an overlap of a few seconds and upsert by transactionId: a document is stamped when its ' +
        'database transaction starts and becomes visible when it commits.',
    }),
    order: z
      .enum(['asc', 'desc'])
      .default('asc')
      .meta({ description: 'By transaction id: oldest first (`asc`, default) or newest first (`desc`).' }),
    after: SafeTransactionId.optional().meta({
      description:
        'Keyset paging: the transactions after this id in `order`; pass the previous page’s `nextCursor`. ' +
        'With `after`, `page` is ignored, and a deep page costs what the first does.',
    }),
    ...Page.shape,
  })
  .refine((q) => !q.fromDate || !q.toDate || q.fromDate <= q.toDate, {
    message: 'must not be before fromDate',
    path: ['toDate'],
  });

export const listTransactionsRoute = defineRoute({
  method: 'GET',
  path: '/v1/transactions',
  operationId: 'listTransactions',
  summary: 'Find transactions by customer, external reference, type, date, or modified since',
  description:
    'AccountsIQ GetTransactionsBy / GetTransactionsByExternalReference / GetTransactionsModifiedBy, ordered by ' +
    'transaction id. Each transaction says what last happened to it (`change`) and when (`modifiedAt`): ' +
    '`created` when posted; `updated` when its due date or dispute flag changed; `reversed` once the documents ' +
    'pointing at it reverse it in full (credit notes crediting an invoice in full, a discount reversal, the ' +
    'opposite exchange difference, a reversing journal). Posted documents never change otherwise. Page with ' +
    '`page`, or (better for deep pages) with `after` set to the previous answer’s `nextCursor`.',
  tags: ['reports'],
  auth: 'entity',
  query: TransactionQuery,
  success: {
    status: 200,
    description: 'A page of transaction summaries.',
    schema: paged(
      z.object({
        transactionId: z.number().int(),
        type: TransactionType,
        number: z.number().int(),
        customerCode: z.string().nullable().meta({ description: 'Null only for general journals (GJ).' }),
        transactionDate: DateText,
        dueDate: DateText.nullable(),
        externalReference: z.string(),
        currency: z.string(),
        gross: Money,
        outstanding: Money,
        status: AllocationStatusSchema,
        change: z.enum(['created', 'updated', 'reversed']).meta({ description: 'What last happened to it.' }),
        modifiedAt: z.string().meta({ description: 'When `change` happened (ISO 8601, UTC, microseconds).' }),
      }),
    ).extend({
      nextCursor: z
        .number()
        .int()
        .nullable()
        .meta({ description: 'Pass as `after` for the next page; null on the last page.' }),
    }),
  },
  handler: async ({ db, query, entity }) => {
    const page = await listTransactions(db, entity.id, { ...query, count: true });
    return { ...page, total: page.total ?? 0 };
  },
});
