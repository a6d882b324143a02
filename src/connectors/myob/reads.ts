import type { TargetDocument } from '../../sync/target.ts';
import { type MyobObject, literal, orFilters, text } from './api.ts';
import type { DocumentContext } from './documents.ts';
import { PAYMENT, SALE } from './documents.ts';
import { readFees } from './fees.ts';
import { minor } from './map.ts';

/*
 * Documents read back by UID, for write-back and reconciliation: the sales (invoices, and credit
 * notes as negative sales) and the customer payments MYOB holds now. MYOB voids nothing: a sale or
 * payment a person no longer wants is deleted (DELETE, or Delete in AccountRight), after which
 * MYOB answers 404 for its UID and leaves it out of its lists, so a deleted document is simply not
 * in the map and reconciliation counts it missing.
 *
 * MYOB's lists take an OData `$filter`, so UIDs are read many a request (`UID eq guid'…' or …`),
 * as many as fit in a query string of `FILTER_MAX` characters (api.ts): sales first, then the
 * payments among what was not a sale.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The records of a list with these UIDs, by UID as asked (MYOB answers UIDs in lower case). */
async function byUids(c: DocumentContext, path: string, uids: readonly string[]): Promise<Map<string, MyobObject>> {
  const asked = new Map(uids.filter((u) => GUID.test(u)).map((u) => [u.toLowerCase(), u]));
  const out = new Map<string, MyobObject>();
  for (const filter of orFilters([...asked.keys()].map((u) => `UID eq guid${literal(u)}`)))
    for (const r of await c.api.list(path, filter, c.signal)) {
      const id = asked.get(text(r.UID).toLowerCase());
      if (id !== undefined) out.set(id, r);
    }
  return out;
}

const uidOf = (v: unknown): string => text((v as MyobObject | undefined)?.UID);

/**
 * Documents by UID, as MYOB holds them now: a sale (an invoice, or a credit note when negative,
 * its gross positive), else a customer payment; one that MYOB no longer holds (deleted) is left
 * out. With `fees`, each payment's provider fee (its spend money, fees.ts).
 */
export async function readDocuments(
  c: DocumentContext,
  ids: string[],
  options?: { fees?: boolean },
): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  const cur = c.company.currency;
  for (const [id, sale] of await byUids(c, SALE, ids)) {
    const total = minor(sale.TotalAmount, cur) ?? 0n;
    out.set(id, {
      targetId: id,
      kind: total < 0n ? 'creditNote' : 'invoice',
      number: text(sale.Number),
      customerTargetId: uidOf(sale.Customer),
      externalReference: text(sale.CustomerPurchaseOrderNumber),
      date: text(sale.Date).slice(0, 10),
      dueDate: text((sale.Terms as MyobObject | undefined)?.DueDate).slice(0, 10) || null,
      currency: cur,
      gross: total < 0n ? -total : total,
      lines: Array.isArray(sale.Lines) ? sale.Lines.length : 0,
    });
  }
  const rest = ids.filter((id) => !out.has(id));
  for (const [id, pay] of rest.length > 0 ? await byUids(c, PAYMENT, rest) : [])
    out.set(id, {
      targetId: id,
      kind: 'payment',
      number: text(pay.ReceiptNumber),
      customerTargetId: uidOf(pay.Customer),
      externalReference: text(pay.Memo),
      date: text(pay.Date).slice(0, 10),
      dueDate: null,
      currency: cur,
      gross: minor(pay.AmountReceived, cur) ?? 0n,
      lines: 0,
    });
  if (options?.fees)
    await readFees(
      c.api,
      [...out.values()].filter((d) => d.kind === 'payment'),
      c.signal,
    );
  return out;
}
