import { z } from 'zod';
import { defineRoute, type AnyRoute, type RouteContext } from '../route.ts';
import { DOCUMENT_POSTING_ERRORS, LINE_POSTING_ERRORS } from './posting-errors.ts';
import { Code, Currency, Description, ExchangeRate, IsoDate, Page, Rate, Reference, paged } from '../schemas.ts';
import { Warnings, withWarnings } from '../schemas.ts';
import { InvoiceLine } from '../sales-schemas.ts';
import { formatAmount } from '../../domain/money.ts';
import type { PostingContext } from '../../ledger/posting/types.ts';
import { listSuppliers, loadSupplier, saveSupplier } from '../../ledger/purchases/suppliers.ts';
import { postPurchaseInvoice, type PostedPurchase } from '../../ledger/purchases/invoices.ts';
import { getPurchaseInvoice, listPurchaseInvoices } from '../../ledger/purchases/reads.ts';
import { type PostedSales, postBackToBack } from '../../ledger/purchases/back-to-back.ts';
import { SafeTransactionId } from './reports/schemas.ts';
import { CodeParams, Name, Text, checkBodyKey, notFound, savedByKey } from './setup-shared.ts';

export function posting(ctx: RouteContext<unknown, unknown, unknown>): PostingContext {
  return { db: ctx.db, entity: ctx.entity, actor: ctx.principal.actor };
}

const SupplierView = z.object({
  code: z.string(),
  name: z.string(),
  currency: z.string(),
  creditDays: z.number().int(),
  email: z.string().nullable(),
  vatNumber: z.string().nullable(),
  defaultTaxCode: z.string().nullable(),
  defaultGlAccountCode: z.string().nullable(),
  controlGlAccountCode: z.string(),
  isActive: z.boolean(),
});

const listSuppliersRoute = defineRoute({
  method: 'GET',
  path: '/v1/suppliers',
  operationId: 'listSuppliers',
  summary: 'List suppliers',
  tags: ['purchases'],
  auth: 'entity',
  success: { status: 200, description: 'Every supplier, ordered by code.', schema: z.array(SupplierView) },
  handler: async ({ db, entity }) => listSuppliers(db, entity.id),
});

const getSupplierRoute = defineRoute({
  method: 'GET',
  path: '/v1/suppliers/{code}',
  operationId: 'getSupplier',
  summary: 'Read a supplier',
  tags: ['purchases'],
  auth: 'entity',
  params: CodeParams,
  success: { status: 200, description: 'The supplier.', schema: SupplierView },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const s = await loadSupplier(db, entity.id, params.code);
    if (!s) throw notFound(`supplier ${params.code}`);
    return s;
  },
});

const putSupplierRoute = defineRoute({
  method: 'PUT',
  path: '/v1/suppliers/{code}',
  operationId: 'putSupplier',
  summary: 'Create or update a supplier',
  description:
    'Creates the supplier (name required; currency defaults to the base currency, the control account to the creditors ' +
    'control account 2100) or updates the fields sent. The control account must be a control account; it and the ' +
    'currency cannot change once the supplier has postings.',
  tags: ['purchases'],
  auth: 'entity',
  params: CodeParams,
  body: z.strictObject({
    code: Code.nullable().optional().meta({ description: 'May repeat the code in the path.' }),
    name: Name.optional().meta({ description: 'Required when creating.' }),
    currency: Currency.optional(),
    creditDays: z.number().int().min(0).max(3650).optional().meta({ description: 'Days from the invoice date.' }),
    email: Text(254)
      .regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address')
      .nullable()
      .optional(),
    vatNumber: Text(50).nullable().optional(),
    defaultTaxCode: Code.nullable().optional(),
    defaultGlAccountCode: Code.nullable().optional().meta({ description: 'Expense account of lines that name none.' }),
    controlGlAccountCode: Code.optional().meta({ description: 'The creditors control account.' }),
    isActive: z.boolean().optional(),
  }),
  example: { name: 'Acme Supplies', currency: 'EUR', defaultTaxCode: 'STD', defaultGlAccountCode: '5000' },
  success: { status: 200, description: 'The supplier as saved (201 when it was created).', schema: SupplierView },
  errors: [
    'CURRENCY_CODE_DOES_NOT_EXIST',
    'SUPPLIER_CURRENCY_CANNOT_CHANGE',
    'SUPPLIER_CONTROL_ACCOUNT_LOCKED',
    'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
    'GLACCOUNT_IS_CONTROL_ACCOUNT',
    'GLACCOUNT_IS_NOT_CONTROL_ACCOUNT',
    'TAX_CODE_DOES_NOT_EXIST',
    'OUTDATED_RECORD',
  ],
  handler: async ({ db, entity, params, body, audit, setStatus }) => {
    checkBodyKey(body.code, params.code, 'code');
    const { code: _code, ...input } = body;
    return savedByKey({ audit, setStatus }, { objectType: 'supplier', objectId: params.code }, () =>
      saveSupplier(db, entity, params.code, input),
    );
  },
});

export const PurchaseLine = InvoiceLine.extend({
  glAccountCode: Code.optional().meta({
    description:
      "Expense account; defaults to the supplier's default account, then the entity's purchases account (5000).",
    examples: ['5000'],
  }),
  taxCode: Code.optional().meta({ description: "Defaults to the supplier's default tax code.", examples: ['STD'] }),
});

export const PurchaseInvoice = z.strictObject({
  supplierCode: Code,
  invoiceDate: IsoDate,
  dueDate: IsoDate.optional().meta({ description: "Defaults to the supplier's credit days after the invoice date." }),
  supplierReference: Reference.refine((v) => v.trim() !== '', { message: 'must not be empty' }).meta({
    description: "The supplier's invoice number: always duplicate-checked per supplier (trimmed, any case).",
    examples: ['ACME-7781'],
  }),
  description: Description.optional(),
  exchangeRate: ExchangeRate.optional().meta({ description: 'Required for a foreign-currency supplier; 1 otherwise.' }),
  confirmExchangeRate: z.boolean().optional(),
  lines: z.array(PurchaseLine).min(1, 'at least one line').max(1000),
});

const PostedDocument = z.object({
  transactionId: z.number().int(),
  number: z.number().int(),
  netAmount: z.string(),
  taxAmount: z.string(),
  grossAmount: z.string(),
  dueDate: z.string(),
});

export function postedBody(p: PostedPurchase | PostedSales) {
  return {
    transactionId: p.id,
    number: p.number,
    netAmount: formatAmount(p.net, p.currency),
    taxAmount: formatAmount(p.tax, p.currency),
    grossAmount: formatAmount(p.gross, p.currency),
    dueDate: p.dueDate,
  };
}

const PURCHASE_ERRORS = [
  'SUPPLIER_CODE_DOES_NOT_EXIST',
  'SUPPLIER_IS_INACTIVE',
  'PURCHASE_INVOICE_SUPPLIER_REFERENCE_ALREADY_EXISTS',
  ...DOCUMENT_POSTING_ERRORS,
  'DUE_DATE_BEFORE_TRANSACTION_DATE',
  ...LINE_POSTING_ERRORS,
  'IDEMPOTENCY_KEY_REUSED',
] as const;

const purchaseExample = {
  supplierCode: 'ACME',
  invoiceDate: '2026-11-03',
  supplierReference: 'ACME-7781',
  description: 'Stadium seats',
  lines: [{ glAccountCode: '5000', taxCode: 'STD', description: 'Seats', netAmount: '1000.00', taxRate: '0.21' }],
};

const postPurchaseInvoiceRoute = defineRoute({
  method: 'POST',
  path: '/v1/purchases/invoices',
  operationId: 'postPurchaseInvoice',
  summary: 'Post a purchase invoice (PI)',
  description:
    "Posts straight to the ledger: Dr each line's net to its GL account, Dr VAT input (2210) per tax code, Cr the supplier's " +
    'control account (creditors control 2100) the gross. Numbers are gapless per entity; the document never changes. ' +
    "The supplier's reference is always duplicate-checked.",
  tags: ['purchases'],
  auth: 'entity',
  body: PurchaseInvoice,
  example: purchaseExample,
  success: {
    status: 201,
    description: 'The posted purchase invoice.',
    schema: PostedDocument.extend({ warnings: Warnings }),
  },
  errors: [...PURCHASE_ERRORS],
  handler: async (ctx) => {
    const r = await postPurchaseInvoice(posting(ctx), ctx.body);
    const body = { ...postedBody(r), ...withWarnings(r.warnings) };
    await ctx.audit({
      action: 'purchase-invoice.posted',
      objectType: 'transaction',
      objectId: r.id,
      after: { ...ctx.body, ...body },
    });
    return body;
  },
});

const Linked = z
  .object({
    kind: z.enum(['back_to_back', 'intercompany']),
    transactionId: z.number().int(),
    entityCode: z.string(),
  })
  .nullable()
  .meta({ description: 'The sales invoice this one is the other half of (in another entity for intercompany).' });

const PurchaseSummary = z.object({
  transactionId: z.number().int(),
  number: z.number().int(),
  supplierCode: z.string(),
  invoiceDate: z.string(),
  dueDate: z.string(),
  supplierReference: z.string(),
  description: z.string(),
  currency: z.string(),
  exchangeRate: z.string(),
  netAmount: z.string(),
  taxAmount: z.string(),
  grossAmount: z.string(),
});

const getPurchaseInvoiceRoute = defineRoute({
  method: 'GET',
  path: '/v1/purchases/invoices/{id}',
  operationId: 'getPurchaseInvoice',
  summary: 'Read a purchase invoice with its lines, journal and linked sales invoice',
  tags: ['purchases'],
  auth: 'entity',
  params: z.strictObject({ id: SafeTransactionId }),
  success: {
    status: 200,
    description: 'The purchase invoice.',
    schema: PurchaseSummary.extend({
      lines: z.array(
        z.object({
          lineNo: z.number().int(),
          glAccountCode: z.string(),
          taxCode: z.string(),
          taxRate: z.string(),
          description: z.string(),
          departmentId: z.string().nullable(),
          netAmount: z.string(),
          taxAmount: z.string(),
        }),
      ),
      journal: z.array(
        z.object({
          role: z.string(),
          glAccountCode: z.string(),
          taxCode: z.string().nullable(),
          amount: z.string().meta({ description: 'Signed, debit positive, document currency.' }),
          baseAmount: z.string(),
        }),
      ),
      linked: Linked,
    }),
  },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => getPurchaseInvoice(db, entity.id, entity.baseCurrency, params.id),
});

const listPurchaseInvoicesRoute = defineRoute({
  method: 'GET',
  path: '/v1/purchases/invoices',
  operationId: 'listPurchaseInvoices',
  summary: 'List purchase invoices',
  tags: ['purchases'],
  auth: 'entity',
  query: Page.extend({
    supplierCode: Code.optional(),
    fromDate: IsoDate.optional(),
    toDate: IsoDate.optional(),
  }),
  success: { status: 200, description: 'A page of purchase invoices, by id.', schema: paged(PurchaseSummary) },
  handler: async ({ db, entity, query }) => listPurchaseInvoices(db, entity.id, query),
});

const backToBackRoute = defineRoute({
  method: 'POST',
  path: '/v1/back-to-back',
  operationId: 'postBackToBack',
  summary: 'Post a purchase invoice and the sales invoice selling it on, linked, all or nothing',
  description:
    'Posts the purchase invoice, then the sales invoice, then the link between them, in one database transaction: if either ' +
    'half is refused nothing is posted. The sales lines are given (`sales.lines`) or copied from the purchase lines with ' +
    '`sales.markupRate`: each line net × (1 + markupRate), rounded half-up to the currency minor unit, line by line; VAT ' +
    "is the sales tax code's (copied lines take `sales.taxCode`, the customer's default tax code, or the purchase line's). " +
    'Copying needs the customer and the supplier in one currency.',
  tags: ['purchases'],
  auth: 'entity',
  body: z.strictObject({
    purchase: PurchaseInvoice,
    sales: z.strictObject({
      customerCode: Code,
      invoiceDate: IsoDate.optional().meta({ description: "Defaults to the purchase invoice's date." }),
      dueDate: IsoDate.optional(),
      externalReference: Reference.optional(),
      description: Description.optional(),
      exchangeRate: ExchangeRate.optional(),
      confirmExchangeRate: z.boolean().optional(),
      markupRate: Rate.optional().meta({ description: 'A fraction: "0.25" sells at cost + 25 %.', examples: ['0.25'] }),
      glAccountCode: Code.optional().meta({ description: 'Sales account of copied lines.' }),
      taxCode: Code.optional().meta({ description: 'Tax code of copied lines.' }),
      lines: z.array(InvoiceLine).min(1).max(1000).optional(),
      performExternalReferenceDuplicateCheck: z.boolean().default(true),
      enforceCreditLimit: z.boolean().default(false),
    }),
  }),
  example: {
    purchase: purchaseExample,
    sales: { customerCode: 'CUST001', externalReference: 'SO-5521', markupRate: '0.25', glAccountCode: '4000' },
  },
  success: {
    status: 201,
    description: 'Both posted documents.',
    schema: z.object({ purchase: PostedDocument, sales: PostedDocument }),
  },
  errors: [
    ...PURCHASE_ERRORS,
    'BACK_TO_BACK_CURRENCY_MISMATCH',
    'CUSTOMER_CODE_DOES_NOT_EXIST',
    'CUSTOMER_IS_INACTIVE',
    'CUSTOMER_IS_ON_HOLD',
    'CUSTOMER_CREDIT_LIMIT_EXCEEDED',
    'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  ],
  handler: async (ctx) => {
    const r = await postBackToBack(posting(ctx), ctx.body);
    const body = { purchase: postedBody(r.purchase), sales: postedBody(r.sales) };
    await ctx.audit({
      action: 'back-to-back.posted',
      objectType: 'transaction',
      objectId: r.sales.id,
      after: { ...ctx.body, ...body },
    });
    return body;
  },
});

export const purchaseRoutes: AnyRoute[] = [
  listSuppliersRoute,
  getSupplierRoute,
  putSupplierRoute,
  postPurchaseInvoiceRoute,
  listPurchaseInvoicesRoute,
  getPurchaseInvoiceRoute,
  backToBackRoute,
];
