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
 * GL account, tax code, department and note, every one given so nothing is taken from defaults
 * that changed since. Its analysis codes follow from the department, as on the invoice.
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
    note: string | null;
  }>(
    `SELECT item_code, description, quantity::text AS quantity, unit_price::text AS unit_price,
            discount_rate::text AS discount_rate, gl_account_code, tax_code, department_id, note
       FROM transaction_items WHERE transaction_id = $1 AND entity_id = $2 ORDER BY line_no`,
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
