import { Dec } from '../domain/money.ts';
import type { CanonicalInvoice } from './canonical.ts';
import type { PipelineMapping } from './pipelines.ts';
import type { InvoiceLineInput } from '../ledger/posting/types.ts';

export interface LedgerProduct {
  code: string;
  glAccountCode: string | null;
  taxCode: string | null;
  departmentId: string | null;
  vatRate: string | null;
}

export interface MappingContext {
  mapping: PipelineMapping;
  /** Ledger products by source product id. */
  products: Map<string, LedgerProduct>;
  /** Active ledger tax codes and their rates, to find a code for a VAT rate. */
  taxCodes: { code: string; rate: string }[];
  customerDefaultGl: string | null;
  customerDefaultTax: string | null;
}

export interface MappingFailure {
  reasonCode: 'MAPPING_PRODUCT_NOT_SYNCED' | 'MAPPING_NO_TAX_CODE_FOR_RATE' | 'MAPPING_NO_GL_ACCOUNT';
  message: string;
  field: string;
}

function sameRate(a: string, b: string): boolean {
  return new Dec(a).eq(b);
}

/**
 * Maps canonical invoice lines to ledger lines. Each value comes from the first that has it: the
 * line itself, the pipeline's table for the product, the product in the ledger, the pipeline's
 * VAT-rate table (tax) or default (GL, department), the ledger's tax codes with the same rate, and
 * finally the customer's defaults.
 */
export function mapInvoiceLines(inv: CanonicalInvoice, ctx: MappingContext): InvoiceLineInput[] | MappingFailure {
  const out: InvoiceLineInput[] = [];
  for (const [n, line] of inv.lines.entries()) {
    const field = `lines[${n}]`;
    const product = line.productSourceId ? ctx.products.get(line.productSourceId) : undefined;
    if (line.productSourceId && !product) {
      return {
        reasonCode: 'MAPPING_PRODUCT_NOT_SYNCED',
        message: `Product ${line.productSourceId} is not in the ledger`,
        field: `${field}.productSourceId`,
      };
    }
    const override = product ? ctx.mapping.products?.[product.code] : undefined;
    const glAccountCode =
      line.glAccountCode ??
      override?.glAccountCode ??
      product?.glAccountCode ??
      ctx.mapping.defaultGlAccountCode ??
      ctx.customerDefaultGl;
    if (!glAccountCode)
      return {
        reasonCode: 'MAPPING_NO_GL_ACCOUNT',
        message: 'No GL account for this line: set one on the product or a default in the mapping',
        field,
      };
    const byRateTable = Object.entries(ctx.mapping.vatRates ?? {}).find(([rate]) => sameRate(rate, line.vatRate))?.[1];
    const productTax =
      product?.taxCode && (product.vatRate === null || sameRate(product.vatRate, line.vatRate))
        ? product.taxCode
        : undefined;
    const byLedgerRate =
      ctx.customerDefaultTax &&
      ctx.taxCodes.find((t) => t.code === ctx.customerDefaultTax && sameRate(t.rate, line.vatRate))
        ? ctx.customerDefaultTax
        : ctx.taxCodes.find((t) => sameRate(t.rate, line.vatRate))?.code;
    const taxCode = line.taxCode ?? override?.taxCode ?? byRateTable ?? productTax ?? byLedgerRate;
    if (!taxCode) {
      return {
        reasonCode: 'MAPPING_NO_TAX_CODE_FOR_RATE',
        message: `No tax code has the rate ${line.vatRate}: add one (PUT /v1/tax-codes/{code}) or map the rate in the pipeline's mapping.vatRates`,
        field: `${field}.vatRate`,
      };
    }
    const departmentId =
      line.departmentId ?? override?.departmentId ?? product?.departmentId ?? ctx.mapping.defaultDepartmentId;
    out.push({
      glAccountCode,
      taxCode,
      description: line.description,
      ...(departmentId ? { departmentId } : {}),
      netAmount: line.netAmount,
      taxRate: line.vatRate,
      ...(line.vatAmount !== null && line.vatAmount !== undefined ? { taxAmount: line.vatAmount } : {}),
    });
  }
  return out;
}

/** A ledger code made from a source id: upper case, only safe characters, at most 50 long. */
export function codeFromSourceId(prefix: string, sourceId: string): string {
  const clean = sourceId.toUpperCase().replace(/[^A-Z0-9_.-]/g, '-');
  return (prefix + clean).slice(0, 50);
}
