import { createHash } from 'node:crypto';
import { LosslessNumber } from 'lossless-json';
import { Dec, formatAmount, parseAmount } from '../../domain/money.ts';
import type { CanonicalCustomer } from '../../sync/canonical.ts';
import type { ItemError } from '../../sync/target.ts';
import type { QboEntity } from './api.ts';

/*
 * Canonical records ↔ QuickBooks Online entities: the DocNumber rule, customers and items, and the
 * company's tax codes and accounts that lines are mapped to. No I/O: src/connectors/quickbooks/
 * target.ts reads the company once and hands it here.
 */

/** QuickBooks keeps at most 21 characters in DocNumber (and PaymentRefNum). */
export const DOC_NUMBER_MAX = 21;

/**
 * The DocNumber carrying a reference: the reference itself when it fits in 21 characters;
 * otherwise its first 12 characters, "~" and 8 hex digits of its SHA-256 (stable, so a lookup
 * finds it again), the whole reference then kept in PrivateNote.
 */
export function docNumberFor(reference: string): string {
  if (reference.length <= DOC_NUMBER_MAX) return reference;
  const digest = createHash('sha256').update(reference).digest('hex').slice(0, 8);
  return `${reference.slice(0, 12)}~${digest}`;
}

/** The private note that keeps a reference whole (always written, so a lookup can confirm a digest). */
export const referenceNote = (reference: string) => `ledgerlink reference: ${reference}`;

/** Whether a document found by its DocNumber is the one with this reference. */
export function carriesReference(e: Record<string, unknown>, reference: string, field = 'DocNumber'): boolean {
  if (e[field] !== docNumberFor(reference)) return false;
  if (reference.length <= DOC_NUMBER_MAX) return true;
  return typeof e.PrivateNote === 'string' && e.PrivateNote.includes(referenceNote(reference));
}

/** A decimal amount for a JSON body: written as a number with exactly its digits. */
export const amount = (text: string) => new LosslessNumber(text);

/** An amount as QuickBooks answered it (a LosslessNumber or text), in minor units of `currency`, or null. */
export function minorUnits(v: unknown, currency: string): bigint | null {
  const text =
    v instanceof LosslessNumber ? v.value : typeof v === 'string' || typeof v === 'number' ? String(v) : null;
  if (text === null) return null;
  const r = parseAmount(text, currency);
  return r.ok ? r.value : null;
}

/** What the connector knows of the company: read once per target instance. */
export interface Company {
  /** `US` companies use sales tax (TAX/NON); others VAT/GST codes by rate. */
  country: string;
  homeCurrency: string;
  /** Sales tax codes of a VAT company: id, name and rate (percent, as text). */
  taxCodes: { id: string; name: string; ratePercent: string | null }[];
  accounts: QboEntity[];
}

export const isUS = (c: Company) => c.country === 'US' || c.country === 'USA';

const settingMissing = (message: string, field: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field,
});

/**
 * The TaxCodeRef of a line with this VAT rate (a fraction: "0.2"). US companies: TAX when taxed,
 * NON when not. VAT companies: the `taxRates` override, else the one active code whose single
 * sales rate equals it; none (or several) is an error naming the setting to add.
 */
export function taxCodeFor(
  c: Company,
  rate: string,
  overrides: Record<string, string> | undefined,
): string | ItemError {
  if (isUS(c)) return new Dec(rate).isZero() ? 'NON' : 'TAX';
  const override = Object.entries(overrides ?? {}).find(([r]) => new Dec(r).eq(new Dec(rate)))?.[1];
  if (override !== undefined) {
    const code = c.taxCodes.find((t) => t.id === override || t.name === override);
    if (code) return code.id;
    return settingMissing(
      `taxRates maps ${rate} to "${override}", which is not a tax code of this QuickBooks company (${c.taxCodes.map((t) => t.name).join(', ') || 'none'})`,
      `taxRates.${rate}`,
    );
  }
  const percent = new Dec(rate).mul(100);
  const matches = c.taxCodes.filter((t) => t.ratePercent !== null && new Dec(t.ratePercent).eq(percent));
  if (matches.length === 1) return matches[0]!.id;
  const why =
    matches.length === 0
      ? `no tax code of this QuickBooks company has the rate ${percent.toString()} %`
      : `several tax codes have the rate ${percent.toString()} % (${matches.map((m) => m.name).join(', ')})`;
  return settingMissing(
    `${why}: add target.taxRates: {"${rate}": "<tax code name>"} to the pipeline`,
    `taxRates.${rate}`,
  );
}

/** An account named by a setting or mapping: its Id, AcctNum or Name. */
export function findAccount(c: Company, key: string): QboEntity | undefined {
  return c.accounts.find((a) => a.Id === key || a.AcctNum === key || a.Name === key || a.FullyQualifiedName === key);
}

/** The account sales go to: `accounts.sales`, else the company's own sales income account. */
export function salesAccount(c: Company, accounts: Record<string, string> | undefined): QboEntity | ItemError {
  const key = accounts?.sales;
  if (key !== undefined) {
    return (
      findAccount(c, key) ??
      settingMissing(`accounts.sales "${key}" is not an account of this QuickBooks company`, 'accounts.sales')
    );
  }
  const income = c.accounts.filter((a) => a.AccountType === 'Income' && a.Active !== false);
  return (
    income.find((a) => a.AccountSubType === 'SalesOfProductIncome') ??
    income.find((a) => a.AccountSubType === 'ServiceFeeIncome') ??
    income[0] ??
    settingMissing('this QuickBooks company has no income account: add target.accounts.sales', 'accounts.sales')
  );
}

/**
 * The account payments are deposited to: `accounts.bank`, else the payment's mapped bank account
 * when the company has it, else Undeposited Funds (QuickBooks' own default for received payments).
 */
export function depositAccount(
  c: Company,
  accounts: Record<string, string> | undefined,
  mapped: string,
): QboEntity | ItemError {
  const key = accounts?.bank;
  if (key !== undefined) {
    return (
      findAccount(c, key) ??
      settingMissing(`accounts.bank "${key}" is not an account of this QuickBooks company`, 'accounts.bank')
    );
  }
  const byMapping = mapped ? findAccount(c, mapped) : undefined;
  if (byMapping) return byMapping;
  return (
    c.accounts.find((a) => a.AccountSubType === 'UndepositedFunds') ??
    c.accounts.find((a) => a.AccountType === 'Bank') ??
    settingMissing('this QuickBooks company has no bank account: add target.accounts.bank', 'accounts.bank')
  );
}

/** The Customer fields a record carries (null clears them), for a create or a sparse update. */
export function customerFields(r: CanonicalCustomer, current: QboEntity | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const text = (v: string | null | undefined) => v ?? '';
  if (r.email !== undefined) out.PrimaryEmailAddr = { Address: text(r.email) };
  if (r.phone !== undefined) out.PrimaryPhone = { FreeFormNumber: text(r.phone) };
  const address: Record<string, string> = {};
  if (r.street !== undefined) address.Line1 = text(r.street);
  if (r.postalCode !== undefined) address.PostalCode = text(r.postalCode);
  if (r.city !== undefined) address.City = text(r.city);
  if (r.country !== undefined) address.Country = text(r.country);
  if (Object.keys(address).length > 0) {
    // A sparse update replaces the whole address: keep the lines this record does not carry.
    const kept = (current?.BillAddr ?? {}) as Record<string, unknown>;
    const { Id: _id, ...rest } = kept;
    out.BillAddr = { ...rest, ...address };
  }
  if (r.vatNumber !== undefined) out.PrimaryTaxIdentifier = text(r.vatNumber);
  // A customer's currency is set when it is created; QuickBooks refuses to change it afterwards.
  if (r.currency !== undefined && current === null) out.CurrencyRef = { value: r.currency };
  return out;
}

/** A scalar QuickBooks answered, as text (an amount by its digits); anything else is empty. */
export function scalar(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof LosslessNumber) return v.value;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** Formats minor units for a body. */
export const money = (minor: bigint, currency: string) => amount(formatAmount(minor, currency));
