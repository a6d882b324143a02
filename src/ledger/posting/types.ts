import type { Queryable } from '../../db/database.ts';
import type { EntityContext } from '../entities.ts';
import type { DeferralInput } from '../../domain/deferrals.ts';
import type { Analysis } from '../../domain/analysis.ts';

/** Who posts, where: every posting operation takes one. */
export interface PostingContext {
  db: Queryable;
  entity: EntityContext;
  /** Recorded as `created_by`: a credential, `admin`, `cli` or a pipeline. */
  actor: string;
}

/** Amounts and rates are decimal text here; the operation parses them in the customer's currency. */
export interface InvoiceLineInput {
  glAccountCode: string;
  taxCode: string;
  description?: string | undefined;
  departmentId?: string | undefined;
  netAmount: string;
  taxRate?: string | undefined;
  taxAmount?: string | undefined;
  /** Defers the line's revenue: monthly releases from the deferred revenue account (deferrals.ts). */
  deferral?: DeferralInput | undefined;
  /** Analysis codes by dimension; those left out come from the department (docs/ledger.md). */
  analysis?: Analysis | undefined;
}

export interface BatchInvoiceInput {
  customerCode: string;
  invoiceDate: string;
  dueDate?: string | undefined;
  externalReference?: string | undefined;
  description?: string | undefined;
  exchangeRate?: string | undefined;
  /** Books a rate outside the plausible band around the last known rate (rate-bounds.ts). */
  confirmExchangeRate?: boolean | undefined;
  lines: InvoiceLineInput[];
}

export interface ReceiptInput {
  customerCode: string;
  checkReference: string;
  paymentAmount: string;
  bankAccountCode?: string | undefined;
  paymentDate: string;
  description?: string | undefined;
  exchangeRate?: string | undefined;
  /** Books a rate outside the plausible band around the last known rate (rate-bounds.ts). */
  confirmExchangeRate?: boolean | undefined;
  bankExchangeRate?: string | undefined;
  lodgmentNumber?: string | undefined;
  departmentId?: string | undefined;
}

export interface CreditNoteInput {
  customerCode?: string | undefined;
  creditNoteDate?: string | undefined;
  externalReference?: string | undefined;
  description?: string | undefined;
  exchangeRate?: string | undefined;
  /** Books a rate outside the plausible band around the last known rate (rate-bounds.ts). */
  confirmExchangeRate?: boolean | undefined;
  lines?: InvoiceLineInput[] | undefined;
  fromInvoiceTransactionId?: number | undefined;
  lineNumbers?: number[] | undefined;
  allocateToInvoice?: boolean | undefined;
}

export interface JournalLineInput {
  glAccountCode?: string | undefined;
  bankAccountCode?: string | undefined;
  description?: string | undefined;
  departmentId?: string | undefined;
  amount: string;
}

export interface LedgerJournalInput {
  customerCode: string;
  transactionDate: string;
  externalReference?: string | undefined;
  description?: string | undefined;
  exchangeRate?: string | undefined;
  /** Books a rate outside the plausible band around the last known rate (rate-bounds.ts). */
  confirmExchangeRate?: boolean | undefined;
  lines: JournalLineInput[];
}

export interface AllocationInput {
  transactionId1: number;
  transactionId2: number;
  amount: string;
  date?: string | undefined;
  reference?: string | null | undefined;
  discountAmount?: string | undefined;
}
