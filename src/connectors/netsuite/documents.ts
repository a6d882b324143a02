import { formatAmount, minBig, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type {
  EarlyPayment,
  FoundDocument,
  ItemError,
  ItemResult,
  TargetAllocation,
  TargetCreditNote,
  TargetInvoice,
  TargetKind,
  TargetPayment,
} from '../../sync/target.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import { appliedEarly, invoiceMissing, nothingToApply, paymentGone } from '../../sync/remote/early.ts';
import { failed, ok } from '../../sync/target.ts';
import {
  type NetSuiteApi,
  type NsAnswer,
  type NsObject,
  type NsRefusal,
  EXTERNAL_ID,
  describe,
  eid,
  externalIdProblem,
  refId,
  rows,
  text,
} from './api.ts';
import { type BookedFee, type GlAccount, bookFee, readChart } from './fees.ts';
import { amount, itemLines, minor, ref } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Invoices, credit memos and customer payments in NetSuite, one record a request. Our reference
 * is each record's external id, and a document is found again with GET /{type}/eid:{reference}.
 * Where another customer's document of the type holds the reference, the external id is the
 * reference and the customer (`ownOf`), so that neither touches the other's. A new document under
 * a free reference is created (POST, the external id in the body), so that NetSuite itself refuses
 * it when another customer's took the reference since it was read; one that exists, or under the
 * customer's own external id, is upserted (PUT /{type}/eid:…), which a resend after a lost answer
 * only updates (`writeOwn`). Credit memos and payments are set against invoices through their
 * `apply` sublist. Refusals are item failures carrying NetSuite's error code and detail; an
 * unknown outcome is the RemoteClient's retryable ConnectorError, thrown for the engine to look the
 * call's documents up.
 */

export interface DocumentContext {
  api: NetSuiteApi;
  currency: string;
  taxRates: Record<string, string> | undefined;
  defaultItemId: string | undefined;
  itemType: string;
  /** Where payments go: Undeposited Funds, or this bank account. */
  bankAccountId: string | undefined;
  /** The account refunds are paid from (accounts.bank); NetSuite's default when absent. */
  refundAccountId: string | undefined;
  /** Payment providers' fees: the expense account (accounts.fees) and, while payments go to Undeposited Funds, the bank (accounts.feesBank). */
  feesAccountId?: string | undefined;
  feesBankAccountId?: string | undefined;
  /** The subsidiary of the fees' journal entries (OneWorld accounts). */
  subsidiaryId?: string | undefined;
  /** Requests the account allows at once (the planner holds every call to them as well). */
  concurrency: number;
  signal?: AbortSignal | undefined;
}

/** The record type of each kind of document. */
export const RECORD_OF = {
  invoice: 'invoice',
  creditNote: 'creditMemo',
  payment: 'customerPayment',
  refund: 'customerRefund',
} as const;

const refused = (what: string, reference: string, a: NsRefusal): ItemError => ({
  code: 'TARGET_REFUSED',
  message: `${SYSTEM} refused ${what} ${reference} (${describe(a)})`,
  retryable: false,
});

const currencyMismatch = (what: string, currency: string, c: DocumentContext): ItemError => ({
  code: 'CURRENCY_MISMATCH',
  message: `${what} is in ${currency}; this target books in ${c.currency} only (target.currency)`,
  retryable: false,
  field: 'currency',
});

/** The customer a transaction belongs to: `entity` on invoices and credit memos, `customer` on payments. */
const customerOf = (r: NsObject): string => refId(r.entity) || refId(r.customer);

/** Reads back a record just upserted: its internal id and its number. */
export async function written(c: DocumentContext, type: string, reference: string): Promise<NsObject> {
  const r = await c.api.get(`/${type}/${eid(reference)}`, c.signal);
  if (!r)
    throw new ConnectorError(SYSTEM, `${type} ${reference} was accepted but cannot be read back by its external id`, {
      retryable: true,
    });
  return r;
}

/**
 * The external id of a customer's document: its reference, unless another customer's document of
 * the same record type holds that already (references are unique per customer, external ids per
 * record type); then the reference and `__c{customer internal id}`, so that neither overwrites the
 * other.
 */
const qualified = (reference: string, customerTargetId: string) => `${reference}__c${customerTargetId}`;

/**
 * The customer's document of a record type under a reference (null when none), and the external id
 * it has or gets: the reference when that is free or the customer's own, else the customer's
 * qualified one. Without a customer, whatever the reference holds.
 */
export async function ownOf(
  c: DocumentContext,
  type: string,
  reference: string,
  customerTargetId: string | null | undefined,
): Promise<{ externalId: string; held: NsObject | null }> {
  const plain = await c.api.get(`/${type}/${eid(reference)}`, c.signal);
  if (!plain || !customerTargetId || customerOf(plain) === customerTargetId)
    return { externalId: reference, held: plain };
  const externalId = qualified(reference, customerTargetId);
  return { externalId, held: await c.api.get(`/${type}/${eid(externalId)}`, c.signal) };
}

/**
 * Writes a customer's document of a record type under its reference, never over another
 * customer's. Its own (under the reference or its qualified external id) is upserted: only this
 * customer's document can hold that external id. A free reference is read just before, and another
 * worker or pipeline may book another customer's document under it in between; so it is created,
 * not upserted, and NetSuite refuses a second record of the type with the external id. Refused,
 * the reference is read again: when another customer's holds it now, this one is upserted under
 * the customer's qualified external id; when it is still free, the refusal was of the document
 * itself and is answered (whatever words NetSuite used for it).
 */
export async function writeOwn(
  c: DocumentContext,
  type: string,
  reference: string,
  customerTargetId: string | null | undefined,
  json: NsObject,
  replace?: string,
): Promise<{ externalId: string; answer: NsAnswer }> {
  const own = await ownOf(c, type, reference, customerTargetId);
  const upsert = async (externalId: string) => ({
    externalId,
    answer: await c.api.upsert(type, externalId, json, c.signal, replace),
  });
  if (own.held || own.externalId !== reference || !customerTargetId) return upsert(own.externalId);
  const created = await c.api.create(type, reference, json, c.signal);
  if (created.ok) return { externalId: reference, answer: created };
  const again = await ownOf(c, type, reference, customerTargetId);
  if (!again.held && again.externalId === reference) return { externalId: reference, answer: created };
  return upsert(again.externalId);
}

/** The reference in a customer's document's external id (without the customer a shared reference took). */
export const referenceIn = (externalId: string, customer: string): string => {
  const suffix = `__c${customer}`;
  return externalId.endsWith(suffix) && externalId.length > suffix.length
    ? externalId.slice(0, -suffix.length)
    : externalId;
};

/** A document's reference from its external id (without the customer a shared reference took). */
export const referenceOf = (r: NsObject): string => referenceIn(text(r.externalId), customerOf(r));

/**
 * `fn` once every call before it under the same key has ended: two customers' documents under one
 * reference in a batch go one after the other, so that the second reads what the first wrote.
 */
function inTurn<T>(turns: Map<string, Promise<unknown>>, key: string, fn: () => Promise<T>): Promise<T> {
  const mine = (turns.get(key) ?? Promise.resolve()).catch(() => undefined).then(fn);
  turns.set(key, mine);
  return mine;
}

/** The lookup of the engine: the record under our reference (its external id). */
export async function lookUp(
  c: DocumentContext,
  kind: TargetKind,
  reference: string,
  customerTargetId?: string | null,
): Promise<FoundDocument | null> {
  const type =
    kind === 'customer'
      ? 'customer'
      : kind === 'product'
        ? c.itemType
        : kind === 'invoice' || kind === 'creditNote' || kind === 'payment' || kind === 'refund'
          ? RECORD_OF[kind]
          : null;
  // A reference NetSuite cannot hold as an external id was never written.
  if (!type || !EXTERNAL_ID.test(reference)) return null;
  // Documents are the customer's own under the reference; customers and items are unique by code.
  const r =
    kind === 'customer' || kind === 'product'
      ? await c.api.get(`/${type}/${eid(reference)}`, c.signal)
      : (await ownOf(c, type, reference, customerTargetId)).held;
  if (!r) return null;
  const number = text(r.tranId) || text(r.entityId) || text(r.itemId);
  return { targetId: text(r.id), number: number || null, customerTargetId: customerOf(r) || null };
}

/** The refusal of a document whose reference cannot be an external id, before anything is sent. */
export function badReference(reference: string): ItemError | null {
  const problem = externalIdProblem('reference', reference);
  return problem ? { code: 'TARGET_REFUSED', message: problem, retryable: false, field: 'externalReference' } : null;
}

/** Invoices and credit memos: the document upserted with its item lines, then read back for its number. */
async function upsertSales(
  c: DocumentContext,
  kind: 'invoice' | 'creditNote',
  d: TargetInvoice | TargetCreditNote,
  fields: NsObject,
): Promise<ItemResult> {
  const r = d.record;
  const what = kind === 'invoice' ? 'Invoice' : 'Credit note';
  if (r.currency !== c.currency) return failed(currencyMismatch(`${what} ${r.externalReference}`, r.currency, c));
  const bad = badReference(r.externalReference);
  if (bad) return failed(bad);
  const lines = itemLines(r.lines, d.productTargetIds, c.defaultItemId, c.taxRates);
  if (!Array.isArray(lines)) return failed(lines);
  const type = RECORD_OF[kind];
  const { externalId, answer: a } = await writeOwn(
    c,
    type,
    r.externalReference,
    d.customerTargetId,
    {
      entity: ref(d.customerTargetId),
      otherRefNum: r.externalReference.slice(0, 45),
      ...(r.description ? { memo: r.description.slice(0, 999) } : {}),
      ...fields,
      item: { items: lines },
    },
    'item',
  );
  if (!a.ok) return failed(refused(kind === 'invoice' ? 'invoice' : 'credit memo', r.externalReference, a));
  const rec = await written(c, type, externalId);
  return ok(text(rec.id), { number: text(rec.tranId) || r.externalReference, outcome: 'created' });
}

/** Books invoices one by one. */
export function createInvoices(c: DocumentContext, items: TargetInvoice[]): Promise<ItemResult[]> {
  // Up to the account's requests at once, its only limit: one at a time would leave the others idle.
  const turns = new Map<string, Promise<unknown>>();
  return mapAtMost(items, c.concurrency, (d) =>
    inTurn(turns, d.record.externalReference, () =>
      upsertSales(c, 'invoice', d, {
        tranDate: d.record.invoiceDate,
        ...(d.record.dueDate ? { dueDate: d.record.dueDate } : {}),
      }),
    ),
  );
}

/** Books credit memos one by one, open on the customer: what they settle is an allocation. */
export async function createCreditNotes(c: DocumentContext, items: TargetCreditNote[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  for (const d of items) out.push(await upsertSales(c, 'creditNote', d, { tranDate: d.record.date }));
  return out;
}

/**
 * Books customer payments one by one, applied to the invoice they name up to what it still owes
 * (NetSuite refuses more than its amount remaining); the rest stays unapplied on the payment. A
 * payment with a provider's fee has its fee booked first (fees.ts), and is not sent without it.
 */
export async function createPayments(c: DocumentContext, items: TargetPayment[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  let chart: Promise<GlAccount[]> | null = null;
  const chartOnce = () => (chart ??= readChart(c));
  for (const d of items) {
    const r = d.record;
    if (r.currency !== c.currency) {
      out.push(failed(currencyMismatch(`Payment ${r.externalReference}`, r.currency, c)));
      continue;
    }
    const bad = badReference(r.externalReference);
    if (bad) {
      out.push(failed(bad));
      continue;
    }
    const paid = parseAmount(r.amount, r.currency);
    if (!paid.ok || paid.value <= 0n) {
      out.push(
        failed({
          code: 'AMOUNT_INVALID',
          message: `Payment ${r.externalReference}: ${r.amount} is not an amount ${SYSTEM} takes (more than zero)`,
          retryable: false,
          field: 'amount',
        }),
      );
      continue;
    }
    const fee = await bookFee(c, d, chartOnce);
    if (fee && 'code' in fee) {
      out.push(failed(fee));
      continue;
    }
    const apply: NsObject[] = [];
    if (d.invoiceTargetId) {
      const inv = await c.api.get(`/invoice/${encodeURIComponent(d.invoiceTargetId)}`, c.signal);
      const due = inv ? (minor(inv.amountRemaining, r.currency) ?? 0n) : 0n;
      const applied = minBig(paid.value, due);
      if (applied > 0n) apply.push({ doc: ref(d.invoiceTargetId), apply: true, amount: amount(applied, r.currency) });
    }
    const { externalId, answer: a } = await writeOwn(c, RECORD_OF.payment, r.externalReference, d.customerTargetId, {
      customer: ref(d.customerTargetId),
      payment: amount(paid.value, r.currency),
      tranDate: r.date,
      ...(r.description ? { memo: r.description.slice(0, 999) } : {}),
      ...(c.bankAccountId ? { undepFunds: false, account: ref(c.bankAccountId) } : { undepFunds: true }),
      ...(apply.length > 0 ? { apply: { items: apply } } : {}),
    });
    if (!a.ok) {
      const refusal = refused('payment', r.externalReference, a);
      // Said, so that nobody books the fee again by hand: it is found, not booked again, when the payment is sent again.
      if (fee) refusal.message += ` (its fee ${fee.label} is booked as journal entry ${fee.number || fee.id})`;
      out.push(failed(refusal));
      continue;
    }
    const rec = await written(c, RECORD_OF.payment, externalId);
    out.push(
      ok(text(rec.id), {
        number: text(rec.tranId) || r.externalReference,
        outcome: 'created',
        message: fee ? feeNote(fee) : null,
      }),
    );
  }
  return out;
}

const feeNote = (fee: BookedFee) =>
  `fee ${fee.label} ${fee.found ? 'already booked' : 'booked'} as journal entry ${fee.number || fee.id}`;

/**
 * Payments booked before the invoice they name (the engine's note, src/sync/engine/early-payments.ts),
 * applied to it now that it is booked: as much as the payment holds unapplied and the invoice
 * still owes (`amountRemaining`), both read just before, so that running it again after a lost
 * answer applies nothing twice. The invoice handed over must be the customer's under the named
 * reference (its external id), else that invoice is read by external id.
 */
export async function applyEarlyPayments(c: DocumentContext, items: EarlyPayment[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  for (const e of items) {
    const pay = await c.api.get(`/customerPayment/${encodeURIComponent(e.paymentTargetId)}`, c.signal, true);
    if (!pay) {
      out.push(paymentGone(e, SYSTEM));
      continue;
    }
    const customer = customerOf(pay);
    const named = (inv: NsObject | null) =>
      inv && referenceOf(inv) === e.invoiceReference && customerOf(inv) === customer ? inv : null;
    const inv =
      named(await c.api.get(`/invoice/${encodeURIComponent(e.invoiceTargetId)}`, c.signal)) ??
      named((await ownOf(c, RECORD_OF.invoice, e.invoiceReference, customer)).held);
    if (!inv) {
      out.push(invoiceMissing(e, SYSTEM, customer));
      continue;
    }
    const invoiceId = text(inv.id);
    const left = minor(pay.unapplied, c.currency) ?? 0n;
    const owed = minor(inv.amountRemaining, c.currency) ?? 0n;
    const take = minBig(left, owed);
    const where = `${SYSTEM} ${text(inv.tranId) || e.invoiceReference}`;
    if (take <= 0n) {
      out.push(nothingToApply(e, where, left <= 0n));
      continue;
    }
    const before = rows(pay.apply)
      .filter((x) => refId(x.doc) === invoiceId && x.apply === true)
      .reduce((sum, x) => sum + (minor(x.amount, c.currency) ?? 0n), 0n);
    const a = await c.api.patch(
      RECORD_OF.payment,
      e.paymentTargetId,
      { apply: { items: [{ doc: ref(invoiceId), apply: true, amount: amount(before + take, c.currency) }] } },
      c.signal,
    );
    if (!a.ok) {
      out.push(failed(refused(`the application of payment`, e.paymentReference, a)));
      continue;
    }
    out.push(
      appliedEarly(
        e,
        where,
        formatAmount(take, c.currency),
        left > take ? 'the rest stays unapplied on the payment' : null,
      ),
    );
  }
  return out;
}

/** The target id of an application (NetSuite gives an apply line no id of its own). */
const applicationId = (fromId: string, invoiceId: string, amt: string, date: string) =>
  `${fromId}>${invoiceId}:${amt}@${date}`;

/** What a payment or credit memo has applied to an invoice now, in minor units; null when the record is gone. */
async function appliedTo(
  c: DocumentContext,
  type: string,
  fromId: string,
  invoiceId: string,
  currency: string,
): Promise<bigint | null> {
  const rec = await c.api.get(`/${type}/${encodeURIComponent(fromId)}`, c.signal, true);
  if (!rec) return null;
  return rows(rec.apply)
    .filter((x) => refId(x.doc) === invoiceId && x.apply === true)
    .reduce((s, x) => s + (minor(x.amount, currency) ?? 0n), 0n);
}

/**
 * Sets unapplied payments and open credit memos against invoices: the record's `apply` line for
 * the invoice is set to what it applied before plus this allocation (PATCH, not sent again by the
 * client; after an unknown outcome the engine asks findAllocation first).
 */
export async function createAllocations(c: DocumentContext, items: TargetAllocation[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  for (const d of items) {
    const r = d.record;
    const wanted = parseAmount(r.amount, r.currency);
    if (!wanted.ok || wanted.value <= 0n) {
      out.push(
        failed({
          code: 'AMOUNT_INVALID',
          message: `Allocation ${r.sourceId}: ${r.amount}`,
          retryable: false,
          field: 'amount',
        }),
      );
      continue;
    }
    const type = r.from === 'creditNote' ? RECORD_OF.creditNote : RECORD_OF.payment;
    const before = await appliedTo(c, type, d.fromTargetId, d.invoiceTargetId, r.currency);
    if (before === null) {
      out.push(
        failed({
          code: 'TARGET_REFUSED',
          message: `${r.from === 'creditNote' ? 'credit memo' : 'payment'} ${r.fromExternalReference} is no longer in ${SYSTEM}`,
          retryable: false,
        }),
      );
      continue;
    }
    const a = await c.api.patch(
      type,
      d.fromTargetId,
      {
        apply: {
          items: [{ doc: ref(d.invoiceTargetId), apply: true, amount: amount(before + wanted.value, r.currency) }],
        },
      },
      c.signal,
    );
    if (!a.ok) {
      out.push(failed(refused(`the application of ${type}`, r.fromExternalReference, a)));
      continue;
    }
    out.push(ok(applicationId(d.fromTargetId, d.invoiceTargetId, r.amount, r.date), { outcome: 'created' }));
  }
  return out;
}

/** An application NetSuite already holds between the same documents, at least this amount, not one of `taken`. */
export async function findAllocation(
  c: DocumentContext,
  d: TargetAllocation,
  taken: ReadonlySet<string>,
): Promise<FoundDocument | null> {
  const r = d.record;
  const wanted = parseAmount(r.amount, r.currency);
  if (!wanted.ok) return null;
  const id = applicationId(d.fromTargetId, d.invoiceTargetId, r.amount, r.date);
  if (taken.has(id)) return null;
  const type = r.from === 'creditNote' ? RECORD_OF.creditNote : RECORD_OF.payment;
  const applied = await appliedTo(c, type, d.fromTargetId, d.invoiceTargetId, r.currency);
  return applied !== null && applied >= wanted.value ? { targetId: id } : null;
}
