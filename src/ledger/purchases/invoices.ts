import type { Queryable } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { dueDateFromTerms } from '../../domain/dates.ts';
import { DomainError } from '../../domain/errors.ts';
import { type PostingWarning, computeItems, itemJournal } from '../../domain/documents.ts';
import { checkDateInRange, requirePeriodOpen } from '../periods.ts';
import { checkDueDate, exchangeRateFor, join, rateWanted } from '../posting/common.ts';
import { refuseDeferrals } from '../posting/deferrals.ts';
import { lineReferences, lineWarnings, parseLines } from '../posting/invoices.ts';
import { RateBounds } from '../posting/rate-bounds.ts';
import { type References, loadReferences } from '../posting/references.ts';
import type { InvoiceLineInput, PostingContext } from '../posting/types.ts';
import { type NewTransaction, type PostedTransaction, checkStorable } from '../posting/write.ts';
import { type Supplier, lockSupplier } from './suppliers.ts';
import { withReference } from '../reference-lookup.ts';

/** A purchase invoice line: the GL account and tax code default from the supplier. */
export interface PurchaseLineInput extends Omit<InvoiceLineInput, 'glAccountCode' | 'taxCode'> {
  glAccountCode?: string | undefined;
  taxCode?: string | undefined;
}

export interface PurchaseInvoiceInput {
  supplierCode: string;
  invoiceDate: string;
  dueDate?: string | undefined;
  /** The supplier's own invoice number: always duplicate-checked per supplier. */
  supplierReference: string;
  description?: string | undefined;
  exchangeRate?: string | undefined;
  confirmExchangeRate?: boolean | undefined;
  lines: PurchaseLineInput[];
}

/** A purchase document about to be written: a transaction of type PI that names a supplier. */
export type PurchaseDocument = NewTransaction & { supplierCode: string; customerCode: null };

export interface PostedPurchase extends PostedTransaction {
  supplierCode: string;
  currency: string;
  net: bigint;
  tax: bigint;
  gross: bigint;
  dueDate: string;
  warnings: PostingWarning[];
}

/** Lines with the supplier's defaults filled in: GL account, then the entity's purchases account; tax code. */
export function resolvePurchaseLines(
  ctx: PostingContext,
  supplier: Supplier,
  lines: PurchaseLineInput[],
  prefix: string,
): InvoiceLineInput[] {
  return lines.map((l, n) => {
    const taxCode = l.taxCode ?? supplier.defaultTaxCode;
    if (taxCode === null) {
      const field = join(prefix, `lines[${n}].taxCode`);
      throw new DomainError('VALIDATION_ERROR', `${field}: required, the supplier has no default tax code`, [
        { field, message: 'required (the supplier has no default tax code)' },
      ]);
    }
    return {
      ...l,
      glAccountCode: l.glAccountCode ?? supplier.defaultGlAccountCode ?? ctx.entity.roles.purchases,
      taxCode,
    };
  });
}

/** The setup data a purchase invoice needs: its lines' codes and the VAT input account. */
export async function purchaseReferences(
  ctx: PostingContext,
  supplier: Supplier,
  input: PurchaseInvoiceInput,
  lines: InvoiceLineInput[],
): Promise<References> {
  const req = lineReferences(lines);
  return loadReferences(ctx.db, ctx.entity.id, {
    ...req,
    gl: [...req.gl, ctx.entity.roles.vatInput],
    rates: rateWanted(ctx, supplier.currency, input.exchangeRate, input.invoiceDate),
  });
}

/**
 * Builds (does not post) a purchase invoice for a locked supplier. Journal: Dr each line's net to
 * its GL account, Dr VAT input per tax code (the entity's vatInput account: the tax codes' own
 * accounts are the output VAT of sales), Cr the supplier's control account the gross.
 */
export function buildPurchaseInvoice(
  ctx: PostingContext,
  supplier: Supplier,
  input: PurchaseInvoiceInput,
  lines: InvoiceLineInput[],
  refs: References,
  prefix = '',
): PurchaseDocument {
  const currency = supplier.currency;
  checkDateInRange(input.invoiceDate, join(prefix, 'invoiceDate'));
  if (input.dueDate !== undefined) checkDateInRange(input.dueDate, join(prefix, 'dueDate'));
  const rate = exchangeRateFor(ctx, currency, input.exchangeRate, join(prefix, 'exchangeRate'), {
    rates: refs.rates,
    date: input.invoiceDate,
  });
  const dueDate =
    input.dueDate ?? dueDateFromTerms(input.invoiceDate, { days: supplier.creditDays, endOfMonth: false });
  checkDueDate(input.invoiceDate, dueDate, join(prefix, 'dueDate'));
  // Deferred revenue is a sales matter; a purchase line's deferral would be dropped, so it is refused.
  refuseDeferrals(lines, prefix, 'a purchase invoice');
  const inputs = parseLines(lines, currency, refs, prefix, input.invoiceDate);
  const { items, totals } = computeItems(inputs);
  if (totals.gross <= 0n) {
    throw new DomainError('DOCUMENT_TOTAL_MUST_BE_POSITIVE', 'The purchase invoice total must be more than zero', [
      { field: join(prefix, 'lines'), message: 'total is not positive' },
    ]);
  }
  const vatInput = ctx.entity.roles.vatInput;
  if (totals.tax !== 0n || items.some((i) => i.tax !== 0n)) refs.requireGl(vatInput, join(prefix, 'lines'), null);
  const taxAccounts = new Map(items.map((i) => [i.taxCode, vatInput]));
  const description = input.description ?? '';
  const journal = itemJournal(
    items,
    taxAccounts,
    supplier.controlGlAccountCode,
    description,
    { currency, baseCurrency: ctx.entity.baseCurrency, rate },
    -1n,
  );
  return {
    entityId: ctx.entity.id,
    type: 'PI',
    customerCode: null,
    supplierCode: supplier.code,
    currency,
    exchangeRate: rate,
    rateCheck: { field: join(prefix, 'exchangeRate'), confirmed: input.confirmExchangeRate === true },
    transactionDate: input.invoiceDate,
    dueDate,
    externalReference: input.supplierReference,
    description,
    net: totals.net,
    tax: totals.tax,
    gross: totals.gross,
    baseGross: journal.baseGross,
    duplicateChecked: true,
    relatedTransactionId: null,
    details: {},
    createdBy: ctx.actor,
    items,
    lines: journal.lines,
    warnings: lineWarnings(inputs, currency, refs, prefix),
  };
}

function duplicateReference(doc: PurchaseDocument, field: string): DomainError {
  return new DomainError(
    'PURCHASE_INVOICE_SUPPLIER_REFERENCE_ALREADY_EXISTS',
    `Supplier ${doc.supplierCode} already has a purchase invoice with reference "${doc.externalReference}"`,
    [{ field, message: 'already used for this supplier' }],
  );
}

/**
 * The checks a purchase invoice passes before it is written: lock date, the duplicate supplier
 * reference (the unique index transactions_supplier_reference_checked is the backstop), and the
 * plausible exchange rate band the sales documents use.
 */
export async function checkPurchase(ctx: PostingContext, doc: PurchaseDocument, prefix = ''): Promise<void> {
  await requirePeriodOpen(
    ctx.db,
    ctx.entity.id,
    doc.transactionDate,
    join(prefix, 'invoiceDate'),
    'post a purchase invoice',
  );
  const { rows } = await ctx.db.query(
    `SELECT 1 FROM ${withReference('$1', '$3', 'supplier_code, type')} d
      WHERE d.supplier_code = $2 AND d.type = 'PI' LIMIT 1`,
    [ctx.entity.id, doc.supplierCode, doc.externalReference],
  );
  if (rows.length > 0) throw duplicateReference(doc, join(prefix, 'supplierReference'));
  if (doc.currency !== ctx.entity.baseCurrency) {
    // The band is that of the currency's sales documents: one market rate, whichever ledger books it.
    const bounds = await RateBounds.load(ctx.db, ctx.entity.id, [doc.currency]);
    bounds.check({ ...doc, type: 'SI' });
  }
}

/**
 * Writes one purchase document in one statement: its gapless number (the PI counter of the
 * entity), the transaction row, its items and its journal lines. The statement-level balance
 * trigger and the control-account trigger check it as they check every sales document.
 */
export async function writePurchase(db: Queryable, doc: PurchaseDocument, prefix = ''): Promise<PostedTransaction> {
  checkStorable([doc], [], prefix ? `${prefix}.` : '');
  try {
    const { rows } = await db.query<{ id: string; number: string }>(
      `WITH seq AS (
         INSERT INTO document_sequences (entity_id, type, last_number) VALUES ($1, $2, 1)
         ON CONFLICT (entity_id, type) DO UPDATE SET last_number = document_sequences.last_number + 1
         RETURNING last_number
       ), doc AS (
         INSERT INTO transactions (entity_id, type, side, number, supplier_code, currency, exchange_rate, transaction_date,
                                   due_date, external_reference, description, net, tax, gross, base_gross,
                                   duplicate_checked, details, created_by)
         SELECT $1, $2, 'none', seq.last_number, $3, $4, $5::numeric, $6::date, $7::date, $8, $9, $10, $11, $12, $13,
                true, $14::jsonb, $15
           FROM seq
         RETURNING id, number
       ), items AS (
         INSERT INTO transaction_items (transaction_id, line_no, entity_id, gl_account_code, tax_code, tax_rate,
                                        description, department_id, net, tax)
         SELECT doc.id, i.line_no, $1, i.gl, i.tax_code, i.rate::numeric, i.descr, i.dept, i.net, i.tax
           FROM doc, unnest($16::int[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::bigint[],
                            $23::bigint[]) AS i(line_no, gl, tax_code, rate, descr, dept, net, tax)
       ), lines AS (
         INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, department_id, tax_code,
                                    description, amount, base_amount)
         SELECT doc.id, $1, l.line_no, l.role, l.gl, l.dept, l.tax_code, l.descr, l.amount, l.base
           FROM doc, unnest($24::int[], $25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::bigint[],
                            $31::bigint[]) AS l(line_no, role, gl, dept, tax_code, descr, amount, base)
       )
       SELECT id::text AS id, number::text AS number FROM doc`,
      [
        doc.entityId,
        doc.type,
        doc.supplierCode,
        doc.currency,
        doc.exchangeRate,
        doc.transactionDate,
        doc.dueDate,
        doc.externalReference,
        doc.description,
        doc.net,
        doc.tax,
        doc.gross,
        doc.baseGross,
        JSON.stringify(doc.details),
        doc.createdBy,
        doc.items.map((i) => i.lineNo),
        doc.items.map((i) => i.glAccountCode),
        doc.items.map((i) => i.taxCode),
        doc.items.map((i) => i.taxRate),
        doc.items.map((i) => i.description),
        doc.items.map((i) => i.departmentId),
        doc.items.map((i) => i.net),
        doc.items.map((i) => i.tax),
        doc.lines.map((_, n) => n + 1),
        doc.lines.map((l) => l.role),
        doc.lines.map((l) => l.glAccountCode),
        doc.lines.map((l) => l.departmentId),
        doc.lines.map((l) => l.taxCode),
        doc.lines.map((l) => l.description),
        doc.lines.map((l) => l.amount),
        doc.lines.map((l) => l.baseAmount),
      ],
    );
    return { id: Number(rows[0]!.id), number: Number(rows[0]!.number) };
  } catch (err) {
    if (isUniqueViolation(err, 'transactions_supplier_reference_checked')) {
      throw duplicateReference(doc, join(prefix, 'supplierReference'));
    }
    throw err;
  }
}

/** Validates, checks and posts a purchase invoice; `prefix` names its fields inside a larger request. */
export async function postPurchaseInvoice(
  ctx: PostingContext,
  input: PurchaseInvoiceInput,
  prefix = '',
  details: Record<string, unknown> = {},
): Promise<PostedPurchase> {
  const supplier = await lockSupplier(ctx.db, ctx.entity.id, input.supplierCode, join(prefix, 'supplierCode'));
  const lines = resolvePurchaseLines(ctx, supplier, input.lines, prefix);
  const refs = await purchaseReferences(ctx, supplier, input, lines);
  const doc = { ...buildPurchaseInvoice(ctx, supplier, input, lines, refs, prefix), details };
  await checkPurchase(ctx, doc, prefix);
  const posted = await writePurchase(ctx.db, doc, prefix);
  return {
    ...posted,
    supplierCode: supplier.code,
    currency: doc.currency,
    net: doc.net,
    tax: doc.tax,
    gross: doc.gross,
    dueDate: doc.dueDate!,
    warnings: doc.warnings ?? [],
  };
}
