import { Dec, formatAmount, parseAmount } from '../../domain/money.ts';
import type { CanonicalCustomer, CanonicalInvoice } from '../../sync/canonical.ts';
import { type LedgerProduct, type MappingFailure, mapInvoiceLines } from '../../sync/mapping.ts';
import type { PipelineMapping } from '../../sync/pipelines.ts';
import type { TargetDocument } from '../../sync/target.ts';
import { TYPES, type Value, type Xml, items, text } from './wsdl.ts';

/*
 * Canonical records ↔ AccountsIQ's shapes. Lines map the way the embedded ledger maps them (the
 * ledger is modelled on AccountsIQ): GL account, tax code and department per line, from the line,
 * the pipeline's mapping, the tax code of the same rate, then the target's default GL account.
 */

/** A tax code of the entity and its rate as a fraction ("0.21"). */
export interface TaxCode {
  code: string;
  rate: string;
}

/** GetTaxCodeList's rates: a fraction (0..1) as the batch lines take it; a value above 1 is read as a percentage. */
export function taxCodesOf(result: Xml | undefined): TaxCode[] {
  return items(result, 'Tax')
    .map((t) => {
      const raw = text(t.Rate);
      if (!/^-?\d+(\.\d+)?$/.test(raw)) return null;
      const r = new Dec(raw);
      return { code: text(t.Code), rate: (r.gt(1) ? r.div(100) : r).toFixed() };
    })
    .filter((t): t is TaxCode => t !== null && t.code !== '');
}

/** An ISO date as the xs:dateTime AccountsIQ takes (midnight, no zone: the entity's own day). */
export const dateTime = (d: string) => `${d}T00:00:00`;
/** The day of an xs:dateTime. */
export const dayOf = (dt: string) => dt.slice(0, 10);

/** The lines of a batch invoice or credit note, or why they cannot be mapped. */
export function batchLines(
  inv: CanonicalInvoice,
  mapping: PipelineMapping,
  taxCodes: TaxCode[],
  defaultGl: string | null,
  products: Map<string, LedgerProduct> = new Map(),
): Record<string, Value>[] | MappingFailure {
  const mapped = mapInvoiceLines(inv, {
    mapping,
    products,
    taxCodes,
    customerDefaultGl: defaultGl,
    customerDefaultTax: null,
  });
  if ('reasonCode' in mapped) return mapped;
  return mapped.map((l) => ({
    // Codes are upper case in AccountsIQ ("must be UPPER CASE").
    GLAccountCode: l.glAccountCode.toUpperCase(),
    TaxCode: l.taxCode.toUpperCase(),
    Description: l.description ?? '',
    DepartmentID: l.departmentId ? l.departmentId.toUpperCase() : undefined,
    NetAmount: l.netAmount,
    TaxRate: l.taxRate,
    TaxAmount: l.taxAmount,
  }));
}

/** The Customer fields a canonical customer carries: present ones only; an empty one clears the field. */
export function customerFields(c: CanonicalCustomer, creating: boolean): Record<string, string> {
  const out: Record<string, string> = { Name: c.name };
  const set = (field: string, v: string | null | undefined) => {
    if (v !== undefined) out[field] = v ?? '';
  };
  set('Email', c.email);
  set('Phone', c.phone);
  set('Address1', c.street);
  set('PostCode', c.postalCode);
  set('City', c.city);
  set('Country', c.country);
  set('VATRegistrationNumber', c.vatNumber);
  // A customer's currency is set when it is created: its transactions are in it.
  if (creating && c.currency) out.CurrencyCode = c.currency;
  return out;
}

/** A Customer element as values to send back (declared fields only, nil ones left out). */
export function customerValues(x: Xml | undefined): Record<string, Value> {
  const r = (x && typeof x === 'object' && !Array.isArray(x) ? x : {}) as Record<string, Xml>;
  const out: Record<string, Value> = {};
  for (const [name] of TYPES.Customer!) {
    const v = r[name];
    if (v === undefined || typeof v !== 'string') continue;
    out[name] = v;
  }
  return out;
}

/** A customer as a canonical record. */
export function canonicalCustomer(x: Record<string, Value>, asSourceId: string): CanonicalCustomer {
  const t = (k: string) => (typeof x[k] === 'string' && x[k] !== '' ? x[k] : undefined);
  const record: CanonicalCustomer = {
    kind: 'customer',
    sourceId: asSourceId,
    code: t('Code') ?? null,
    name: t('Name') ?? t('Code') ?? asSourceId,
  };
  const fields: Partial<CanonicalCustomer> = {
    email: t('Email'),
    phone: t('Phone'),
    street: t('Address1'),
    postalCode: t('PostCode'),
    city: t('City'),
    country: t('Country'),
    vatNumber: t('VATRegistrationNumber'),
    currency: t('CurrencyCode'),
  };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) Object.assign(record, { [k]: v });
  return record;
}

/** One WSTransactionSummary, as this connector reads it. */
export interface Summary {
  id: string;
  type: string;
  number: string;
  reference: string;
  customer: string;
  control: string;
  outstanding: string;
  date: string;
  dueDate: string | null;
  currency: string;
  lines: number;
  /**
   * Reversed in AccountsIQ (`IsReversed`): a posted transaction is never deleted or edited there; a
   * person reverses it, and it stays, flagged, beside its reversing transaction (flagged too).
   */
  reversed: boolean;
}

/**
 * The dates a lookup asks between. The WSDL makes FromDate and ToDate (and GetTransactionsBy's
 * creation dates) required and not nillable, and a lookup after a lost answer must find a document
 * whatever its date: so the widest window, kept inside SQL Server's datetime range.
 */
export const ANY_DATE = { from: '1900-01-01T00:00:00', to: '2099-12-31T23:59:59' } as const;

/** GetTransactionsByExternalReference's query (WSGetTransactionsByExternalReferenceQuery) for one reference. */
export function referenceQuery(reference: string): Record<string, Value> {
  return { ExternalReference: reference, FromDate: ANY_DATE.from, ToDate: ANY_DATE.to };
}

/**
 * GetTransactionsBy's query (WSGetTransactionsByQuery) for these transaction IDs, any date, `skip`
 * of them left out (the next page): its required nillable FromPeriodDate/ToPeriodDate are left
 * out here and so sent nil.
 */
export function idsQuery(ids: string[], skip = 0): Record<string, Value> {
  return {
    FromDate: ANY_DATE.from,
    ToDate: ANY_DATE.to,
    FromCreationDate: ANY_DATE.from,
    ToCreationDate: ANY_DATE.to,
    Skip: skip,
    TransactionIDsFilter: ids,
    ExcludeReconciliationInformation: false,
  };
}

/**
 * GetTransactionsBy's query for the transactions dated from `from` to `to` (days, both included:
 * from its midnight to the last second of `to`, as transactions are dated at midnight), any
 * creation date, `skip` of them left out; of these customer accounts (AccountIDs, ints) when given.
 */
export function datedQuery(from: string, to: string, skip: number, accountIds: string[] = []): Record<string, Value> {
  return {
    FromDate: dateTime(from),
    ToDate: `${to}T23:59:59`,
    FromCreationDate: ANY_DATE.from,
    ToCreationDate: ANY_DATE.to,
    Skip: skip,
    ...(accountIds.length > 0 ? { AccountIDsFilter: accountIds } : {}),
    ExcludeReconciliationInformation: false,
  };
}

export function summariesOf(result: Xml | undefined): Summary[] {
  return items(result, 'WSTransactionSummary').map((s) => ({
    id: text(s.TransactionID),
    type: text(s.TransactionType),
    number: text(s.InternalNumber),
    reference: text(s.ExternalReference),
    customer: text(s.AccountCode),
    control: text(s.ControlAmount) || '0',
    outstanding: text(s.OutstandingAmount) || '0',
    date: dayOf(text(s.TransactionDate)),
    dueDate: text(s.DueDate) ? dayOf(text(s.DueDate)) : null,
    currency: text(s.CurrencyCode),
    lines: items(s.LineDetails, 'WSTransactionDetail').filter(
      (l) => text(l.IsControlLine) !== 'true' && text(l.IsTaxLine) !== 'true',
    ).length,
    reversed: text(s.IsReversed) === 'true',
  }));
}

/** The kind of document a transaction type is (the Type enum, or its short code). */
export function kindOf(type: string): 'invoice' | 'creditNote' | 'payment' | 'refund' | null {
  if (['SalesDebitJournal', 'SD'].includes(type)) return 'refund';
  if (['SalesInvoice', 'SalesBatchInvoice', 'SI'].includes(type)) return 'invoice';
  if (['SalesCreditNote', 'SalesBatchCreditNote', 'SN'].includes(type)) return 'creditNote';
  if (['SalesReceipt', 'SR'].includes(type)) return 'payment';
  return null;
}

/** An amount in minor units of a currency, its sign dropped (AccountsIQ signs by ledger side). */
export function minor(amount: string, currency: string): bigint {
  const p = parseAmount(new Dec(amount).abs().toFixed(), currency);
  return p.ok ? p.value : 0n;
}

export function toDocument(s: Summary, kind: 'invoice' | 'creditNote' | 'payment' | 'refund'): TargetDocument {
  return {
    targetId: s.id,
    kind,
    number: s.number,
    customerTargetId: s.customer,
    externalReference: s.reference,
    date: s.date,
    dueDate: s.dueDate,
    currency: s.currency,
    gross: minor(s.control, s.currency),
    lines: s.lines,
    // Reversed there: out of the books, so reconciliation counts it missing.
    ...(s.reversed ? { voided: true } : {}),
  };
}

/** The smaller of two decimal amounts (as text), never below zero. */
export function smaller(a: string, b: string, currency: string): string {
  const x = minor(a, currency);
  const y = minor(b, currency);
  return formatAmount(x < y ? x : y, currency);
}
