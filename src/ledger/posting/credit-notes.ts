import { DomainError } from '../../domain/errors.ts';
import { type Item, type PostingWarning, computeItems, itemJournal } from '../../domain/documents.ts';
import { formatAmount, minBig } from '../../domain/money.ts';
import { exchangeRateFor } from './common.ts';
import { lineReferences, lineWarnings, parseLines } from './invoices.ts';
import { loadReferences, lockCustomer } from './references.ts';
import { loadOpenTransactions } from './open-items.ts';
import { duplicateError, insertTransaction, referenceExists } from './write.ts';
import { type AllocationResult, allocate } from './allocations.ts';
import type { CreditNoteInput, PostingContext } from './types.ts';
import { requirePeriodOpen } from '../periods.ts';
import { laterDate } from '../../domain/dates.ts';

export interface PostedCreditNote {
  id: number;
  number: number;
  net: bigint;
  tax: bigint;
  gross: bigint;
  currency: string;
  allocation: AllocationResult | null;
  warnings: PostingWarning[];
}

interface ItemRow {
  line_no: number;
  gl_account_code: string;
  tax_code: string;
  tax_rate: string;
  description: string;
  department_id: string | null;
  net: string;
  tax: string;
}

/** The lines of a posted invoice to copy, whole or the selected line numbers. */
async function invoiceItems(
  ctx: PostingContext,
  invoiceId: number,
  lineNumbers: number[] | undefined,
): Promise<Item[]> {
  const { rows } = await ctx.db.query<ItemRow>(
    `SELECT line_no, gl_account_code, tax_code, tax_rate::text AS tax_rate, description, department_id, net, tax
       FROM transaction_items WHERE transaction_id = $1 AND entity_id = $2 ORDER BY line_no`,
    [invoiceId, ctx.entity.id],
  );
  const wanted = lineNumbers ? new Set(lineNumbers) : null;
  if (wanted) {
    const have = new Set(rows.map((r) => r.line_no));
    const missing = [...wanted].find((n) => !have.has(n));
    if (missing !== undefined) {
      throw new DomainError('INVOICE_LINE_DOES_NOT_EXIST', `Invoice ${invoiceId} has no line ${missing}`, [
        { field: 'lineNumbers', message: `no line ${missing}` },
      ]);
    }
  }
  return rows
    .filter((r) => !wanted || wanted.has(r.line_no))
    .map((r, n) => ({
      lineNo: n + 1,
      glAccountCode: r.gl_account_code,
      taxCode: r.tax_code,
      taxRate: r.tax_rate,
      description: r.description,
      departmentId: r.department_id,
      net: BigInt(r.net),
      tax: BigInt(r.tax),
    }));
}

/**
 * A sales credit note: from its own lines, or copying a posted invoice (whole or some lines, at
 * the invoice's exchange rate unless another is given), optionally allocated to that invoice.
 */
export async function postCreditNote(
  ctx: PostingContext,
  input: CreditNoteInput,
  duplicateCheck: boolean,
): Promise<PostedCreditNote> {
  let customerCode = input.customerCode;
  let invoiceRate: string | undefined;
  const fromId = input.fromInvoiceTransactionId;
  if (fromId !== undefined) {
    const invoice = (await loadOpenTransactions(ctx.db, ctx.entity.id, [fromId])).get(fromId);
    if (!invoice)
      throw new DomainError('TRANSACTION_DOES_NOT_EXIST', `Transaction ${fromId} does not exist`, [
        { field: 'fromInvoiceTransactionId', message: 'unknown transaction' },
      ]);
    if (invoice.type !== 'SI')
      throw new DomainError('TRANSACTION_IS_NOT_AN_INVOICE', `Transaction ${fromId} is a ${invoice.type}`, [
        { field: 'fromInvoiceTransactionId', message: 'not an invoice' },
      ]);
    if (customerCode !== undefined && customerCode !== invoice.customerCode) {
      throw new DomainError(
        'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS',
        `Invoice ${fromId} belongs to ${invoice.customerCode}`,
        [{ field: 'customerCode', message: 'not the invoice customer' }],
      );
    }
    customerCode = invoice.customerCode;
    invoiceRate = invoice.exchangeRate;
  }
  if (customerCode === undefined) {
    throw new DomainError('VALIDATION_ERROR', 'customerCode: required without fromInvoiceTransactionId', [
      { field: 'customerCode', message: 'required' },
    ]);
  }
  const customer = await lockCustomer(ctx.db, ctx.entity.id, customerCode, 'customerCode');
  const currency = customer.currency;
  const rate = exchangeRateFor(
    ctx,
    currency,
    input.exchangeRate ?? (currency === ctx.entity.baseCurrency ? undefined : invoiceRate),
    'exchangeRate',
  );
  let items: Item[];
  let taxCodes: string[];
  let warnings: PostingWarning[] = [];
  if (fromId !== undefined && !input.lines) {
    items = await invoiceItems(ctx, fromId, input.lineNumbers);
    taxCodes = items.map((i) => i.taxCode);
  } else {
    const lines = input.lines ?? [];
    const refs = await loadReferences(ctx.db, ctx.entity.id, lineReferences(lines));
    const inputs = parseLines(lines, currency, refs, '', input.creditNoteDate);
    items = computeItems(inputs).items;
    warnings = lineWarnings(inputs, currency, refs, '');
    taxCodes = lines.map((l) => l.taxCode);
  }
  const taxRefs = await loadReferences(ctx.db, ctx.entity.id, { tax: taxCodes });
  const taxAccounts = new Map([...taxRefs.tax].map(([code, t]) => [code, t.glAccountCode]));
  for (const code of taxCodes) {
    if (!taxAccounts.has(code))
      throw new DomainError('TAX_CODE_DOES_NOT_EXIST', `Tax code ${code} is no longer active`, [
        { field: 'lines', message: 'inactive tax code' },
      ]);
  }
  const net = items.reduce((s, i) => s + i.net, 0n);
  const tax = items.reduce((s, i) => s + i.tax, 0n);
  if (net + tax <= 0n) {
    throw new DomainError('DOCUMENT_TOTAL_MUST_BE_POSITIVE', 'The credit note total is zero', [
      { field: 'lines', message: 'total is zero' },
    ]);
  }
  const reference = input.externalReference ?? '';
  await requirePeriodOpen(ctx.db, ctx.entity.id, input.creditNoteDate, 'creditNoteDate', 'post a credit note');
  if (duplicateCheck && (await referenceExists(ctx.db, ctx.entity.id, customer.code, 'SN', reference))) {
    throw duplicateError('SN', customer.code, reference, 'externalReference');
  }
  const description = input.description ?? (fromId !== undefined ? `Credit for invoice ${fromId}` : '');
  const journal = itemJournal(
    items,
    taxAccounts,
    customer.controlGlAccountCode,
    description,
    { currency, baseCurrency: ctx.entity.baseCurrency, rate },
    -1n,
  );
  const posted = await insertTransaction(ctx.db, {
    entityId: ctx.entity.id,
    type: 'SN',
    customerCode: customer.code,
    currency,
    exchangeRate: rate,
    transactionDate: input.creditNoteDate,
    dueDate: null,
    externalReference: reference,
    description,
    net,
    tax,
    gross: net + tax,
    baseGross: journal.baseGross,
    duplicateChecked: duplicateCheck,
    relatedTransactionId: fromId ?? null,
    details:
      fromId !== undefined
        ? { fromInvoiceTransactionId: fromId, ...(input.lineNumbers ? { lineNumbers: input.lineNumbers } : {}) }
        : {},
    createdBy: ctx.actor,
    items,
    lines: journal.lines,
  });
  let allocation: AllocationResult | null = null;
  if (input.allocateToInvoice) {
    if (fromId === undefined) {
      throw new DomainError('VALIDATION_ERROR', 'allocateToInvoice: needs fromInvoiceTransactionId', [
        { field: 'allocateToInvoice', message: 'needs fromInvoiceTransactionId' },
      ]);
    }
    const invoice = (await loadOpenTransactions(ctx.db, ctx.entity.id, [fromId])).get(fromId)!;
    const amount = minBig(invoice.outstanding, net + tax);
    if (amount > 0n) {
      allocation = await allocate(
        ctx,
        {
          transactionId1: fromId,
          transactionId2: posted.id,
          amount: formatAmount(amount, currency),
          // Never before either document: a credit note dated before its invoice settles it on the invoice's date.
          date: laterDate(input.creditNoteDate, invoice.transactionDate),
          reference: reference || `Credit note ${posted.number}`,
        },
        customer,
      );
    }
  }
  return { ...posted, net, tax, gross: net + tax, currency, allocation, warnings };
}
