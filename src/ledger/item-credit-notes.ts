import { type Analysis, MAX_DIMENSIONS } from '../domain/analysis.ts';
import { DomainError } from '../domain/errors.ts';
import type { TaxBreakdownRow } from '../domain/item-lines.ts';
import { Dec, type Rounding, divideAmount, formatAmount } from '../domain/money.ts';
import type { ItemLineInput } from './item-documents.ts';
import type { JournalLine } from '../domain/documents.ts';
import {
  type SourceInvoice,
  invoiceLineUse,
  invoiceTaxAccounts,
  invoiceVatUse,
  loadSourceInvoice,
  readCredited,
} from './posting/credit-notes.ts';
import type { References } from './posting/references.ts';
import { closedAccountError, requireOpenAccounts } from './posting/role-accounts.ts';
import type { PostingContext } from './posting/types.ts';

/**
 * Item credit notes raised from a posted item invoice (issue #11): the draft copies the invoice's
 * lines, the user may change them, and posting credits that invoice, never more than is left of
 * it, the bound batch credit notes keep too (src/ledger/posting/credit-notes.ts). Like a batch
 * credit note copying an invoice, it reverses the VAT the invoice charged (its rates and amounts),
 * to the VAT accounts the invoice used.
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

/** A line of the credited invoice as posted, with what earlier credit notes reversed of it. */
export interface InvoiceLineToCredit {
  lineNo: number;
  itemCode: string | null;
  unitPrice: Dec;
  discountRate: Dec;
  glAccountCode: string;
  taxCode: string;
  departmentId: string | null;
  /** The rate the invoice charged on the line. */
  taxRate: string;
  net: bigint;
  tax: bigint;
  /** What earlier credit notes reversed of the line: all of it when a batch credit note copied it. */
  creditedNet: bigint;
  creditedTax: bigint;
}

/** The posted item invoice a credit note credits, line by line, with what is left of it. */
export interface InvoiceToCredit {
  invoice: SourceInvoice;
  lines: InvoiceLineToCredit[];
  /** The VAT account of each tax code as the invoice's own journal used it. */
  taxAccounts: Map<string, string>;
}

/**
 * Loads the invoice a credit note credits, with what earlier credit notes credited of it in
 * total and line by line; refuses a credit note of another customer than the invoice's. Called
 * under the customer's row lock, which every credit note of that customer takes, so two cannot
 * both pass the bounds.
 */
export async function loadInvoiceToCredit(
  ctx: PostingContext,
  invoiceId: number,
  customerCode: string,
): Promise<InvoiceToCredit> {
  const invoice = await loadCreditedItemInvoice(ctx, invoiceId);
  if (invoice.customerCode !== customerCode) {
    throw new DomainError(
      'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS',
      `${invoice.label} belongs to ${invoice.customerCode}, not ${customerCode}`,
      [{ field: 'customerCode', message: 'not the invoice customer' }],
    );
  }
  await readCredited(ctx, invoice);
  const { rows } = await ctx.db.query<{
    line_no: number;
    item_code: string | null;
    unit_price: string;
    discount_rate: string | null;
    gl_account_code: string;
    tax_code: string;
    department_id: string | null;
    tax_rate: string;
    net: string;
    tax: string;
  }>(
    `SELECT line_no, item_code, unit_price::text AS unit_price, discount_rate::text AS discount_rate, gl_account_code,
            tax_code, department_id, tax_rate::text AS tax_rate, net, tax
       FROM transaction_items WHERE transaction_id = $1 AND entity_id = $2 ORDER BY line_no`,
    [invoiceId, ctx.entity.id],
  );
  const lines = rows.map((r): InvoiceLineToCredit => {
    const net = BigInt(r.net);
    const tax = BigInt(r.tax);
    const part = invoice.creditedLines.has(r.line_no) ? { net, tax } : invoice.creditedParts.get(r.line_no);
    return {
      lineNo: r.line_no,
      itemCode: r.item_code,
      unitPrice: new Dec(r.unit_price),
      discountRate: new Dec(r.discount_rate ?? '0'),
      glAccountCode: r.gl_account_code,
      taxCode: r.tax_code,
      departmentId: r.department_id,
      taxRate: new Dec(r.tax_rate).toFixed(),
      net,
      tax,
      creditedNet: part?.net ?? 0n,
      creditedTax: part?.tax ?? 0n,
    };
  });
  return { invoice, lines, taxAccounts: await invoiceTaxAccounts(ctx, invoiceId) };
}

/** A credit-note line as reverseInvoiceLines matches it: what it is, and its net. */
export interface CreditLine {
  itemCode: string | null;
  unitPrice: string;
  discountRate: string;
  glAccountCode: string;
  taxCode: string;
  departmentId: string | null;
  net: bigint;
}

/** What a credit-note line reverses of the invoice. */
export interface LineReversal {
  /** The invoice line it reverses; null for goods the invoice did not have on any line. */
  invoiceLineNo: number | null;
  /**
   * The rate: the invoice line's; for goods it did not have, the rate the invoice charged on the
   * tax code, or null when no line of it had the code (then the code's rate on the invoice date).
   */
  taxRate: string | null;
  /** The VAT it reverses, its share of the invoice line's; null for goods the invoice did not have. */
  tax: bigint | null;
  /** Set when the line credits more of its invoice line than is left of it: the net that was left. */
  exceeds: { left: bigint } | null;
}

/**
 * Matches each credit-note line with the invoice line whose goods it gives back, and works out
 * the VAT it reverses: the VAT the invoice charged on that line, not the VAT of today's rate and
 * settings. A line reverses an invoice line with the same item (or none), unit price, discount
 * rate and tax code; among several, one on the same GL account and department first, then the
 * first by line number that still has that much net left to credit. Its VAT is the line's posted
 * VAT pro rata, rounded cumulatively over the line's credits: with C the line's net credited so
 * far including this one, the credits have reversed round(tax × C / net) in all. So the credits
 * of a line never reverse more VAT than it carried, the one that credits the rest takes exactly
 * what is left, and a whole line credited at once reverses its posted VAT.
 *
 * A line matching no invoice line (a price reduction, goodwill) is still a correction of that
 * supply: it takes the rate the invoice charged on its tax code (or the code's rate on the
 * invoice's date), and its VAT is computed with the entity's settings.
 */
export function reverseInvoiceLines(
  credit: InvoiceToCredit,
  lines: readonly CreditLine[],
  rounding: Rounding,
): LineReversal[] {
  const credited = new Map(credit.lines.map((l) => [l.lineNo, { net: l.creditedNet, tax: l.creditedTax }]));
  const abs = (v: bigint) => (v < 0n ? -v : v);
  return lines.map((line): LineReversal => {
    const price = new Dec(line.unitPrice);
    const discount = new Dec(line.discountRate);
    const candidates = credit.lines
      .filter(
        (l) =>
          l.itemCode === line.itemCode &&
          l.taxCode === line.taxCode &&
          l.unitPrice.eq(price) &&
          l.discountRate.eq(discount),
      )
      .map((l) => ({ l, same: l.glAccountCode === line.glAccountCode && l.departmentId === line.departmentId }))
      .sort((a, b) => Number(b.same) - Number(a.same) || a.l.lineNo - b.l.lineNo)
      .map((x) => x.l);
    if (candidates.length === 0) {
      const charged = credit.lines.find((l) => l.taxCode === line.taxCode);
      return { invoiceLineNo: null, taxRate: charged?.taxRate ?? null, tax: null, exceeds: null };
    }
    const fits = (l: InvoiceLineToCredit) => abs(credited.get(l.lineNo)!.net + line.net) <= abs(l.net);
    const target = candidates.find(fits) ?? candidates[0]!;
    const sofar = credited.get(target.lineNo)!;
    const net = sofar.net + line.net;
    const over = abs(net) > abs(target.net);
    // Half up or half even as the entity rounds tax; exact, as the product of two bigints is.
    const cumulative = target.net === 0n ? target.tax : divideAmount(target.tax * net, target.net.toString(), rounding);
    const tax = cumulative - sofar.tax;
    credited.set(target.lineNo, { net, tax: sofar.tax + tax });
    return {
      invoiceLineNo: target.lineNo,
      taxRate: target.taxRate,
      tax,
      exceeds: over ? { left: target.net - sofar.net } : null,
    };
  });
}

/**
 * Refuses a credit note with a line that credits more of its invoice line than is left of it
 * (after the invoice's total was checked): naming the line, so the caller can lower its
 * quantity or split it over the invoice's lines.
 */
export function refuseExcess(credit: InvoiceToCredit, reversals: readonly LineReversal[], currency: string): void {
  const n = reversals.findIndex((r) => r.exceeds !== null);
  if (n < 0) return;
  const r = reversals[n]!;
  const line = credit.lines.find((l) => l.lineNo === r.invoiceLineNo)!;
  const fmt = (v: bigint) => formatAmount(v, currency);
  const field = `lines[${n}].quantity`;
  throw new DomainError(
    'CREDIT_NOTE_EXCEEDS_INVOICE',
    `${field}: ${credit.invoice.label} line ${line.lineNo} was invoiced at ${fmt(line.net)} ${currency} net and ` +
      `${fmt(r.exceeds!.left)} of it is left to credit; no line of the invoice with these goods has as much left`,
    [{ field, message: `more than is left of invoice line ${line.lineNo} (${fmt(r.exceeds!.left)} ${currency} net)` }],
  );
}

/**
 * Refuses a credit-note line on the GL account of the invoice line it gives back when that
 * account is no longer an active posting account (closed since the invoice), naming the invoice
 * line and what to do; before the line's own check (References.requireGl), which says less. An
 * account that does not exist, or that no invoice line used, is left to that check.
 */
export function requireOpenLineAccounts(
  credit: InvoiceToCredit,
  lines: readonly Pick<ItemLineInput, 'itemCode' | 'glAccountCode' | 'taxCode'>[],
  refs: References,
): void {
  lines.forEach((l, n) => {
    const code = l.glAccountCode;
    if (code === undefined || refs.gl.get(code)?.ok !== false) return;
    const same = credit.lines.filter((x) => x.glAccountCode === code);
    const line = same.find((x) => x.itemCode === (l.itemCode ?? null) && x.taxCode === l.taxCode) ?? same[0];
    if (!line) return;
    const otherwise = "or change the credit note line's glAccountCode to an active posting account";
    throw closedAccountError(invoiceLineUse(credit.invoice, line.lineNo, code, `lines[${n}].glAccountCode`, otherwise));
  });
}

/**
 * Refuses a credit note whose VAT would be reversed to a VAT account the invoice posted a tax
 * code to that is no longer an active posting account (the tax code moved to another account and
 * the old one was closed): the credit note reverses VAT where the invoice booked it, so the
 * account is not the tax code's, which requireTax checked.
 */
export async function requireInvoiceVatAccounts(
  ctx: PostingContext,
  credit: InvoiceToCredit,
  journal: readonly JournalLine[],
): Promise<void> {
  const otherwise =
    'or credit it with a credit note not raised from the invoice (without fromInvoiceTransactionId), ' +
    "whose VAT goes to the tax code's account of now";
  const uses = journal.flatMap((l) =>
    l.role === 'tax' &&
    l.taxCode !== null &&
    (l.amount !== 0n || l.baseAmount !== 0n) &&
    credit.taxAccounts.get(l.taxCode) === l.glAccountCode
      ? [invoiceVatUse(credit.invoice, l.taxCode, l.glAccountCode, 'fromInvoiceTransactionId', otherwise)]
      : [],
  );
  await requireOpenAccounts(ctx.db, ctx.entity.id, uses);
}

/** The VAT breakdown of lines whose taxes are known: per tax code and rate, ordered by code, then rate. */
export function breakdownOf(
  lines: readonly { taxCode: string; taxRate: string; net: bigint; tax: bigint }[],
): TaxBreakdownRow[] {
  const groups = new Map<string, TaxBreakdownRow>();
  for (const l of lines) {
    const rate = new Dec(l.taxRate).toFixed();
    const key = `${l.taxCode}\u0000${rate}`;
    const g = groups.get(key) ?? { taxCode: l.taxCode, taxRate: rate, net: 0n, tax: 0n };
    groups.set(key, g);
    g.net += l.net;
    g.tax += l.tax;
  }
  return [...groups.values()].sort((a, b) =>
    a.taxCode < b.taxCode ? -1 : a.taxCode > b.taxCode ? 1 : new Dec(a.taxRate).cmp(b.taxRate),
  );
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
