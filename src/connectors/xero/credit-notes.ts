import { Dec } from '../../domain/money.ts';
import { creditNoteAsInvoice } from '../../sync/canonical.ts';
import {
  type FoundDocument,
  type ItemResult,
  type TargetAllocation,
  type TargetCallContext,
  type TargetCreditNote,
  failed,
  ok,
} from '../../sync/target.ts';
import {
  type ElementResult,
  type Json,
  OVERPAYMENT,
  type XeroApi,
  batchIdempotencyKey,
  lit,
  refused,
  str,
} from './api.ts';
import { type OrgSettings, amount, invoiceElement } from './map.ts';
import type { XeroTargetSettings } from './settings.ts';

/*
 * Credit notes (ACCRECCREDIT) and allocations for the Xero target. A credit note goes like an
 * invoice: in batches, approved (or a draft in draft mode), our reference in `Reference`.
 * An allocation sets a credit note, or a receipt Xero holds as an overpayment, against an
 * invoice: `PUT /CreditNotes/{id}/Allocations` or `PUT /Overpayments/{id}/Allocations`, one
 * request per credit document with all of its allocations. Allocations carry no reference in
 * Xero, so one is found again by what it is (documents, amount, date) and its AllocationID.
 */

/** What of the target these operations use (the target's own closures, src/connectors/xero/target.ts). */
export interface XeroParts {
  settings: XeroTargetSettings;
  api(): Promise<XeroApi>;
  org(signal?: AbortSignal): Promise<OrgSettings>;
  writeAll(
    ctx: TargetCallContext,
    method: 'PUT' | 'POST',
    path: string,
    key: string,
    rows: { el: Json; itemKey: string }[],
    operation: string,
  ): Promise<ElementResult[]>;
  /**
   * The documents of `path` whose `field` is one of `values` (25 a call), with `extra` ANDed to the
   * filter; `paged` reads them in pages (Xero's lists carry line items only then).
   */
  findBy(
    path: string,
    key: string,
    field: string,
    values: string[],
    extra?: string,
    signal?: AbortSignal,
    paged?: boolean,
  ): Promise<Json[]>;
}

export async function createCreditNotes(
  x: XeroParts,
  ctx: TargetCallContext,
  items: TargetCreditNote[],
): Promise<ItemResult[]> {
  const org = await x.org(ctx.signal);
  const status = x.settings.mode === 'draft' ? 'DRAFT' : 'AUTHORISED';
  const results: ItemResult[] = new Array<ItemResult>(items.length);
  const rows: { el: Json; itemKey: string; n: number }[] = [];
  items.forEach((item, n) => {
    // Mapped as an invoice's lines are (accounts, tax rates, tracking), then made a credit note.
    const mapped = invoiceElement(
      { ...item, record: creditNoteAsInvoice(item.record), idempotencyKey: item.idempotencyKey },
      org,
      x.settings,
      status,
    );
    if ('error' in mapped) return void (results[n] = failed(mapped.error));
    const { DueDate: _due, ...el } = mapped.el;
    rows.push({ el: { ...el, Type: 'ACCRECCREDIT' }, itemKey: item.idempotencyKey, n });
  });
  const answers = await x.writeAll(
    ctx,
    'PUT',
    '/CreditNotes',
    'CreditNotes',
    rows,
    `credit-notes-${status.toLowerCase()}`,
  );
  answers.forEach((a, i) => {
    const r = rows[i]!;
    results[r.n] = a.ok
      ? ok(str(a.saved.CreditNoteID), { number: str(a.saved.CreditNoteNumber), outcome: 'created' })
      : failed(refused(a.messages));
  });
  return results;
}

/** Where the credit of an allocation lives in Xero: a credit note, or an overpayment. */
function creditOf(item: TargetAllocation): { path: string; id: string } | null {
  if (item.record.from === 'creditNote') return { path: 'CreditNotes', id: item.fromTargetId };
  if (item.fromTargetId.startsWith(OVERPAYMENT))
    return { path: 'Overpayments', id: item.fromTargetId.slice(OVERPAYMENT.length) };
  return null;
}

/** A stable id for an allocation Xero answered without an AllocationID. */
const derivedId = (item: TargetAllocation) =>
  `${item.fromTargetId}>${item.invoiceTargetId}:${item.record.amount}@${item.record.date}`;

export async function createAllocations(
  x: XeroParts,
  ctx: TargetCallContext,
  items: TargetAllocation[],
): Promise<ItemResult[]> {
  const api = await x.api();
  const results: ItemResult[] = new Array<ItemResult>(items.length);
  const byCredit = new Map<string, { credit: { path: string; id: string }; n: number[] }>();
  items.forEach((item, n) => {
    const credit = creditOf(item);
    if (!credit) {
      // A receipt Xero holds as a payment of an invoice is spent: Xero cannot set it against another.
      results[n] = failed({
        code: 'TARGET_REFUSED',
        message: `Payment ${item.record.fromExternalReference} is booked in Xero as the payment of an invoice, so it has no credit to allocate to ${item.record.invoiceExternalReference}; allocate it in Xero by hand`,
        retryable: false,
        field: 'fromExternalReference',
      });
      return;
    }
    const key = `${credit.path}/${credit.id}`;
    const group = byCredit.get(key) ?? { credit, n: [] };
    group.n.push(n);
    byCredit.set(key, group);
  });
  for (const { credit, n } of byCredit.values()) {
    const els = n.map((i) => {
      const item = items[i]!;
      return {
        Invoice: { InvoiceID: item.invoiceTargetId },
        Amount: amount(item.record.amount),
        Date: item.record.date,
      };
    });
    const answers = await api.write(
      'PUT',
      `/${credit.path}/${encodeURIComponent(credit.id)}/Allocations`,
      'Allocations',
      els,
      // From the items' own keys: the same allocations sent again get Xero's first answer back.
      batchIdempotencyKey(
        'allocations',
        n.map((i) => items[i]!.idempotencyKey),
      ),
      {},
      ctx.signal,
    );
    answers.forEach((a, j) => {
      const item = items[n[j]!]!;
      results[n[j]!] = a.ok
        ? ok(str(a.saved.AllocationID) || derivedId(item), { outcome: 'created' })
        : failed(refused(a.messages));
    });
  }
  return results;
}

/**
 * The allocation Xero holds from the same credit to the same invoice, for the same amount on the
 * same date, that this pipeline has not mapped yet: the one an answer was lost for.
 */
export async function findAllocation(
  x: XeroParts,
  ctx: TargetCallContext,
  item: TargetAllocation,
  taken: ReadonlySet<string>,
): Promise<FoundDocument | null> {
  const credit = creditOf(item);
  if (!credit) return null;
  const api = await x.api();
  const idField = credit.path === 'CreditNotes' ? 'CreditNoteID' : 'OverpaymentID';
  const body = await api.get(`/${credit.path}`, { where: `${idField}==Guid(${lit(credit.id)})` }, ctx.signal);
  const doc = ((body[credit.path] as Json[] | undefined) ?? [])[0];
  const allocations = Array.isArray(doc?.Allocations) ? (doc.Allocations as Json[]) : [];
  const want = new Dec(item.record.amount);
  for (const a of allocations) {
    const invoice = str((a.Invoice as Json | undefined)?.InvoiceID);
    const id = str(a.AllocationID) || derivedId(item);
    if (invoice !== item.invoiceTargetId || taken.has(id) || a.IsDeleted === true) continue;
    if (!new Dec(str(a.Amount) || '0').eq(want) || xeroDay(a.Date) !== item.record.date) continue;
    return { targetId: id };
  }
  return null;
}

/** A Xero date (`/Date(1733011200000+0000)/` or ISO) as YYYY-MM-DD. */
function xeroDay(v: unknown): string {
  const s = str(v);
  const ms = /\/Date\((-?\d+)/.exec(s);
  if (ms) return new Date(Number(ms[1])).toISOString().slice(0, 10);
  return s.slice(0, 10);
}

/** A credit note found by our reference, for the lookup before a retry. */
export function creditNoteFound(d: Json | undefined): FoundDocument | null {
  if (!d) return null;
  const contact = d.Contact as Json | undefined;
  return {
    targetId: str(d.CreditNoteID),
    number: str(d.CreditNoteNumber),
    customerTargetId: contact ? str(contact.ContactID) : null,
  };
}
