import { z } from 'zod';
import { defineRoute, type AnyRoute, type RouteContext } from '../route.ts';
import { DOCUMENT_POSTING_ERRORS, LINE_POSTING_ERRORS } from './posting-errors.ts';
import { Code, Description, ExchangeRate, IsoDate, Page, Rate, Reference, TransactionId, paged } from '../schemas.ts';
import { Quantity, UnitPrice } from '../../domain/schemas.ts';
import { TAX_CALCULATIONS, TAX_ROUNDINGS } from '../../domain/item-lines.ts';
import type { ErrorCode } from '../../domain/errors.ts';
import { formatAmount } from '../../domain/money.ts';
import { DRAFT_STATUSES, type DraftInvoice, cancelDraft, getDraft, listDrafts } from '../../ledger/drafts.ts';
import type { ItemDocumentType } from '../../ledger/item-documents.ts';
import { createItemDraft, newItemInvoice, postItemDraft, updateItemDraft } from '../../ledger/item-drafts.ts';
import type { PostingContext } from '../../ledger/posting/types.ts';
import { Text, notFound } from './setup-shared.ts';
import { LineAnalysis } from '../analysis-schemas.ts';

/**
 * Item invoices (`/v1/sales/invoices`) and item credit notes (`/v1/sales/credit-notes/drafts`):
 * drafts written as items, quantities and unit prices, posted when asked. One set of routes per
 * document type, built by the same function, on the draft-invoice table (src/ledger/item-drafts.ts).
 */

function posting(ctx: RouteContext<unknown, unknown, unknown>): PostingContext {
  return { db: ctx.db, entity: ctx.entity, actor: ctx.principal.actor };
}

const ItemLine = z.strictObject({
  itemCode: Code.optional().meta({ description: 'The item whose defaults fill what the line leaves out.' }),
  description: Description.optional().meta({ description: "Defaults to the item's description." }),
  quantity: Quantity,
  unitPrice: UnitPrice.optional().meta({
    description: "At most 4 decimals; defaults to the item's unit price. Negative for a discount or credit line.",
  }),
  discountRate: Rate.optional().meta({
    description: 'Line discount as a fraction ("0.1" = 10 %), 0 to 1; defaults to the customer\'s discountRate.',
  }),
  glAccountCode: Code.optional().meta({ description: "Defaults to the item's, then the customer's." }),
  taxCode: Code.optional().meta({ description: "Defaults to the item's, then the customer's." }),
  departmentId: Code.optional().meta({ description: "Defaults to the item's, then the customer's." }),
  analysis: LineAnalysis.optional(),
  note: Text(2000).optional().meta({ description: 'A note printed under the line.' }),
});

const Lines = z.array(ItemLine).min(1, 'at least one line').max(1000);

const ItemDocumentBody = z.strictObject({
  customerCode: Code,
  date: IsoDate.meta({ description: 'The document date.' }),
  dueDate: IsoDate.optional().meta({
    description: "Invoices only; defaults from the customer's credit terms. Refused on a credit note.",
  }),
  externalReference: Reference.optional().meta({ description: 'Duplicate-checked per customer and type.' }),
  description: Description.optional(),
  orderNumber: Reference.optional().meta({ description: "The customer's order number." }),
  deliveryDate: IsoDate.optional(),
  exchangeRate: ExchangeRate.optional().meta({ description: 'Required for a foreign-currency customer; 1 otherwise.' }),
  confirmExchangeRate: z.boolean().optional(),
  performExternalReferenceDuplicateCheck: z.boolean().default(true),
  enforceCreditLimit: z
    .boolean()
    .default(false)
    .meta({ description: 'Invoices only: checked when the draft is posted.' }),
  lines: Lines,
});

/**
 * A credit note may credit a posted item invoice: without `lines` it copies the invoice's, and
 * without `customerCode` it takes the invoice's customer.
 */
const FromInvoice = TransactionId.refine((n) => Number.isSafeInteger(n), { message: 'is too large' }).meta({
  description:
    'The posted item invoice (its transactionId) this credit note credits. Without `lines` the draft copies the ' +
    "invoice's lines (items, quantities, unit prices, discounts, GL accounts, tax codes, departments and notes); " +
    "without `customerCode` it takes the invoice's customer; a foreign-currency invoice's exchange rate is kept. " +
    'Posting refuses to credit more than the invoice less the credit notes already posted against it.',
});

const CreditNoteBody = ItemDocumentBody.extend({
  customerCode: Code.optional().meta({ description: "Required unless fromInvoiceTransactionId gives the invoice's." }),
  fromInvoiceTransactionId: FromInvoice.optional(),
  lines: Lines.optional().meta({ description: 'Required unless fromInvoiceTransactionId copies the invoice lines.' }),
});

/** PUT: every field optional; null clears an optional field; `lines` replaces every line. */
const ItemDocumentPatch = z.strictObject({
  customerCode: Code.optional(),
  date: IsoDate.optional(),
  dueDate: IsoDate.nullable().optional(),
  externalReference: Reference.nullable().optional(),
  description: Description.nullable().optional(),
  orderNumber: Reference.nullable().optional(),
  deliveryDate: IsoDate.nullable().optional(),
  exchangeRate: ExchangeRate.nullable().optional(),
  confirmExchangeRate: z.boolean().nullable().optional(),
  performExternalReferenceDuplicateCheck: z.boolean().optional(),
  enforceCreditLimit: z.boolean().optional(),
  lines: Lines.optional(),
});

const DraftId = z.strictObject({
  id: TransactionId.refine((n) => Number.isSafeInteger(n), { message: 'is too large' }).meta({
    description: 'The draftId returned when the draft was created.',
  }),
});

const Money = z.string();
const Breakdown = z
  .array(z.object({ taxCode: z.string(), taxRate: z.string(), netAmount: Money, taxAmount: Money }))
  .meta({ description: 'Net and tax per tax code and rate, as computed with the entity’s tax settings.' });

const draftView = (type: ItemDocumentType) =>
  z.object({
    draftId: z.number().int(),
    number: z.number().int().meta({ description: 'Gapless per entity, shared with the batch draft invoices.' }),
    status: z.enum(DRAFT_STATUSES),
    customerCode: z.string(),
    currency: z.string(),
    netAmount: Money,
    taxAmount: Money,
    grossAmount: Money,
    dueDate: z
      .string()
      .nullable()
      .meta({ description: 'Invoices: given or from the credit terms. Null on credit notes.' }),
    lines: z
      .array(
        z.object({
          lineNo: z.number().int(),
          taxRate: z.string(),
          netAmount: Money,
          taxAmount: Money,
          grossAmount: Money,
        }),
      )
      .meta({ description: 'The amounts of each line of `document.lines`, in order.' }),
    vatBreakdown: Breakdown,
    transactionId: z.number().int().nullable(),
    transactionNumber: z.number().int().nullable(),
    document: (type === 'SI'
      ? ItemDocumentBody
      : ItemDocumentBody.extend({ fromInvoiceTransactionId: z.number().int().optional() })
    ).meta({ description: 'The document as saved, every default filled in.' }),
    createdAt: z.string(),
    updatedAt: z.string(),
    postedAt: z.string().nullable(),
    cancelledAt: z.string().nullable(),
  });

interface Computed {
  lines: unknown[];
  vatBreakdown: unknown[];
}

function view(d: DraftInvoice) {
  const computed = (d.computed ?? { lines: [], vatBreakdown: [] }) as Computed;
  return {
    draftId: d.id,
    number: d.number,
    status: d.status,
    customerCode: d.customerCode,
    currency: d.currency,
    netAmount: formatAmount(d.net, d.currency),
    taxAmount: formatAmount(d.tax, d.currency),
    grossAmount: formatAmount(d.gross, d.currency),
    dueDate: d.type === 'SI' ? d.dueDate : null,
    lines: computed.lines,
    vatBreakdown: computed.vatBreakdown,
    transactionId: d.transactionId,
    transactionNumber: d.transactionNumber,
    document: d.input,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    postedAt: d.postedAt,
    cancelledAt: d.cancelledAt,
  };
}

const VALIDATION_ERRORS: ErrorCode[] = [
  'CUSTOMER_CODE_DOES_NOT_EXIST',
  'CUSTOMER_IS_INACTIVE',
  'ITEM_CODE_DOES_NOT_EXIST',
  'ITEM_IS_INACTIVE',
  'LINE_DEFAULT_MISSING',
  ...DOCUMENT_POSTING_ERRORS.filter((c) => c !== 'EXCHANGE_RATE_IMPLAUSIBLE'),
  ...LINE_POSTING_ERRORS,
  'DUE_DATE_BEFORE_TRANSACTION_DATE',
];

const example = {
  customerCode: 'CUST001',
  date: '2026-11-01',
  orderNumber: 'PO-4471',
  deliveryDate: '2026-10-30',
  externalReference: 'SO-1001',
  lines: [
    { itemCode: 'WIDGET', quantity: '3', unitPrice: '33.3333', discountRate: '0.1', note: 'Blue' },
    { description: 'Delivery', quantity: '1', unitPrice: '7.50', glAccountCode: '4000', taxCode: 'STD' },
  ],
};

function documentRoutes(type: ItemDocumentType): AnyRoute[] {
  const si = type === 'SI';
  const base = si ? '/v1/sales/invoices' : '/v1/sales/credit-notes/drafts';
  const what = si ? 'item invoice' : 'item credit note';
  const Op = si ? 'ItemInvoice' : 'ItemCreditNote';
  const duplicate: ErrorCode = si
    ? 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS'
    : 'CREDIT_NOTE_EXTERNAL_REFERENCE_ALREADY_EXISTS';
  const notFoundError = (id: number) => notFound(`draft ${what} ${id}`);
  const DraftView = draftView(type);
  const credits: ErrorCode[] = si
    ? []
    : [
        'TRANSACTION_DOES_NOT_EXIST',
        'TRANSACTION_IS_NOT_AN_INVOICE',
        'INVOICE_IS_NOT_AN_ITEM_INVOICE',
        'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS',
        'CREDIT_NOTE_EXCEEDS_INVOICE',
      ];

  const create = defineRoute({
    method: 'POST',
    path: base,
    operationId: `create${Op}`,
    summary: `Save a draft ${what} (not posted)`,
    description:
      'Lines are items, quantities and unit prices less a line discount; what a line leaves out comes from its item, ' +
      'then from the customer. The draft is checked now as it would be posted and saved with every default filled in; ' +
      "ledgerlink computes each line's net and the tax (per line or per document, `GET /v1/settings`). Nothing is " +
      'posted until `POST ' +
      `${base}/{id}/post\`.` +
      (si
        ? ''
        : ' With `fromInvoiceTransactionId` the credit note credits that posted item invoice: sent without `lines`, ' +
          "the draft is a copy of the invoice's lines, whose quantities (or any other field) can then be changed " +
          'with PUT before posting. It never credits more than the invoice less the credit notes posted against it.'),
    tags: ['sales'],
    auth: 'entity',
    body: si ? ItemDocumentBody : CreditNoteBody,
    example: si ? example : { fromInvoiceTransactionId: 1042, date: '2026-11-20', externalReference: 'RMA-88' },
    success: { status: 201, description: 'The draft.', schema: DraftView },
    errors: [...VALIDATION_ERRORS, ...credits, duplicate, 'IDEMPOTENCY_KEY_REUSED'],
    handler: async (ctx) => {
      const body = view(await createItemDraft(posting(ctx), type, ctx.body));
      await ctx.audit({
        action: `draft-${si ? 'invoice' : 'credit-note'}.created`,
        objectType: 'draft-invoice',
        objectId: body.draftId,
        after: body,
      });
      return body;
    },
  });

  const update = defineRoute({
    method: 'PUT',
    path: `${base}/{id}`,
    operationId: `update${Op}`,
    summary: `Change an open draft ${what}`,
    description:
      'Changes only the fields sent; `null` clears an optional one; `lines`, when sent, replaces every line (resolved ' +
      'against the item and customer defaults of now). Validated as on create. Posted and cancelled drafts are final.',
    tags: ['sales'],
    auth: 'entity',
    params: DraftId,
    body: ItemDocumentPatch,
    example: { orderNumber: 'PO-4472', deliveryDate: null },
    success: { status: 200, description: 'The draft as saved.', schema: DraftView },
    errors: ['NOT_FOUND', 'DRAFT_IS_POSTED', 'DRAFT_IS_CANCELLED', ...VALIDATION_ERRORS, ...credits, duplicate],
    handler: async (ctx) => {
      const { before, after } = await updateItemDraft(posting(ctx), type, ctx.params.id, ctx.body);
      const body = view(after);
      await ctx.audit({
        action: `draft-${si ? 'invoice' : 'credit-note'}.updated`,
        objectType: 'draft-invoice',
        objectId: ctx.params.id,
        before: view(before),
        after: body,
      });
      return body;
    },
  });

  const get = defineRoute({
    method: 'GET',
    path: `${base}/{id}`,
    operationId: `get${Op}`,
    summary: `Read a draft ${what}`,
    tags: ['sales'],
    auth: 'entity',
    params: DraftId,
    success: { status: 200, description: 'The draft.', schema: DraftView },
    errors: ['NOT_FOUND'],
    handler: async ({ db, entity, params }) => {
      const d = await getDraft(db, entity.id, params.id, 'items', type);
      if (!d) throw notFoundError(params.id);
      return view(d);
    },
  });

  const list = defineRoute({
    method: 'GET',
    path: base,
    operationId: `list${Op}s`,
    summary: `List draft ${what}s by status and customer`,
    description: 'Ordered by draft id.',
    tags: ['sales'],
    auth: 'entity',
    query: z.strictObject({ status: z.enum(DRAFT_STATUSES).optional(), customerCode: Code.optional(), ...Page.shape }),
    success: { status: 200, description: `A page of draft ${what}s.`, schema: paged(DraftView) },
    handler: async ({ db, entity, query }) => {
      const { items, total } = await listDrafts(db, entity.id, query, 'items', type);
      return { items: items.map(view), page: query.page, pageSize: query.pageSize, total };
    },
  });

  const post = defineRoute({
    method: 'POST',
    path: `${base}/{id}/post`,
    operationId: `post${Op}`,
    summary: `Post a draft ${what} (${type})`,
    description:
      'Computes the lines and the tax again with the settings in force, posts the document with its item lines, ' +
      'order number, delivery date and VAT breakdown (GET /v1/transactions/{id}), and records the transaction on the ' +
      'draft. Posting a posted draft again answers 200 with the same transaction; it never posts a second one.',
    tags: ['sales'],
    auth: 'entity',
    params: DraftId,
    success: {
      status: 201,
      description: 'The posted document (200 when the draft had been posted before).',
      schema: z.object({
        draftId: z.number().int(),
        draftNumber: z.number().int(),
        transactionId: z.number().int(),
        number: z
          .number()
          .int()
          .meta({ description: `The ${si ? 'invoice' : 'credit note'} number.` }),
        netAmount: Money,
        taxAmount: Money,
        grossAmount: Money,
        dueDate: z.string().nullable(),
        vatBreakdown: Breakdown,
      }),
    },
    errors: [
      'NOT_FOUND',
      'DRAFT_IS_CANCELLED',
      ...VALIDATION_ERRORS,
      ...credits,
      duplicate,
      ...(si ? (['CUSTOMER_CREDIT_LIMIT_EXCEEDED', 'CUSTOMER_IS_ON_HOLD'] as ErrorCode[]) : []),
      'EXCHANGE_RATE_IMPLAUSIBLE',
      'IDEMPOTENCY_KEY_REUSED',
    ],
    handler: async (ctx) => {
      const { draft: d, replayed } = await postItemDraft(posting(ctx), type, ctx.params.id);
      const v = view(d);
      const body = {
        draftId: d.id,
        draftNumber: d.number,
        transactionId: d.transactionId!,
        number: d.transactionNumber!,
        netAmount: v.netAmount,
        taxAmount: v.taxAmount,
        grossAmount: v.grossAmount,
        dueDate: v.dueDate,
        vatBreakdown: v.vatBreakdown,
      };
      if (replayed) ctx.setStatus(200);
      else {
        await ctx.audit({
          action: si ? 'invoice.posted' : 'credit-note.posted',
          objectType: 'transaction',
          objectId: d.transactionId,
          after: { ...(d.input as object), ...body },
        });
      }
      return body;
    },
  });

  const cancel = defineRoute({
    method: 'POST',
    path: `${base}/{id}/cancel`,
    operationId: `cancel${Op}`,
    summary: `Cancel an open draft ${what}`,
    description: 'A cancelled draft can no longer be changed or posted; cancelling it again changes nothing.',
    tags: ['sales'],
    auth: 'entity',
    params: DraftId,
    success: { status: 200, description: 'The cancelled draft.', schema: DraftView },
    errors: ['NOT_FOUND', 'DRAFT_IS_POSTED', 'IDEMPOTENCY_KEY_REUSED'],
    handler: async (ctx) => {
      const body = view(await cancelDraft(posting(ctx), ctx.params.id, 'items', type));
      await ctx.audit({
        action: `draft-${si ? 'invoice' : 'credit-note'}.cancelled`,
        objectType: 'draft-invoice',
        objectId: ctx.params.id,
        after: body,
      });
      return body;
    },
  });

  return [create, list, get, update, post, cancel];
}

const newInvoiceRoute = defineRoute({
  method: 'GET',
  path: '/v1/sales/invoices/new',
  operationId: 'newItemInvoice',
  summary: 'An item invoice prefilled from the customer (not saved)',
  description:
    'AccountsIQ GetNewSalesInvoice: today as the date, the due date from the credit terms, and the defaults every ' +
    'line takes from the customer (GL account, tax code, department, discount rate), with the entity’s tax ' +
    'settings. Nothing is saved; send it back with lines to POST /v1/sales/invoices.',
  tags: ['sales'],
  auth: 'entity',
  query: z.strictObject({ customerCode: Code }),
  success: {
    status: 200,
    description: 'The prefilled invoice.',
    schema: z.object({
      customerCode: z.string(),
      currency: z.string(),
      date: z.string(),
      dueDate: z.string(),
      lines: z.array(ItemLine),
      lineDefaults: z.object({
        glAccountCode: z.string().nullable(),
        taxCode: z.string().nullable(),
        departmentId: z.string().nullable(),
        discountRate: z.string(),
      }),
      settings: z.object({ taxCalculation: z.enum(TAX_CALCULATIONS), taxRounding: z.enum(TAX_ROUNDINGS) }),
    }),
  },
  errors: ['CUSTOMER_CODE_DOES_NOT_EXIST', 'CUSTOMER_IS_INACTIVE'],
  handler: async (ctx) => newItemInvoice(posting(ctx), ctx.query.customerCode),
});

export const itemDocumentRoutes: AnyRoute[] = [newInvoiceRoute, ...documentRoutes('SI'), ...documentRoutes('SN')];
