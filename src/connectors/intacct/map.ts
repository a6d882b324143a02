import { Dec, formatAmount, multiplyAmount, parseAmount } from '../../domain/money.ts';
import type { CanonicalCustomer, CanonicalLine } from '../../sync/canonical.ts';
import type { PipelineMapping } from '../../sync/pipelines.ts';
import type { ItemError } from '../../sync/target.ts';
import type { Xml } from './xml.ts';

/*
 * Canonical records → Intacct elements. Lines are booked by GL account (AR invoices and
 * adjustments take `lineitem`s of an account and an amount, the product's ITEM as a dimension):
 * each line's net amount on its revenue account (the line's, the mapping's for the product, the
 * mapping's default, else `salesGlAccount`), and the tax of each rate as one line more on the
 * account `taxGlAccounts` names for it. Amounts are decimal text in the currency's
 * decimals, computed in minor units, never through a float.
 */

export interface LineContext {
  mapping: PipelineMapping;
  salesGlAccount: string;
  taxGlAccounts: Record<string, string> | undefined;
  currency: string;
}

/**
 * The `lineitem`s of an invoice (sign 1) or a credit adjustment (sign -1: Intacct credits a
 * customer with negative amounts), and the gross in minor units; or why the lines cannot be booked.
 */
export function lineItems(
  lines: CanonicalLine[],
  c: LineContext,
  sign: 1n | -1n,
  productTargetIds: Record<string, string> = {},
): { items: Xml[]; gross: bigint } | ItemError {
  const items: Xml[] = [];
  const tax = new Map<string, bigint>();
  let gross = 0n;
  for (const [n, l] of lines.entries()) {
    const net = parseAmount(l.netAmount, c.currency);
    if (!net.ok)
      return {
        code: 'AMOUNT_INVALID',
        message: `line ${n + 1}: ${l.netAmount}`,
        retryable: false,
        field: `lines[${n}]`,
      };
    let vat = 0n;
    if (l.vatAmount !== null && l.vatAmount !== undefined) {
      const v = parseAmount(l.vatAmount, c.currency);
      if (!v.ok)
        return {
          code: 'AMOUNT_INVALID',
          message: `line ${n + 1}: ${l.vatAmount}`,
          retryable: false,
          field: `lines[${n}]`,
        };
      vat = v.value;
    } else vat = multiplyAmount(net.value, l.vatRate, 'halfUp');
    const itemId = l.productSourceId ? productTargetIds[l.productSourceId] : undefined;
    const account =
      l.glAccountCode ??
      (itemId ? c.mapping.products?.[itemId]?.glAccountCode : undefined) ??
      c.mapping.defaultGlAccountCode ??
      c.salesGlAccount;
    items.push({
      glaccountno: account,
      amount: formatAmount(sign * net.value, c.currency),
      memo: (l.description || 'Sales').slice(0, 1000),
      ...(itemId ? { itemid: itemId } : {}),
    });
    gross += net.value + vat;
    if (vat !== 0n) tax.set(l.vatRate, (tax.get(l.vatRate) ?? 0n) + vat);
  }
  for (const [rate, amount] of tax) {
    const wanted = new Dec(rate);
    const account = Object.entries(c.taxGlAccounts ?? {}).find(([r]) => new Dec(r).eq(wanted))?.[1];
    if (!account)
      return {
        code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
        message: `no GL account for tax at ${wanted.mul(100).toFixed()}%: name one in target.taxGlAccounts ("${rate}": account)`,
        retryable: false,
        field: 'lines.vatRate',
      };
    items.push({
      glaccountno: account,
      amount: formatAmount(sign * amount, c.currency),
      memo: `Tax ${wanted.mul(100).toFixed()}%`,
    });
  }
  return { items, gross };
}

/** The CUSTOMER fields a canonical customer carries: present ones only; null clears. */
export function customerFields(c: CanonicalCustomer, code: string): Record<string, Xml> {
  const contact: Record<string, Xml> = { PRINTAS: c.name.slice(0, 200) };
  const set = (o: Record<string, Xml>, k: string, v: string | null | undefined) => {
    if (v !== undefined) o[k] = v ?? '';
  };
  set(contact, 'PHONE1', c.phone);
  set(contact, 'EMAIL1', c.email);
  const address: Record<string, Xml> = {};
  set(address, 'ADDRESS1', c.street);
  set(address, 'CITY', c.city);
  set(address, 'ZIP', c.postalCode);
  set(address, 'COUNTRY', c.country);
  if (Object.keys(address).length > 0) contact.MAILADDRESS = address;
  return { CUSTOMERID: code, NAME: c.name.slice(0, 100), DISPLAYCONTACT: contact };
}

/** An ITEM for a product: a non-inventory item sold (Intacct's ITEMTYPE for services and fees). */
export function itemFields(name: string, code: string): Record<string, Xml> {
  return { ITEMID: code, NAME: name.slice(0, 100), ITEMTYPE: 'Non-Inventory (Sales only)' };
}
