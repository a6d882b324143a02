import { DomainError } from '../../domain/errors.ts';
import { Dec, formatAmount, multiplyAmount } from '../../domain/money.ts';
import type { Item } from '../../domain/documents.ts';
import { requirePeriodOpen } from '../periods.ts';
import { buildInvoice, checkInvoiceReference, enforceCredit, lineReferences } from '../posting/invoices.ts';
import { rateWanted } from '../posting/common.ts';
import { refuseDeferrals } from '../posting/deferrals.ts';
import { loadReferences, lockCustomer } from '../posting/references.ts';
import type { InvoiceLineInput, PostingContext } from '../posting/types.ts';
import { insertTransaction } from '../posting/write.ts';
import { type PostedPurchase, type PurchaseInvoiceInput, postPurchaseInvoice } from './invoices.ts';
import { linkDocuments } from './reads.ts';

export interface BackToBackSalesInput {
  customerCode: string;
  invoiceDate?: string | undefined;
  dueDate?: string | undefined;
  externalReference?: string | undefined;
  description?: string | undefined;
  exchangeRate?: string | undefined;
  confirmExchangeRate?: boolean | undefined;
  /** Copy the purchase lines, each net × (1 + markupRate), half-up to the currency's minor unit. */
  markupRate?: string | undefined;
  /** The sales account of copied lines (default: the customer's default account, then the entity's sales account). */
  glAccountCode?: string | undefined;
  /** The tax code of copied lines (default: the customer's default tax code, then the purchase line's). */
  taxCode?: string | undefined;
  /** Or the sales lines as given. */
  lines?: InvoiceLineInput[] | undefined;
  performExternalReferenceDuplicateCheck: boolean;
  enforceCreditLimit: boolean;
}

export interface BackToBackInput {
  purchase: PurchaseInvoiceInput;
  sales: BackToBackSalesInput;
}

export interface PostedSales {
  id: number;
  number: number;
  currency: string;
  net: bigint;
  tax: bigint;
  gross: bigint;
  dueDate: string;
}

export interface BackToBackResult {
  purchase: PostedPurchase;
  sales: PostedSales;
}

/**
 * The sales line copied from a purchase line: net × (1 + markupRate) rounded half-up (away from
 * zero) to the currency's minor unit, one line at a time; its VAT is the sales tax code's, computed
 * as on any sales invoice (never the purchase VAT copied). 100.00 at 0.25 sells at 125.00;
 * 33.33 at 0.15 is 38.3295, so 38.33.
 */
export function markedUpNet(net: bigint, markupRate: string): bigint {
  return multiplyAmount(net, new Dec(1).plus(markupRate), 'halfUp');
}

function salesLinesFrom(
  items: Item[],
  currency: string,
  markupRate: string,
  glAccountCode: string,
  taxCode: string | null,
): InvoiceLineInput[] {
  return items.map((i) => ({
    glAccountCode,
    taxCode: taxCode ?? i.taxCode,
    description: i.description,
    ...(i.departmentId !== null ? { departmentId: i.departmentId } : {}),
    netAmount: formatAmount(markedUpNet(i.net, markupRate), currency),
  }));
}

/**
 * Posts a purchase invoice and the sales invoice that sells on what it bought, linked to each
 * other, in the caller's database transaction: the purchase first, then the sales invoice, then
 * the link. Any refusal throws, and the caller's rollback takes back whatever was written.
 */
export async function postBackToBack(ctx: PostingContext, input: BackToBackInput): Promise<BackToBackResult> {
  const s = input.sales;
  if ((s.markupRate === undefined) === (s.lines === undefined)) {
    const both = s.markupRate !== undefined;
    throw new DomainError('VALIDATION_ERROR', `sales: send ${both ? 'either' : 'one of'} markupRate or lines`, [
      {
        field: both ? 'sales.lines' : 'sales.markupRate',
        message: both ? 'not with markupRate' : 'markupRate or lines required',
      },
    ]);
  }
  const purchase = await postPurchaseInvoice(ctx, input.purchase, 'purchase', { backToBack: true });
  const customer = await lockCustomer(ctx.db, ctx.entity.id, s.customerCode, 'sales.customerCode');
  let lines: InvoiceLineInput[];
  if (s.lines !== undefined) {
    lines = s.lines;
  } else {
    if (customer.currency !== purchase.currency) {
      throw new DomainError(
        'BACK_TO_BACK_CURRENCY_MISMATCH',
        `sales.markupRate: the customer's currency ${customer.currency} is not the supplier's ${purchase.currency}; send the sales lines`,
        [{ field: 'sales.markupRate', message: 'customer and supplier currencies differ' }],
      );
    }
    const { rows } = await ctx.db.query<{ gl: string | null; tax: string | null }>(
      `SELECT default_gl_account_code AS gl, default_tax_code AS tax FROM customers WHERE entity_id = $1 AND code = $2`,
      [ctx.entity.id, customer.code],
    );
    const defaults = rows[0];
    const items = await purchaseItems(ctx, purchase.id);
    lines = salesLinesFrom(
      items,
      customer.currency,
      s.markupRate!,
      s.glAccountCode ?? defaults?.gl ?? ctx.entity.roles.sales,
      s.taxCode ?? defaults?.tax ?? null,
    );
  }
  const invoiceDate = s.invoiceDate ?? input.purchase.invoiceDate;
  // The schedule of a deferred line is saved by postInvoice only: a pair's sales half takes none.
  refuseDeferrals(lines, 'sales', 'a back-to-back sales invoice');
  const refs = await loadReferences(ctx.db, ctx.entity.id, {
    ...lineReferences(lines),
    rates: rateWanted(ctx, customer.currency, s.exchangeRate, invoiceDate),
  });
  const t = buildInvoice(
    ctx,
    customer,
    {
      customerCode: customer.code,
      invoiceDate,
      dueDate: s.dueDate,
      externalReference: s.externalReference,
      description: s.description,
      exchangeRate: s.exchangeRate,
      confirmExchangeRate: s.confirmExchangeRate,
      lines,
    },
    refs,
    { performExternalReferenceDuplicateCheck: s.performExternalReferenceDuplicateCheck, enforceCreditLimit: false },
    'sales',
  );
  t.details = { backToBack: { purchaseTransactionId: purchase.id } };
  await requirePeriodOpen(ctx.db, ctx.entity.id, invoiceDate, 'sales.invoiceDate', 'post an invoice');
  await checkInvoiceReference(ctx, t, 'sales.externalReference');
  if (s.enforceCreditLimit) await enforceCredit(ctx, customer, t.gross, 'sales.customerCode');
  const sales = await insertTransaction(ctx.db, t);
  await linkDocuments(ctx.db, {
    kind: 'back_to_back',
    salesTransactionId: sales.id,
    salesEntityId: ctx.entity.id,
    purchaseTransactionId: purchase.id,
    purchaseEntityId: ctx.entity.id,
    createdBy: ctx.actor,
  });
  return {
    purchase,
    sales: {
      id: sales.id,
      number: sales.number,
      currency: t.currency,
      net: t.net,
      tax: t.tax,
      gross: t.gross,
      dueDate: t.dueDate!,
    },
  };
}

/** The items of a posted purchase invoice, as stored (net in minor units). */
async function purchaseItems(ctx: PostingContext, transactionId: number): Promise<Item[]> {
  const { rows } = await ctx.db.query<{
    line_no: number;
    gl_account_code: string;
    tax_code: string;
    tax_rate: string;
    description: string;
    department_id: string | null;
    net: string;
    tax: string;
  }>(
    `SELECT line_no, gl_account_code, tax_code, tax_rate::text AS tax_rate, description, department_id,
            net::text AS net, tax::text AS tax
       FROM transaction_items WHERE transaction_id = $1 ORDER BY line_no`,
    [transactionId],
  );
  return rows.map((r) => ({
    lineNo: r.line_no,
    glAccountCode: r.gl_account_code,
    taxCode: r.tax_code,
    taxRate: r.tax_rate,
    description: r.description,
    departmentId: r.department_id,
    net: BigInt(r.net),
    tax: BigInt(r.tax),
  }));
}
