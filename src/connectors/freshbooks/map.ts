import { LosslessNumber } from 'lossless-json';
import { Dec, formatAmount, parseAmount } from '../../domain/money.ts';
import type { CanonicalCustomer, CanonicalLine } from '../../sync/canonical.ts';
import type { ItemError } from '../../sync/target.ts';
import { type FbObject, moneyText } from './api.ts';

/*
 * Canonical records → FreshBooks bodies, and FreshBooks' amounts back to minor units. Amounts go
 * out as FreshBooks' money objects (`{"amount": "121.00", "code": "EUR"}`, exact decimal text) and
 * quantities as exact JSON numbers (lossless-json), never through a float. FreshBooks has no field
 * for an external reference on payments, credit notes or clients: ours is kept as one line of their
 * note (`ledgerlink-ref: …`, `ledgerlink-code: …`) and matched exactly when read back.
 */

/** What a session knows of the account: its business's name and its taxes. */
export interface Account {
  name: string;
  taxes: { name: string; percent: string }[];
}

/** The line of a note that carries our reference. */
export const REF_PREFIX = 'ledgerlink-ref: ';
/** The line of a client's note that carries our customer code. */
export const CODE_PREFIX = 'ledgerlink-code: ';

/** A note carrying `value` on its own line after `prefix`, after the text (if any). */
export function withTag(note: string | undefined, prefix: string, value: string): string {
  const rest = (note ?? '')
    .split('\n')
    .filter((l) => !l.startsWith(prefix))
    .join('\n')
    .trim();
  return rest ? `${rest}\n${prefix}${value}` : `${prefix}${value}`;
}

/** The value a note carries after `prefix`, or ''. */
export function tagOf(note: unknown, prefix: string): string {
  if (typeof note !== 'string') return '';
  const line = note.split('\n').find((l) => l.startsWith(prefix));
  return line ? line.slice(prefix.length).trim() : '';
}

/** A FreshBooks money object for an amount in minor units. */
export const money = (minor: bigint, currency: string): FbObject => ({
  amount: formatAmount(minor, currency),
  code: currency,
});

/** A FreshBooks money object (or its decimal text) in minor units of `currency`; null when it is not one. */
export function minor(v: unknown, currency: string): bigint | null {
  const t = typeof v === 'string' ? v : moneyText(v);
  if (t === '') return null;
  const parsed = parseAmount(t, currency);
  return parsed.ok ? parsed.value : null;
}

/**
 * The tax of a canonical VAT rate ("0.21"): `taxRates` of the settings first (rate → the name of a
 * FreshBooks tax), then the account's tax of that percentage. A rate of 0 without a 0 % tax goes
 * without tax; any other rate without a tax refuses the document.
 */
export function taxFor(
  account: Account,
  rate: string,
  overrides: Record<string, string> | undefined,
): { tax: { name: string; percent: string } | null } | ItemError {
  const wanted = new Dec(rate);
  const percent = wanted.mul(100);
  for (const [r, name] of Object.entries(overrides ?? {}))
    if (new Dec(r).eq(wanted)) return { tax: { name, percent: percent.toFixed() } };
  const found = account.taxes.find((t) => new Dec(t.percent).eq(percent));
  if (found) return { tax: found };
  if (wanted.isZero()) return { tax: null };
  return {
    code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
    message: `FreshBooks has no tax of ${percent.toFixed()}% in this account: add one (Settings → Taxes), or map the rate in target.taxRates`,
    retryable: false,
    field: 'lines.vatRate',
  };
}

/** The lines of an invoice or credit note; the first line whose rate has no tax refuses the document. */
export function lines(
  source: CanonicalLine[],
  currency: string,
  account: Account,
  overrides: Record<string, string> | undefined,
): FbObject[] | ItemError {
  const out: FbObject[] = [];
  for (const [n, l] of source.entries()) {
    const t = taxFor(account, l.vatRate, overrides);
    if ('code' in t) return { ...t, field: `lines[${n}].vatRate` };
    const [qty, unit] =
      l.quantity !== undefined && l.unitPrice !== undefined ? [l.quantity, l.unitPrice] : ['1', l.netAmount];
    if (!/^-?\d{1,15}(\.\d{1,10})?$/.test(unit) || !/^\d{1,15}(\.\d{1,10})?$/.test(qty))
      return {
        code: 'AMOUNT_INVALID',
        message: `line ${n + 1}: ${qty} × ${unit} is not a quantity and unit price FreshBooks takes`,
        retryable: false,
        field: `lines[${n}]`,
      };
    out.push({
      type: 0,
      name: (l.description || 'Sales').slice(0, 200),
      description: l.description,
      qty: new LosslessNumber(qty),
      unit_cost: { amount: unit, code: currency },
      ...(t.tax ? { taxName1: t.tax.name, taxAmount1: t.tax.percent } : {}),
    });
  }
  return out;
}

/** A client's fields from a customer record: only those it carries (null clears). */
export function clientFields(c: CanonicalCustomer): FbObject {
  const out: FbObject = { organization: c.name };
  if (c.email !== undefined) out.email = c.email ?? '';
  if (c.phone !== undefined) out.bus_phone = c.phone ?? '';
  if (c.vatNumber !== undefined) out.vat_number = c.vatNumber ?? '';
  if (c.language !== undefined && c.language !== null) out.language = c.language.toLowerCase().slice(0, 2);
  if (c.street !== undefined) out.p_street = c.street ?? '';
  if (c.city !== undefined) out.p_city = c.city ?? '';
  if (c.postalCode !== undefined) out.p_code = c.postalCode ?? '';
  if (c.country !== undefined) out.p_country = c.country ?? '';
  return out;
}
