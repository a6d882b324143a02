import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { TransactionId } from '../schemas.ts';
import { renderInvoicePdf } from '../../ledger/pdf.ts';

export const transactionPdfRoute = defineRoute({
  method: 'GET',
  path: '/v1/transactions/{id}/pdf',
  operationId: 'getTransactionPdf',
  summary: 'An invoice or credit note as PDF',
  description:
    'The document as sent to the customer: seller and customer with addresses and VAT numbers, number, dates, ' +
    'reference, the lines with net, VAT rate, VAT and gross, VAT per rate, totals, and the due date and payment ' +
    'reference (the external reference, else the document number). The same document always renders the same bytes.',
  tags: ['reports'],
  auth: 'entity',
  // bigint ids: past 2^53 a JavaScript number would name another transaction.
  params: z.strictObject({ id: TransactionId.refine((n) => Number.isSafeInteger(n), { message: 'is too large' }) }),
  success: { status: 200, description: 'The PDF.', contentType: 'application/pdf' },
  errors: ['NOT_FOUND', 'TRANSACTION_IS_NOT_AN_INVOICE'],
  handler: async ({ db, params, entity, reply }) => {
    const pdf = await renderInvoicePdf(db, entity, params.id);
    void reply.header('Content-Disposition', `inline; filename="transaction-${params.id}.pdf"`);
    return pdf;
  },
});
