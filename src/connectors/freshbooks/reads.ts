import { ConnectorError } from '../../sync/connector.ts';
import { readPaymentFees, remoteFeeRemedy } from '../../sync/fee-match.ts';
import type { TargetDocument } from '../../sync/target.ts';
import { type FbObject, text } from './api.ts';
import { type DocumentContext, KINDS } from './documents.ts';
import { feesUnder, markOf } from './fees.ts';
import { REF_PREFIX, minor, tagOf } from './map.ts';
import { PAGE_SIZE, SYSTEM } from './settings.ts';

/*
 * Documents read back by id, for write-back and reconciliation: invoices, credit notes and payments
 * as FreshBooks holds them now. FreshBooks voids nothing: a person deletes an invoice, credit note
 * or payment, which keeps it with `vis_state` 1 (freshbooks.com/api/active_deleted): left out of
 * lists unless asked for, still answered by id. A deleted invoice or credit note read here is
 * `voided` (reconciliation counts it missing); a deleted payment is not read, so it is missing too.
 *
 * FreshBooks numbers invoices, credit notes and payments each in a sequence of its own, and the
 * caller gives ids without their kinds, so an id may name one document of each kind. Each is read
 * as the kinds in turn, cheapest first, until one carries our reference (an invoice its
 * `po_number`, a credit note or payment the `ledgerlink-ref` line of its note), which is taken:
 * 1. live invoices, `search[invoiceids][]`, 100 a list (a page);
 * 2. live payments, `search[logids][]`, 100 a list (a payment's id is its logid);
 * 3. deleted invoices, the same with `search[vis_state]=1`;
 * 4. credit notes one GET each: FreshBooks documents no search by their ids.
 * A page of 5,000 invoices is 50 requests; payments add 50 more; each credit note one.
 */

/** A document as reconciliation counts it, and whether it carries our reference (one ledgerlink may have booked). */
export interface Candidate {
  doc: TargetDocument;
  ours: boolean;
}

const numeric = (id: string) => /^\d{1,18}$/.test(id);

export function currencyOf(e: FbObject, what: string): string {
  const currency = text(e.currency_code) || text((e.amount as FbObject | undefined)?.code);
  if (!/^[A-Z]{3}$/.test(currency))
    throw new ConnectorError(SYSTEM, `${what} answered without its currency`, { retryable: false });
  return currency;
}

/** Deleted in FreshBooks (`vis_state` 1): kept, out of the books. */
export const deleted = (e: FbObject) => text(e.vis_state) === '1';
/** An invoice not sent yet: out of the books. */
export const isDraft = (e: FbObject) => (text(e.v3_status) || text(e.status)) === 'draft';
/** An overpayment credit note: the part of a payment above its invoice, counted with the payment. */
export const isOverpayment = (e: FbObject) => text(e.credit_type) === 'overpayment';
/** A payment of type Credit: a client's credit set against an invoice (an allocation), not money paid. */
export const isCredit = (e: FbObject) => text(e.type) === 'Credit' || e.from_credit === true;
const lineCount = (e: FbObject) => (Array.isArray(e.lines) ? e.lines.length : 0);

export function invoiceOf(e: FbObject): Candidate {
  const id = text(e.id) || text(e.invoiceid);
  const currency = currencyOf(e, `invoice ${id}`);
  return {
    ours: text(e.po_number) !== '',
    doc: {
      targetId: id,
      kind: 'invoice',
      number: text(e.invoice_number),
      customerTargetId: text(e.customerid),
      externalReference: text(e.po_number),
      date: text(e.create_date),
      dueDate: text(e.due_date) || null,
      currency,
      gross: minor(e.amount, currency) ?? 0n,
      lines: lineCount(e),
      ...(deleted(e) ? { voided: true } : {}),
    },
  };
}

export function creditNoteOf(e: FbObject): Candidate {
  const id = text(e.creditid) || text(e.id);
  const currency = currencyOf(e, `credit note ${id}`);
  const reference = tagOf(e.notes, REF_PREFIX);
  return {
    ours: reference !== '',
    doc: {
      targetId: id,
      kind: 'creditNote',
      number: text(e.credit_number),
      customerTargetId: text(e.clientid),
      externalReference: reference,
      date: text(e.create_date),
      dueDate: null,
      currency,
      gross: minor(e.amount, currency) ?? 0n,
      lines: lineCount(e),
      ...(deleted(e) ? { voided: true } : {}),
    },
  };
}

export function paymentOf(e: FbObject): Candidate {
  const id = text(e.id) || text(e.logid);
  const currency = currencyOf(e, `payment ${id}`);
  const reference = tagOf(e.note, REF_PREFIX);
  return {
    ours: reference !== '',
    doc: {
      targetId: id,
      kind: 'payment',
      number: id,
      customerTargetId: text(e.clientid),
      externalReference: reference,
      date: text(e.date),
      dueDate: null,
      currency,
      gross: minor(e.amount, currency) ?? 0n,
      lines: 0,
    },
  };
}

/** The one to take of an id's documents: ours and live, then ours deleted, then another's. */
const rank = (c: Candidate) => (c.ours ? 0 : 2) + (c.doc.voided ? 1 : 0);

function groups(ids: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += PAGE_SIZE) out.push(ids.slice(i, i + PAGE_SIZE));
  return out;
}

/**
 * Documents by id, as FreshBooks holds them now (see above); a deleted invoice or credit note
 * `voided`. `lines: false` (write-back) reads no lines. With `fees`, each payment's provider fee:
 * its expense in the bank-fees category, found as the booking finds it (fees.ts), or none.
 */
export async function readDocuments(
  c: DocumentContext,
  ids: string[],
  options: { lines?: boolean; fees?: boolean; kind?: TargetDocument['kind'] } = {},
): Promise<Map<string, TargetDocument>> {
  const include = options.lines === false ? [] : ['lines'];
  // FreshBooks numbers invoices, credit notes and payments apart: asked for a kind, only that kind
  // is read, so that invoice 7 is never taken for payment 7.
  const asks = (kind: TargetDocument['kind']) => options.kind === undefined || options.kind === kind;
  const found = new Map<string, Candidate[]>();
  const wanted = new Set(ids.filter(numeric));
  const add = (x: Candidate) => {
    if (wanted.has(x.doc.targetId)) found.set(x.doc.targetId, [...(found.get(x.doc.targetId) ?? []), x]);
  };
  // Still to look for under another kind: no document of ours, live, found for it yet.
  const open = () => [...wanted].filter((id) => !(found.get(id) ?? []).some((x) => rank(x) === 0));
  const inv = KINDS.invoice;
  const pay = KINDS.payment;
  if (asks('invoice'))
    for (const g of groups(open()))
      for (const e of await c.api.listAll(inv.path, inv.list, { invoiceids: g }, c.signal, include)) add(invoiceOf(e));
  if (asks('payment'))
    for (const g of groups(open()))
      for (const e of await c.api.listAll(pay.path, pay.list, { logids: g }, c.signal))
        // A payment of type Credit is how a credit note is set against an invoice: an allocation, not a payment.
        if (text(e.type) !== 'Credit') add(paymentOf(e));
  if (asks('invoice'))
    for (const g of groups(open()))
      for (const e of await c.api.listAll(inv.path, inv.list, { invoiceids: g, vis_state: '1' }, c.signal, include))
        add(invoiceOf(e));
  const cn = KINDS.creditNote;
  for (const id of asks('creditNote') ? open() : []) {
    const query = include.length > 0 ? '?include[]=lines' : '';
    const e = await c.api.byId(`${cn.path}/${encodeURIComponent(id)}${query}`, cn.one, c.signal);
    if (e) add(creditNoteOf(e));
  }
  const out = new Map<string, TargetDocument>();
  for (const id of ids) {
    const best = (found.get(id) ?? []).sort((a, b) => rank(a) - rank(b))[0];
    if (best) out.set(id, best.doc);
  }
  if (options.fees)
    await readFees(
      c,
      [...out.values()].filter((d) => d.kind === 'payment'),
    );
  return out;
}

/**
 * Sets the fee FreshBooks holds for each of these payments (`TargetDocument.fee`): its expenses
 * on the payment's date carrying its reference, told apart by the client line as the booking
 * tells them (fees.ts), summed; null when there is none. One list of expenses a payment date.
 */
async function readFees(c: DocumentContext, payments: TargetDocument[]): Promise<void> {
  await readPaymentFees(payments, {
    byReference: async (references) => {
      const out = new Map<string, FbObject[]>();
      const byDate = new Map<string, Set<string>>();
      for (const p of payments)
        if (references.includes(p.externalReference))
          byDate.set(p.date, (byDate.get(p.date) ?? new Set()).add(p.externalReference));
      for (const [date, refs] of byDate)
        for (const [ref, expenses] of await feesUnder(c.api, date, [...refs], c.signal)) {
          const seen = new Set((out.get(ref) ?? []).map((e) => text(e.id)));
          out.set(ref, [...(out.get(ref) ?? []), ...expenses.filter((e) => !seen.has(text(e.id)))]);
        }
      return out;
    },
    markOf,
    reader: (p) => ({
      currencyOf: (e) => text((e.amount as FbObject | undefined)?.code) || p.currency,
      amountOf: (e, currency) => minor(e.amount, currency),
      idOf: (e) => text(e.id),
      label: (ids) => `expense ${ids.join(' and ')}`,
      notAnAmount: (e) =>
        new ConnectorError(SYSTEM, `expense ${text(e.id)} answered an amount that is not one`, { retryable: false }),
    }),
  });
}

/** What to do in FreshBooks about a payment whose fee is not what the source says (reconciliation). */
export const freshBooksFeeRemedy = remoteFeeRemedy(
  SYSTEM,
  (reference) =>
    `record it in FreshBooks as an expense in the Bank Fees category on the payment's date, its notes carrying the line "${REF_PREFIX}${reference}", as ledgerlink books a fee`,
);
