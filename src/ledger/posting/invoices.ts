import { DomainError } from '../../domain/errors.ts';
import { dueDateFromTerms } from '../../domain/dates.ts';
import {
  type ItemInput,
  type PostingWarning,
  computeItems,
  itemJournal,
  taxAmountWarnings,
} from '../../domain/documents.ts';
import { Dec, formatAmount } from '../../domain/money.ts';
import type { Analysis } from '../../domain/analysis.ts';
import { amountOf, checkDueDate, exchangeRateFor, join, rateWanted } from './common.ts';
import { TAX_RATE_DECIMALS } from '../setup/tax-codes.ts';
import { type PostingCustomer, type References, customerBalance, loadReferences, lockCustomer } from './references.ts';
import { checkDateInRange, requirePeriodOpen } from '../periods.ts';
import {
  type CustomerTransaction,
  type PostedTransaction,
  duplicateError,
  insertTransaction,
  referenceExists,
} from './write.ts';
import type { BatchInvoiceInput, InvoiceLineInput, PostingContext } from './types.ts';
import { deferralAccounts, planDeferrals, saveDeferrals } from './deferrals.ts';

export interface InvoiceOptions {
  performExternalReferenceDuplicateCheck: boolean;
  enforceCreditLimit: boolean;
}

export interface PostedInvoice extends PostedTransaction {
  net: bigint;
  tax: bigint;
  gross: bigint;
  dueDate: string;
  currency: string;
  warnings: PostingWarning[];
}

/** What a line names that lineReferences loads; an item line may still leave a code to its defaults. */
export interface ReferencedLine {
  glAccountCode?: string | undefined;
  taxCode?: string | undefined;
  departmentId?: string | undefined;
  analysis?: Analysis | undefined;
  deferral?: InvoiceLineInput['deferral'];
}

/**
 * The GL, tax, department and analysis codes a set of lines needs, to load them in one query (batch
 * and item lines alike); with the entity's deferred revenue account, the accounts of the lines'
 * deferrals too.
 */
export function lineReferences(lines: readonly ReferencedLine[], deferredRevenue?: string) {
  return {
    gl: [
      ...lines.flatMap((l) => (l.glAccountCode ? [l.glAccountCode] : [])),
      ...(deferredRevenue ? deferralAccounts(lines, deferredRevenue) : []),
    ],
    tax: lines.flatMap((l) => (l.taxCode ? [l.taxCode] : [])),
    departments: lines.map((l) => l.departmentId ?? null),
    analysis: lines.map((l) => l.analysis),
  };
}

/**
 * Validates lines against setup data and parses their amounts in the customer's currency. A line
 * without a taxRate takes its tax code's rate in force on `date`, the document's own date.
 */
export function parseLines(
  lines: InvoiceLineInput[],
  currency: string,
  refs: References,
  prefix: string,
  date: string,
): ItemInput[] {
  return lines.map((l, n) => {
    const at = (f: string) => join(prefix, `lines[${n}].${f}`);
    const departmentId = l.departmentId ?? null;
    refs.requireDepartment(departmentId, at('departmentId'));
    refs.requireGl(l.glAccountCode, at('glAccountCode'), departmentId);
    refs.requireAnalysis(l.analysis, at('analysis'));
    refs.requireTax(l.taxCode, at('taxCode'));
    const taxRate = l.taxRate ?? refs.requireRateOn(l.taxCode, date, at('taxCode'));
    // A rate is a fraction (0.21), so above 1 is a percentage sent by mistake; the line keeps its
    // rate to 6 decimals, so one with more would be stored as another rate than its VAT was computed at.
    if (new Dec(taxRate).gt(1) || new Dec(taxRate).decimalPlaces() > TAX_RATE_DECIMALS) {
      const message = `must be a fraction between 0 and 1, at most ${TAX_RATE_DECIMALS} decimals`;
      throw new DomainError('VALIDATION_ERROR', `${at('taxRate')}: ${message}`, [{ field: at('taxRate'), message }]);
    }
    // A line may be negative (a discount line), as long as the document's total is positive; its
    // VAT then follows the sign of its net, never the other way.
    const net = amountOf(l.netAmount, currency, at('netAmount'));
    const tax = l.taxAmount === undefined ? null : amountOf(l.taxAmount, currency, at('taxAmount'));
    if (tax !== null && tax !== 0n && new Dec(taxRate).isZero()) {
      throw new DomainError(
        'TAX_AMOUNT_ON_ZERO_RATE',
        `${at('taxAmount')}: ${l.taxAmount} on a line at a zero rate (tax code ${l.taxCode})`,
        [{ field: at('taxAmount'), message: 'must be zero at a zero tax rate' }],
      );
    }
    if (tax !== null && (net < 0n ? tax > 0n : tax < 0n)) {
      const message =
        net < 0n ? 'must not be positive on a negative line' : 'must not be negative on a line that is not';
      throw new DomainError('VALIDATION_ERROR', `${at('taxAmount')}: ${message}`, [
        { field: at('taxAmount'), message },
      ]);
    }
    return {
      glAccountCode: l.glAccountCode,
      taxCode: l.taxCode,
      taxRate,
      description: l.description ?? '',
      departmentId,
      net,
      tax,
      analysis: l.analysis ?? null,
    };
  });
}

/** The warnings of parsed lines against the entity's VAT tolerance. */
export function lineWarnings(
  inputs: ItemInput[],
  currency: string,
  refs: References,
  prefix: string,
): PostingWarning[] {
  return taxAmountWarnings(inputs, currency, refs.vat.vatTolerance, (n) => join(prefix, `lines[${n}].taxAmount`));
}

/** Builds (does not post) a batch invoice for an already locked customer. */
export function buildInvoice(
  ctx: PostingContext,
  customer: PostingCustomer,
  input: BatchInvoiceInput,
  refs: References,
  options: InvoiceOptions,
  prefix = '',
): CustomerTransaction {
  const currency = customer.currency;
  checkDateInRange(input.invoiceDate, join(prefix, 'invoiceDate'));
  if (input.dueDate !== undefined) checkDateInRange(input.dueDate, join(prefix, 'dueDate'));
  const rate = exchangeRateFor(ctx, currency, input.exchangeRate, join(prefix, 'exchangeRate'), {
    rates: refs.rates,
    date: input.invoiceDate,
  });
  const dueDate =
    input.dueDate ??
    dueDateFromTerms(input.invoiceDate, { days: customer.creditDays, endOfMonth: customer.creditEndOfMonth });
  checkDueDate(input.invoiceDate, dueDate, join(prefix, 'dueDate'));
  const inputs = parseLines(input.lines, currency, refs, prefix, input.invoiceDate);
  const { items, totals } = computeItems(inputs);
  if (totals.gross <= 0n) {
    throw new DomainError('DOCUMENT_TOTAL_MUST_BE_POSITIVE', 'The invoice total must be more than zero', [
      { field: join(prefix, 'lines'), message: 'total is not positive' },
    ]);
  }
  const taxAccounts = new Map([...refs.tax].map(([code, t]) => [code, t.glAccountCode]));
  const description = input.description ?? '';
  const journal = itemJournal(
    items,
    taxAccounts,
    customer.controlGlAccountCode,
    description,
    {
      currency,
      baseCurrency: ctx.entity.baseCurrency,
      rate,
    },
    1n,
  );
  const deferred = planDeferrals(
    input.lines,
    items,
    journal.lines,
    refs,
    ctx.entity.roles.deferredRevenue,
    currency,
    input.invoiceDate,
    prefix,
  );
  return {
    entityId: ctx.entity.id,
    type: 'SI',
    customerCode: customer.code,
    currency,
    exchangeRate: rate,
    // A rate from the entity's dated rates was set deliberately; only a rate sent is checked.
    rateCheck: {
      field: join(prefix, 'exchangeRate'),
      confirmed: input.exchangeRate === undefined || input.confirmExchangeRate === true,
    },
    transactionDate: input.invoiceDate,
    dueDate,
    externalReference: input.externalReference ?? '',
    description,
    net: totals.net,
    tax: totals.tax,
    gross: totals.gross,
    baseGross: journal.baseGross,
    duplicateChecked: options.performExternalReferenceDuplicateCheck,
    relatedTransactionId: null,
    details: {},
    createdBy: ctx.actor,
    items,
    lines: deferred.lines,
    warnings: lineWarnings(inputs, currency, refs, prefix),
    deferrals: deferred.plans,
  };
}

/**
 * Refuses a document that would take the customer past its credit limit (0 = no limit), or any
 * document for a customer on hold, when the caller asked for credit checks.
 */
export async function enforceCredit(
  ctx: PostingContext,
  customer: PostingCustomer,
  increase: bigint,
  field: string,
): Promise<void> {
  if (customer.onHold) {
    throw new DomainError('CUSTOMER_IS_ON_HOLD', `Customer ${customer.code} is on hold`, [
      { field, message: 'customer on hold' },
    ]);
  }
  if (customer.creditLimit === 0n || increase <= 0n) return;
  const balance = await customerBalance(ctx.db, ctx.entity.id, customer.code);
  if (balance + increase > customer.creditLimit) {
    const c = customer.currency;
    throw new DomainError(
      'CUSTOMER_CREDIT_LIMIT_EXCEEDED',
      `The balance would be ${formatAmount(balance + increase, c)} ${c}, over the credit limit of ${formatAmount(customer.creditLimit, c)}`,
      {
        field,
        balance: formatAmount(balance, c),
        increase: formatAmount(increase, c),
        creditLimit: formatAmount(customer.creditLimit, c),
      },
    );
  }
}

export async function checkInvoiceReference(ctx: PostingContext, t: CustomerTransaction, field: string): Promise<void> {
  if (t.duplicateChecked && (await referenceExists(ctx.db, ctx.entity.id, t.customerCode, 'SI', t.externalReference))) {
    throw duplicateError('SI', t.customerCode, t.externalReference, field);
  }
}

/** AccountsIQ CreateBatchSalesInvoiceGetBackTransactionID: posts straight to the ledger. */
export async function postBatchInvoice(
  ctx: PostingContext,
  input: BatchInvoiceInput,
  options: InvoiceOptions,
): Promise<PostedInvoice> {
  const customer = await lockCustomer(ctx.db, ctx.entity.id, input.customerCode, 'customerCode');
  const refs = await loadReferences(ctx.db, ctx.entity.id, {
    ...lineReferences(input.lines, ctx.entity.roles.deferredRevenue),
    rates: rateWanted(ctx, customer.currency, input.exchangeRate, input.invoiceDate),
  });
  const t = buildInvoice(ctx, customer, input, refs, options);
  await requirePeriodOpen(ctx.db, ctx.entity.id, input.invoiceDate, 'invoiceDate', 'post an invoice');
  await checkInvoiceReference(ctx, t, 'externalReference');
  if (options.enforceCreditLimit) await enforceCredit(ctx, customer, t.gross, 'customerCode');
  const posted = await insertTransaction(ctx.db, t);
  await saveDeferrals(ctx.db, ctx.entity.id, posted.id, t.currency, t.exchangeRate, t.deferrals ?? []);
  return {
    ...posted,
    net: t.net,
    tax: t.tax,
    gross: t.gross,
    dueDate: t.dueDate!,
    currency: t.currency,
    warnings: t.warnings ?? [],
  };
}
