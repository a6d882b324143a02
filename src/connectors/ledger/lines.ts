import type { Queryable } from '../../db/database.ts';
import type { InvoiceLineInput } from '../../ledger/posting/types.ts';
import type { CanonicalInvoice } from '../../sync/canonical.ts';
import { type LedgerProduct, type MappingFailure, mapInvoiceLines } from '../../sync/mapping.ts';
import type { PipelineMapping } from '../../sync/target.ts';

/** What mapping a page's invoice lines to ledger accounts needs, loaded once per page. */
export interface LineData {
  products: Map<string, LedgerProduct>;
  /** Active tax codes with their dated rates, oldest first: a line takes the rate in force on its document's date. */
  taxCodes: { code: string; rates: { from: string; rate: string }[] }[];
  customers: Map<string, { defaultGl: string | null; defaultTax: string | null; currency: string }>;
}

/** A ledger product with its name, as `products` holds it. */
export type NamedProduct = LedgerProduct & { name: string; isActive: boolean };

/** The ledger products with these codes: the one query of the products table. */
export async function loadProducts(
  db: Queryable,
  entityId: string,
  codes: string[],
): Promise<Map<string, NamedProduct>> {
  const { rows } = await db.query<{
    code: string;
    name: string;
    gl_account_code: string | null;
    tax_code: string | null;
    department_id: string | null;
    vat_rate: string | null;
    is_active: boolean;
  }>(
    `SELECT code, name, gl_account_code, tax_code, department_id, vat_rate::text AS vat_rate, is_active
       FROM products WHERE entity_id = $1 AND code = ANY($2::text[])`,
    [entityId, [...new Set(codes)]],
  );
  return new Map(
    rows.map((r) => [
      r.code,
      {
        code: r.code,
        name: r.name,
        glAccountCode: r.gl_account_code,
        taxCode: r.tax_code,
        departmentId: r.department_id,
        vatRate: r.vat_rate,
        isActive: r.is_active,
      },
    ]),
  );
}

/** The ledger products, active tax codes and customers a batch of invoices refers to. */
export async function loadLineData(
  db: Queryable,
  entityId: string,
  productCodes: string[],
  customerCodes: string[],
): Promise<LineData> {
  const products = await loadProducts(db, entityId, productCodes);
  const { rows: rates } = await db.query<{ code: string; from: string; rate: string }>(
    `SELECT c.code, r.from_date::text AS from, r.rate::text AS rate
       FROM tax_codes c JOIN tax_rates r ON r.entity_id = c.entity_id AND r.tax_code = c.code
      WHERE c.entity_id = $1 AND c.is_active ORDER BY c.code, r.from_date`,
    [entityId],
  );
  const byCode = new Map<string, { from: string; rate: string }[]>();
  for (const r of rates) byCode.set(r.code, [...(byCode.get(r.code) ?? []), { from: r.from, rate: r.rate }]);
  const taxCodes = [...byCode].map(([code, list]) => ({ code, rates: list }));
  const { rows: custs } = await db.query<{
    code: string;
    default_gl_account_code: string | null;
    default_tax_code: string | null;
    currency: string;
  }>(
    `SELECT code, default_gl_account_code, default_tax_code, currency FROM customers WHERE entity_id = $1 AND code = ANY($2::text[])`,
    [entityId, [...new Set(customerCodes)]],
  );
  return {
    products,
    taxCodes,
    customers: new Map(
      custs.map((c) => [
        c.code,
        { defaultGl: c.default_gl_account_code, defaultTax: c.default_tax_code, currency: c.currency.trim() },
      ]),
    ),
  };
}

/** An invoice's lines on ledger accounts and tax codes, or why they cannot be mapped. */
export function ledgerLines(
  data: LineData,
  mapping: PipelineMapping,
  inv: CanonicalInvoice,
  customerCode: string,
  productTargetIds: Record<string, string>,
):
  InvoiceLineInput[] | MappingFailure | { reasonCode: 'CUSTOMER_CODE_DOES_NOT_EXIST'; message: string; field: string } {
  const customer = data.customers.get(customerCode);
  if (!customer)
    return {
      reasonCode: 'CUSTOMER_CODE_DOES_NOT_EXIST',
      message: `No customer ${customerCode} in the ledger`,
      field: 'customerSourceId',
    };
  const products = new Map<string, LedgerProduct>();
  for (const l of inv.lines) {
    if (!l.productSourceId) continue;
    const p = data.products.get(productTargetIds[l.productSourceId] ?? '');
    if (p) products.set(l.productSourceId, p);
  }
  // The rate of each tax code on the invoice's date: a VAT rate maps to the code that has it then.
  const taxCodes = data.taxCodes.flatMap((t) => {
    const inForce = t.rates.filter((r) => r.from <= inv.invoiceDate).at(-1);
    return inForce ? [{ code: t.code, rate: inForce.rate }] : [];
  });
  return mapInvoiceLines(inv, {
    mapping,
    products,
    taxCodes,
    customerDefaultGl: customer.defaultGl,
    customerDefaultTax: customer.defaultTax,
  });
}
