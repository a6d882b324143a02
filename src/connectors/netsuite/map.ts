import { LosslessNumber } from 'lossless-json';
import { Dec, formatAmount, parseAmount } from '../../domain/money.ts';
import type { CanonicalCustomer, CanonicalLine } from '../../sync/canonical.ts';
import type { ItemError } from '../../sync/target.ts';
import { type NsObject, text } from './api.ts';
import { SYSTEM } from './settings.ts';

/*
 * Canonical records → NetSuite record bodies, and NetSuite's amounts back to minor units. Amounts
 * go out as exact JSON numbers (lossless-json), never through a float. A reference field is
 * `{"id": "<internal id>"}`; a sublist is `{"items": [...]}` ("NetSuite Record Structure").
 */

/** An exact JSON number for a decimal text. */
export const num = (decimal: string): LosslessNumber => new LosslessNumber(decimal);

/** A reference to a record by internal id. */
export const ref = (id: string): NsObject => ({ id });

/** A NetSuite amount in minor units of `currency`; null when it is not one. */
export function minor(v: unknown, currency: string): bigint | null {
  const t = text(v);
  if (t === '') return null;
  const parsed = parseAmount(t, currency);
  return parsed.ok ? parsed.value : null;
}

/** A minor-unit amount as an exact JSON number with the currency's decimals. */
export const amount = (m: bigint, currency: string): LosslessNumber => num(formatAmount(m, currency));

/**
 * The tax code of a canonical VAT rate ("0.21"): `taxRates` of the settings (rate → internal id).
 * A rate of 0 without a code goes without one (the item's default); any other rate needs one.
 */
export function taxCodeFor(
  rate: string,
  taxRates: Record<string, string> | undefined,
): { id: string | null } | ItemError {
  const wanted = new Dec(rate);
  for (const [r, id] of Object.entries(taxRates ?? {})) if (new Dec(r).eq(wanted)) return { id };
  if (wanted.isZero()) return { id: null };
  return {
    code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
    message: `${SYSTEM}: no tax code for the rate ${wanted.mul(100).toFixed()}%: map it in target.taxRates (rate → the tax code's internal id)`,
    retryable: false,
    field: 'lines.vatRate',
  };
}

/** The `item` sublist of an invoice or credit memo; the first line that cannot be booked refuses the document. */
export function itemLines(
  lines: CanonicalLine[],
  productTargetIds: Record<string, string>,
  defaultItemId: string | undefined,
  taxRates: Record<string, string> | undefined,
): NsObject[] | ItemError {
  const out: NsObject[] = [];
  for (const [n, l] of lines.entries()) {
    const tax = taxCodeFor(l.vatRate, taxRates);
    if ('code' in tax) return { ...tax, field: `lines[${n}].vatRate` };
    const itemId = (l.productSourceId ? productTargetIds[l.productSourceId] : undefined) ?? defaultItemId;
    if (!itemId)
      return {
        code: 'TARGET_SETTING_MISSING',
        message: `${SYSTEM} books every line on an item: line ${n + 1} names no product, so set target.defaultItemId (the internal id of the item such lines take)`,
        retryable: false,
        field: `lines[${n}].productSourceId`,
      };
    const units =
      l.quantity !== undefined && l.unitPrice !== undefined
        ? { quantity: num(l.quantity), rate: num(l.unitPrice) }
        : { quantity: num('1'), rate: num(l.netAmount) };
    out.push({
      item: ref(itemId),
      ...(l.description ? { description: l.description.slice(0, 4000) } : {}),
      ...units,
      ...(tax.id ? { taxCode: ref(tax.id) } : {}),
    });
  }
  return out;
}

/** A customer's fields from a customer record: only those it carries (null clears). */
export function customerFields(c: CanonicalCustomer, subsidiaryId: string | undefined, isNew: boolean): NsObject {
  const out: NsObject = { companyName: c.name.slice(0, 83) };
  if (isNew) out.isPerson = false;
  if (isNew && subsidiaryId) out.subsidiary = ref(subsidiaryId);
  if (c.email !== undefined) out.email = c.email ?? '';
  if (c.phone !== undefined) out.phone = c.phone ?? '';
  return out;
}
