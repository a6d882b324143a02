import { LosslessNumber } from 'lossless-json';
import { currencyExponent } from '../../domain/currency.ts';
import { Dec, parseAmount } from '../../domain/money.ts';
import type { CanonicalCustomer, CanonicalLine } from '../../sync/canonical.ts';
import type { ItemError, TargetInvoice } from '../../sync/target.ts';
import { type Json, str } from './api.ts';
import type { XeroTargetSettings } from './settings.ts';

/*
 * Canonical records → Xero's shapes, and the settings Xero needs matched: a tax type per VAT rate,
 * a sales and a bank account, tracking options for departments. Each is matched from what the
 * organisation holds unless the pipeline's settings override it; a value that cannot be matched is
 * refused (TARGET_SETTING_MISSING) naming the setting to add, never replaced by a guess.
 */

/** What the target reads once per instance from the organisation (GET /TaxRates, /Accounts, /TrackingCategories). */
export interface OrgSettings {
  taxRates: { TaxType: string; Name: string; rate: Dec; revenue: boolean }[];
  /** `TaxType`: the account's default tax rate, when it has one. */
  accounts: { Code: string; Name: string; Type: string; TaxType?: string | undefined }[];
  tracking: { Name: string; options: string[] }[];
}

export function readOrgSettings(taxRates: Json[], accounts: Json[], tracking: Json[]): OrgSettings {
  const active = (x: Json) => x.Status === undefined || x.Status === 'ACTIVE';
  return {
    taxRates: taxRates.filter(active).map((t) => ({
      TaxType: String(t.TaxType),
      Name: String(t.Name ?? t.TaxType),
      rate: new Dec(str(t.EffectiveRate ?? t.DisplayTaxRate) || '0').div(100),
      revenue: t.CanApplyToRevenue !== false,
    })),
    accounts: accounts
      .filter(active)
      .map((a) => ({ Code: str(a.Code), Name: str(a.Name), Type: str(a.Type), TaxType: str(a.TaxType) || undefined }))
      .filter((a) => a.Code !== ''),
    tracking: tracking.filter(active).map((c) => ({
      Name: String(c.Name),
      options: (Array.isArray(c.Options) ? (c.Options as Json[]) : []).filter(active).map((o) => String(o.Name)),
    })),
  };
}

const missing = (message: string, field: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field,
});

/** An exact JSON number for a decimal amount (lossless-json writes it as is). */
export const amount = (text: string): LosslessNumber => new LosslessNumber(new Dec(text).toFixed());

/** The tax type of a VAT rate: the `taxRates` override, else the one revenue tax rate of that percentage. */
export function taxTypeFor(rate: string, org: OrgSettings, s: XeroTargetSettings): string | ItemError {
  const want = new Dec(rate);
  const override = Object.entries(s.taxRates ?? {}).find(([r]) => new Dec(r).eq(want))?.[1];
  if (override) {
    if (!org.taxRates.some((t) => t.TaxType === override))
      return missing(`taxRates maps ${rate} to ${override}, which is not an active Xero tax rate`, `taxRates.${rate}`);
    return override;
  }
  const matches = org.taxRates.filter((t) => t.revenue && t.rate.eq(want));
  if (matches.length === 1) return matches[0]!.TaxType;
  const pct = want.mul(100).toFixed();
  if (matches.length === 0)
    return missing(
      `Xero has no active tax rate on income of ${pct}%: create one in Xero, or map the rate in the target's settings (taxRates: { "${rate}": "<TaxType>" })`,
      `taxRates.${rate}`,
    );
  return missing(
    `Xero has ${matches.length} tax rates on income of ${pct}% (${matches.map((m) => m.TaxType).join(', ')}): choose one in the target's settings (taxRates: { "${rate}": "<TaxType>" })`,
    `taxRates.${rate}`,
  );
}

/**
 * The sales account of a line: `accounts.sales` when set (an override of everything), else the
 * line's or product's own account when Xero has it, else the organisation's one revenue account.
 */
export function salesAccountFor(
  lineCode: string | null | undefined,
  org: OrgSettings,
  s: XeroTargetSettings,
): string | ItemError {
  const override = s.accounts?.sales;
  if (override) {
    if (!org.accounts.some((a) => a.Code === override))
      return missing(`accounts.sales is ${override}, which is not an active account in Xero`, 'accounts.sales');
    return override;
  }
  if (lineCode) {
    if (org.accounts.some((a) => a.Code === lineCode)) return lineCode;
    return missing(
      `The line's account ${lineCode} does not exist in Xero: create it, or set accounts.sales in the target's settings to book sales there`,
      'accounts.sales',
    );
  }
  const revenue = org.accounts.filter((a) => a.Type === 'SALES' || a.Type === 'REVENUE');
  if (revenue.length === 1) return revenue[0]!.Code;
  return missing(
    `No single default sales account in Xero (${revenue.map((a) => a.Code).join(', ') || 'none'}): set accounts.sales in the target's settings`,
    'accounts.sales',
  );
}

/** The bank account of a payment or refund: `accounts.bank`, else the document's own when Xero has it as a bank account, else the only one. */
export function bankAccountFor(
  code: string | null | undefined,
  org: OrgSettings,
  s: XeroTargetSettings,
): string | ItemError {
  const banks = org.accounts.filter((a) => a.Type === 'BANK');
  const override = s.accounts?.bank;
  if (override) {
    if (!banks.some((a) => a.Code === override))
      return missing(`accounts.bank is ${override}, which is not an active bank account in Xero`, 'accounts.bank');
    return override;
  }
  if (code && banks.some((a) => a.Code === code)) return code;
  if (banks.length === 1) return banks[0]!.Code;
  return missing(
    `No single bank account in Xero to book the payment to (${banks.map((a) => a.Code).join(', ') || 'none'}): set accounts.bank in the target's settings`,
    'accounts.bank',
  );
}

/** A department as a tracking option: in `trackingCategory`, else in the one category that has an option of that name. */
export function trackingFor(
  department: string,
  org: OrgSettings,
  s: XeroTargetSettings,
): { Name: string; Option: string } | ItemError {
  const has = (c: OrgSettings['tracking'][number]) =>
    c.options.find((o) => o.toLowerCase() === department.toLowerCase());
  const categories = s.trackingCategory
    ? org.tracking.filter((c) => c.Name === s.trackingCategory)
    : org.tracking.filter((c) => has(c));
  if (categories.length === 1 && has(categories[0]!))
    return { Name: categories[0]!.Name, Option: has(categories[0]!)! };
  return missing(
    `Department ${department} is not an option of ${s.trackingCategory ? `the tracking category ${s.trackingCategory}` : 'exactly one Xero tracking category'}: add it as an option in Xero${s.trackingCategory ? '' : ', or name the category in trackingCategory'}`,
    'trackingCategory',
  );
}

/** Decimals a line amount needs beyond what Xero keeps (2): refused rather than rounded. */
function tooPrecise(text: string): boolean {
  const d = new Dec(text);
  return !d.toDecimalPlaces(2).eq(d);
}

/** An invoice as Xero's Invoice (ACCREC), or why it cannot be. */
export function invoiceElement(
  item: TargetInvoice,
  org: OrgSettings,
  s: XeroTargetSettings,
  status: 'DRAFT' | 'AUTHORISED',
): { el: Json } | { error: ItemError } {
  const inv = item.record;
  if (currencyExponent(inv.currency) > 2)
    return {
      error: {
        code: 'TARGET_REFUSED',
        message: `Xero keeps amounts to 2 decimals; ${inv.currency} has more`,
        retryable: false,
        field: 'currency',
      },
    };
  const lines: Json[] = [];
  for (const [n, line] of inv.lines.entries()) {
    const mapped = lineElement(line, inv.description, inv.externalReference, org, s);
    if ('error' in mapped) return { error: { ...mapped.error, field: mapped.error.field ?? `lines[${n}]` } };
    lines.push(mapped.el);
  }
  const el: Json = {
    Type: 'ACCREC',
    Contact: { ContactID: item.customerTargetId },
    Date: inv.invoiceDate,
    DueDate: inv.dueDate ?? inv.invoiceDate,
    Reference: inv.externalReference,
    Status: status,
    LineAmountTypes: 'Exclusive',
    CurrencyCode: inv.currency,
    ...(inv.exchangeRate ? { CurrencyRate: amount(inv.exchangeRate) } : {}),
    LineItems: lines,
  };
  return { el };
}

function lineElement(
  line: CanonicalLine,
  invoiceDescription: string,
  reference: string,
  org: OrgSettings,
  s: XeroTargetSettings,
): { el: Json } | { error: ItemError } {
  if (tooPrecise(line.netAmount) || (line.vatAmount && tooPrecise(line.vatAmount)))
    return {
      error: {
        code: 'TARGET_REFUSED',
        message: `Xero keeps line amounts to 2 decimals; ${line.netAmount} would be rounded`,
        retryable: false,
      },
    };
  const tax = taxTypeFor(line.vatRate, org, s);
  if (typeof tax !== 'string') return { error: tax };
  const account = salesAccountFor(line.glAccountCode, org, s);
  if (typeof account !== 'string') return { error: account };
  let tracking: { Name: string; Option: string } | undefined;
  if (line.departmentId) {
    const t = trackingFor(line.departmentId, org, s);
    if ('code' in t) return { error: t };
    tracking = t;
  }
  // A line is its quantity at its unit price when the source gave them, else a quantity of 1 at the
  // net amount; the source's VAT as given. With a quantity, LineAmount is sent too: Xero computes
  // Quantity × UnitAmount rounded to 2 decimals and refuses a line whose LineAmount differs, so a
  // unit price it kept to fewer decimals than sent (no unitdp=4) is refused, never booked off by a cent.
  const units = line.quantity !== undefined && line.unitPrice !== undefined;
  const el: Json = {
    Description: (line.description || invoiceDescription || reference).slice(0, 4000),
    Quantity: new LosslessNumber(units ? line.quantity! : '1'),
    UnitAmount: amount(units ? line.unitPrice! : line.netAmount),
    ...(units ? { LineAmount: amount(line.netAmount) } : {}),
    ...(line.vatAmount !== null && line.vatAmount !== undefined ? { TaxAmount: amount(line.vatAmount) } : {}),
    AccountCode: account,
    TaxType: tax,
    ...(tracking ? { Tracking: [tracking] } : {}),
  };
  return { el };
}

/**
 * The query a write of invoices or credit notes needs for its unit amounts: `unitdp=4` when any
 * line of the request has a unit amount with more than 2 decimals (Xero rounds unit amounts to 2
 * unless asked), nothing otherwise, so that requests of whole-cent prices stay as they were.
 */
export function unitAmountQuery(elements: Json[]): Record<string, string> {
  const precise = elements.some((el) =>
    (Array.isArray(el.LineItems) ? (el.LineItems as Json[]) : []).some((l) => {
      const unit = l.UnitAmount instanceof LosslessNumber ? l.UnitAmount.value : str(l.UnitAmount);
      return unit !== '' && new Dec(unit).decimalPlaces() > 2;
    }),
  );
  return precise ? { unitdp: '4' } : {};
}

/**
 * A customer as Xero's Contact: only the fields the record carries (absent stays as Xero has it;
 * null clears it). Xero keeps one postal address: its fields are merged with what Xero has.
 */
export function contactElement(code: string, c: CanonicalCustomer, existing: Json | null, name: string): Json {
  const el: Json = { ContactNumber: code, Name: name };
  const text = (v: string | null | undefined) => (v === null ? '' : v);
  if (c.email !== undefined) el.EmailAddress = text(c.email);
  if (c.vatNumber !== undefined) el.TaxNumber = text(c.vatNumber);
  if (c.currency !== undefined) el.DefaultCurrency = c.currency;
  if (c.phone !== undefined) el.Phones = [{ PhoneType: 'DEFAULT', PhoneNumber: text(c.phone) }];
  if (c.street !== undefined || c.postalCode !== undefined || c.city !== undefined || c.country !== undefined) {
    const had = (Array.isArray(existing?.Addresses) ? (existing.Addresses as Json[]) : []).find(
      (a) => a.AddressType === 'POBOX',
    );
    const pick = (v: string | null | undefined, key: string) =>
      v !== undefined ? text(v) : ((had?.[key] as string | undefined) ?? '');
    el.Addresses = [
      {
        AddressType: 'POBOX',
        AddressLine1: pick(c.street, 'AddressLine1'),
        City: pick(c.city, 'City'),
        PostalCode: pick(c.postalCode, 'PostalCode'),
        Country: pick(c.country, 'Country'),
      },
    ];
  }
  return el;
}

/** A Xero amount (text from lossless parsing, or a safe integer) in minor units of a currency. */
export function minorUnits(value: unknown, currency: string): bigint | null {
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const text = new Dec(String(value)).toFixed(currencyExponent(currency));
  const r = parseAmount(text, currency);
  return r.ok ? r.value : null;
}

/** Xero's dates: "/Date(1573603200000+0000)/" or "2019-11-13T00:00:00" → YYYY-MM-DD. */
export function xeroDate(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const ms = /^\/Date\((-?\d+)([+-]\d{4})?\)\/$/.exec(value);
  if (ms) return new Date(Number(ms[1])).toISOString().slice(0, 10);
  return /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : null;
}
