import { LosslessNumber } from 'lossless-json';
import { parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import type {
  FoundDocument,
  ItemError,
  ItemResult,
  TargetAllocation,
  TargetCreditNote,
  TargetInvoice,
  TargetKind,
  TargetPayment,
} from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type FbAnswer, type FbObject, type FreshBooksApi, describe, entity, text } from './api.ts';
import { type Account, REF_PREFIX, lines, money, tagOf, withTag } from './map.ts';
import { SYSTEM } from './settings.ts';
import { paymentFee } from '../../sync/fee-match.ts';
import { type FeesCategory, bookFee } from './fees.ts';

/*
 * Invoices, credit notes and payments in FreshBooks, one request each (no batch endpoint, no
 * idempotency key). FreshBooks has no external-reference field: an invoice carries our reference
 * as its `po_number`, a credit note or a payment as one line of its note (`ledgerlink-ref: …`).
 * A lost answer is found again by listing the customer's documents (`search[customerid]` /
 * `search[clientid]`) and matching that reference exactly (findDocument). Invoices are created as
 * drafts and marked sent (`action_mark_as_sent`), so that they count and can be paid. A credit
 * note is set against an invoice with a payment of type "Credit" on that invoice, which draws on
 * the client's credit. Refusals are item failures carrying FreshBooks' errno and message; an
 * unknown outcome is the RemoteClient's retryable ConnectorError, thrown for the engine to look
 * the call's documents up.
 */

export interface DocumentContext {
  api: FreshBooksApi;
  account: Account;
  taxRates: Record<string, string> | undefined;
  paymentType: string;
  /** The expense category payment providers' fees go to (fees.ts), resolved on first use. */
  feesCategory: () => Promise<FeesCategory | ItemError>;
  feesStaffId: number;
  signal?: AbortSignal | undefined;
}

interface KindSpec {
  path: string;
  list: string;
  one: string;
  body: string;
  id: string;
  number: string;
  customer: string;
  search: string;
  reference: (e: FbObject) => string;
}

export const KINDS: Record<'invoice' | 'creditNote' | 'payment', KindSpec> = {
  invoice: {
    path: '/invoices/invoices',
    list: 'invoices',
    one: 'invoice',
    body: 'invoice',
    id: 'id',
    number: 'invoice_number',
    customer: 'customerid',
    search: 'customerid',
    reference: (e) => text(e.po_number),
  },
  // The SDK reads a single credit note under `credit_notes` (freshbooks-nodejs-sdk, models/CreditNote.ts).
  creditNote: {
    path: '/credit_notes/credit_notes',
    list: 'credit_notes',
    one: 'credit_notes',
    body: 'credit_note',
    id: 'creditid',
    number: 'credit_number',
    customer: 'clientid',
    search: 'clientid',
    reference: (e) => tagOf(e.notes, REF_PREFIX),
  },
  payment: {
    path: '/payments/payments',
    list: 'payments',
    one: 'payment',
    body: 'payment',
    id: 'id',
    number: 'id',
    customer: 'clientid',
    search: 'clientid',
    reference: (e) => tagOf(e.note, REF_PREFIX),
  },
};
type DocKind = keyof typeof KINDS;

/** An id as FreshBooks takes it in a body: a JSON number. */
const idNumber = (id: string): LosslessNumber | string => (/^\d{1,18}$/.test(id) ? new LosslessNumber(id) : id);

const refused = (what: string, reference: string, a: Extract<FbAnswer, { ok: false }>): ItemError => ({
  code: 'TARGET_REFUSED',
  message: `${SYSTEM} refused ${what} ${reference} (${describe(a)})`,
  retryable: false,
});

function positive(what: string, amount: string, currency: string): bigint | ItemError {
  const parsed = parseAmount(amount, currency);
  if (parsed.ok && parsed.value > 0n) return parsed.value;
  return {
    code: 'AMOUNT_INVALID',
    message: `${what}: ${amount} is not an amount FreshBooks takes (more than zero)`,
    retryable: false,
    field: 'amount',
  };
}

/** The document FreshBooks holds under our reference: the customer's documents, matched exactly. */
export async function findDocument(
  c: DocumentContext,
  kind: DocKind,
  reference: string,
  customerId: string | null | undefined,
): Promise<FbObject | null> {
  const k = KINDS[kind];
  const rows = await c.api.listAll(k.path, k.list, { [k.search]: customerId ?? undefined }, c.signal);
  const exact = rows
    .filter((r) => k.reference(r) === reference && (!customerId || text(r[k.customer]) === customerId))
    .sort((a, b) => Number(text(a[k.id])) - Number(text(b[k.id])));
  return exact[0] ?? null;
}

const isDraft = (inv: FbObject | null) => text(inv?.v3_status) === 'draft';

/**
 * Marks a draft invoice sent (PUT with `action_mark_as_sent`, freshbooks.com/api/invoices "Sending
 * An Invoice"). After a lost answer the invoice is read back: sent is sent, whichever request did
 * it. Returns the refusal when it is still a draft.
 */
async function ensureSent(c: DocumentContext, invoiceId: string): Promise<Extract<FbAnswer, { ok: false }> | null> {
  const path = `${KINDS.invoice.path}/${encodeURIComponent(invoiceId)}`;
  const stillDraft = async () => isDraft(await c.api.byId(path, 'invoice', c.signal));
  let a: FbAnswer;
  try {
    a = await c.api.call({ method: 'PUT', path, json: { invoice: { action_mark_as_sent: true } } }, c.signal);
  } catch (err) {
    if (err instanceof ConnectorError && err.retryable && !(await stillDraft())) return null;
    throw err;
  }
  if (a.ok || !(await stillDraft())) return null;
  return a;
}

/** The lookup of the engine: the document under our reference, a draft invoice marked sent on the way. */
export async function lookUp(
  c: DocumentContext,
  kind: TargetKind,
  reference: string,
  customerTargetId: string | null | undefined,
): Promise<FoundDocument | null> {
  if (kind !== 'invoice' && kind !== 'creditNote' && kind !== 'payment') return null;
  const k = KINDS[kind];
  const found = await findDocument(c, kind, reference, customerTargetId);
  if (!found) return null;
  const id = text(found[k.id]);
  if (kind === 'invoice' && isDraft(found)) {
    const refusal = await ensureSent(c, id);
    if (refusal)
      throw new ConnectorError(
        SYSTEM,
        `invoice ${reference} is a draft in FreshBooks and could not be marked sent (${describe(refusal)})`,
        { status: refusal.status, retryable: false },
      );
  }
  return { targetId: id, number: text(found[k.number]) || null, customerTargetId: text(found[k.customer]) || null };
}

/** Days from one ISO date to another (FreshBooks takes a due date as `due_offset_days`). */
function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

/** Books invoices one by one: created (a draft) under our reference as `po_number`, then marked sent. */
export async function createInvoices(c: DocumentContext, items: TargetInvoice[]): Promise<ItemResult[]> {
  // One request a document: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const ls = lines(r.lines, r.currency, c.account, c.taxRates);
    if (!Array.isArray(ls)) return failed(ls);
    const offset = r.dueDate ? daysBetween(r.invoiceDate, r.dueDate) : 0;
    if (offset < 0) {
      return failed({
        code: 'TARGET_REFUSED',
        message: `Invoice ${r.externalReference} is due (${r.dueDate}) before its date (${r.invoiceDate}); FreshBooks takes a due date as days after the invoice date`,
        retryable: false,
        field: 'dueDate',
      });
    }
    const a = await c.api.call(
      {
        method: 'POST',
        path: KINDS.invoice.path,
        json: {
          invoice: {
            customerid: idNumber(d.customerTargetId),
            create_date: r.invoiceDate,
            due_offset_days: new LosslessNumber(String(offset)),
            po_number: r.externalReference,
            currency_code: r.currency,
            ...(r.description ? { notes: r.description } : {}),
            lines: ls,
          },
        },
      },
      c.signal,
    );
    if (!a.ok) return failed(refused('invoice', r.externalReference, a));
    const inv = entity(a.result, 'invoice', `POST ${KINDS.invoice.path}`);
    const id = text(inv.id);
    if (isDraft(inv)) {
      const refusal = await ensureSent(c, id);
      if (refusal) return failed(refused('to mark sent invoice', r.externalReference, refusal));
    }
    return ok(id, { number: text(inv.invoice_number), outcome: 'created' });
  });
}

/** Books credit notes one by one, a credit of the client: what they settle is an allocation. */
export async function createCreditNotes(c: DocumentContext, items: TargetCreditNote[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const ls = lines(r.lines, r.currency, c.account, c.taxRates);
    if (!Array.isArray(ls)) return failed(ls);
    const a = await c.api.call(
      {
        method: 'POST',
        path: KINDS.creditNote.path,
        json: {
          credit_note: {
            clientid: idNumber(d.customerTargetId),
            create_date: r.date,
            currency_code: r.currency,
            credit_type: 'goodwill',
            notes: withTag(r.description, REF_PREFIX, r.externalReference),
            lines: ls,
          },
        },
      },
      c.signal,
    );
    if (!a.ok) return failed(refused('credit note', r.externalReference, a));
    const note = entity(a.result, 'credit_notes', `POST ${KINDS.creditNote.path}`);
    return ok(text(note.creditid), { number: text(note.credit_number), outcome: 'created' });
  });
}

/**
 * Books payments one by one, each on the invoice it names (a FreshBooks payment belongs to one
 * invoice; what it pays above the invoice's outstanding amount becomes the client's overpayment
 * credit, as FreshBooks does it). A payment naming no invoice has no place in FreshBooks and is
 * parked with TARGET_CAPABILITY_MISSING. A payment provider's fee is booked first, as an expense
 * (fees.ts): a payment whose fee FreshBooks does not hold is not sent.
 */
export async function createPayments(c: DocumentContext, items: TargetPayment[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const amount = positive(`Payment ${r.externalReference}`, r.amount, r.currency);
    if (typeof amount !== 'bigint') return failed(amount);
    // The engine sends a payment without its invoice when this pipeline has not booked that invoice
    // (it comes later, or another pipeline books it): FreshBooks has no unapplied payment, so the
    // invoice is looked up by its reference here; not there yet, the payment waits for it, parked,
    // and runs again by itself once the pipeline books it (retrying on a timer would give up on an
    // invoice that comes a day later).
    let invoiceId = d.invoiceTargetId;
    if (!invoiceId && r.invoiceExternalReference) {
      invoiceId = (await lookUp(c, 'invoice', r.invoiceExternalReference, d.customerTargetId))?.targetId ?? null;
      if (!invoiceId) {
        return failed({
          code: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
          message: `Payment ${r.externalReference} pays invoice ${r.invoiceExternalReference}, which is not in FreshBooks yet; a FreshBooks payment is always a payment of one invoice, so it is booked once the invoice is`,
          retryable: false,
          field: 'invoiceExternalReference',
          needs: { kind: 'invoice', customerTargetId: d.customerTargetId, reference: r.invoiceExternalReference },
        });
      }
    }
    if (!invoiceId) {
      return failed({
        code: 'TARGET_CAPABILITY_MISSING',
        message: `Payment ${r.externalReference} names no invoice; a FreshBooks payment is always a payment of one invoice. Book it against its invoice in the source, or as a credit in FreshBooks`,
        retryable: false,
        field: 'invoiceExternalReference',
      });
    }
    const fee = paymentFee(d.record);
    if (fee !== null && typeof fee !== 'bigint') return failed(fee);
    const booked = fee === null ? null : await bookFee(c, d, fee, items);
    if (booked && 'code' in booked) return failed(booked);
    const a = await c.api.call(
      {
        method: 'POST',
        path: KINDS.payment.path,
        json: {
          payment: {
            invoiceid: idNumber(invoiceId),
            amount: money(amount, r.currency),
            date: r.date,
            type: c.paymentType,
            note: withTag(r.description, REF_PREFIX, r.externalReference),
          },
        },
      },
      c.signal,
    );
    if (!a.ok) {
      const why = refused('payment', r.externalReference, a);
      // Said, so that nobody books the fee again by hand: it is found when the payment is sent again.
      if (booked)
        why.message += ` (its fee ${booked.label} is booked as expense ${booked.id} and is not booked again when the payment is sent again)`;
      return failed(why);
    }
    const pay = entity(a.result, 'payment', `POST ${KINDS.payment.path}`);
    return ok(text(pay.id), {
      number: text(pay.id),
      outcome: 'created',
      ...(booked
        ? { message: `fee ${booked.label} ${booked.found ? 'already booked' : 'booked'} as expense ${booked.id}` }
        : {}),
    });
  });
}

/** The payments FreshBooks holds on an invoice (search[invoiceid]). */
const paymentsOn = (c: DocumentContext, invoiceId: string) =>
  c.api.listAll(KINDS.payment.path, KINDS.payment.list, { invoiceid: invoiceId }, c.signal);

/**
 * Sets credit notes against invoices: a payment of type "Credit" on the invoice, drawing on the
 * client's credit, carrying the allocation's id as its reference. Credit from a payment has no
 * place in FreshBooks (every payment already belongs to its invoice): TARGET_CAPABILITY_MISSING.
 */
export async function createAllocations(c: DocumentContext, items: TargetAllocation[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    if (r.from !== 'creditNote') {
      return failed({
        code: 'TARGET_CAPABILITY_MISSING',
        message: `Allocation ${r.sourceId}: FreshBooks holds no unapplied payment to set against an invoice (every payment belongs to its invoice)`,
        retryable: false,
      });
    }
    const amount = positive(`Allocation ${r.sourceId}`, r.amount, r.currency);
    if (typeof amount !== 'bigint') return failed(amount);
    const a = await c.api.call(
      {
        method: 'POST',
        path: KINDS.payment.path,
        json: {
          payment: {
            invoiceid: idNumber(d.invoiceTargetId),
            amount: money(amount, r.currency),
            date: r.date,
            type: 'Credit',
            note: withTag(`Credit note ${r.fromExternalReference}`, REF_PREFIX, r.sourceId),
          },
        },
      },
      c.signal,
    );
    if (!a.ok) return failed(refused('the credit of', r.fromExternalReference, a));
    return ok(text(entity(a.result, 'payment', `POST ${KINDS.payment.path}`).id), { outcome: 'created' });
  });
}

/** The credit payment FreshBooks already holds on the invoice under the allocation's id, none of `taken`. */
export async function findAllocation(
  c: DocumentContext,
  d: TargetAllocation,
  taken: ReadonlySet<string>,
): Promise<FoundDocument | null> {
  if (d.record.from !== 'creditNote') return null;
  const found = (await paymentsOn(c, d.invoiceTargetId))
    .filter((p) => tagOf(p.note, REF_PREFIX) === d.record.sourceId && !taken.has(text(p.id)))
    .sort((x, y) => Number(text(x.id)) - Number(text(y.id)))[0];
  return found ? { targetId: text(found.id) } : null;
}
