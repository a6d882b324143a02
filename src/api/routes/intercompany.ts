import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route.ts';
import { DOCUMENT_POSTING_ERRORS, LINE_POSTING_ERRORS } from './posting-errors.ts';
import { Code, Description, ExchangeRate, IsoDate, Reference } from '../schemas.ts';
import { InvoiceLine } from '../sales-schemas.ts';
import { fieldError } from '../../domain/errors.ts';
import {
  deleteConnection,
  listConnections,
  postIntercompanyInvoice,
  saveConnection,
} from '../../ledger/purchases/intercompany.ts';
import { linkOf } from '../../ledger/purchases/reads.ts';
import { SafeTransactionId } from './reports/schemas.ts';
import { savedByKey } from './setup-shared.ts';
import { postedBody, posting } from './purchases.ts';

const ConnectionView = z.object({
  entityCode: z.string().meta({ description: 'The other entity.' }),
  customerCode: z.string().meta({ description: 'The customer that stands for the other entity here.' }),
  supplierCode: z.string().meta({ description: 'The supplier that stands for the other entity here.' }),
  dueFromGlAccountCode: z.string().meta({ description: "The customer's control account: what the other entity owes." }),
  dueToGlAccountCode: z
    .string()
    .meta({ description: "The supplier's control account: what is owed to the other entity." }),
  status: z.enum(['active', 'pending']).meta({
    description:
      '`active` once the other entity has connected to this one too; invoices post only between active pairs.',
  }),
});

const EntityCodeParams = z.object({
  entityCode: z
    .string()
    .regex(/^[A-Z0-9][A-Z0-9_.-]{0,49}$/, 'must be an entity code')
    .meta({ examples: ['SUBSIDIARY-IE'] }),
});

const listConnectionsRoute = defineRoute({
  method: 'GET',
  path: '/v1/intercompany/connections',
  operationId: 'listIntercompanyConnections',
  summary: "This entity's intercompany connections",
  tags: ['intercompany'],
  auth: 'entity',
  success: { status: 200, description: 'Every connection, by the other entity code.', schema: z.array(ConnectionView) },
  handler: async ({ db, entity }) => listConnections(db, entity.id),
});

const putConnectionRoute = defineRoute({
  method: 'PUT',
  path: '/v1/intercompany/connections/{entityCode}',
  operationId: 'putIntercompanyConnection',
  summary: "Record this entity's half of an intercompany connection",
  description:
    'Names the customer and the supplier that stand for the other entity in this one; their control accounts are the due-from and due-to accounts. ' +
    'A connection is active once the other entity, with its own token, has connected back: no single credential can post into an entity ' +
    'that did not agree. Whether the other entity exists is not told (the connection stays pending).',
  tags: ['intercompany'],
  auth: 'entity',
  role: 'owner',
  params: EntityCodeParams,
  body: z.strictObject({ customerCode: Code, supplierCode: Code }),
  example: { customerCode: 'IC-IE', supplierCode: 'IC-IE' },
  success: { status: 200, description: 'The connection (201 when it was created).', schema: ConnectionView },
  errors: [
    'CUSTOMER_CODE_DOES_NOT_EXIST',
    'CUSTOMER_IS_INACTIVE',
    'SUPPLIER_CODE_DOES_NOT_EXIST',
    'SUPPLIER_IS_INACTIVE',
  ],
  handler: async ({ db, entity, params, body, audit, setStatus, principal }) => {
    if (params.entityCode === entity.code) throw fieldError('params.entityCode', 'an entity cannot connect to itself');
    return savedByKey(
      { audit, setStatus },
      {
        action: 'intercompany-connection',
        objectType: 'intercompanyConnection',
        objectId: params.entityCode,
      },
      () => saveConnection(db, entity, params.entityCode, body, principal.actor),
    );
  },
});

const deleteConnectionRoute = defineRoute({
  method: 'DELETE',
  path: '/v1/intercompany/connections/{entityCode}',
  operationId: 'deleteIntercompanyConnection',
  summary: "Withdraw this entity's half of an intercompany connection",
  description:
    'From then on no intercompany invoice posts between the two entities, in either direction. Posted pairs stay.',
  tags: ['intercompany'],
  auth: 'entity',
  role: 'owner',
  params: EntityCodeParams,
  success: { status: 200, description: 'The connection as it was.', schema: ConnectionView },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params, audit }) => {
    const before = await deleteConnection(db, entity.id, params.entityCode);
    await audit({
      action: 'intercompany-connection.deleted',
      objectType: 'intercompanyConnection',
      objectId: params.entityCode,
      before,
    });
    return before;
  },
});

const PostedDocument = z.object({
  transactionId: z.number().int(),
  number: z.number().int(),
  netAmount: z.string(),
  taxAmount: z.string(),
  grossAmount: z.string(),
  dueDate: z.string(),
});

const postIntercompanyInvoiceRoute = defineRoute({
  method: 'POST',
  path: '/v1/intercompany/invoices',
  operationId: 'postIntercompanyInvoice',
  summary: 'Post a sales invoice here and its mirror purchase invoice in the buyer, all or nothing',
  description:
    'Needs an active connection (both entities connected to each other). The sales invoice (SI) goes to the customer that ' +
    'stands for the buyer (its control account is the due-from account); the purchase invoice (PI) in the buyer comes from the supplier ' +
    "that stands for this entity (its control account is the due-to account), with the same net and VAT on each line, the buyer supplier's " +
    "default expense account (else the buyer's purchases account) and default tax code (else the same code), and `SI-<number>` as the " +
    'supplier reference. One database transaction: if either half is refused nothing is posted in either entity. A refusal in ' +
    "the buyer's books answers INTERCOMPANY_COUNTERPART_REFUSED with only its code in details.reason.",
  tags: ['intercompany'],
  auth: 'entity',
  body: z.strictObject({
    buyerEntityCode: z.string().regex(/^[A-Z0-9][A-Z0-9_.-]{0,49}$/, 'must be an entity code'),
    invoiceDate: IsoDate,
    dueDate: IsoDate.optional(),
    externalReference: Reference.optional(),
    description: Description.optional(),
    exchangeRate: ExchangeRate.optional().meta({ description: "The sales invoice's rate in this entity." }),
    buyerExchangeRate: ExchangeRate.optional().meta({
      description: "The purchase invoice's rate in the buyer, when the currency is not the buyer's base currency.",
    }),
    confirmExchangeRate: z.boolean().optional(),
    lines: z.array(InvoiceLine).min(1).max(1000),
  }),
  example: {
    buyerEntityCode: 'SUBSIDIARY-IE',
    invoiceDate: '2026-11-04',
    externalReference: 'IC-2026-11',
    description: 'Management fee November',
    lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '5000.00', taxRate: '0.21' }],
  },
  success: {
    status: 201,
    description: 'The sales invoice here and the purchase invoice in the buyer.',
    schema: z.object({ sales: PostedDocument, purchase: PostedDocument.extend({ entityCode: z.string() }) }),
  },
  errors: [
    'INTERCOMPANY_NOT_CONNECTED',
    'INTERCOMPANY_CURRENCY_MISMATCH',
    'INTERCOMPANY_COUNTERPART_REFUSED',
    'CUSTOMER_IS_INACTIVE',
    'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
    ...DOCUMENT_POSTING_ERRORS,
    'DUE_DATE_BEFORE_TRANSACTION_DATE',
    ...LINE_POSTING_ERRORS,
    'IDEMPOTENCY_KEY_REUSED',
  ],
  handler: async (ctx) => {
    const r = await postIntercompanyInvoice(posting(ctx), ctx.body);
    const body = {
      sales: postedBody(r.sales),
      purchase: { ...postedBody(r.purchase), entityCode: r.buyer.code },
    };
    await ctx.audit({
      action: 'intercompany-invoice.posted',
      objectType: 'transaction',
      objectId: r.sales.id,
      after: { ...ctx.body, ...body },
    });
    // The buyer's trail says who posted into it, and under which connection.
    await ctx.audit({
      entityId: r.buyer.id,
      action: 'intercompany-purchase-invoice.posted',
      objectType: 'transaction',
      objectId: r.purchase.id,
      after: { sellerEntityCode: ctx.entity.code, salesTransactionId: r.sales.id, purchase: body.purchase },
    });
    return body;
  },
});

const getLinkRoute = defineRoute({
  method: 'GET',
  path: '/v1/transactions/{id}/link',
  operationId: 'getTransactionLink',
  summary: 'The other half of a back-to-back or intercompany invoice',
  description:
    'For a sales invoice, the purchase invoice it sells on (back-to-back) or its mirror in the buyer (intercompany); for a ' +
    'purchase invoice, the sales invoice. Only the id and the entity code of the other half are told.',
  tags: ['intercompany'],
  auth: 'entity',
  params: z.strictObject({ id: SafeTransactionId }),
  success: {
    status: 200,
    description: 'The linked document.',
    schema: z.object({
      kind: z.enum(['back_to_back', 'intercompany']),
      transactionId: z.number().int(),
      entityCode: z.string(),
    }),
  },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => linkOf(db, entity.id, params.id),
});

export const intercompanyRoutes: AnyRoute[] = [
  getLinkRoute,
  listConnectionsRoute,
  putConnectionRoute,
  deleteConnectionRoute,
  postIntercompanyInvoiceRoute,
];
