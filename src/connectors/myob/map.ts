import { LosslessNumber } from 'lossless-json';
import { Dec, parseAmount } from '../../domain/money.ts';
import type { CanonicalCustomer, CanonicalLine } from '../../sync/canonical.ts';
import type { ItemError } from '../../sync/target.ts';
import { type MyobObject, text } from './api.ts';
import { SYSTEM } from './settings.ts';

/*
 * Canonical records → MYOB bodies, and MYOB's amounts back to minor units. Sales are booked on the
 * Service layout: one line per canonical line, its net amount as the line's `Total` (the sale is
 * tax exclusive, MYOB works out the tax from the line's tax code), on the income account of the
 * settings. A credit note is a sale whose lines are negative, as MYOB keeps customer credits.
 */

/** What a session knows of the company file: its currency, tax codes and the accounts of the settings. */
export interface Company {
  currency: string;
  taxCodes: { uid: string; code: string; rate: string }[];
  salesAccountUid: string;
  bankAccountUid: string;
  /** The tax code a new customer sells with (its SellingDetails). */
  customerTaxCodeUid: string;
}

/** An exact JSON number for a decimal text. */
export const num = (decimal: string): LosslessNumber => new LosslessNumber(decimal);

/** A MYOB amount in minor units of `currency`; null when it is not one. */
export function minor(v: unknown, currency: string): bigint | null {
  const t = text(v);
  if (t === '') return null;
  const parsed = parseAmount(t, currency);
  return parsed.ok ? parsed.value : null;
}

/** A MYOB date-time (`2026-11-02T00:00:00`) for a business date. */
export const dateTime = (date: string): string => `${date}T00:00:00`;

/**
 * The sale's terms for a canonical due date: due in a given number of days after the sale's date
 * (`PaymentIsDue: InAGivenNumberOfDays`, `BalanceDueDate` days). Without a due date MYOB applies
 * the customer's own terms; a due date before the sale's date is refused.
 */
export function termsFor(date: string, dueDate: string | null | undefined): { terms: MyobObject | null } | ItemError {
  if (!dueDate) return { terms: null };
  const days = Math.round((Date.parse(`${dueDate}T00:00:00Z`) - Date.parse(`${date}T00:00:00Z`)) / 86_400_000);
  if (!Number.isFinite(days) || days < 0)
    return {
      code: 'SOURCE_ITEM_INVALID',
      message: `The due date ${dueDate} is before the document's date ${date}; MYOB counts the days to it from that date`,
      retryable: false,
      field: 'dueDate',
    };
  return { terms: { PaymentIsDue: 'InAGivenNumberOfDays', BalanceDueDate: num(String(days)) } };
}

/** The tax code of a canonical VAT rate ("0.10"): `taxRates` of the settings (rate → Code) first, then by rate. */
export function taxFor(
  company: Company,
  rate: string,
  overrides: Record<string, string> | undefined,
): { uid: string } | ItemError {
  const wanted = new Dec(rate);
  for (const [r, code] of Object.entries(overrides ?? {}))
    if (new Dec(r).eq(wanted)) {
      const named = company.taxCodes.find((t) => t.code === code);
      if (named) return { uid: named.uid };
      return {
        code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
        message: `target.taxRates maps ${rate} to ${code}, which is not a tax code of this company file`,
        retryable: false,
      };
    }
  const percent = wanted.mul(100);
  const found = company.taxCodes.filter((t) => new Dec(t.rate).eq(percent));
  if (found.length === 1) return { uid: found[0]!.uid };
  return {
    code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
    message:
      found.length === 0
        ? `${SYSTEM} has no tax code of ${percent.toFixed()}% in this company file: add one, or map the rate in target.taxRates`
        : `${SYSTEM} has ${found.length} tax codes of ${percent.toFixed()}% (${found.map((t) => t.code).join(', ')}): name one in target.taxRates`,
    retryable: false,
  };
}

/** Service-layout lines; `sign` -1 for a credit note. The first line whose rate has no tax code refuses the document. */
export function serviceLines(
  lines: CanonicalLine[],
  company: Company,
  overrides: Record<string, string> | undefined,
  sign: 1 | -1,
): MyobObject[] | ItemError {
  const out: MyobObject[] = [];
  for (const [n, l] of lines.entries()) {
    const tax = taxFor(company, l.vatRate, overrides);
    if ('code' in tax) return { ...tax, field: `lines[${n}].vatRate` };
    const net = new Dec(l.netAmount).mul(sign);
    out.push({
      Type: 'Transaction',
      Description: (l.description || 'Sales').slice(0, 255),
      Total: num(net.toFixed()),
      Account: { UID: company.salesAccountUid },
      TaxCode: { UID: tax.uid },
    });
  }
  return out;
}

/** Why a value does not fit a MYOB text field, or null when it does. */
export function tooLong(what: string, value: string, max: number, field: string): ItemError | null {
  if (value.length <= max) return null;
  return {
    code: 'TARGET_REFUSED',
    message: `${what} "${value}" is ${value.length} characters; ${SYSTEM} keeps ${max} in its ${field}, and it is not cut: shorten it at the source`,
    retryable: false,
    field,
  };
}

/**
 * A customer card from a customer record, over what MYOB holds (`current`, on update): only the
 * fields the record carries change (null clears). MYOB's PUT takes the whole card with its RowVersion.
 */
export function customerCard(
  c: CanonicalCustomer,
  displayId: string | null,
  company: Company,
  current: MyobObject | null,
): MyobObject {
  const out: MyobObject = current
    ? { ...current }
    : {
        IsIndividual: false,
        IsActive: true,
        SellingDetails: {
          TaxCode: { UID: company.customerTaxCodeUid },
          FreightTaxCode: { UID: company.customerTaxCodeUid },
        },
      };
  out.CompanyName = c.name;
  if (displayId) out.DisplayID = displayId;
  const current1 = Array.isArray(current?.Addresses)
    ? ((current.Addresses as MyobObject[]).find((a) => text(a.Location) === '1') ?? null)
    : null;
  const address: MyobObject = { ...(current1 ?? {}), Location: num('1') };
  let touched = false;
  const set = (key: string, v: string | null | undefined) => {
    if (v === undefined) return;
    address[key] = v ?? '';
    touched = true;
  };
  set('Street', c.street);
  set('City', c.city);
  set('PostCode', c.postalCode);
  set('Country', c.country);
  set('Email', c.email);
  set('Phone1', c.phone);
  if (touched || current1) out.Addresses = [address];
  if (c.vatNumber !== undefined) out.SellingDetails = { ...(out.SellingDetails as MyobObject), ABN: c.vatNumber ?? '' };
  return out;
}
