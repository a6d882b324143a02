import { formatAmount, minBig, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import { appliedEarly, invoiceMissing, nothingToApply, paymentGone } from '../../sync/remote/early.ts';
import type {
  EarlyPayment,
  FoundDocument,
  ItemError,
  ItemResult,
  TargetAllocation,
  TargetCreditNote,
  TargetDocument,
  TargetInvoice,
  TargetKind,
  TargetPayment,
} from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type ZohoAnswer, type ZohoApi, type ZohoObject, describe, entity, list, text } from './api.ts';
import { bankCharges, chargesAsRead, feeOf } from './fees.ts';
import { type Organisation, lineItems, minor, num } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Invoices, credit notes and customer payments in Zoho Books, one request each (Zoho has no batch
 * endpoint and no idempotency key). Our reference goes in `reference_number` of each, and a lost
 * answer is found again by listing with that filter and matching it exactly (findDocument).
 * Invoices are created as drafts and marked sent, so that they are open and payments and credits
 * can be applied; a draft found by its reference after a lost answer is marked sent then.
 * Refusals are item failures carrying Zoho's code and message; an unknown outcome is the
 * RemoteClient's retryable ConnectorError, thrown for the engine to look the call's documents up.
 */

export interface DocumentContext {
  api: ZohoApi;
  org: Organisation;
  taxRates: Record<string, string> | undefined;
  paymentMode: string;
  depositAccountId: string | undefined;
  signal?: AbortSignal | undefined;
}

const PATHS = {
  invoice: { path: '/invoices', list: 'invoices', one: 'invoice', id: 'invoice_id', number: 'invoice_number' },
  creditNote: {
    path: '/creditnotes',
    list: 'creditnotes',
    one: 'creditnote',
    id: 'creditnote_id',
    number: 'creditnote_number',
  },
  payment: {
    path: '/customerpayments',
    list: 'customerpayments',
    one: 'payment',
    id: 'payment_id',
    number: 'payment_number',
  },
} as const;
export type DocKind = keyof typeof PATHS;

const refused = (what: string, reference: string, a: Extract<ZohoAnswer, { ok: false }>): ItemError => ({
  code: 'TARGET_REFUSED',
  message: `${SYSTEM} refused ${what} ${reference} (${describe(a)})`,
  retryable: false,
});

const currencyMismatch = (what: string, currency: string, org: Organisation): ItemError => ({
  code: 'CURRENCY_MISMATCH',
  message: `${what} is in ${currency}; this target books only the organisation's base currency (${org.currency})`,
  retryable: false,
  field: 'currency',
});

/**
 * A list's rows, page after page (200 a page), at most `budget` pages; null when Zoho still has
 * more after them.
 */
export async function pages(
  api: ZohoApi,
  path: string,
  key: string,
  query: Record<string, string | undefined>,
  budget: number,
  signal?: AbortSignal,
): Promise<ZohoObject[] | null> {
  const out: ZohoObject[] = [];
  for (let page = 1; ; page++) {
    if (page > budget) return null;
    const body = await api.read(path, { ...query, page: String(page), per_page: '200' }, signal);
    const rows = list(body, key, `GET ${path}`);
    out.push(...rows);
    const more = (body.page_context as { has_more_page?: unknown } | undefined)?.has_more_page;
    // An empty page that claims more has nothing more to give: stopping keeps the read finite.
    if (more !== true || rows.length === 0) return out;
  }
}

/**
 * Every entity a list answers, page after page; the filter keeps it to a few. A list longer than
 * `maxPages` is refused, not read in part: a lookup that missed the rest would book again, a sum
 * would be short.
 */
export async function listAll(
  api: ZohoApi,
  path: string,
  key: string,
  query: Record<string, string | undefined>,
  signal?: AbortSignal,
  maxPages = 50,
): Promise<ZohoObject[]> {
  const rows = await pages(api, path, key, query, maxPages, signal);
  if (rows) return rows;
  throw new ConnectorError(
    SYSTEM,
    `GET ${path} has more than ${maxPages * 200} rows under one filter; ledgerlink reads at most ${maxPages} pages of 200 and will not work from part of the list`,
    { retryable: false },
  );
}

/**
 * The document Zoho holds under our reference: listed with the `reference_number` filter (and
 * the customer, when known), then matched exactly, since a list filter may match more loosely.
 */
export async function findDocument(
  c: DocumentContext,
  kind: DocKind,
  reference: string,
  customerId: string | null | undefined,
): Promise<ZohoObject | null> {
  const p = PATHS[kind];
  const rows = await listAll(
    c.api,
    p.path,
    p.list,
    { reference_number: reference, customer_id: customerId ?? undefined },
    c.signal,
  );
  const exact = rows
    .filter((r) => text(r.reference_number) === reference && (!customerId || text(r.customer_id) === customerId))
    .sort((a, b) => text(a[p.id]).localeCompare(text(b[p.id])));
  return exact[0] ?? null;
}

/**
 * Marks a draft invoice sent, so that it is open (POST /invoices/{id}/status/sent). Marking sent
 * is a state change that cannot happen twice, so after a lost answer or a refusal the invoice is
 * read back: sent is sent, whichever request did it. Returns the refusal when it is still a draft.
 */
async function ensureSent(c: DocumentContext, invoiceId: string): Promise<Extract<ZohoAnswer, { ok: false }> | null> {
  const path = `/invoices/${encodeURIComponent(invoiceId)}`;
  const stillDraft = async () => text((await c.api.byId(path, 'invoice', c.signal))?.status) === 'draft';
  let a: ZohoAnswer;
  try {
    a = await c.api.call({ method: 'POST', path: `${path}/status/sent` }, c.signal);
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
  const p = PATHS[kind];
  const found = await findDocument(c, kind, reference, customerTargetId);
  if (!found) return null;
  const id = text(found[p.id]);
  if (kind === 'invoice' && text(found.status) === 'draft') {
    const refusal = await ensureSent(c, id);
    if (refusal)
      throw new ConnectorError(
        SYSTEM,
        `invoice ${reference} is a draft in Zoho Books and could not be marked sent (${describe(refusal)})`,
        { status: refusal.status, retryable: false },
      );
  }
  return { targetId: id, number: text(found[p.number]) || null, customerTargetId: text(found.customer_id) || null };
}

/** Books invoices one by one: created (a draft), then marked sent. */
export async function createInvoices(c: DocumentContext, items: TargetInvoice[]): Promise<ItemResult[]> {
  // One request a document: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    if (r.currency !== c.org.currency)
      return failed(currencyMismatch(`Invoice ${r.externalReference}`, r.currency, c.org));
    const lines = lineItems(r.lines, d.productTargetIds, c.org, c.taxRates);
    if (!Array.isArray(lines)) return failed(lines);
    const a = await c.api.call(
      {
        method: 'POST',
        path: '/invoices',
        json: {
          customer_id: d.customerTargetId,
          reference_number: r.externalReference,
          date: r.invoiceDate,
          ...(r.dueDate ? { due_date: r.dueDate } : {}),
          ...(r.description ? { notes: r.description } : {}),
          line_items: lines,
        },
      },
      c.signal,
    );
    if (!a.ok) return failed(refused('invoice', r.externalReference, a));
    const inv = entity(a.body, 'invoice', 'POST /invoices');
    const id = text(inv.invoice_id);
    if (text(inv.status) === 'draft') {
      const refusal = await ensureSent(c, id);
      if (refusal) return failed({ ...refused('to mark sent invoice', r.externalReference, refusal) });
    }
    return ok(id, { number: text(inv.invoice_number), outcome: 'created' });
  });
}

/** Books credit notes one by one, open on the customer: what they settle is an allocation. */
export async function createCreditNotes(c: DocumentContext, items: TargetCreditNote[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    if (r.currency !== c.org.currency)
      return failed(currencyMismatch(`Credit note ${r.externalReference}`, r.currency, c.org));
    const lines = lineItems(r.lines, d.productTargetIds, c.org, c.taxRates);
    if (!Array.isArray(lines)) return failed(lines);
    const a = await c.api.call(
      {
        method: 'POST',
        path: '/creditnotes',
        json: {
          customer_id: d.customerTargetId,
          reference_number: r.externalReference,
          date: r.date,
          ...(r.description ? { notes: r.description } : {}),
          line_items: lines,
        },
      },
      c.signal,
    );
    if (!a.ok) return failed(refused('credit note', r.externalReference, a));
    const note = entity(a.body, 'creditnote', 'POST /creditnotes');
    return ok(text(note.creditnote_id), { number: text(note.creditnote_number), outcome: 'created' });
  });
}

/**
 * Books customer payments one by one, applied to the invoice they name up to what it still owes
 * (Zoho refuses an amount applied above the balance); the rest stays unused on the payment.
 */
export async function createPayments(c: DocumentContext, items: TargetPayment[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    if (r.currency !== c.org.currency)
      return failed(currencyMismatch(`Payment ${r.externalReference}`, r.currency, c.org));
    const amount = parseAmount(r.amount, r.currency);
    if (!amount.ok || amount.value <= 0n) {
      return failed({
        code: 'AMOUNT_INVALID',
        message: `Payment ${r.externalReference}: ${r.amount} is not an amount Zoho Books takes (more than zero)`,
        retryable: false,
        field: 'amount',
      });
    }
    // A provider's fee is the payment's bank charges (fees.ts): written with it, found with it.
    const charges = bankCharges(r, amount.value);
    if (typeof charges !== 'bigint') return failed(charges);
    const invoices: ZohoObject[] = [];
    if (d.invoiceTargetId) {
      const inv = await c.api.byId(`/invoices/${encodeURIComponent(d.invoiceTargetId)}`, 'invoice', c.signal);
      const balance = inv ? (minor(inv.balance, r.currency) ?? 0n) : 0n;
      const applied = minBig(amount.value, balance);
      if (applied > 0n)
        invoices.push({ invoice_id: d.invoiceTargetId, amount_applied: num(formatAmount(applied, r.currency)) });
    }
    const a = await c.api.call(
      {
        method: 'POST',
        path: '/customerpayments',
        json: {
          customer_id: d.customerTargetId,
          payment_mode: c.paymentMode,
          amount: num(formatAmount(amount.value, r.currency)),
          ...(charges > 0n ? { bank_charges: num(formatAmount(charges, r.currency)) } : {}),
          date: r.date,
          reference_number: r.externalReference,
          ...(r.description ? { description: r.description } : {}),
          ...(c.depositAccountId ? { account_id: c.depositAccountId } : {}),
          invoices,
        },
      },
      c.signal,
    );
    if (!a.ok) return failed(refused('payment', r.externalReference, a));
    const pay = entity(a.body, 'payment', 'POST /customerpayments');
    const fee = charges > 0n ? `with bank charges ${r.currency} ${formatAmount(charges, r.currency)}` : null;
    return ok(text(pay.payment_id), {
      number: text(pay.payment_number) || r.externalReference,
      outcome: 'created',
      ...(fee ? { message: fee } : {}),
    });
  });
}

/** What a credit note has applied to invoices (GET /creditnotes/{id}/invoices). */
async function credited(c: DocumentContext, creditNoteId: string): Promise<ZohoObject[]> {
  const body = await c.api.read(`/creditnotes/${encodeURIComponent(creditNoteId)}/invoices`, {}, c.signal);
  return list(body, 'invoices_credited', 'GET /creditnotes/{id}/invoices');
}

/** The target id of a payment's application to an invoice (Zoho gives such an application no id of its own). */
const applicationId = (paymentId: string, invoiceId: string, amount: string, date: string) =>
  `${paymentId}>${invoiceId}:${amount}@${date}`;

/**
 * Sets credit notes (POST /creditnotes/{id}/invoices) and unused payments (the payment updated
 * with one more invoice applied) against invoices. A credit's id is Zoho's creditnote_invoice_id,
 * read back after applying it.
 */
export async function createAllocations(c: DocumentContext, items: TargetAllocation[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const amount = parseAmount(r.amount, r.currency);
    if (!amount.ok || amount.value <= 0n) {
      return failed({
        code: 'AMOUNT_INVALID',
        message: `Allocation ${r.sourceId}: ${r.amount}`,
        retryable: false,
        field: 'amount',
      });
    }
    const applied = num(formatAmount(amount.value, r.currency));
    if (r.from === 'creditNote') {
      const a = await c.api.call(
        {
          method: 'POST',
          path: `/creditnotes/${encodeURIComponent(d.fromTargetId)}/invoices`,
          json: { invoices: [{ invoice_id: d.invoiceTargetId, amount_applied: applied }] },
        },
        c.signal,
      );
      if (!a.ok) return failed(refused('the credit of', r.fromExternalReference, a));
      const newest = (await credited(c, d.fromTargetId))
        .filter((x) => text(x.invoice_id) === d.invoiceTargetId && minor(x.amount_applied, r.currency) === amount.value)
        .sort((x, y) => text(y.creditnote_invoice_id).localeCompare(text(x.creditnote_invoice_id)))[0];
      if (!newest) {
        throw new ConnectorError(
          SYSTEM,
          `credit note ${r.fromExternalReference} was applied but does not list the credit to its invoice`,
          { retryable: false },
        );
      }
      return ok(text(newest.creditnote_invoice_id), { outcome: 'created' });
    }
    const pay = await c.api.byId(`/customerpayments/${encodeURIComponent(d.fromTargetId)}`, 'payment', c.signal);
    if (!pay) {
      return failed({
        code: 'TARGET_REFUSED',
        message: `payment ${r.fromExternalReference} is no longer in Zoho Books`,
        retryable: false,
      });
    }
    const a = await applyPayment(c, pay, d.invoiceTargetId, amount.value, r.currency);
    if (!a.ok) return failed(refused('the application of payment', r.fromExternalReference, a));
    return ok(applicationId(d.fromTargetId, d.invoiceTargetId, r.amount, r.date), { outcome: 'created' });
  });
}

/** A payment's applications to invoices, as read, in minor units. */
export interface Application {
  invoice_id: string;
  amount_applied: bigint;
}

/** What a payment, as read, has applied to invoices, in the order Zoho lists them. */
export const applicationsOf = (pay: ZohoObject, currency: string): Application[] =>
  ((pay.invoices as ZohoObject[] | undefined) ?? []).map((x) => ({
    invoice_id: text(x.invoice_id),
    amount_applied: minor(x.amount_applied, currency) ?? 0n,
  }));

/**
 * Updates a payment, as read, so that it is applied to exactly these invoices for these amounts
 * (PUT /customerpayments/{id}); the rest of its fields are sent as read, its bank charges (a
 * provider's fee, fees.ts) among them. Applications of zero are left out: an application is
 * removed by omitting it.
 */
export function putApplications(
  c: DocumentContext,
  pay: ZohoObject,
  applications: Application[],
  currency: string,
): Promise<ZohoAnswer> {
  return c.api.call(
    {
      method: 'PUT',
      path: `/customerpayments/${encodeURIComponent(text(pay.payment_id))}`,
      json: {
        customer_id: text(pay.customer_id),
        payment_mode: text(pay.payment_mode) || c.paymentMode,
        amount: num(text(pay.amount)),
        ...chargesAsRead(pay, currency),
        date: text(pay.date),
        reference_number: text(pay.reference_number),
        invoices: applications
          .filter((x) => x.amount_applied > 0n)
          .map((x) => ({
            invoice_id: x.invoice_id,
            amount_applied: num(formatAmount(x.amount_applied, currency)),
          })),
      },
    },
    c.signal,
  );
}

/** Applies `more` of a payment, as read, to an invoice: the payment updated with its applications so far and this one. */
function applyPayment(
  c: DocumentContext,
  pay: ZohoObject,
  invoiceId: string,
  more: bigint,
  currency: string,
): Promise<ZohoAnswer> {
  const current = applicationsOf(pay, currency);
  const same = current.find((x) => x.invoice_id === invoiceId);
  if (same) same.amount_applied += more;
  else current.push({ invoice_id: invoiceId, amount_applied: more });
  return putApplications(c, pay, current, currency);
}

/**
 * Payments booked before the invoice they name (the engine's note, src/sync/engine/early-payments.ts),
 * applied to it now that it is booked: as much as the payment holds unused and the invoice's
 * balance, both read just before, so that running it again after a lost answer applies nothing
 * twice. The invoice handed over must be the customer's under the named reference, else that
 * invoice is looked up by reference.
 */
export async function applyEarlyPayments(c: DocumentContext, items: EarlyPayment[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (e) => {
    const pay = await c.api.byId(`/customerpayments/${encodeURIComponent(e.paymentTargetId)}`, 'payment', c.signal);
    if (!pay) return paymentGone(e, SYSTEM);
    const customer = text(pay.customer_id);
    const named = (inv: ZohoObject | null) =>
      inv && text(inv.reference_number) === e.invoiceReference && text(inv.customer_id) === customer ? inv : null;
    const inv =
      named(await c.api.byId(`/invoices/${encodeURIComponent(e.invoiceTargetId)}`, 'invoice', c.signal)) ??
      named(await findDocument(c, 'invoice', e.invoiceReference, customer));
    if (!inv) return invoiceMissing(e, SYSTEM, customer);
    const currency = e.currency;
    const left = minor(pay.unused_amount, currency) ?? 0n;
    const owed = minor(inv.balance, currency) ?? 0n;
    const take = minBig(left, owed);
    const where = `${SYSTEM} ${text(inv.invoice_number) || e.invoiceReference}`;
    if (take <= 0n) return nothingToApply(e, where, left <= 0n);
    const a = await applyPayment(c, pay, text(inv.invoice_id), take, currency);
    if (!a.ok) return failed(refused('the application of payment', e.paymentReference, a));
    return appliedEarly(
      e,
      where,
      formatAmount(take, currency),
      left > take ? 'the rest stays unused on the payment' : null,
    );
  });
}

/** An allocation Zoho already holds between the same documents for the same amount, none of `taken`. */
export async function findAllocation(
  c: DocumentContext,
  d: TargetAllocation,
  taken: ReadonlySet<string>,
): Promise<FoundDocument | null> {
  const r = d.record;
  const amount = parseAmount(r.amount, r.currency);
  if (!amount.ok) return null;
  if (r.from === 'creditNote') {
    const found = (await credited(c, d.fromTargetId))
      .filter(
        (x) =>
          text(x.invoice_id) === d.invoiceTargetId &&
          minor(x.amount_applied, r.currency) === amount.value &&
          !taken.has(text(x.creditnote_invoice_id)),
      )
      .sort((x, y) => text(x.creditnote_invoice_id).localeCompare(text(y.creditnote_invoice_id)))[0];
    return found ? { targetId: text(found.creditnote_invoice_id) } : null;
  }
  const id = applicationId(d.fromTargetId, d.invoiceTargetId, r.amount, r.date);
  if (taken.has(id)) return null;
  const pay = await c.api.byId(`/customerpayments/${encodeURIComponent(d.fromTargetId)}`, 'payment', c.signal);
  const applied = ((pay?.invoices as ZohoObject[] | undefined) ?? [])
    .filter((x) => text(x.invoice_id) === d.invoiceTargetId)
    .reduce((s, x) => s + (minor(x.amount_applied, r.currency) ?? 0n), 0n);
  return applied >= amount.value ? { targetId: id } : null;
}

/** The refund endpoints of one payment. */
export const refundsPath = (paymentId: string) => `/customerpayments/${encodeURIComponent(paymentId)}/refunds`;

/**
 * A refund's target id: its payment's id and its own, `<payment_id>:<payment_refund_id>`. Zoho
 * reads a refund only under its payment, so the id carries it, and a refund is found by its id
 * alone (reconciliation asks for refunds apart from payments). Refunds booked before this form
 * carry Zoho's `payment_refund_id` alone, and are found only beside their payment.
 */
export const refundTargetId = (paymentId: string, refundId: string) => `${paymentId}:${refundId}`;

/** The payment and the refund a refund's target id names; null for an id of another form. */
export function refundOf(targetId: string): { paymentId: string; refundId: string } | null {
  const m = /^(\d+):(\d+)$/.exec(targetId);
  return m ? { paymentId: m[1]!, refundId: m[2]! } : null;
}

/** Invoice and credit note statuses out of the books: voided, or (marked) a draft again. */
export const OUT_OF_BOOKS = new Set(['void', 'draft']);

/**
 * Documents by id, as Zoho holds them now, for write-back and reconciliation. Zoho's lists filter
 * by reference, customer, date, status and the like but by no id, so each document is one GET by
 * id, a few at once (the rate planner paces them): tried as an invoice, else a credit note, else a
 * customer payment. An invoice or credit note voided (or marked draft again) is `voided`; one
 * deleted answers 404 and is left out. A refund is read by the payment it refunds (Zoho reads a
 * refund only under its payment): its id names the payment (refundTargetId), which is read with its
 * refunds, two requests a payment, whatever else is asked. A refund id of the older form, Zoho's
 * refund id alone, is found only among the refunds of the payments of the same ids that have
 * refunded something (`amount_refunded`), listed once each when some id is still unread. With
 * `fees`, a payment's provider fee is its bank charges (null when it has none).
 */
export async function readDocuments(
  c: DocumentContext,
  ids: string[],
  options?: { fees?: boolean; concurrency?: number; kind?: TargetDocument['kind'] },
): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  const payments: ZohoObject[] = [];
  // Asked for a kind, only its endpoint is tried (Zoho's ids are unique, but each miss is a request);
  // a refund is found under its payment, never by its own id.
  const kinds = (['invoice', 'creditNote', 'payment'] as const).filter(
    (k) => options?.kind === undefined || options.kind === k,
  );
  const refundIds = options?.kind === undefined || options.kind === 'refund' ? ids.filter((id) => refundOf(id)) : [];
  const read = async (id: string) => {
    if (refundOf(id)) return;
    for (const kind of kinds) {
      const p = PATHS[kind];
      const e = await c.api.byId(`${p.path}/${encodeURIComponent(id)}`, p.one, c.signal);
      if (!e) continue;
      if (kind === 'payment') payments.push(e);
      out.set(id, { ...documentOf(kind, e, c.org.currency, options?.fees ?? false), targetId: id });
      return;
    }
  };
  // A few at once; after one fails no new one starts, and the first error is thrown.
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < ids.length && !failed)
      await read(ids[next++]!).catch((err: unknown) => {
        failed = true;
        throw err;
      });
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options?.concurrency ?? 1, ids.length)) }, worker));
  for (const [paymentId, wanted] of groupBy(refundIds, (id) => refundOf(id)!.paymentId)) {
    const pay = await c.api.byId(`/customerpayments/${encodeURIComponent(paymentId)}`, 'payment', c.signal);
    // A payment deleted in Zoho takes its refunds with it: they are left out.
    if (!pay) continue;
    for (const r of await listAll(c.api, refundsPath(paymentId), 'payment_refunds', {}, c.signal)) {
      const id = refundTargetId(paymentId, text(r.payment_refund_id));
      if (wanted.includes(id)) out.set(id, refundDocument(id, r, pay, c.org.currency));
    }
  }
  const unread = new Set(ids.filter((id) => !out.has(id) && !refundOf(id)));
  for (const pay of payments) {
    if (unread.size === 0) break;
    if ((minor(pay.amount_refunded, c.org.currency) ?? 0n) <= 0n) continue;
    const paymentId = text(pay.payment_id);
    const path = `/customerpayments/${encodeURIComponent(paymentId)}/refunds`;
    for (const r of await listAll(c.api, path, 'payment_refunds', {}, c.signal)) {
      const id = text(r.payment_refund_id);
      if (unread.delete(id)) out.set(id, refundDocument(id, r, pay, c.org.currency));
    }
  }
  return out;
}

/**
 * An invoice, credit note or customer payment as Zoho answers it (by id or in a list) as
 * reconciliation counts it: an invoice or credit note voided or a draft is `voided`; with `fees`, a
 * payment's provider fee is its bank charges.
 */
export function documentOf(kind: DocKind, e: ZohoObject, orgCurrency: string, fees = false): TargetDocument {
  const p = PATHS[kind];
  const currency = text(e.currency_code) || orgCurrency;
  return {
    targetId: text(e[p.id]),
    kind,
    number: text(e[p.number]) || text(e.reference_number),
    customerTargetId: text(e.customer_id),
    externalReference: text(e.reference_number),
    date: text(e.date),
    dueDate: text(e.due_date) || null,
    currency,
    gross: minor(kind === 'payment' ? e.amount : e.total, currency) ?? 0n,
    lines: Array.isArray(e.line_items) ? e.line_items.length : 0,
    ...(kind !== 'payment' && OUT_OF_BOOKS.has(text(e.status)) ? { voided: true } : {}),
    ...(kind === 'payment' && fees ? { fee: feeOf(e, currency) } : {}),
  };
}

/** A refund as reconciliation counts it: money paid back to the payment's customer, owed again. */
export function refundDocument(id: string, r: ZohoObject, pay: ZohoObject, orgCurrency: string): TargetDocument {
  const currency = text(r.currency_code) || text(pay.currency_code) || orgCurrency;
  return {
    targetId: id,
    kind: 'refund',
    number: text(r.reference_number) || id,
    customerTargetId: text(pay.customer_id),
    externalReference: text(r.reference_number),
    date: text(r.date),
    dueDate: null,
    currency,
    gross: minor(r.amount, currency) ?? 0n,
    lines: 0,
  };
}

function groupBy<T>(items: T[], key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of items) out.set(key(x), [...(out.get(key(x)) ?? []), x]);
  return out;
}
