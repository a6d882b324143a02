import { DomainError, isDomainError, type ErrorCode } from '../../domain/errors.ts';
import { formatAmount, minBig } from '../../domain/money.ts';
import { amountOf } from './common.ts';
import { buildInvoice, checkInvoiceReference, enforceCredit, lineReferences } from './invoices.ts';
import { buildReceipt, checkReceiptReference, receiptReferences } from './receipts.ts';
import { loadReferences, lockCustomer } from './references.ts';
import { insertTransaction } from './write.ts';
import { allocate } from './allocations.ts';
import type { BatchInvoiceInput, PostingContext, ReceiptInput } from './types.ts';

export interface PostPayAllocateInput {
  batchInvoice?: BatchInvoiceInput | undefined;
  receipt?: ReceiptInput | undefined;
  performExternalReferenceDuplicateCheckOnInvoice: boolean;
  performExternalReferenceDuplicateCheckOnReceipt: boolean;
  performAllocation: boolean;
  allocationDate?: string | undefined;
  allocationAmount?: string | undefined;
  allocationReference?: string | undefined;
  clientUniqueReference?: string | undefined;
  enforceCreditLimit?: boolean | undefined;
}

export interface PostPayAllocateResult {
  invoiceTransactionId: number | null;
  receiptTransactionId: number | null;
  invoiceNumber: number | null;
  receiptNumber: number | null;
  allocationId: number | null;
  allocatedAmount: string | null;
  clientUniqueReference: string | null;
}

function fail(code: ErrorCode, message: string, field: string): never {
  throw new DomainError(code, message, [{ field, message }]);
}

/**
 * AccountsIQ PostPayAndAllocateSalesInvoice: duplicate-check the invoice, then the receipt, post
 * the invoice, post the receipt, allocate one to the other. Run it inside a transaction: any
 * failure throws and the caller's rollback leaves nothing behind.
 */
export async function postPayAllocate(ctx: PostingContext, q: PostPayAllocateInput): Promise<PostPayAllocateResult> {
  const inv = q.batchInvoice;
  const rec = q.receipt;
  if (!inv && !rec) fail('NOTHING_TO_POST', 'Send a batchInvoice, a receipt, or both', 'batchInvoice');
  if (q.performAllocation && !(inv && rec)) {
    fail('ALLOCATION_REQUIRES_INVOICE_AND_RECEIPT', 'performAllocation needs both a batchInvoice and a receipt', inv ? 'receipt' : 'batchInvoice');
  }
  if (inv && rec && inv.customerCode !== rec.customerCode) {
    fail('INVOICE_AND_RECEIPT_CUSTOMER_MISMATCH', `The invoice is for ${inv.customerCode}, the receipt for ${rec.customerCode}`, 'receipt.customerCode');
  }
  const reference = q.allocationReference?.trim() ?? '';
  if (q.performAllocation && reference === '') {
    fail('TRANSACTION_ALLOCATION_REFERENCE_IS_NULL', 'An allocation needs an allocationReference', 'allocationReference');
  }
  const customerField = inv ? 'batchInvoice.customerCode' : 'receipt.customerCode';
  const customer = await lockCustomer(ctx.db, ctx.entity.id, (inv ?? rec)!.customerCode, customerField);
  const refs = await loadReferences(ctx.db, ctx.entity.id, {
    ...(inv ? lineReferences(inv.lines) : {}),
    ...(rec ? receiptReferences(rec) : {}),
    departments: [...(inv ? lineReferences(inv.lines).departments : []), ...(rec ? receiptReferences(rec).departments : [])],
  });
  const invoice = inv
    ? buildInvoice(
        ctx,
        customer,
        inv,
        refs,
        { performExternalReferenceDuplicateCheck: q.performExternalReferenceDuplicateCheckOnInvoice, enforceCreditLimit: false },
        'batchInvoice',
      )
    : null;
  const receipt = rec ? buildReceipt(ctx, customer, rec, refs, q.performExternalReferenceDuplicateCheckOnReceipt, 'receipt') : null;
  if (invoice) await checkInvoiceReference(ctx, invoice, 'batchInvoice.externalReference');
  if (receipt) await checkReceiptReference(ctx, receipt, 'receipt.checkReference');
  if (q.enforceCreditLimit) {
    await enforceCredit(ctx, customer, (invoice?.gross ?? 0n) - (receipt?.gross ?? 0n), customerField);
  }

  let allocationAmount = 0n;
  if (q.performAllocation) {
    const most = minBig(invoice!.gross, receipt!.gross);
    allocationAmount = q.allocationAmount === undefined ? most : amountOf(q.allocationAmount, customer.currency, 'allocationAmount');
    if (allocationAmount <= 0n) {
      fail('TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO', 'The allocation amount must be positive', 'allocationAmount');
    }
    if (allocationAmount > most) {
      fail(
        'TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT',
        `The allocation amount may not exceed ${formatAmount(most, customer.currency)}, the smaller of the invoice and the receipt`,
        'allocationAmount',
      );
    }
  }

  const postedInvoice = invoice ? await insertTransaction(ctx.db, invoice) : null;
  const postedReceipt = receipt ? await insertTransaction(ctx.db, receipt) : null;
  let allocationId: number | null = null;
  if (q.performAllocation) {
    const a = await allocate(
      ctx,
      {
        transactionId1: postedInvoice!.id,
        transactionId2: postedReceipt!.id,
        amount: formatAmount(allocationAmount, customer.currency),
        date: q.allocationDate ?? rec!.paymentDate,
        reference,
      },
      customer,
    );
    allocationId = a.allocationId;
  }
  return {
    invoiceTransactionId: postedInvoice?.id ?? null,
    receiptTransactionId: postedReceipt?.id ?? null,
    invoiceNumber: postedInvoice?.number ?? null,
    receiptNumber: postedReceipt?.number ?? null,
    allocationId,
    allocatedAmount: q.performAllocation ? formatAmount(allocationAmount, customer.currency) : null,
    clientUniqueReference: q.clientUniqueReference ?? null,
  };
}

export interface BulkItemResult extends Partial<PostPayAllocateResult> {
  status: 'Success' | 'Failure';
  errorCode?: string;
  errorMessage?: string;
  errorDetails?: unknown;
  clientUniqueReference: string | null;
}

/**
 * PostPayAndAllocateSalesInvoices: each query atomic on its own (a savepoint each), the batch not.
 * `parse` turns a raw query into a validated one or throws a DomainError reported for that query.
 */
export async function postPayAllocateBulk(
  ctx: PostingContext,
  queries: unknown[],
  parse: (raw: unknown, index: number) => PostPayAllocateInput,
  onUnexpected: (err: unknown, index: number) => void,
): Promise<{ status: 'Success' | 'Failure'; results: BulkItemResult[] }> {
  const results: BulkItemResult[] = [];
  for (let i = 0; i < queries.length; i++) {
    const raw = queries[i];
    const cur =
      raw && typeof raw === 'object' && typeof (raw as { clientUniqueReference?: unknown }).clientUniqueReference === 'string'
        ? (raw as { clientUniqueReference: string }).clientUniqueReference
        : null;
    try {
      const q = parse(raw, i);
      const r = await ctx.db.transaction((db) => postPayAllocate({ ...ctx, db }, q));
      results.push({ status: 'Success', ...r });
    } catch (err) {
      if (isDomainError(err)) {
        results.push({ status: 'Failure', errorCode: err.code, errorMessage: err.message, errorDetails: err.details, clientUniqueReference: cur });
      } else {
        onUnexpected(err, i);
        results.push({ status: 'Failure', errorCode: 'INTERNAL_ERROR', errorMessage: 'This query failed on the server; it was logged and nothing was posted for it.', clientUniqueReference: cur });
      }
    }
  }
  return { status: results.every((r) => r.status === 'Success') ? 'Success' : 'Failure', results };
}
