import { z } from 'zod';
import { defineRoute, type AnyRoute, type RouteContext } from '../route.ts';
import { DOCUMENT_POSTING_ERRORS, LINE_POSTING_ERRORS } from './posting-errors.ts';
import { DomainError } from '../../domain/errors.ts';
import { formatAmount } from '../../domain/money.ts';
import { Warnings, withWarnings } from '../schemas.ts';
import {
  BatchInvoice,
  BulkPostPayAllocate,
  CreditNote,
  LedgerJournal,
  PostPayAllocate,
  Receipt,
  Allocation,
  Unallocation,
} from '../sales-schemas.ts';
import { postBatchInvoice } from '../../ledger/posting/invoices.ts';
import { postReceipt } from '../../ledger/posting/receipts.ts';
import { postCreditNote } from '../../ledger/posting/credit-notes.ts';
import { postLedgerJournal } from '../../ledger/posting/journals.ts';
import { allocate, type AllocationResult } from '../../ledger/posting/allocations.ts';
import { unallocate } from '../../ledger/posting/unallocate.ts';
import { postPayAllocate, postPayAllocateBulk } from '../../ledger/posting/post-pay-allocate.ts';
import type { PostingContext } from '../../ledger/posting/types.ts';
import { draftRoutes } from './drafts.ts';
import { itemDocumentRoutes } from './item-invoices.ts';

function posting(ctx: RouteContext<unknown, unknown, unknown>): PostingContext {
  return { db: ctx.db, entity: ctx.entity, actor: ctx.principal.actor };
}

const Posted = z.object({ transactionId: z.number().int(), number: z.number().int() });

function allocationBody(a: AllocationResult) {
  return {
    allocationId: a.allocationId,
    debitTransactionId: a.debitTransactionId,
    creditTransactionId: a.creditTransactionId,
    amount: formatAmount(a.amount, a.currency),
    discountAmount: formatAmount(a.discountAmount, a.currency),
    discountTransactionId: a.discountTransactionId,
    fxTransactionId: a.fxTransactionId,
    outstanding: Object.fromEntries([...a.outstanding].map(([id, v]) => [String(id), formatAmount(v, a.currency)])),
  };
}

const AllocationResponse = z.object({
  allocationId: z.number().int(),
  debitTransactionId: z.number().int(),
  creditTransactionId: z.number().int(),
  amount: z.string(),
  discountAmount: z.string(),
  discountTransactionId: z.number().int().nullable(),
  fxTransactionId: z.number().int().nullable(),
  outstanding: z
    .record(z.string(), z.string())
    .meta({ description: 'Outstanding after the allocation, by transaction id.' }),
});

const SIDE_ERRORS = ['CUSTOMER_CODE_DOES_NOT_EXIST', 'CUSTOMER_IS_INACTIVE', ...DOCUMENT_POSTING_ERRORS] as const;
const LINE_ERRORS = LINE_POSTING_ERRORS;

const postInvoiceRoute = defineRoute({
  method: 'POST',
  path: '/v1/sales/batch-invoices',
  operationId: 'postBatchInvoice',
  summary: 'Post a batch sales invoice (SI)',
  description:
    'Posts straight to the ledger: one balanced journal (debtors control against net and VAT accounts), a transaction id and the next invoice number. ' +
    'The same external reference on another invoice of the same customer is refused unless performExternalReferenceDuplicateCheck is false.',
  tags: ['sales'],
  auth: 'entity',
  body: BatchInvoice.extend({
    performExternalReferenceDuplicateCheck: z.boolean().default(true),
    enforceCreditLimit: z.boolean().default(false),
  }),
  example: {
    customerCode: 'CUST001',
    invoiceDate: '2026-11-01',
    externalReference: 'INS-1001',
    description: 'Season ticket, instalment 1',
    lines: [
      { glAccountCode: '4000', taxCode: 'STD', description: 'Season ticket', netAmount: '100.00', taxRate: '0.21' },
    ],
  },
  success: {
    status: 201,
    description: 'The posted invoice.',
    schema: Posted.extend({
      netAmount: z.string(),
      taxAmount: z.string(),
      grossAmount: z.string(),
      dueDate: z.string(),
      warnings: Warnings,
    }),
  },
  errors: [
    ...SIDE_ERRORS,
    ...LINE_ERRORS,
    'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
    'CUSTOMER_CREDIT_LIMIT_EXCEEDED',
    'CUSTOMER_IS_ON_HOLD',
    'DUE_DATE_BEFORE_TRANSACTION_DATE',
    'IDEMPOTENCY_KEY_REUSED',
  ],
  handler: async (ctx) => {
    const { performExternalReferenceDuplicateCheck, enforceCreditLimit, ...input } = ctx.body;
    const r = await postBatchInvoice(posting(ctx), input, {
      performExternalReferenceDuplicateCheck,
      enforceCreditLimit,
    });
    const body = {
      transactionId: r.id,
      number: r.number,
      netAmount: formatAmount(r.net, r.currency),
      taxAmount: formatAmount(r.tax, r.currency),
      grossAmount: formatAmount(r.gross, r.currency),
      dueDate: r.dueDate,
      ...withWarnings(r.warnings),
    };
    await ctx.audit({
      action: 'invoice.posted',
      objectType: 'transaction',
      objectId: r.id,
      after: { ...input, ...body },
    });
    return body;
  },
});

const postReceiptRoute = defineRoute({
  method: 'POST',
  path: '/v1/sales/receipts',
  operationId: 'postReceipt',
  summary: 'Post a sales receipt (SR)',
  description:
    'Money into a bank account, the debtors control credited. The check reference is duplicate-checked per customer unless performExternalReferenceDuplicateCheck is false.',
  tags: ['sales'],
  auth: 'entity',
  body: Receipt.extend({ performExternalReferenceDuplicateCheck: z.boolean().default(true) }),
  example: {
    customerCode: 'CUST001',
    checkReference: 'PAY-778',
    paymentAmount: '121.00',
    bankAccountCode: 'BANK',
    paymentDate: '2026-11-05',
  },
  success: { status: 201, description: 'The posted receipt.', schema: Posted.extend({ paymentAmount: z.string() }) },
  errors: [
    ...SIDE_ERRORS,
    'BANK_ACCOUNT_DOES_NOT_EXIST',
    'BANK_ACCOUNT_CURRENCY_MISMATCH',
    'BANK_EXCHANGE_RATE_NOT_APPLICABLE',
    'DEPARTMENT_DOES_NOT_EXIST',
    'RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS',
    'IDEMPOTENCY_KEY_REUSED',
  ],
  handler: async (ctx) => {
    const { performExternalReferenceDuplicateCheck, ...input } = ctx.body;
    const r = await postReceipt(posting(ctx), input, performExternalReferenceDuplicateCheck);
    const body = { transactionId: r.id, number: r.number, paymentAmount: formatAmount(r.amount, r.currency) };
    await ctx.audit({
      action: 'receipt.posted',
      objectType: 'transaction',
      objectId: r.id,
      after: { ...input, ...body },
    });
    return body;
  },
});

const postCreditNoteRoute = defineRoute({
  method: 'POST',
  path: '/v1/sales/credit-notes',
  operationId: 'postCreditNote',
  summary: 'Post a sales credit note (SN)',
  description:
    'Lines like a batch invoice, or fromInvoiceTransactionId to copy a posted invoice whole or selected lines (lineNumbers); allocateToInvoice settles the invoice with it.',
  tags: ['sales'],
  auth: 'entity',
  body: CreditNote,
  example: {
    fromInvoiceTransactionId: 1,
    creditNoteDate: '2026-11-10',
    externalReference: 'CN-1001',
    allocateToInvoice: true,
  },
  success: {
    status: 201,
    description: 'The posted credit note.',
    schema: Posted.extend({
      netAmount: z.string(),
      taxAmount: z.string(),
      grossAmount: z.string(),
      allocation: AllocationResponse.nullable(),
      warnings: Warnings,
      allocated: z
        .boolean()
        .optional()
        .meta({ description: 'With allocateToInvoice: whether the credit note was allocated to the invoice.' }),
      reason: z.string().nullable().optional().meta({
        description:
          'With allocateToInvoice, why the credit note was not (or only partly) allocated: it is left open to refund (a debit journal) or allocate elsewhere.',
      }),
    }),
  },
  errors: [
    ...SIDE_ERRORS,
    ...LINE_ERRORS,
    'TRANSACTION_DOES_NOT_EXIST',
    'TRANSACTION_IS_NOT_AN_INVOICE',
    'INVOICE_LINE_DOES_NOT_EXIST',
    'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS',
    'CREDIT_NOTE_EXCEEDS_INVOICE',
    'CREDIT_NOTE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
    'IDEMPOTENCY_KEY_REUSED',
  ],
  handler: async (ctx) => {
    const { performExternalReferenceDuplicateCheck, ...input } = ctx.body;
    if (input.lines && input.lineNumbers) {
      throw new DomainError('VALIDATION_ERROR', 'lineNumbers: only with fromInvoiceTransactionId and without lines', [
        { field: 'lineNumbers', message: 'not with lines' },
      ]);
    }
    const r = await postCreditNote(posting(ctx), input, performExternalReferenceDuplicateCheck);
    const body = {
      transactionId: r.id,
      number: r.number,
      netAmount: formatAmount(r.net, r.currency),
      taxAmount: formatAmount(r.tax, r.currency),
      grossAmount: formatAmount(r.gross, r.currency),
      allocation: r.allocation ? allocationBody(r.allocation) : null,
      ...withWarnings(r.warnings),
      ...(input.allocateToInvoice ? { allocated: r.allocation !== null, reason: r.reason } : {}),
    };
    await ctx.audit({
      action: 'credit-note.posted',
      objectType: 'transaction',
      objectId: r.id,
      after: { ...input, ...body },
    });
    return body;
  },
});

function journalRoute(type: 'SD' | 'SC'): AnyRoute {
  const debit = type === 'SD';
  return defineRoute({
    method: 'POST',
    path: debit ? '/v1/sales/debit-journals' : '/v1/sales/credit-journals',
    operationId: debit ? 'postDebitJournal' : 'postCreditJournal',
    summary: debit ? 'Post a sales debit journal (SD), e.g. a refund' : 'Post a sales credit journal (SC)',
    description: debit
      ? 'Debits the customer and credits a bank account (a refund paid out) or a GL account. Allocate it against the receipt or credit note it refunds.'
      : 'Credits the customer and debits a bank account or a GL account (e.g. a write-off).',
    tags: ['sales'],
    auth: 'entity',
    body: LedgerJournal,
    example: {
      customerCode: 'CUST001',
      transactionDate: '2026-11-12',
      externalReference: 'REF-9',
      lines: [{ bankAccountCode: 'BANK', amount: '21.00' }],
    },
    success: { status: 201, description: 'The posted journal.', schema: Posted.extend({ amount: z.string() }) },
    errors: [
      ...SIDE_ERRORS,
      'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
      'GLACCOUNT_IS_CONTROL_ACCOUNT',
      'GLACCOUNT_NO_DEPARTMENT_IS_DEPARTMENTAL',
      'BANK_ACCOUNT_DOES_NOT_EXIST',
      'BANK_ACCOUNT_CURRENCY_MISMATCH',
      'DEPARTMENT_DOES_NOT_EXIST',
      'JOURNAL_EXTERNAL_REFERENCE_ALREADY_EXISTS',
      'IDEMPOTENCY_KEY_REUSED',
    ],
    handler: async (ctx) => {
      const { performExternalReferenceDuplicateCheck, ...input } = ctx.body;
      const r = await postLedgerJournal(posting(ctx), type, input, performExternalReferenceDuplicateCheck);
      const body = { transactionId: r.id, number: r.number, amount: formatAmount(r.amount, r.currency) };
      await ctx.audit({
        action: debit ? 'debit-journal.posted' : 'credit-journal.posted',
        objectType: 'transaction',
        objectId: r.id,
        after: { ...input, ...body },
      });
      return body;
    },
  });
}

const allocateRoute = defineRoute({
  method: 'POST',
  path: '/v1/allocations',
  operationId: 'allocate',
  summary: 'Allocate two transactions of one customer (with an optional settlement discount)',
  description:
    'One debit-side transaction (invoice SI, debit journal SD) against one credit-side transaction (receipt SR, credit note SN, credit journal SC). ' +
    'Partial allocations accumulate. A discountAmount posts a discount transaction (DS) and allocates it to the invoice. ' +
    'A foreign-currency allocation at two different rates posts the realised exchange difference (FX).',
  tags: ['allocations'],
  auth: 'entity',
  body: Allocation,
  example: { transactionId1: 1, transactionId2: 2, amount: '100.00', date: '2026-11-05', reference: 'ALLOC-1' },
  success: { status: 201, description: 'The allocation.', schema: AllocationResponse },
  errors: [
    'TRANSACTION_ALLOCATION_REFERENCE_IS_NULL',
    'TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO',
    'TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION',
    'TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT',
    'TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES',
    'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS',
    'TRANSACTION_IS_NOT_ALLOCATABLE',
    'TRANSACTION_DOES_NOT_EXIST',
    'TRANSACTION_DISCOUNT_REQUIRES_DEBIT_DOCUMENT',
    'ALLOCATION_DATE_BEFORE_TRANSACTION',
    'PERIOD_LOCKED',
    'DATE_OUT_OF_RANGE',
    'AMOUNT_HAS_TOO_MANY_DECIMALS',
    'IDEMPOTENCY_KEY_REUSED',
  ],
  handler: async (ctx) => {
    const a = await allocate(posting(ctx), ctx.body);
    const body = allocationBody(a);
    await ctx.audit({ action: 'allocation.created', objectType: 'allocation', objectId: a.allocationId, after: body });
    return body;
  },
});

const unallocateRoute = defineRoute({
  method: 'POST',
  path: '/v1/allocations/unallocate',
  operationId: 'unallocate',
  summary: 'Reverse every active allocation of the given transactions',
  description:
    'Never deletes: records a reversal for each allocation (with its discount and exchange difference). Each id succeeds or fails on its own.',
  tags: ['allocations'],
  auth: 'entity',
  body: Unallocation,
  example: { transactionIds: [1] },
  success: {
    status: 200,
    description: 'A result per transaction id.',
    schema: z.object({
      status: z.enum(['Success', 'Failure']),
      results: z.array(
        z.object({
          transactionId: z.number().int(),
          status: z.enum(['Success', 'Failure']),
          errorCode: z.string().optional(),
          errorMessage: z.string().optional(),
          reversedAllocationIds: z.array(z.number().int()),
        }),
      ),
    }),
  },
  errors: [
    'TRANSACTION_DOES_NOT_EXIST',
    'TRANSACTION_HAS_NO_ACTIVE_ALLOCATIONS',
    'UNALLOCATION_DATE_BEFORE_ALLOCATION',
    'PERIOD_LOCKED',
    'DATE_OUT_OF_RANGE',
    'IDEMPOTENCY_KEY_REUSED',
  ],
  handler: async (ctx) => {
    const results = await unallocate(posting(ctx), ctx.body.transactionIds, ctx.body.date);
    const body = { status: results.every((r) => r.status === 'Success') ? 'Success' : 'Failure', results };
    // The trail records what was reversed: a call that reversed nothing changed nothing.
    if (results.some((r) => r.reversedAllocationIds.length > 0))
      await ctx.audit({ action: 'allocation.reversed', objectType: 'allocation', after: body });
    return body;
  },
});

const PostPayAllocateResponse = z.object({
  invoiceTransactionId: z.number().int().nullable(),
  receiptTransactionId: z.number().int().nullable(),
  invoiceNumber: z.number().int().nullable(),
  receiptNumber: z.number().int().nullable(),
  allocationId: z.number().int().nullable(),
  allocatedAmount: z.string().nullable(),
  clientUniqueReference: z.string().nullable(),
  warnings: Warnings,
});

const PPA_ERRORS = [
  'NOTHING_TO_POST',
  'EXCHANGE_RATE_IMPLAUSIBLE',
  'INVOICE_AND_RECEIPT_CUSTOMER_MISMATCH',
  'ALLOCATION_REQUIRES_INVOICE_AND_RECEIPT',
  'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  'RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  'TRANSACTION_ALLOCATION_REFERENCE_IS_NULL',
  'TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO',
  'TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT',
  'ALLOCATION_DATE_BEFORE_TRANSACTION',
  'CUSTOMER_CREDIT_LIMIT_EXCEEDED',
  'CUSTOMER_IS_ON_HOLD',
  ...SIDE_ERRORS,
  ...LINE_ERRORS,
  'BANK_ACCOUNT_DOES_NOT_EXIST',
  'BANK_ACCOUNT_CURRENCY_MISMATCH',
  'IDEMPOTENCY_KEY_REUSED',
] as const;

const ppaExample = {
  batchInvoice: {
    customerCode: 'CUST001',
    invoiceDate: '2026-11-01',
    externalReference: 'ORDER-5001',
    lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00', taxRate: '0.21' }],
  },
  receipt: {
    customerCode: 'CUST001',
    checkReference: 'PAY-5001',
    paymentAmount: '121.00',
    bankAccountCode: 'BANK',
    paymentDate: '2026-11-01',
  },
  performExternalReferenceDuplicateCheckOnInvoice: true,
  performExternalReferenceDuplicateCheckOnReceipt: true,
  performAllocation: true,
  allocationReference: 'ORDER-5001',
  clientUniqueReference: 'order-5001',
};

const postPayAllocateRoute = defineRoute({
  method: 'POST',
  path: '/v1/sales/post-pay-allocate',
  operationId: 'postPayAllocate',
  summary: 'Post an invoice and its receipt and allocate them, all or nothing',
  description:
    'AccountsIQ PostPayAndAllocateSalesInvoice: duplicate-check the invoice, then the receipt; post the invoice; post the receipt; allocate. ' +
    'Any failure rolls everything back. The allocation amount defaults to the smaller of invoice gross and receipt, its date to the receipt date.',
  tags: ['sales'],
  auth: 'entity',
  body: PostPayAllocate,
  example: ppaExample,
  success: { status: 201, description: 'Transaction ids of what was posted.', schema: PostPayAllocateResponse },
  errors: [...PPA_ERRORS],
  handler: async (ctx) => {
    const r = await postPayAllocate(posting(ctx), ctx.body);
    await ctx.audit({
      action: 'post-pay-allocate',
      objectType: 'transaction',
      objectId: r.invoiceTransactionId ?? r.receiptTransactionId,
      after: r,
    });
    return r;
  },
});

const postPayAllocateBulkRoute = defineRoute({
  method: 'POST',
  path: '/v1/sales/post-pay-allocate/bulk',
  operationId: 'postPayAllocateBulk',
  summary: 'Up to 1,000 post-pay-allocate queries, each atomic on its own',
  description:
    'Each query is validated and posted on its own (a failed query posts nothing and does not stop the others). ' +
    'status is Success only if every query succeeded; match results to queries by position or clientUniqueReference.',
  tags: ['sales'],
  auth: 'entity',
  body: BulkPostPayAllocate,
  example: { queries: [ppaExample] },
  success: {
    status: 200,
    description: 'A result per query, in order.',
    schema: z.object({
      status: z.enum(['Success', 'Failure']),
      results: z.array(
        PostPayAllocateResponse.partial().extend({
          status: z.enum(['Success', 'Failure']),
          errorCode: z.string().optional(),
          errorMessage: z.string().optional(),
          errorDetails: z.unknown().optional(),
        }),
      ),
    }),
  },
  errors: ['IDEMPOTENCY_KEY_REUSED'],
  handler: async (ctx) => {
    const log = ctx.log;
    const out = await postPayAllocateBulk(posting(ctx), ctx.body.queries, {
      parse: (raw, index) => {
        const r = PostPayAllocate.safeParse(raw);
        if (r.success) return r.data;
        const problems = r.error.issues.map((i) => ({
          field: [`queries[${index}]`, ...i.path.map(String)].join('.'),
          message: i.message,
        }));
        throw new DomainError('VALIDATION_ERROR', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
      },
      onUnexpected: (err, index) => log.error({ err, index }, 'post-pay-allocate chunk or query failed unexpectedly'),
    });
    await ctx.audit({
      action: 'post-pay-allocate.bulk',
      objectType: 'transaction',
      after: {
        status: out.status,
        succeeded: out.results.filter((r) => r.status === 'Success').length,
        failed: out.results.filter((r) => r.status === 'Failure').length,
      },
    });
    return out;
  },
});

export const salesRoutes: AnyRoute[] = [
  postInvoiceRoute,
  postReceiptRoute,
  postCreditNoteRoute,
  journalRoute('SD'),
  journalRoute('SC'),
  postPayAllocateRoute,
  postPayAllocateBulkRoute,
  allocateRoute,
  unallocateRoute,
  ...draftRoutes,
  ...itemDocumentRoutes,
];
