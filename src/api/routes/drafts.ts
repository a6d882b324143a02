import { z } from 'zod';
import { defineRoute, type AnyRoute, type RouteContext } from '../route.ts';
import { DOCUMENT_POSTING_ERRORS, LINE_POSTING_ERRORS } from './posting-errors.ts';
import { Code, Page, TransactionId, Warnings, paged, withWarnings } from '../schemas.ts';
import { BatchInvoice } from '../sales-schemas.ts';
import { DomainError } from '../../domain/errors.ts';
import { formatAmount } from '../../domain/money.ts';
import {
  DRAFT_STATUSES,
  type DraftInvoice,
  cancelDraft,
  createDraft,
  getDraft,
  listDrafts,
  postDraft,
  updateDraft,
} from '../../ledger/drafts.ts';
import type { PostingContext } from '../../ledger/posting/types.ts';

function posting(ctx: RouteContext<unknown, unknown, unknown>): PostingContext {
  return { db: ctx.db, entity: ctx.entity, actor: ctx.principal.actor };
}

/** The body of a batch invoice, options included: a draft is posted with them. */
const DraftBody = BatchInvoice.extend({
  performExternalReferenceDuplicateCheck: z.boolean().default(true),
  enforceCreditLimit: z.boolean().default(false).meta({ description: 'Checked when the draft is posted.' }),
});

const DraftId = z.strictObject({
  id: TransactionId.refine((n) => Number.isSafeInteger(n), { message: 'is too large' }).meta({
    description: 'The draftId returned when the draft was created.',
  }),
});

const DraftView = z.object({
  draftId: z.number().int(),
  number: z.number().int().meta({ description: 'Gapless per entity; a source such as iXpole is told "D" + number.' }),
  status: z.enum(DRAFT_STATUSES),
  customerCode: z.string(),
  currency: z.string(),
  netAmount: z.string(),
  taxAmount: z.string(),
  grossAmount: z.string(),
  dueDate: z.string().meta({ description: "Given, or from the customer's credit terms." }),
  transactionId: z.number().int().nullable().meta({ description: 'The posted invoice, once posted.' }),
  transactionNumber: z.number().int().nullable(),
  invoice: DraftBody.meta({ description: 'The batch invoice the draft will post.' }),
  createdAt: z.string(),
  updatedAt: z.string(),
  postedAt: z.string().nullable(),
  cancelledAt: z.string().nullable(),
});

function view(d: DraftInvoice) {
  return {
    draftId: d.id,
    number: d.number,
    status: d.status,
    customerCode: d.customerCode,
    currency: d.currency,
    netAmount: formatAmount(d.net, d.currency),
    taxAmount: formatAmount(d.tax, d.currency),
    grossAmount: formatAmount(d.gross, d.currency),
    dueDate: d.dueDate,
    transactionId: d.transactionId,
    transactionNumber: d.transactionNumber,
    invoice: d.input,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    postedAt: d.postedAt,
    cancelledAt: d.cancelledAt,
  };
}

const VALIDATION_ERRORS = [
  'CUSTOMER_CODE_DOES_NOT_EXIST',
  'CUSTOMER_IS_INACTIVE',
  ...DOCUMENT_POSTING_ERRORS.filter((c) => c !== 'EXCHANGE_RATE_IMPLAUSIBLE'),
  ...LINE_POSTING_ERRORS,
  'DUE_DATE_BEFORE_TRANSACTION_DATE',
  'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
] as const;

const example = {
  customerCode: 'CUST001',
  invoiceDate: '2026-11-01',
  externalReference: 'INS-1001',
  description: 'Season ticket, instalment 1',
  lines: [
    { glAccountCode: '4000', taxCode: 'STD', description: 'Season ticket', netAmount: '100.00', taxRate: '0.21' },
  ],
};

const createDraftRoute = defineRoute({
  method: 'POST',
  path: '/v1/sales/draft-invoices',
  operationId: 'createDraftInvoice',
  summary: 'Create a draft sales invoice (not posted)',
  description:
    'Takes the body of a batch invoice and checks now that it could be posted (customer, accounts, tax codes, ' +
    'amounts, due date, a duplicate external reference among invoices and open drafts), so a draft that cannot ' +
    'be posted is refused at once. A draft has no journal and is no open item until it is posted.',
  tags: ['sales'],
  auth: 'entity',
  body: DraftBody,
  example,
  success: { status: 201, description: 'The draft.', schema: DraftView },
  errors: [...VALIDATION_ERRORS, 'IDEMPOTENCY_KEY_REUSED'],
  handler: async (ctx) => {
    const d = await createDraft(posting(ctx), ctx.body);
    const body = view(d);
    await ctx.audit({ action: 'draft-invoice.created', objectType: 'draft-invoice', objectId: d.id, after: body });
    return body;
  },
});

const updateDraftRoute = defineRoute({
  method: 'PUT',
  path: '/v1/sales/draft-invoices/{id}',
  operationId: 'updateDraftInvoice',
  summary: 'Replace an open draft invoice',
  description: 'Validated like a new draft. Posted and cancelled drafts are final.',
  tags: ['sales'],
  auth: 'entity',
  params: DraftId,
  body: DraftBody,
  example,
  success: { status: 200, description: 'The draft as saved.', schema: DraftView },
  errors: ['NOT_FOUND', 'DRAFT_IS_POSTED', 'DRAFT_IS_CANCELLED', ...VALIDATION_ERRORS],
  handler: async (ctx) => {
    const before = await getDraft(ctx.db, ctx.entity.id, ctx.params.id);
    const body = view(await updateDraft(posting(ctx), ctx.params.id, ctx.body));
    await ctx.audit({
      action: 'draft-invoice.updated',
      objectType: 'draft-invoice',
      objectId: ctx.params.id,
      before: before ? view(before) : null,
      after: body,
    });
    return body;
  },
});

const getDraftRoute = defineRoute({
  method: 'GET',
  path: '/v1/sales/draft-invoices/{id}',
  operationId: 'getDraftInvoice',
  summary: 'Read a draft invoice',
  tags: ['sales'],
  auth: 'entity',
  params: DraftId,
  success: { status: 200, description: 'The draft.', schema: DraftView },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const d = await getDraft(db, entity.id, params.id);
    if (!d) throw notFound(params.id);
    return view(d);
  },
});

const listDraftsRoute = defineRoute({
  method: 'GET',
  path: '/v1/sales/draft-invoices',
  operationId: 'listDraftInvoices',
  summary: 'List draft invoices by status and customer',
  description: 'Ordered by draft id.',
  tags: ['sales'],
  auth: 'entity',
  query: z.strictObject({
    status: z.enum(DRAFT_STATUSES).optional(),
    customerCode: Code.optional(),
    ...Page.shape,
  }),
  success: { status: 200, description: 'A page of drafts.', schema: paged(DraftView) },
  handler: async ({ db, entity, query }) => {
    const { items, total } = await listDrafts(db, entity.id, query);
    return { items: items.map(view), page: query.page, pageSize: query.pageSize, total };
  },
});

const postDraftRoute = defineRoute({
  method: 'POST',
  path: '/v1/sales/draft-invoices/{id}/post',
  operationId: 'postDraftInvoice',
  summary: 'Post a draft invoice as a sales invoice (SI)',
  description:
    'Validates and posts the draft exactly like POST /v1/sales/batch-invoices (credit limit included when the draft ' +
    'asks for it) and records the transaction. Posting a posted draft again answers 200 with the same transaction; ' +
    'it never posts a second invoice.',
  tags: ['sales'],
  auth: 'entity',
  params: DraftId,
  success: {
    status: 201,
    description: 'The posted invoice (200 when the draft had been posted before).',
    schema: z.object({
      draftId: z.number().int(),
      draftNumber: z.number().int(),
      transactionId: z.number().int(),
      number: z.number().int().meta({ description: 'The invoice number.' }),
      netAmount: z.string(),
      taxAmount: z.string(),
      grossAmount: z.string(),
      dueDate: z.string(),
      warnings: Warnings,
    }),
  },
  errors: [
    'NOT_FOUND',
    'DRAFT_IS_CANCELLED',
    ...VALIDATION_ERRORS,
    'CUSTOMER_CREDIT_LIMIT_EXCEEDED',
    'CUSTOMER_IS_ON_HOLD',
    'EXCHANGE_RATE_IMPLAUSIBLE',
    'IDEMPOTENCY_KEY_REUSED',
  ],
  handler: async (ctx) => {
    const { draft: d, replayed, warnings } = await postDraft(posting(ctx), ctx.params.id);
    const body = {
      draftId: d.id,
      draftNumber: d.number,
      transactionId: d.transactionId!,
      number: d.transactionNumber!,
      netAmount: formatAmount(d.net, d.currency),
      taxAmount: formatAmount(d.tax, d.currency),
      grossAmount: formatAmount(d.gross, d.currency),
      dueDate: d.dueDate,
      ...withWarnings(warnings),
    };
    if (replayed) ctx.setStatus(200);
    else {
      await ctx.audit({
        action: 'invoice.posted',
        objectType: 'transaction',
        objectId: d.transactionId,
        after: { ...d.input, ...body },
      });
    }
    return body;
  },
});

const cancelDraftRoute = defineRoute({
  method: 'POST',
  path: '/v1/sales/draft-invoices/{id}/cancel',
  operationId: 'cancelDraftInvoice',
  summary: 'Cancel an open draft invoice',
  description: 'A cancelled draft can no longer be changed or posted; cancelling it again changes nothing.',
  tags: ['sales'],
  auth: 'entity',
  params: DraftId,
  success: { status: 200, description: 'The cancelled draft.', schema: DraftView },
  errors: ['NOT_FOUND', 'DRAFT_IS_POSTED', 'IDEMPOTENCY_KEY_REUSED'],
  handler: async (ctx) => {
    const body = view(await cancelDraft(posting(ctx), ctx.params.id));
    await ctx.audit({
      action: 'draft-invoice.cancelled',
      objectType: 'draft-invoice',
      objectId: ctx.params.id,
      after: body,
    });
    return body;
  },
});

function notFound(id: number) {
  return new DomainError('NOT_FOUND', `Draft invoice ${id} does not exist in this entity`);
}

export const draftRoutes: AnyRoute[] = [
  createDraftRoute,
  listDraftsRoute,
  getDraftRoute,
  updateDraftRoute,
  postDraftRoute,
  cancelDraftRoute,
];
