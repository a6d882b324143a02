import { LosslessNumber } from 'lossless-json';
import { Dec, formatAmount, parseAmount } from '../../domain/money.ts';
import type { CanonicalCustomer, CanonicalLine } from '../../sync/canonical.ts';
import type { ItemError } from '../../sync/target.ts';
import { type ZohoObject, text } from './api.ts';

/*
 * Canonical records → Zoho Books bodies, and Zoho's amounts back to minor units. Amounts go out
 * as exact JSON numbers (lossless-json), never through a float.
 */

/** What a session knows of the organisation: its currency and its taxes. */
export interface Organisation {
  name: string;
  currency: string;
  taxes: { id: string; name: string; percent: string }[];
}

/** An exact JSON number for a decimal text. */
export const num = (decimal: string): LosslessNumber => new LosslessNumber(decimal);

/** A Zoho amount in minor units of `currency`; null when it is not one. */
export function minor(v: unknown, currency: string): bigint | null {
  const t = text(v);
  if (t === '') return null;
  const parsed = parseAmount(t, currency);
  return parsed.ok ? parsed.value : null;
}

/** A Zoho amount as decimal text with the currency's decimals ("121.00"). */
export function amountText(v: unknown, currency: string): string {
  const m = minor(v, currency);
  return m === null ? '' : formatAmount(m, currency);
}

/**
 * The tax of a canonical VAT rate ("0.21"): `taxRates` of the settings first (rate → tax_id), then
 * the organisation's tax of that percentage. A rate of 0 without a 0 % tax goes without tax.
 */
export function taxFor(
  org: Organisation,
  rate: string,
  overrides: Record<string, string> | undefined,
): { taxId: string | null } | ItemError {
  const wanted = new Dec(rate);
  for (const [r, id] of Object.entries(overrides ?? {})) if (new Dec(r).eq(wanted)) return { taxId: id };
  const percent = wanted.mul(100);
  const found = org.taxes.find((t) => new Dec(t.percent).eq(percent));
  if (found) return { taxId: found.id };
  if (wanted.isZero()) return { taxId: null };
  return {
    code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
    message: `Zoho Books has no tax of ${percent.toFixed()}% in this organisation: add one (Settings → Taxes), or map the rate in target.taxRates`,
    retryable: false,
    field: 'lines.vatRate',
  };
}

/** Line items of an invoice or credit note; the first line whose rate has no tax refuses the document. */
export function lineItems(
  lines: CanonicalLine[],
  productTargetIds: Record<string, string>,
  org: Organisation,
  overrides: Record<string, string> | undefined,
): ZohoObject[] | ItemError {
  const out: ZohoObject[] = [];
  for (const [n, l] of lines.entries()) {
    const tax = taxFor(org, l.vatRate, overrides);
    if ('code' in tax) return { ...tax, field: `lines[${n}].vatRate` };
    const itemId = l.productSourceId ? productTargetIds[l.productSourceId] : undefined;
    const units =
      l.quantity !== undefined && l.unitPrice !== undefined
        ? { quantity: num(l.quantity), rate: num(l.unitPrice) }
        : { quantity: num('1'), rate: num(l.netAmount) };
    out.push({
      ...(itemId ? { item_id: itemId } : { name: (l.description || 'Sales').slice(0, 100) }),
      description: l.description,
      ...units,
      ...(tax.taxId ? { tax_id: tax.taxId } : {}),
    });
  }
  return out;
}

/** A contact's fields from a customer record: only those it carries (null clears). */
export function contactFields(c: CanonicalCustomer, code: string | null): ZohoObject {
  const out: ZohoObject = { contact_name: c.name, contact_type: 'customer' };
  if (code) out.contact_number = code;
  if (c.email !== undefined) out.email = c.email ?? '';
  if (c.phone !== undefined) out.phone = c.phone ?? '';
  if (c.vatNumber !== undefined) out.tax_reg_no = c.vatNumber ?? '';
  if (c.language !== undefined && c.language !== null) out.language_code = c.language.toLowerCase().slice(0, 2);
  const address: ZohoObject = {};
  if (c.street !== undefined) address.address = c.street ?? '';
  if (c.city !== undefined) address.city = c.city ?? '';
  if (c.postalCode !== undefined) address.zip = c.postalCode ?? '';
  if (c.country !== undefined) address.country = c.country ?? '';
  if (Object.keys(address).length > 0) out.billing_address = address;
  return out;
}
