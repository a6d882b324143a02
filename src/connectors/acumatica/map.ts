import { parseAmount } from '../../domain/money.ts';
import { parseRate } from '../../domain/money.ts';
import type { CanonicalCustomer, CanonicalLine } from '../../sync/canonical.ts';
import type { ItemError } from '../../sync/target.ts';
import { type Entity, dec, v, val } from './api.ts';
import { type AcumaticaSettings, REFERENCE_MAX } from './settings.ts';

/*
 * Canonical records → the records of Acumatica's Default endpoint (every field wrapped as
 * `{"value": …}`), and back. Pure: no I/O. Field by field in docs/connectors/acumatica.md.
 */

/** A business date as the contract's DateTimeValue takes it (format date-time): midnight, no shift. */
export const dateTime = (date: string) => `${date}T00:00:00+00:00`;
/** The business date of a DateTimeValue. */
export const dateOf = (e: Entity, field: string) => val(e, field).slice(0, 10);

/** The document kinds, as `Type` names them, and the entity that holds each. */
export const DOC_TYPES = {
  Invoice: { entity: 'Invoice', kind: 'invoice' },
  'Credit Memo': { entity: 'Invoice', kind: 'creditNote' },
  Payment: { entity: 'Payment', kind: 'payment' },
  Refund: { entity: 'Payment', kind: 'refund' },
} as const;
export type DocType = keyof typeof DOC_TYPES;

/** Our id of a document: its key fields, `Type/ReferenceNbr` ("Invoice/AR000123"). */
export const docId = (type: string, nbr: string) => `${type}/${nbr}`;
export function parseDocId(id: string): { type: DocType; nbr: string } | null {
  const at = id.indexOf('/');
  const type = id.slice(0, at);
  if (at < 1 || !(type in DOC_TYPES)) return null;
  return { type: type as DocType, nbr: id.slice(at + 1) };
}

/** The fields of a Customer that the record carries (absent: left as Acumatica has it; null: cleared). */
export function customerBody(code: string, c: CanonicalCustomer): Entity {
  const text = (x: string | null | undefined) => (x === undefined ? undefined : v(x ?? ''));
  const body: Entity = { CustomerID: v(code), CustomerName: v(c.name) };
  const address: Entity = {};
  const put = (o: Entity, k: string, x: unknown) => {
    if (x !== undefined) o[k] = x;
  };
  put(address, 'AddressLine1', text(c.street));
  put(address, 'PostalCode', text(c.postalCode));
  put(address, 'City', text(c.city));
  // Acumatica takes a country's two-letter id; a country named otherwise is left out.
  if (c.country !== undefined && (c.country === null || /^[A-Za-z]{2}$/.test(c.country)))
    address.Country = v((c.country ?? '').toUpperCase());
  const contact: Entity = {};
  put(contact, 'Email', text(c.email));
  put(contact, 'Phone1', text(c.phone));
  if (Object.keys(address).length > 0) contact.Address = address;
  if (Object.keys(contact).length > 0) body.MainContact = contact;
  put(body, 'TaxRegistrationID', text(c.vatNumber));
  if (c.currency) body.CurrencyID = v(c.currency);
  return body;
}

/** The tax category of a VAT rate: `taxCategories` matched by value ("0.21" = "0.210"); none for 0 unmapped. */
export function taxCategory(
  rate: string,
  categories: AcumaticaSettings['taxCategories'],
): { category: string | null } | { missing: string } {
  const wanted = parseRate(rate);
  for (const [k, cat] of Object.entries(categories ?? {})) {
    const r = parseRate(k);
    if (r && wanted && r.eq(wanted)) return { category: cat };
  }
  if (wanted?.isZero()) return { category: null };
  return {
    missing: `no tax category for VAT rate ${rate}: add it to the target's taxCategories ("${rate}": "<TaxCategoryID>")`,
  };
}

export interface DocumentInput {
  type: 'Invoice' | 'Credit Memo';
  reference: string;
  customer: string;
  date: string;
  dueDate?: string | null | undefined;
  description: string;
  currency: string;
  lines: CanonicalLine[];
  productIds: Record<string, string>;
}

/** An Invoice (or credit memo) to PUT, or why it cannot be sent. */
export function invoiceBody(d: DocumentInput, s: AcumaticaSettings): Entity | ItemError {
  const refused = (message: string, field?: string): ItemError => ({
    code: 'TARGET_REFUSED',
    message,
    retryable: false,
    field,
  });
  if (d.reference.length > REFERENCE_MAX)
    return refused(
      `the reference "${d.reference}" is longer than the ${REFERENCE_MAX} characters of Acumatica's Customer Ref. Nbr.`,
      'externalReference',
    );
  if (s.currency && d.currency !== s.currency)
    return refused(
      `the document is in ${d.currency}; the Default endpoint's Invoice takes the customer's currency and this target books ${s.currency} only`,
      'currency',
    );
  const details: Entity[] = [];
  for (const l of d.lines) {
    const tax = taxCategory(l.vatRate, s.taxCategories);
    if ('missing' in tax)
      return { code: 'TARGET_SETTING_MISSING', message: tax.missing, retryable: false, field: 'taxCategories' };
    const item = l.productSourceId ? d.productIds[l.productSourceId] : undefined;
    const line: Entity = { TransactionDescription: v(l.description || d.description || d.reference) };
    if (item) line.InventoryID = v(item);
    if (l.quantity !== undefined && l.unitPrice !== undefined) {
      line.Qty = dec(l.quantity);
      line.UnitPrice = dec(l.unitPrice);
      line.ExtendedPrice = dec(l.netAmount);
    } else {
      line.Qty = dec('1');
      line.UnitPrice = dec(l.netAmount);
    }
    if (tax.category) line.TaxCategory = v(tax.category);
    if (!item && s.salesAccount) line.Account = v(s.salesAccount);
    details.push(line);
  }
  const body: Entity = {
    Type: v(d.type),
    Customer: v(d.customer),
    Date: v(dateTime(d.date)),
    CustomerOrder: v(d.reference),
    Description: v((d.description || d.reference).slice(0, 255)),
    Hold: v(false),
    Details: details,
  };
  if (d.dueDate && d.type === 'Invoice') body.DueDate = v(dateTime(d.dueDate));
  return body;
}

/** Minor units of an amount field, or null when it is not one. */
export function minorOf(e: Entity, field: string, currency: string): bigint | null {
  const parsed = parseAmount(val(e, field) || '0', currency);
  return parsed.ok ? parsed.value : null;
}
