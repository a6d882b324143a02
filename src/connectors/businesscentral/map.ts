import { createHash } from 'node:crypto';
import { LosslessNumber } from 'lossless-json';
import { parseAmount } from '../../domain/money.ts';
import type { CanonicalCustomer, CanonicalLine } from '../../sync/canonical.ts';
import type { ItemError } from '../../sync/target.ts';

/*
 * Canonical records → the bodies of Business Central API v2.0 pages (field names as the AL pages
 * declare them: ../shared/specs/business-central/apiv2/*.Page.al). Business Central keeps codes
 * (`Code[n]` fields: a customer's or item's number, a document's external document number)
 * upper-cased, so references are sent and searched upper-cased.
 */

/** `Code[20]`: a customer's or item's number. */
export const NUMBER_LENGTH = 20;
/** `Code[35]`: External Document No. on sales documents and journal lines. */
export const EXTERNAL_LENGTH = 35;

/** The number a customer or item is kept under in Business Central, or why it cannot be. */
export function numberOf(code: string): string | ItemError {
  const n = code.trim().toUpperCase();
  if (n.length === 0 || n.length > NUMBER_LENGTH)
    return {
      code: 'TARGET_REFUSED',
      message: `Business Central numbers customers and items with ${NUMBER_LENGTH} characters at most; "${code}" has ${code.length}`,
      retryable: false,
      field: 'code',
    };
  return n;
}

/** Our reference as Business Central's External Document No. keeps it, or why it cannot. */
export function externalOf(reference: string): string | ItemError {
  const r = reference.trim().toUpperCase();
  if (r.length === 0 || r.length > EXTERNAL_LENGTH)
    return {
      code: 'TARGET_REFUSED',
      message: `Business Central keeps an external document number of ${EXTERNAL_LENGTH} characters at most; "${reference}" has ${reference.length}`,
      retryable: false,
      field: 'externalReference',
    };
  return r;
}

/**
 * The Document No. (`Code[20]`) of a payment's journal line: the reference upper-cased when it
 * fits, else "LL" and 18 hexadecimal digits of its SHA-256. Posted payments are found by it.
 */
export function paymentDocumentNumber(reference: string): string {
  const r = reference.trim().toUpperCase();
  if (r.length > 0 && r.length <= NUMBER_LENGTH) return r;
  return `LL${createHash('sha256').update(reference).digest('hex').slice(0, 18).toUpperCase()}`;
}

/**
 * A payment's target id: its Document No. and its customer, `<Document No.>@<customer id>`. Two
 * customers' payments may share a reference, and so a Document No.; the customer tells them
 * apart. Payments mapped before were kept under the bare Document No. (20 characters at most, so
 * never of this form), which is still read: see {@link paymentOf}.
 */
export const paymentTargetId = (documentNumber: string, customerId: string) => `${documentNumber}@${customerId}`;

/** A payment's target id read back: its Document No., and its customer unless mapped in the old, bare form. */
export function paymentOf(targetId: string): { documentNumber: string; customerId: string | null } {
  const m = /^(.+)@([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/.exec(targetId);
  return m ? { documentNumber: m[1]!, customerId: m[2]! } : { documentNumber: targetId, customerId: null };
}

const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/** The customer's fields present in the record (a null clears one), as the customers page names them. */
export function customerFields(c: CanonicalCustomer): Record<string, unknown> {
  const out: Record<string, unknown> = { displayName: cut(c.name, 100) };
  const put = (field: string, v: string | null | undefined, max: number) => {
    if (v === undefined) return;
    out[field] = v === null ? '' : cut(v, max);
  };
  put('email', c.email, 80);
  put('phoneNumber', c.phone, 30);
  put('addressLine1', c.street, 100);
  put('city', c.city, 30);
  put('postalCode', c.postalCode, 20);
  // Country/Region Code is a code of the company's table (NL, DE): a name cannot go there.
  if (c.country === null) out.country = '';
  else if (c.country && /^[A-Za-z]{2,3}$/.test(c.country)) out.country = c.country.toUpperCase();
  put('taxRegistrationNumber', c.vatNumber, 20);
  if (c.currency) out.currencyCode = c.currency;
  return out;
}

/** A decimal amount as an exact JSON number. */
export const num = (text: string) => new LosslessNumber(text);

/** "0.210" and "0.21" are the same rate. */
function sameRate(a: string, b: string): boolean {
  const norm = (r: string) => {
    const [i = '0', f = ''] = r.split('.');
    return `${String(Number(i))}.${f.replace(/0+$/, '')}`;
  };
  return norm(a) === norm(b);
}

export interface LineSetup {
  salesAccount: string | undefined;
  taxRates: Record<string, string> | undefined;
}

/**
 * Document lines as Business Central takes them in a deep insert: an item line when the line's
 * product is mapped, else a G/L account line (its own account, else `accounts.sales`); one of
 * the net amount, on the tax code its VAT rate maps to. Business Central computes the tax itself.
 */
export function linesOf(
  lines: CanonicalLine[],
  productTargetIds: Record<string, string>,
  setup: LineSetup,
): Record<string, unknown>[] | ItemError {
  const out: Record<string, unknown>[] = [];
  for (const [n, l] of lines.entries()) {
    const itemId = l.productSourceId ? productTargetIds[l.productSourceId] : undefined;
    const account = l.glAccountCode ?? setup.salesAccount;
    if (!itemId && !account)
      return {
        code: 'MAPPING_NO_GL_ACCOUNT',
        message: `line ${n + 1} has no product in Business Central and no G/L account: set target.accounts.sales`,
        retryable: false,
        field: `lines[${n}]`,
      };
    const taxCode =
      l.taxCode ?? Object.entries(setup.taxRates ?? {}).find(([rate]) => sameRate(rate, l.vatRate))?.[1] ?? null;
    if (!taxCode)
      return {
        code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
        message: `no Business Central tax code for VAT rate ${l.vatRate} (line ${n + 1}): add it to target.taxRates`,
        retryable: false,
        field: `lines[${n}].vatRate`,
      };
    out.push({
      ...(itemId ? { lineType: 'Item', itemId } : { lineType: 'Account', lineObjectNumber: account }),
      description: cut(l.description || 'Sale', 100),
      quantity: num('1'),
      unitPrice: num(l.netAmount),
      taxCode,
    });
  }
  return out;
}

/** An amount Business Central answered, in minor units of the currency; null when it is not one. */
export function minor(v: unknown, currency: string): bigint | null {
  const text =
    v instanceof LosslessNumber ? v.toString() : typeof v === 'number' || typeof v === 'string' ? String(v) : '';
  // Answers may carry more decimals than the currency has ("121.000"): drop trailing zeros first.
  const trimmed = /\.\d*$/.test(text) ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
  const parsed = parseAmount(trimmed, currency);
  return parsed.ok ? parsed.value : null;
}

/** A scalar of an answer as text ('' for anything else). */
export const text = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : typeof v === 'number' || typeof v === 'boolean' || v instanceof LosslessNumber
      ? v.toString()
      : '';
