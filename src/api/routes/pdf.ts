import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { Code, IsoDate, TransactionId } from '../schemas.ts';
import { today } from '../../domain/dates.ts';
import { renderTransactionPdf } from '../../ledger/pdf.ts';
import { DOCUMENT_NAMES } from '../../ledger/pdf-receipt.ts';
import { transactionHeads } from '../../ledger/reports/transaction-list.ts';
import { loadStatementDocument, renderStatement } from '../../ledger/pdf-statement.ts';
import { Basis } from './reports/schemas.ts';

export const transactionPdfRoute = defineRoute({
  method: 'GET',
  path: '/v1/transactions/{id}/pdf',
  operationId: 'getTransactionPdf',
  summary: 'An invoice, credit note or receipt as PDF',
  description:
    'The document as sent to the customer, with the branding of `PUT /v1/settings` (company name, address, VAT ' +
    'number, logo, bank details, footer). An invoice or credit note shows the customer with address and VAT number, ' +
    'number, dates, reference, the lines with net, VAT rate, VAT and gross, VAT per rate, totals, and the due date, ' +
    'payment reference (the external reference, else the document number) and bank details. A receipt shows the ' +
    'payment, the account it was paid into, the documents it is allocated to and what is left unallocated. The same ' +
    'invoice always renders the same bytes; journals, discounts and exchange differences have no PDF.',
  tags: ['reports'],
  auth: 'entity',
  // bigint ids: past 2^53 a JavaScript number would name another transaction.
  params: z.strictObject({ id: TransactionId.refine((n) => Number.isSafeInteger(n), { message: 'is too large' }) }),
  success: { status: 200, description: 'The PDF.', contentType: 'application/pdf' },
  errors: ['NOT_FOUND', 'DOCUMENT_TYPE_HAS_NO_PDF'],
  handler: async ({ db, params, entity, reply }) => {
    const pdf = await renderTransactionPdf(db, entity, params.id);
    // Named as the ledger labels the document (`Invoice-12.pdf`), not by its internal id.
    const head = (await transactionHeads(db, entity.id, [params.id])).get(params.id);
    const label = head ? `${DOCUMENT_NAMES[head.type] ?? head.type} ${head.number}` : `Transaction ${params.id}`;
    void reply.header('Content-Disposition', `inline; filename="${label.replace(/[^\w.-]+/g, '-')}.pdf"`);
    return pdf;
  },
});

export const customerStatementPdfRoute = defineRoute({
  method: 'GET',
  path: '/v1/customers/{code}/statement.pdf',
  operationId: 'getCustomerStatementPdf',
  summary: "A customer's statement as PDF",
  description:
    'The statement of `GET /v1/customers/{code}/statement` as a PDF to send: the branding, the customer, each open ' +
    'item (date, document, number, reference, due date, amount, outstanding, days overdue) on as many pages as it ' +
    'takes, the balance, the aged balance (current, 1–30, 31–60, 61–90, 91–120, over 120 days) and, when the ' +
    'customer owes, where to pay. The figures are those of the JSON statement for the same `upTo` and `basis`.',
  tags: ['reports'],
  auth: 'entity',
  params: z.strictObject({ code: Code }),
  query: z.strictObject({
    upTo: IsoDate.optional().meta({ description: 'The statement date (default today, UTC).' }),
    basis: Basis,
  }),
  success: { status: 200, description: 'The PDF.', contentType: 'application/pdf' },
  errors: ['NOT_FOUND'],
  handler: async ({ db, params, query, entity, reply }) => {
    const upTo = query.upTo ?? today();
    const document = await loadStatementDocument(db, entity, params.code, upTo, query.basis);
    const pdf = await renderStatement(document, new Date());
    const name = `statement-${document.statement.customerCode}-${upTo}.pdf`.replace(/[^\w.-]/g, '_');
    void reply.header('Content-Disposition', `inline; filename="${name}"`);
    return pdf;
  },
});
