import { type Analysis, MAX_DIMENSIONS } from '../domain/analysis.ts';
import { DomainError } from '../domain/errors.ts';
import { Dec } from '../domain/money.ts';
import type { ItemLineInput } from './item-documents.ts';
import { type SourceInvoice, checkBound, loadSourceInvoice, readCredited } from './posting/credit-notes.ts';
import type { PostingContext } from './posting/types.ts';

/**
 * Item credit notes raised from a posted item invoice (issue #11): the draft copies the invoice's
 * lines, the user may change them, and posting credits that invoice, never more than is left of
 * it, the bound batch credit notes keep too (src/ledger/posting/credit-notes.ts).
 */

const FIELD = 'fromInvoiceTransactionId';

/** The invoice a credit note credits: a posted sales invoice (SI) of this entity, written as items. */
export async function loadCreditedItemInvoice(ctx: PostingContext, id: number): Promise<SourceInvoice> {
  const invoice = await loadSourceInvoice(ctx, id);
  const { rows } = await ctx.db.query<{ lines: string; amounts: string }>(
    `SELECT count(*)::text AS lines, count(*) FILTER (WHERE quantity IS NULL)::text AS amounts
       FROM transaction_items WHERE transaction_id = $1 AND entity_id = $2`,
    [id, ctx.entity.id],
  );
  const r = rows[0]!;
  if (r.lines === '0' || r.amounts !== '0') {
    throw new DomainError(
      'INVOICE_IS_NOT_AN_ITEM_INVOICE',
      `${invoice.label} was posted as amounts, not items: credit it with POST /v1/sales/credit-notes`,
      [{ field: FIELD, message: 'not an item invoice' }],
    );
  }
  return invoice;
}

/**
 * The invoice's lines as credit-note lines: item, description, quantity, unit price, discount,
 * GL account, tax code, department, analysis codes and note, every one given so nothing is taken
 * from defaults that changed since. The credit note's lines get the analysis codes the invoice's
 * lines were stored with: what the department gives today is left to it (the database fills it in,
 * and it may hold codes of dimensions not defined), the rest is stated, a null where the invoice
 * line had no code in a dimension the department now fills.
 */
export async function copyInvoiceLines(ctx: PostingContext, invoiceId: number): Promise<ItemLineInput[]> {
  const { rows } = await ctx.db.query<{
    item_code: string | null;
    description: string;
    quantity: string;
    unit_price: string;
    discount_rate: string | null;
    gl_account_code: string;
    tax_code: string;
    department_id: string | null;
    analysis: Analysis | null;
    department_codes: string[] | null;
    note: string | null;
  }>(
    `SELECT i.item_code, i.description, i.quantity::text AS quantity, i.unit_price::text AS unit_price,
            i.discount_rate::text AS discount_rate, i.gl_account_code, i.tax_code, i.department_id,
            i.analysis, d.analysis_codes AS department_codes, i.note
       FROM transaction_items i
       LEFT JOIN departments d ON d.entity_id = i.entity_id AND d.id = i.department_id
      WHERE i.transaction_id = $1 AND i.entity_id = $2 ORDER BY i.line_no`,
    [invoiceId, ctx.entity.id],
  );
  return rows.map((r) => ({
    ...(r.item_code !== null ? { itemCode: r.item_code } : {}),
    ...(r.description !== '' ? { description: r.description } : {}),
    quantity: new Dec(r.quantity).toFixed(),
    unitPrice: new Dec(r.unit_price).toFixed(),
    discountRate: new Dec(r.discount_rate ?? '0').toFixed(),
    glAccountCode: r.gl_account_code,
    taxCode: r.tax_code,
    ...(r.department_id !== null ? { departmentId: r.department_id } : {}),
    ...statedAnalysis(r.analysis ?? {}, r.department_codes ?? []),
    ...(r.note !== null ? { note: r.note } : {}),
  }));
}

/**
 * Refuses a credit note of another customer than the invoice's, or one that would credit more
 * than the invoice's gross less what posted credit notes already credited. Called under the
 * customer's row lock, which every credit note of that customer takes, so two cannot both pass.
 */
export async function checkCreditOfInvoice(
  ctx: PostingContext,
  invoiceId: number,
  customerCode: string,
  gross: bigint,
  currency: string,
): Promise<SourceInvoice> {
  const invoice = await loadCreditedItemInvoice(ctx, invoiceId);
  if (invoice.customerCode !== customerCode) {
    throw new DomainError(
      'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS',
      `${invoice.label} belongs to ${invoice.customerCode}, not ${customerCode}`,
      [{ field: 'customerCode', message: 'not the invoice customer' }],
    );
  }
  await readCredited(ctx, invoice);
  checkBound(invoice, gross, null, currency);
  return invoice;
}

/** The codes a line must state so that, with its department's `codes`, it stores `stored`. */
function statedAnalysis(stored: Analysis, codes: readonly string[]): { analysis?: Analysis } {
  const stated: Analysis = {};
  for (let n = 1; n <= MAX_DIMENSIONS; n++) {
    const want = stored[String(n)] ?? null;
    const given = codes[n - 1] || null;
    if (want !== given) stated[String(n)] = want;
  }
  return Object.keys(stated).length > 0 ? { analysis: stated } : {};
}
