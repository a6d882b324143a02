import { z } from 'zod';
import { auditChange } from '../../ledger/audit.ts';
import {
  getCustomerEInvoicing,
  getEntityEInvoicing,
  peppolIdProblem,
  saveCustomerEInvoicing,
  saveEntityEInvoicing,
} from '../../ledger/e-invoicing.ts';
import { renderUbl } from '../../ledger/ubl.ts';
import { defineRoute } from '../route.ts';
import { TransactionId } from '../schemas.ts';
import { CodeParams, Text, inBody, notFound } from './setup-shared.ts';

const PeppolId = z
  .string()
  .superRefine((v, ctx) => {
    const problem = peppolIdProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description:
      'A Peppol participant identifier "scheme:identifier", the scheme an EAS code (0208 Belgian enterprise ' +
      'number, 0088 GLN, 0106 Dutch KvK, 9930 German VAT number...).',
    examples: ['0208:0123456789'],
  });

const EntityEInvoicing = z.object({
  peppolId: z.string().nullable().meta({ description: "The entity's electronic address (seller, BT-34)." }),
});

const CustomerEInvoicing = z.object({
  peppolId: z.string().nullable().meta({ description: "The customer's electronic address (buyer, BT-49)." }),
  buyerReference: z.string().nullable().meta({
    description: 'The reference the customer asked to find on its invoices (BT-10): a cost centre, a contact code.',
  }),
});

export const transactionUblRoute = defineRoute({
  method: 'GET',
  path: '/v1/transactions/{id}/ubl',
  operationId: 'getTransactionUbl',
  summary: 'An invoice or credit note as a Peppol BIS 3.0 e-invoice (UBL 2.1)',
  description:
    'The posted invoice (UBL Invoice, type 380) or credit note (CreditNote, type 381) following Peppol BIS ' +
    'Billing 3.0: seller and buyer electronic addresses, buyer reference, the lines, the VAT breakdown per ' +
    'category and rate (each tax code has a VAT category: S for a positive rate and Z for zero unless set) and ' +
    'totals that satisfy the EN 16931 calculation rules. When a mandatory element cannot be filled the answer is ' +
    'EINVOICE_INCOMPLETE with every missing element and the setting that fills it; no document is emitted.',
  tags: ['reports'],
  auth: 'entity',
  // bigint ids: past 2^53 a JavaScript number would name another transaction.
  params: z.strictObject({ id: TransactionId.refine((n) => Number.isSafeInteger(n), { message: 'is too large' }) }),
  success: { status: 200, description: 'The UBL 2.1 XML document.', contentType: 'application/xml' },
  errors: ['NOT_FOUND', 'TRANSACTION_IS_NOT_AN_INVOICE', 'EINVOICE_INCOMPLETE'],
  handler: async ({ db, params, entity, reply }) => {
    const xml = await renderUbl(db, entity, params.id);
    void reply.header('Content-Disposition', `inline; filename="transaction-${params.id}.xml"`);
    return Buffer.from(xml, 'utf8');
  },
});

export const getEInvoicingSettingsRoute = defineRoute({
  method: 'GET',
  path: '/v1/settings/e-invoicing',
  operationId: 'getEInvoicingSettings',
  summary: "Read the entity's e-invoicing settings",
  tags: ['setup'],
  auth: 'entity',
  success: { status: 200, description: 'The settings.', schema: EntityEInvoicing },
  handler: async ({ db, entity }) => getEntityEInvoicing(db, entity.id),
});

export const putEInvoicingSettingsRoute = defineRoute({
  method: 'PUT',
  path: '/v1/settings/e-invoicing',
  operationId: 'putEInvoicingSettings',
  summary: "Change the entity's e-invoicing settings",
  description:
    "Changes the fields sent; absent fields stay as they are, null clears one. The entity's name, address and " +
    'VAT number on the e-invoice are those of the entity. Each change is in the audit trail.',
  tags: ['setup'],
  auth: 'entity',
  role: 'owner',
  body: z.strictObject({ peppolId: PeppolId.nullable().optional() }),
  example: { peppolId: '0208:0123456789' },
  success: { status: 200, description: 'The settings as saved.', schema: EntityEInvoicing },
  handler: async ({ db, entity, body, audit }) => {
    const saved = await inBody(() => saveEntityEInvoicing(db, entity.id, body));
    await audit({
      action: 'settings.updated',
      objectType: 'entity',
      objectId: entity.id,
      ...auditChange(saved.before, saved.after),
    });
    return saved.after;
  },
});

export const getCustomerEInvoicingRoute = defineRoute({
  method: 'GET',
  path: '/v1/customers/{code}/e-invoicing',
  operationId: 'getCustomerEInvoicing',
  summary: "Read a customer's e-invoicing settings",
  tags: ['customers'],
  auth: 'entity',
  params: CodeParams,
  success: { status: 200, description: 'The settings.', schema: CustomerEInvoicing },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const found = await getCustomerEInvoicing(db, entity.id, params.code);
    if (!found) throw notFound(`customer ${params.code}`);
    return found;
  },
});

export const putCustomerEInvoicingRoute = defineRoute({
  method: 'PUT',
  path: '/v1/customers/{code}/e-invoicing',
  operationId: 'putCustomerEInvoicing',
  summary: "Change a customer's e-invoicing settings",
  description:
    'Changes the fields sent on an existing customer; absent fields stay as they are, null clears one. The ' +
    "customer's rowVersion moves on. Each change is in the audit trail.",
  tags: ['customers'],
  auth: 'entity',
  params: CodeParams,
  body: z.strictObject({
    peppolId: PeppolId.nullable().optional(),
    buyerReference: Text(200).nullable().optional().meta({ description: 'BT-10; at most 200 characters.' }),
  }),
  example: { peppolId: '0208:0987654321', buyerReference: 'PO-CC-4410' },
  success: { status: 200, description: 'The settings as saved.', schema: CustomerEInvoicing },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params, body, audit }) => {
    const saved = await inBody(() => saveCustomerEInvoicing(db, entity.id, params.code, body));
    await audit({
      action: 'customer.updated',
      objectType: 'customer',
      objectId: params.code,
      ...auditChange(saved.before, saved.after),
    });
    return saved.after;
  },
});

export const eInvoiceRoutes = [
  transactionUblRoute,
  getEInvoicingSettingsRoute,
  putEInvoicingSettingsRoute,
  getCustomerEInvoicingRoute,
  putCustomerEInvoicingRoute,
];
