import { z } from 'zod';
import { Deferral } from './deferral-schemas.ts';
import { Amount, Code, Description, ExchangeRate, IsoDate, Rate, Reference, TransactionId } from './schemas.ts';
import { LineAnalysis } from './analysis-schemas.ts';

/** Request schemas of the sales documents; they validate requests and document them in OpenAPI. */

export const ConfirmExchangeRate = z
  .boolean()
  .optional()
  .meta({
    description:
      'Books an exchangeRate outside the plausible band around the last known rate of the currency, which is ' +
      "otherwise refused with EXCHANGE_RATE_IMPLAUSIBLE (the band is the entity's exchangeRateTolerance, docs/ledger.md).",
  });
export const InvoiceLine = z.strictObject({
  glAccountCode: Code.meta({ description: 'Net posting account.', examples: ['4000'] }),
  taxCode: Code.meta({ examples: ['STD'] }),
  description: Description.optional(),
  departmentId: Code.optional().meta({ description: 'Department (BI code).' }),
  netAmount: Amount.meta({
    description: "Net amount; negative for a discount line, as long as the document's total is positive.",
    examples: ['100.00'],
  }),
  taxRate: Rate.optional().meta({ description: 'Fraction ("0.21"); defaults to the tax code\'s rate.' }),
  taxAmount: Amount.optional().meta({
    description:
      'Used as given when present (no recalculation); else net × rate, rounded half-up. Takes the sign of netAmount.',
  }),
  deferral: Deferral.optional(),
  analysis: LineAnalysis.optional(),
});

export const BatchInvoice = z.strictObject({
  customerCode: Code,
  invoiceDate: IsoDate,
  dueDate: IsoDate.optional().meta({ description: "Defaults from the customer's credit terms." }),
  externalReference: Reference.optional().meta({
    description: 'The reference in the source system; duplicate-checked per customer.',
  }),
  description: Description.optional(),
  exchangeRate: ExchangeRate.optional().meta({ description: 'Required for a foreign-currency customer; 1 otherwise.' }),
  confirmExchangeRate: ConfirmExchangeRate,
  lines: z.array(InvoiceLine).min(1, 'at least one line').max(1000),
});

export const Receipt = z.strictObject({
  customerCode: Code,
  checkReference: z
    .string()
    .min(1, 'must not be empty')
    .max(50)
    .meta({ description: 'Duplicate-checked per customer.' }),
  paymentAmount: Amount.meta({ examples: ['121.00'] }),
  bankAccountCode: Code.optional().meta({ description: 'Defaults to BANK.' }),
  paymentDate: IsoDate,
  description: Description.optional(),
  exchangeRate: ExchangeRate.optional(),
  confirmExchangeRate: ConfirmExchangeRate,
  bankExchangeRate: ExchangeRate.optional().meta({
    description:
      "For a foreign-currency receipt into a base-currency bank account: the rate the bank line is booked at (the difference to exchangeRate goes to exchange gains and losses). Refused when the bank holds the receipt's currency and it differs from exchangeRate.",
  }),
  lodgmentNumber: z.string().max(50).optional(),
  departmentId: Code.optional(),
});

export const CreditNote = z.strictObject({
  customerCode: Code.optional().meta({ description: 'Required unless fromInvoiceTransactionId is given.' }),
  creditNoteDate: IsoDate.optional().meta({ description: 'Defaults to today.' }),
  externalReference: Reference.optional(),
  description: Description.optional(),
  exchangeRate: ExchangeRate.optional().meta({ description: "Defaults to the copied invoice's rate." }),
  confirmExchangeRate: ConfirmExchangeRate,
  lines: z.array(InvoiceLine).min(1).max(1000).optional(),
  fromInvoiceTransactionId: TransactionId.optional().meta({ description: 'Copy the lines of this posted invoice.' }),
  lineNumbers: z
    .array(z.number().int().positive())
    .min(1)
    .optional()
    .meta({ description: 'Copy only these invoice lines.' }),
  allocateToInvoice: z.boolean().optional().meta({
    description: "Allocate the credit note to the copied invoice, on the later of the two documents' dates.",
  }),
  performExternalReferenceDuplicateCheck: z.boolean().default(true),
});

export const JournalLine = z.strictObject({
  glAccountCode: Code.optional(),
  bankAccountCode: Code.optional(),
  description: Description.optional(),
  departmentId: Code.optional(),
  amount: Amount,
});

export const LedgerJournal = z.strictObject({
  customerCode: Code,
  transactionDate: IsoDate,
  externalReference: Reference.optional(),
  description: Description.optional(),
  exchangeRate: ExchangeRate.optional(),
  confirmExchangeRate: ConfirmExchangeRate,
  lines: z.array(JournalLine).min(1).max(100),
  performExternalReferenceDuplicateCheck: z.boolean().default(true),
});

export const Allocation = z.strictObject({
  transactionId1: TransactionId,
  transactionId2: TransactionId,
  amount: Amount,
  date: IsoDate.optional().meta({
    description:
      'Allocation date; before it both stay outstanding in statements. Not before either document ' +
      "(ALLOCATION_DATE_BEFORE_TRANSACTION); defaults to the later of the two documents' dates.",
  }),
  reference: z.string().max(100).nullable().optional(),
  discountAmount: Amount.optional().meta({
    description: 'Settlement discount: posts a discount (DS) to the discount account and allocates it to the invoice.',
  }),
});

export const Unallocation = z.strictObject({
  transactionIds: z.array(TransactionId).min(1).max(1000),
  date: IsoDate.optional().meta({
    description:
      'Date of the reversal: not before the allocation it reverses (UNALLOCATION_DATE_BEFORE_ALLOCATION); ' +
      "default today, or the allocation's date when that is later.",
  }),
});

export const PostPayAllocate = z.strictObject({
  batchInvoice: BatchInvoice.optional(),
  receipt: Receipt.optional(),
  performExternalReferenceDuplicateCheckOnInvoice: z.boolean(),
  performExternalReferenceDuplicateCheckOnReceipt: z.boolean(),
  performAllocation: z.boolean(),
  allocationDate: IsoDate.optional().meta({
    description: 'Not before the invoice or the receipt; defaults to the later of their dates.',
  }),
  allocationAmount: Amount.optional().meta({ description: 'Defaults to the smaller of invoice gross and receipt.' }),
  allocationReference: z.string().max(100).optional(),
  clientUniqueReference: z.string().max(200).optional(),
  enforceCreditLimit: z.boolean().optional(),
});

export const BulkPostPayAllocate = z.strictObject({
  queries: z
    .array(z.unknown())
    .min(1, 'at least one query')
    .max(1000, 'at most 1,000 queries')
    .meta({ description: 'Up to 1,000 post-pay-allocate queries; each is validated and posted on its own.' }),
});
