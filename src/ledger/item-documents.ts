import type { Queryable } from '../db/database.ts';
import type { Analysis } from '../domain/analysis.ts';
import { dueDateFromTerms } from '../domain/dates.ts';
import { type ItemInput, computeItems, itemJournal } from '../domain/documents.ts';
import { DomainError, fieldError } from '../domain/errors.ts';
import { type TaxBreakdownRow, computeTaxes, itemLineNet } from '../domain/item-lines.ts';
import { Dec, formatAmount } from '../domain/money.ts';
import {
  type InvoiceToCredit,
  type LineReversal,
  breakdownOf,
  loadInvoiceToCredit,
  refuseExcess,
  requireInvoiceVatAccounts,
  requireOpenLineAccounts,
  reverseInvoiceLines,
} from './item-credit-notes.ts';
import { checkBound } from './posting/credit-notes.ts';
import { type ItemTaxSettings, getItemTaxSettings } from './item-settings.ts';
import { loadItems } from './items.ts';
import { checkDateInRange, requirePeriodOpen } from './periods.ts';
import { checkDueDate, exchangeRateFor, rateWanted } from './posting/common.ts';
import { enforceCredit, lineReferences } from './posting/invoices.ts';
import { type PostingCustomer, type References, loadReferences, lockCustomer } from './posting/references.ts';
import type { PostingContext } from './posting/types.ts';
import {
  checkStorable,
  type CustomerTransaction,
  type PostedTransaction,
  duplicateError,
  insertTransaction,
  referenceExists,
} from './posting/write.ts';

/** An invoice (SI) or a credit note (SN) written as items. */
export type ItemDocumentType = 'SI' | 'SN';

/**
 * A line as sent: what it leaves out comes from its item (description, unit price, GL account,
 * tax code, department), then from the customer (GL account, tax code, department, discount rate).
 */
export interface ItemLineInput {
  itemCode?: string | undefined;
  description?: string | undefined;
  /** More than zero, at most four decimals. */
  quantity: string;
  /** At most four decimals; negative for a discount or credit line. */
  unitPrice?: string | undefined;
  /** A fraction ("0.1" = 10 %) taken off quantity × unitPrice. */
  discountRate?: string | undefined;
  glAccountCode?: string | undefined;
  taxCode?: string | undefined;
  departmentId?: string | undefined;
  /** Analysis codes by dimension ("1" to "6"); the department's dimension comes from departmentId. */
  analysis?: Analysis | undefined;
  note?: string | undefined;
}

/** An item invoice or credit note with its posting options, as a draft holds it. */
export interface ItemDocumentInput {
  customerCode: string;
  /** The document date (the invoice or credit note date). */
  date: string;
  /** Invoices only; defaults from the customer's credit terms. */
  dueDate?: string | undefined;
  externalReference?: string | undefined;
  description?: string | undefined;
  orderNumber?: string | undefined;
  deliveryDate?: string | undefined;
  exchangeRate?: string | undefined;
  confirmExchangeRate?: boolean | undefined;
  performExternalReferenceDuplicateCheck: boolean;
  /** Invoices only: checked when the draft is posted. */
  enforceCreditLimit: boolean;
  /** Credit notes only: the posted item invoice this one credits (never more than is left of it). */
  fromInvoiceTransactionId?: number | undefined;
  lines: ItemLineInput[];
}

/** What the customer gives a line that leaves something out. */
export interface CustomerLineDefaults {
  glAccountCode: string | null;
  taxCode: string | null;
  departmentId: string | null;
  /** A fraction, "0" when the customer has none. */
  discountRate: string;
}

/** The computed amounts of an item document, per line and per tax code and rate. */
export interface ItemAmounts {
  lines: { lineNo: number; taxRate: string; net: bigint; tax: bigint }[];
  breakdown: TaxBreakdownRow[];
  net: bigint;
  tax: bigint;
  gross: bigint;
}

export async function customerLineDefaults(
  db: Queryable,
  entityId: string,
  code: string,
): Promise<CustomerLineDefaults | null> {
  const { rows } = await db.query<{
    default_gl_account_code: string | null;
    default_tax_code: string | null;
    department_id: string | null;
    discount_rate: string;
  }>(
    `SELECT default_gl_account_code, default_tax_code, department_id, discount_rate::text AS discount_rate
       FROM customers WHERE entity_id = $1 AND code = $2`,
    [entityId, code],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    glAccountCode: r.default_gl_account_code,
    taxCode: r.default_tax_code,
    departmentId: r.department_id,
    discountRate: new Dec(r.discount_rate).toFixed(),
  };
}

function missingDefault(field: string, what: string): DomainError {
  return new DomainError(
    'LINE_DEFAULT_MISSING',
    `${field}: the line gives no ${what}, and neither its item nor the customer has one`,
    [{ field, message: `no ${what} on the line, its item or the customer` }],
  );
}

/**
 * Fills what each line leaves out from its item, then from the customer, so the draft saves (and
 * later posts) exactly the values the caller saw. An unknown or inactive item is refused.
 */
export async function resolveLines(
  db: Queryable,
  entityId: string,
  customer: CustomerLineDefaults,
  lines: ItemLineInput[],
): Promise<ItemLineInput[]> {
  const items = await loadItems(
    db,
    entityId,
    lines.flatMap((l) => (l.itemCode ? [l.itemCode] : [])),
  );
  return lines.map((l, n) => {
    const at = (f: string) => `lines[${n}].${f}`;
    const item = l.itemCode ? items.get(l.itemCode) : undefined;
    if (l.itemCode && !item) {
      throw new DomainError('ITEM_CODE_DOES_NOT_EXIST', `${at('itemCode')}: item ${l.itemCode} does not exist`, [
        { field: at('itemCode'), message: 'unknown item' },
      ]);
    }
    if (item && !item.isActive) {
      throw new DomainError('ITEM_IS_INACTIVE', `${at('itemCode')}: item ${item.code} is inactive`, [
        { field: at('itemCode'), message: 'inactive item' },
      ]);
    }
    const unitPrice = l.unitPrice ?? item?.unitPrice ?? undefined;
    if (unitPrice === undefined) throw missingDefault(at('unitPrice'), 'unit price');
    const glAccountCode = l.glAccountCode ?? item?.glAccountCode ?? customer.glAccountCode ?? undefined;
    if (glAccountCode === undefined) throw missingDefault(at('glAccountCode'), 'GL account');
    const taxCode = l.taxCode ?? item?.taxCode ?? customer.taxCode ?? undefined;
    if (taxCode === undefined) throw missingDefault(at('taxCode'), 'tax code');
    const departmentId = l.departmentId ?? item?.departmentId ?? customer.departmentId ?? undefined;
    const description = l.description ?? item?.description;
    const resolved: ItemLineInput = {
      ...(l.itemCode ? { itemCode: l.itemCode } : {}),
      ...(description !== undefined ? { description } : {}),
      quantity: l.quantity,
      unitPrice,
      discountRate: l.discountRate ?? customer.discountRate,
      glAccountCode,
      taxCode,
      ...(departmentId !== undefined ? { departmentId } : {}),
      ...(l.analysis !== undefined ? { analysis: l.analysis } : {}),
      ...(l.note !== undefined ? { note: l.note } : {}),
    };
    return resolved;
  });
}

function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw missingDefault(field, field.split('.').pop() ?? field);
  return value;
}

/**
 * Builds (does not post) an item invoice or credit note from resolved lines: each line's net is
 * round(quantity × unitPrice × (1 − discountRate)) and the tax follows the entity's settings
 * (domain/item-lines.ts). The journal is the batch invoice's (itemJournal), so the same invariants hold.
 * A credit note of an invoice (`credit`) reverses the VAT the invoice charged instead: each line
 * that gives back invoiced goods takes its invoice line's rate and its share of that line's VAT,
 * to the VAT account the invoice used (reverseInvoiceLines); `reversals` says what each reversed.
 */
export function buildItemDocument(
  ctx: PostingContext,
  customer: PostingCustomer,
  type: ItemDocumentType,
  input: ItemDocumentInput,
  refs: References,
  settings: ItemTaxSettings,
  credit: InvoiceToCredit | null = null,
): { t: CustomerTransaction; amounts: ItemAmounts; reversals: LineReversal[] | null } {
  const currency = customer.currency;
  checkDateInRange(input.date, 'date');
  if (input.dueDate !== undefined) checkDateInRange(input.dueDate, 'dueDate');
  if (input.deliveryDate !== undefined) checkDateInRange(input.deliveryDate, 'deliveryDate');
  if (type === 'SN' && input.dueDate !== undefined) {
    throw new DomainError('VALIDATION_ERROR', 'dueDate: a credit note has no due date', [
      { field: 'dueDate', message: 'not taken on a credit note' },
    ]);
  }
  const rate = exchangeRateFor(ctx, currency, input.exchangeRate, 'exchangeRate', {
    rates: refs.rates,
    date: input.date,
  });
  let dueDate: string | null = null;
  if (type === 'SI') {
    dueDate =
      input.dueDate ??
      dueDateFromTerms(input.date, { days: customer.creditDays, endOfMonth: customer.creditEndOfMonth });
    checkDueDate(input.date, dueDate, 'dueDate');
  }
  const lines = input.lines.map((l, n) => {
    const at = (f: string) => `lines[${n}].${f}`;
    const glAccountCode = required(l.glAccountCode, at('glAccountCode'));
    const taxCode = required(l.taxCode, at('taxCode'));
    const unitPrice = required(l.unitPrice, at('unitPrice'));
    const departmentId = l.departmentId ?? null;
    refs.requireDepartment(departmentId, at('departmentId'));
    refs.requireGl(glAccountCode, at('glAccountCode'), departmentId);
    refs.requireAnalysis(l.analysis, at('analysis'));
    refs.requireTax(taxCode, at('taxCode'));
    const discountRate = new Dec(l.discountRate ?? '0');
    // Stored with six decimals (numeric(9, 6)): more would post a net the stored line does not explain.
    if (discountRate.lt(0) || discountRate.gt(1) || discountRate.decimalPlaces() > 6) {
      throw new DomainError(
        'VALIDATION_ERROR',
        `${at('discountRate')}: must be a fraction between 0 and 1, at most 6 decimals`,
        [{ field: at('discountRate'), message: 'must be a fraction between 0 and 1, at most 6 decimals' }],
      );
    }
    const net = itemLineNet(l.quantity, unitPrice, discountRate.toFixed(), currency, settings.taxRounding);
    return { l, at, glAccountCode, taxCode, unitPrice, departmentId, discountRate: discountRate.toFixed(), net };
  });
  const reversals = credit
    ? reverseInvoiceLines(
        credit,
        lines.map((x) => ({ ...x, itemCode: x.l.itemCode ?? null })),
        settings.taxRounding,
      )
    : null;
  // A document takes the rates of its own date; a credit note of an invoice, the invoice's.
  const taxed = lines.map((x, n) => {
    const reversal = reversals?.[n];
    const taxRate =
      reversal?.taxRate ??
      refs.requireRateOn(x.taxCode, credit ? credit.invoice.transactionDate : input.date, x.at('taxCode'));
    return { ...x, taxRate };
  });
  const { taxes, breakdown } = reversals
    ? reversedTaxes(taxed, reversals, settings)
    : computeTaxes(taxed, settings.taxCalculation, settings.taxRounding);
  const inputs: ItemInput[] = taxed.map((x, n) => ({
    glAccountCode: x.glAccountCode,
    taxCode: x.taxCode,
    taxRate: x.taxRate,
    description: x.l.description ?? '',
    departmentId: x.departmentId,
    analysis: x.l.analysis ?? null,
    net: x.net,
    tax: taxes[n]!,
    itemCode: x.l.itemCode ?? null,
    quantity: new Dec(x.l.quantity).toFixed(),
    unitPrice: new Dec(x.unitPrice).toFixed(),
    discountRate: x.discountRate,
    note: x.l.note ?? null,
  }));
  const { items, totals } = computeItems(inputs);
  if (totals.gross <= 0n) {
    throw new DomainError(
      'DOCUMENT_TOTAL_MUST_BE_POSITIVE',
      `The ${type === 'SI' ? 'invoice' : 'credit note'} total must be more than zero`,
      [{ field: 'lines', message: 'total is not positive' }],
    );
  }
  // A credit note of an invoice reverses VAT where the invoice booked it, even if the code has moved since.
  const taxAccounts = new Map([
    ...[...refs.tax].map(([code, t]) => [code, t.glAccountCode] as const),
    ...(credit?.taxAccounts ?? []),
  ]);
  const description = input.description ?? '';
  const journal = itemJournal(
    items,
    taxAccounts,
    customer.controlGlAccountCode,
    description,
    { currency, baseCurrency: ctx.entity.baseCurrency, rate },
    type === 'SI' ? 1n : -1n,
  );
  const t: CustomerTransaction = {
    entityId: ctx.entity.id,
    type,
    customerCode: customer.code,
    currency,
    exchangeRate: rate,
    rateCheck: { field: 'exchangeRate', confirmed: input.confirmExchangeRate === true },
    transactionDate: input.date,
    dueDate,
    externalReference: input.externalReference ?? '',
    description,
    net: totals.net,
    tax: totals.tax,
    gross: totals.gross,
    baseGross: journal.baseGross,
    duplicateChecked: input.performExternalReferenceDuplicateCheck,
    relatedTransactionId: null,
    details: {},
    createdBy: ctx.actor,
    items,
    lines: journal.lines,
    orderNumber: input.orderNumber ?? null,
    deliveryDate: input.deliveryDate ?? null,
  };
  // 15-digit quantities times 15-digit prices can pass what a bigint column holds: the caller's input (400).
  checkStorable([t], []);
  const amounts: ItemAmounts = {
    lines: items.map((i) => ({ lineNo: i.lineNo, taxRate: new Dec(i.taxRate).toFixed(), net: i.net, tax: i.tax })),
    breakdown,
    ...totals,
  };
  return { t, amounts, reversals };
}

/**
 * The taxes of a credit note of an invoice: each line that reverses an invoice line takes the VAT
 * reverseInvoiceLines gave it; the others (goods the invoice did not have) are computed among
 * themselves with the entity's settings.
 */
function reversedTaxes(
  lines: readonly { taxCode: string; taxRate: string; net: bigint }[],
  reversals: readonly LineReversal[],
  settings: ItemTaxSettings,
): { taxes: bigint[]; breakdown: TaxBreakdownRow[] } {
  const free = lines.flatMap((l, n) => (reversals[n]!.tax === null ? [n] : []));
  const computed = computeTaxes(
    free.map((n) => lines[n]!),
    settings.taxCalculation,
    settings.taxRounding,
  ).taxes;
  const taxes = lines.map((_, n) => reversals[n]!.tax ?? computed[free.indexOf(n)]!);
  return { taxes, breakdown: breakdownOf(lines.map((l, n) => ({ ...l, tax: taxes[n]! }))) };
}

/** Locks the customer and builds the document with the entity's current tax settings. */
export async function prepareItemDocument(
  ctx: PostingContext,
  type: ItemDocumentType,
  input: ItemDocumentInput,
): Promise<{ t: CustomerTransaction; amounts: ItemAmounts; customer: PostingCustomer }> {
  const customer = await lockCustomer(ctx.db, ctx.entity.id, input.customerCode, 'customerCode');
  const refs = await loadReferences(ctx.db, ctx.entity.id, {
    ...lineReferences(input.lines),
    rates: rateWanted(ctx, customer.currency, input.exchangeRate, input.date),
  });
  const settings = await getItemTaxSettings(ctx.db, ctx.entity.id);
  const from = input.fromInvoiceTransactionId;
  if (from !== undefined && type !== 'SN') {
    throw fieldError('fromInvoiceTransactionId', 'only a credit note credits an invoice');
  }
  // Read under the customer's row lock, which every credit note of the invoice takes.
  const credit = from !== undefined ? await loadInvoiceToCredit(ctx, from, customer.code) : null;
  if (credit) requireOpenLineAccounts(credit, input.lines, refs);
  const built = buildItemDocument(ctx, customer, type, input, refs, settings, credit);
  if (credit) await requireInvoiceVatAccounts(ctx, credit, built.t.lines);
  if (credit && built.reversals) {
    // The invoice's total first, then each line against what is left of its invoice line.
    checkBound(credit.invoice, built.t.gross, null, customer.currency);
    refuseExcess(credit, built.reversals, customer.currency);
    built.t.relatedTransactionId = credit.invoice.id;
    // Which invoice line each line reversed (null: none), so later credit notes see what is left of each.
    built.t.details = {
      fromInvoiceTransactionId: credit.invoice.id,
      invoiceLines: built.reversals.map((r) => r.invoiceLineNo),
    };
  }
  await requirePeriodOpen(
    ctx.db,
    ctx.entity.id,
    input.date,
    'date',
    type === 'SI' ? 'post an invoice' : 'post a credit note',
  );
  const ref = built.t.externalReference;
  if (built.t.duplicateChecked && (await referenceExists(ctx.db, ctx.entity.id, customer.code, type, ref))) {
    throw duplicateError(type, customer.code, ref, 'externalReference');
  }
  return { ...built, customer };
}

/**
 * Posts an item document: the transaction with its item lines, order number and delivery date,
 * and its VAT breakdown, in the caller's transaction.
 */
export async function postItemDocument(
  ctx: PostingContext,
  type: ItemDocumentType,
  input: ItemDocumentInput,
): Promise<{ posted: PostedTransaction; t: CustomerTransaction; amounts: ItemAmounts }> {
  const { t, amounts, customer } = await prepareItemDocument(ctx, type, input);
  if (type === 'SI' && input.enforceCreditLimit) await enforceCredit(ctx, customer, t.gross, 'customerCode');
  const posted = await insertTransaction(ctx.db, t);
  const b = amounts.breakdown;
  await ctx.db.query(
    `INSERT INTO transaction_tax_breakdown (transaction_id, entity_id, tax_code, tax_rate, net, tax)
     SELECT $1, $2, code, rate::numeric, net, tax
       FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[]) AS b(code, rate, net, tax)`,
    [
      posted.id,
      ctx.entity.id,
      b.map((r) => r.taxCode),
      b.map((r) => r.taxRate),
      b.map((r) => r.net),
      b.map((r) => r.tax),
    ],
  );
  return { posted, t, amounts };
}

/** Amounts as decimal text, for drafts and responses. */
export function formatAmounts(a: ItemAmounts, currency: string) {
  const f = (v: bigint) => formatAmount(v, currency);
  return {
    lines: a.lines.map((l) => ({
      lineNo: l.lineNo,
      taxRate: l.taxRate,
      netAmount: f(l.net),
      taxAmount: f(l.tax),
      grossAmount: f(l.net + l.tax),
    })),
    vatBreakdown: a.breakdown.map((r) => ({
      taxCode: r.taxCode,
      taxRate: r.taxRate,
      netAmount: f(r.net),
      taxAmount: f(r.tax),
    })),
    netAmount: f(a.net),
    taxAmount: f(a.tax),
    grossAmount: f(a.gross),
  };
}
