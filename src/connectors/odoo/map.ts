import { LosslessNumber } from 'lossless-json';
import { Dec, formatAmount, parseAmount } from '../../domain/money.ts';
import { currencyExponent } from '../../domain/currency.ts';
import type { CanonicalCustomer, CanonicalLine } from '../../sync/canonical.ts';
import type { ItemError } from '../../sync/target.ts';
import { type OdooObject, text } from './rpc.ts';

/*
 * Canonical records → Odoo values, and Odoo's amounts back to minor units. Odoo's monetary fields
 * are floats on its side; ours go out as exact JSON numbers (lossless-json) with the currency's
 * decimals, and come back through their shortest decimal text (Python's float repr), rounded half
 * up to the currency's decimals, never through a JavaScript number.
 */

/** What a session knows of the company: its currency and its sales taxes (percentages). */
export interface Company {
  id: number;
  name: string;
  currency: string;
  taxes: { id: number; name: string; percent: string }[];
}

/** An exact JSON number for a decimal text. */
export const num = (decimal: string): LosslessNumber => new LosslessNumber(decimal);

/** An Odoo amount in minor units of `currency`; null when it is not a number. */
export function minor(v: unknown, currency: string): bigint | null {
  const t = text(v);
  if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return null;
  const fixed = new Dec(t).toDecimalPlaces(currencyExponent(currency), Dec.ROUND_HALF_UP).toFixed();
  const parsed = parseAmount(fixed, currency);
  return parsed.ok ? parsed.value : null;
}

/** Minor units as the exact JSON number Odoo is sent. */
export const amount = (m: bigint, currency: string): LosslessNumber => num(formatAmount(m, currency));

/**
 * The sales tax of a canonical VAT rate ("0.21"): `taxRates` of the settings first (rate → tax
 * id), then the company's sales tax of that percentage. A rate of 0 without a 0 % tax goes
 * without tax.
 */
export function taxFor(
  company: Company,
  rate: string,
  overrides: Record<string, number> | undefined,
): { taxId: number | null } | ItemError {
  const wanted = new Dec(rate);
  for (const [r, id] of Object.entries(overrides ?? {})) if (new Dec(r).eq(wanted)) return { taxId: id };
  const percent = wanted.mul(100);
  const found = company.taxes.find((t) => new Dec(t.percent).eq(percent));
  if (found) return { taxId: found.id };
  if (wanted.isZero()) return { taxId: null };
  return {
    code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
    message: `Odoo has no sales tax of ${percent.toFixed()}% (a percentage tax) in company ${company.name}: add one (Accounting → Configuration → Taxes), or map the rate in target.taxRates`,
    retryable: false,
    field: 'lines.vatRate',
  };
}

/** `invoice_line_ids` of a move as create commands `[0, 0, {…}]`; the first line whose rate has no tax refuses the document. */
export function invoiceLines(
  lines: CanonicalLine[],
  productTargetIds: Record<string, string>,
  company: Company,
  overrides: Record<string, number> | undefined,
): unknown[][] | ItemError {
  const out: unknown[][] = [];
  for (const [n, l] of lines.entries()) {
    const tax = taxFor(company, l.vatRate, overrides);
    if ('code' in tax) return { ...tax, field: `lines[${n}].vatRate` };
    const productId = l.productSourceId ? productTargetIds[l.productSourceId] : undefined;
    const units =
      l.quantity !== undefined && l.unitPrice !== undefined
        ? { quantity: num(l.quantity), price_unit: num(l.unitPrice) }
        : { quantity: num('1'), price_unit: num(l.netAmount) };
    out.push([
      0,
      0,
      {
        ...(productId ? { product_id: Number(productId) } : {}),
        name: l.description || 'Sales',
        ...units,
        // (6, 0, ids): the line's taxes are exactly these, never the product's defaults as well.
        tax_ids: [[6, 0, tax.taxId ? [tax.taxId] : []]],
      },
    ]);
  }
  return out;
}

/** A partner's values from a customer record: only those it carries (null clears, as `false`). */
export function partnerValues(
  c: CanonicalCustomer,
  code: string | null,
  countryId: number | false | undefined,
): OdooObject {
  const out: OdooObject = { name: c.name };
  if (code) out.ref = code;
  const set = (field: string, v: string | null | undefined) => {
    if (v !== undefined) out[field] = v ?? false;
  };
  set('email', c.email);
  set('phone', c.phone);
  set('vat', c.vatNumber);
  set('street', c.street);
  set('city', c.city);
  set('zip', c.postalCode);
  if (countryId !== undefined) out.country_id = countryId;
  return out;
}
