import { parseAmount } from '../../domain/money.ts';
import type { WaitsFor } from '../exceptions.ts';
import type { CanonicalPayment, CanonicalRefund } from '../canonical.ts';
import { idempotencyKey } from '../outbound.ts';
import type { TargetPayment, TargetRefund } from '../target.ts';
import { paymentFee } from '../fee-match.ts';
import {
  type Booked,
  type Change,
  type Resent,
  changedFrom,
  changesSinceBooked,
  keepBooked,
  keepChanged,
  keepChangedFigures,
  parkChanged,
  paymentFeeAsBooked,
  refundAsBooked,
} from './changed.ts';
import { type PageOutcome, type SourceDocumentRow, type SyncContext, mappedIds } from './context.ts';
import { type Delivery, type Outgoing, deliver, saveDelivered } from './deliver.ts';
import { notePaymentsBeforeInvoice } from './early-payments.ts';
import { type DocumentKey, type Unavailable, documentKey, lacking, onTheirWay, parkedHere } from './waiting.ts';

type Input<T> = { record: T; raw: unknown };

/** The target ids and currencies of documents this pipeline booked, by their external reference and customer. */
export async function bookedByReference(
  ctx: SyncContext,
  kind: 'invoice' | 'creditNote' | 'payment',
  keys: { customerTargetId: string; reference: string }[],
): Promise<Map<string, { targetId: string; currency: string }>> {
  if (keys.length === 0) return new Map();
  const { rows } = await ctx.db.query<{
    customer_code: string;
    external_reference: string;
    target_id: string;
    currency: string;
  }>(
    `SELECT DISTINCT ON (sd.customer_code, sd.external_reference) sd.customer_code, sd.external_reference, m.target_id,
            trim(sd.currency) AS currency
       FROM source_documents sd JOIN sync_map m ON m.pipeline_id = sd.pipeline_id AND m.kind = sd.kind AND m.source_id = sd.source_id
      WHERE sd.pipeline_id = $1 AND sd.kind = $2
        AND (sd.customer_code, sd.external_reference) IN (SELECT * FROM unnest($3::text[], $4::text[]))
      ORDER BY sd.customer_code, sd.external_reference, m.created_at`,
    [ctx.pipeline.id, kind, keys.map((k) => k.customerTargetId), keys.map((k) => k.reference)],
  );
  return new Map(
    rows.map((r) => [
      `${r.customer_code}\u0000${r.external_reference}`,
      { targetId: r.target_id, currency: r.currency },
    ]),
  );
}

/**
 * The documents of a kind that dependants name (by `documentKey`): the target ids of those booked
 * (and the currency each was booked in), and what to wait for of those on their way to the target
 * (src/sync/engine/waiting.ts).
 */
export async function namedDocuments(
  ctx: SyncContext,
  out: PageOutcome,
  kind: 'invoice' | 'creditNote' | 'payment',
  keys: DocumentKey[],
): Promise<{ booked: Map<string, string>; currencies: Map<string, string>; coming: Map<string, WaitsFor> }> {
  const found = await bookedByReference(ctx, kind, keys);
  const booked = new Map([...found].map(([key, f]) => [key, f.targetId]));
  const currencies = new Map([...found].map(([key, f]) => [key, f.currency]));
  const coming = await onTheirWay(
    ctx,
    out,
    kind,
    keys.filter((k) => !booked.has(documentKey(k.customerTargetId, k.reference))),
  );
  return { booked, currencies, coming };
}

/**
 * Parks a payment, refund or allocation in another currency than a booked document it settles:
 * no target books one against the other (most send the amount alone, which the platform takes in
 * the document's currency, so 50 USD paid on a EUR invoice became 50 EUR). True when parked.
 */
export function parkedForCurrency(
  out: PageOutcome,
  kind: 'payment' | 'refund' | 'allocation',
  input: { record: { sourceId: string; currency: string }; raw: unknown },
  named: { what: string; reference: string; currency: string | undefined },
): boolean {
  if (named.currency === undefined || named.currency === input.record.currency) return false;
  out.park({
    kind,
    sourceId: input.record.sourceId,
    reasonCode: 'CURRENCY_MISMATCH',
    message: `The ${kind} is in ${input.record.currency}; the ${named.what} ${named.reference} it settles is in ${named.currency}`,
    field: 'currency',
    payload: { record: input.record, raw: input.raw },
  });
  return true;
}

/**
 * An amount of the record that does not parse for its currency, or a fee below zero: parked, never
 * skipped. A fee is what the payment provider kept, so it is never negative; one sent negative
 * (a sign convention of the sender's) was dropped by every target before, without a word.
 */
function badAmount(
  record: { currency: string } & Record<string, unknown>,
  fields: string[],
): { field: string; outOfRange: boolean; negative: boolean } | null {
  for (const field of fields) {
    const v = record[field];
    if (v === null || v === undefined) continue;
    if (typeof v !== 'string') return { field, outOfRange: false, negative: false };
    const parsed = parseAmount(v, record.currency);
    if (!parsed.ok) return { field, outOfRange: parsed.error.code === 'OUT_OF_RANGE', negative: false };
    if (field === 'fee' && parsed.value < 0n) return { field, outOfRange: false, negative: true };
  }
  return null;
}

const paymentDelivery: Delivery<TargetPayment> = {
  kind: 'payment',
  targetKind: 'payment',
  send: (target, ctx, batch) => target.createPayments!(ctx, batch),
  reference: (doc) => doc.record.externalReference,
  customerTargetId: (doc) => doc.customerTargetId,
  async commit(ctx, tx, done, out) {
    await saveDelivered(ctx, tx, 'payment', done, out, {
      // A payment the target had already and added to (the embedded ledger: the fee its receipt
      // lacked) is `updated`: something was written, so the run does not say skipped. Other kinds
      // keep the plain mapping (a QuickBooks allocation's `updated` means something else).
      record: ({ result }) => ({
        outcome: result.outcome === 'linked' ? 'skipped' : result.outcome === 'updated' ? 'updated' : 'created',
        targetId: result.targetId,
        message: result.message ?? null,
      }),
      // Its fee as booked, to tell a changed fee sent later (changed.ts).
      map: ({ item, result }) => ({
        number: result.number ?? null,
        fingerprint: keepBooked(paymentFeeAsBooked(item.doc.record)),
      }),
      sourceDocument: ({ item }) => {
        const pay = item.doc.record;
        return {
          kind: 'payment',
          sourceId: pay.sourceId,
          externalReference: pay.externalReference,
          customerSourceId: pay.customerSourceId,
          customerCode: item.doc.customerTargetId,
          date: pay.date,
          currency: pay.currency,
          gross: screenedAmount(`payment ${pay.sourceId}`, pay.amount, pay.currency),
          location: pay.location,
          payload: {},
        };
      },
    });
    await notePaymentsBeforeInvoice(ctx, tx, done);
  },
};

const refundDelivery: Delivery<TargetRefund> = {
  kind: 'refund',
  targetKind: 'refund',
  send: (target, ctx, batch) => target.createRefunds!(ctx, batch),
  reference: (doc) => doc.record.externalReference,
  customerTargetId: (doc) => doc.customerTargetId,
  async commit(ctx, tx, done, out) {
    await saveDelivered(ctx, tx, 'refund', done, out, {
      // What it was booked as, to tell a changed copy sent later (changed.ts).
      map: ({ item }) => ({ fingerprint: keepBooked(refundAsBooked(item.doc.record)) }),
      // The source side of reconciliation, to compare each booked refund with the target's (docs/reconciliation.md).
      sourceDocument: ({ item }) => refundRow(item.doc.record, item.doc.customerTargetId),
    });
  },
};

/** Both changes of a document in one ("date … → …, fee … → …"), the field at fault the first's. */
function joinChanges(a: Change | null | undefined, b: Change | null | undefined): Change | null {
  if (!a || !b) return a ?? b ?? null;
  return { said: `${a.said}, ${b.said}`, field: a.field };
}

/**
 * An amount screened before delivery (`badAmount` parks one that does not parse), in minor units:
 * one that does not parse here is a bug, never recorded as a stand-in figure.
 */
function screenedAmount(what: string, amount: string, currency: string): bigint {
  const parsed = parseAmount(amount, currency);
  if (!parsed.ok) throw new Error(`${what}: amount ${amount} was delivered without parsing`);
  return parsed.value;
}

/** A refund as `source_documents` holds it. */
function refundRow(r: CanonicalRefund, customerCode: string): SourceDocumentRow {
  return {
    kind: 'refund',
    sourceId: r.sourceId,
    externalReference: r.externalReference,
    customerSourceId: r.customerSourceId,
    customerCode,
    date: r.date,
    currency: r.currency,
    gross: screenedAmount(`refund ${r.sourceId}`, r.amount, r.currency),
    payload: {},
  };
}

/** Which of these payments another pipeline of the entity has booked into the same kind of target. */
async function paymentsBookedElsewhere(ctx: SyncContext, keys: DocumentKey[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const { rows } = await ctx.db.query<{ customer_code: string; external_reference: string }>(
    `SELECT DISTINCT sd.customer_code, sd.external_reference
       FROM pipelines p
       JOIN source_documents sd ON sd.pipeline_id = p.id AND sd.kind = 'payment'
       JOIN sync_map m ON m.pipeline_id = sd.pipeline_id AND m.kind = 'payment' AND m.source_id = sd.source_id
      WHERE p.entity_id = $1 AND p.target_type = $2 AND p.id <> $3
        AND (sd.customer_code, sd.external_reference) IN (SELECT * FROM unnest($4::text[], $5::text[]))`,
    [
      ctx.entity.id,
      ctx.pipeline.targetType,
      ctx.pipeline.id,
      keys.map((k) => k.customerTargetId),
      keys.map((k) => k.reference),
    ],
  );
  return new Set(rows.map((r) => documentKey(r.customer_code, r.external_reference)));
}

/** The payments of these target ids booked before the invoice they name and not applied to it yet (migration 0106): that invoice's reference. */
async function awaitingInvoice(ctx: SyncContext, paymentTargetIds: string[]): Promise<Map<string, string>> {
  if (paymentTargetIds.length === 0 || !ctx.target.applyEarlyPayments) return new Map();
  const { rows } = await ctx.db.query<{ payment_target_id: string; invoice_reference: string }>(
    `SELECT payment_target_id, invoice_reference FROM payments_before_invoice
      WHERE pipeline_id = $1 AND payment_target_id = ANY($2::text[])`,
    [ctx.pipeline.id, paymentTargetIds],
  );
  return new Map(rows.map((r) => [r.payment_target_id, r.invoice_reference]));
}

/**
 * The money documents of a page that can go to the target: not booked before (skipped, "already
 * posted"), with their customer in the target, and amounts that parse for their currency (else
 * parked with the reason, never skipped). Each with its customer's target id and the target id of
 * the document it settles (the invoice a payment pays, the payment a refund returns), when this
 * pipeline booked it.
 */
async function screen<R extends CanonicalPayment | CanonicalRefund>(
  ctx: SyncContext,
  kind: 'payment' | 'refund',
  inputs: Input<R>[],
  customers: Map<string, string>,
  unavailable: Unavailable,
  out: PageOutcome,
  settles: {
    kind: 'invoice' | 'payment';
    reference: (r: R) => string | null | undefined;
    amounts: (keyof R & string)[];
    /** What it says now, for those `source_documents` holds as booked (payments: changed.ts). */
    resent?: (r: R) => Resent;
    /** What it is booked as, for those whose map entry keeps it (refunds: changed.ts). */
    asBooked?: (r: R) => Booked;
  },
): Promise<{ input: Input<R>; customerTargetId: string; settlesTargetId: string | null }[]> {
  const mapped = await mappedIds(
    ctx.db,
    ctx.pipeline.id,
    kind,
    inputs.map((x) => x.record.sourceId),
  );
  const resent = settles.resent;
  const changes = resent
    ? await changesSinceBooked(
        ctx.db,
        ctx.pipeline.id,
        inputs.filter((x) => mapped.has(x.record.sourceId)).map((x) => resent(x.record)),
        out,
      )
    : new Map<string, Change>();
  const ready: { input: Input<R>; customerTargetId: string }[] = [];
  const changedNow: { sourceId: string; booked: Booked; record: R }[] = [];
  for (const input of inputs) {
    const r = input.record;
    const park = out.parker(kind, input);
    const already = mapped.get(r.sourceId);
    if (already) {
      const asBooked = settles.asBooked?.(r);
      // A payment's date, currency and amount are told by source_documents, its fee by the map entry.
      const change = joinChanges(changes.get(r.sourceId), asBooked && changedFrom(already.fingerprint, asBooked));
      if (change) {
        parkChanged(out, kind, input, already.targetId, change);
        if (asBooked) changedNow.push({ sourceId: r.sourceId, booked: asBooked, record: r });
      } else
        out.record({
          kind,
          sourceId: r.sourceId,
          outcome: 'skipped',
          targetId: already.targetId,
          message: 'already posted',
        });
      continue;
    }
    const customerTargetId = customers.get(r.customerSourceId);
    if (!customerTargetId) {
      const why = lacking(ctx, unavailable, 'customer', r.customerSourceId);
      park(why.reasonCode, why.message, 'customerSourceId', why);
      continue;
    }
    const bad = badAmount(r, settles.amounts);
    if (bad) {
      const text = String(r[bad.field as keyof R]);
      if (bad.outOfRange)
        park(
          'AMOUNT_OUT_OF_RANGE',
          `${bad.field} "${text}" is beyond the largest amount the ledger can store`,
          bad.field,
        );
      else if (bad.negative)
        park(
          'AMOUNT_INVALID',
          `${bad.field} "${text}" is below zero: a fee is what the payment provider kept, sent as a positive amount (or left out)`,
          bad.field,
        );
      else
        park(
          'AMOUNT_INVALID',
          `${bad.field} "${text}" is not an amount in ${r.currency} (at most the currency's decimals)`,
          bad.field,
        );
      continue;
    }
    ready.push({ input, customerTargetId });
  }
  if (kind === 'payment') keepChanged(out, ctx.pipeline.id, kind, changedNow);
  if (kind === 'refund') {
    keepChanged(out, ctx.pipeline.id, kind, changedNow);
    keepChangedFigures(
      out,
      ctx.pipeline.id,
      changedNow.map((c) => {
        const gross = parseAmount(c.record.amount, c.record.currency);
        return {
          kind,
          sourceId: c.sourceId,
          date: c.record.date,
          currency: c.record.currency,
          gross: gross.ok ? gross.value : null,
        };
      }),
    );
  }
  const named = ready.flatMap((x) => {
    const reference = settles.reference(x.input.record);
    return reference
      ? [{ customerTargetId: x.customerTargetId, customerSourceId: x.input.record.customerSourceId, reference }]
      : [];
  });
  // What it settles may still be on its way to the target: it waits for it. Parked here, it is
  // parked too and runs again by itself once that is booked: booked without it, it would stay so.
  const { booked, currencies, coming } = await namedDocuments(ctx, out, settles.kind, named);
  const parked = await parkedHere(
    ctx,
    out,
    settles.kind,
    named.filter((k) => {
      const key = documentKey(k.customerTargetId, k.reference);
      return !booked.has(key) && !coming.has(key);
    }),
  );
  const what = settles.kind === 'invoice' ? 'invoice' : 'payment';
  // A target that refunds only a payment it holds: a refund whose payment is not booked waits for it.
  const needsPayment = settles.kind === 'payment' && ctx.target.capabilities.refundsNeedPayment === true;
  const elsewhere = needsPayment
    ? await paymentsBookedElsewhere(
        ctx,
        named.filter((k) => {
          const key = documentKey(k.customerTargetId, k.reference);
          return !booked.has(key) && !coming.has(key) && !parked.has(key);
        }),
      )
    : new Set<string>();
  const beforeInvoice =
    needsPayment && ctx.target.capabilities.refundsNeedAppliedPayment === true
      ? await awaitingInvoice(ctx, [...booked.values()])
      : new Map<string, string>();
  return ready.flatMap((x) => {
    const reference = settles.reference(x.input.record);
    const key = documentKey(x.customerTargetId, reference ?? '');
    const waitsFor = reference ? coming.get(key) : undefined;
    if (reference && (waitsFor || parked.has(key))) {
      out.park({
        kind,
        sourceId: x.input.record.sourceId,
        reasonCode: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
        message: waitsFor
          ? `The ${what} ${reference} it settles is on its way to the ${ctx.target.type} target; this is sent once it is booked`
          : `The ${what} ${reference} it settles is parked by this pipeline, not booked in the ${ctx.target.type} target`,
        field: settles.kind === 'invoice' ? 'invoiceExternalReference' : 'paymentExternalReference',
        payload: { record: x.input.record, raw: x.input.raw },
        waitsFor,
        needs: waitsFor ? undefined : { kind: settles.kind, customerTargetId: x.customerTargetId, reference },
      });
      return [];
    }
    const bookedId = booked.get(key);
    if (reference && parkedForCurrency(out, kind, x.input, { what, reference, currency: currencies.get(key) }))
      return [];
    const invoice = bookedId !== undefined ? beforeInvoice.get(bookedId) : undefined;
    if (reference && needsPayment && ((bookedId === undefined && !elsewhere.has(key)) || invoice !== undefined)) {
      const target = ctx.target.type;
      out.park({
        kind,
        sourceId: x.input.record.sourceId,
        reasonCode: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
        message:
          invoice === undefined
            ? `The payment ${reference} it refunds is not booked by this pipeline, and the ${target} target refunds only a payment it holds`
            : `The payment ${reference} it refunds was booked in the ${target} target before invoice ${invoice} and is not applied to it yet, and the ${target} target refunds only a payment applied to its invoice`,
        field: 'paymentExternalReference',
        payload: { record: x.input.record, raw: x.input.raw },
        needs: { kind: 'payment', customerTargetId: x.customerTargetId, reference },
        until: invoice === undefined ? undefined : `payment ${reference} is applied to invoice ${invoice}`,
      });
      return [];
    }
    return [{ ...x, settlesTargetId: bookedId ?? null }];
  });
}

/**
 * Payments go to the target with the invoice they pay, when the source names one (by its
 * external reference); while that invoice is on its way to a remote target, they wait for it
 * (src/sync/engine/waiting.ts); otherwise unallocated, and said so in the run's record. A fee goes
 * with them. An amount or fee that does not parse for the payment's currency is parked, never skipped.
 *
 * A fee goes only to a target that books it (`capabilities.fees`): to one that books none, a
 * payment with a fee is parked (PAYMENT_FEE_NOT_SUPPORTED) rather than booked gross, leaving the
 * platform's bank off by the fee without a word. A pipeline whose `options.fees` is "leave" books
 * payments gross and leaves fees to the books: it sends no fee, to any target, and keeps none as
 * booked (a fee the source changes later is not a change of what was booked).
 */
export async function syncPayments(
  ctx: SyncContext,
  payments: Input<CanonicalPayment>[],
  customers: Map<string, string>,
  unavailable: Unavailable,
  out: PageOutcome,
): Promise<void> {
  if (payments.length === 0) return;
  const p = ctx.pipeline;
  const leave = p.options.fees === 'leave';
  const sent = (r: CanonicalPayment): CanonicalPayment => (leave && r.fee != null ? { ...r, fee: null } : r);
  const screened = await screen(ctx, 'payment', payments, customers, unavailable, out, {
    kind: 'invoice',
    reference: (r) => r.invoiceExternalReference,
    amounts: ['amount', 'fee'],
    asBooked: (r) => paymentFeeAsBooked(sent(r)),
    resent: (r) => {
      const gross = parseAmount(r.amount, r.currency);
      return {
        kind: 'payment',
        sourceId: r.sourceId,
        date: r.date,
        currency: r.currency,
        gross: gross.ok ? gross.value : null,
      };
    },
  });
  const ready =
    leave || ctx.target.capabilities.fees ? screened : screened.filter((x) => !feeRefused(ctx, x.input, out));
  const outgoing: Outgoing<TargetPayment>[] = ready.map(({ input, customerTargetId, settlesTargetId }) => ({
    sourceId: input.record.sourceId,
    raw: input.raw,
    doc: {
      sourceId: input.record.sourceId,
      record: sent(input.record),
      customerTargetId,
      invoiceTargetId: settlesTargetId,
      bankAccountCode: input.record.bankAccountCode ?? p.mapping.bankAccountCode ?? 'BANK',
      idempotencyKey: idempotencyKey(p.id, 'payment', input.record.sourceId),
    },
  }));
  await deliver(ctx, paymentDelivery, outgoing, out);
}

/** Parks a payment with a fee for a target that books none (screened: the fee parses); true when parked. */
function feeRefused(ctx: SyncContext, input: Input<CanonicalPayment>, out: PageOutcome): boolean {
  const r = input.record;
  if (typeof paymentFee(r) !== 'bigint') return false;
  out.parker('payment', input)(
    'PAYMENT_FEE_NOT_SUPPORTED',
    `Payment ${r.externalReference} has a provider fee of ${r.currency} ${r.fee}, and the ${ctx.target.type} target books no fee: booked at its gross amount alone, it would leave the bank there ${r.currency} ${r.fee} higher than what the provider paid out. Nothing was sent. To book it gross and leave the fee to the books (keyed by hand, or a bank rule), set the pipeline's options.fees to "leave", then retry this exception.`,
    'fee',
  );
  return true;
}

/** Refunds go to the target with the payment they refund, when the source names one. */
export async function syncRefunds(
  ctx: SyncContext,
  refunds: Input<CanonicalRefund>[],
  customers: Map<string, string>,
  unavailable: Unavailable,
  out: PageOutcome,
): Promise<void> {
  if (refunds.length === 0) return;
  const p = ctx.pipeline;
  const ready = await screen(ctx, 'refund', refunds, customers, unavailable, out, {
    kind: 'payment',
    reference: (r) => r.paymentExternalReference,
    amounts: ['amount'],
    asBooked: refundAsBooked,
  });
  const outgoing: Outgoing<TargetRefund>[] = ready.map(({ input, customerTargetId, settlesTargetId }) => ({
    sourceId: input.record.sourceId,
    raw: input.raw,
    doc: {
      sourceId: input.record.sourceId,
      record: input.record,
      customerTargetId,
      paymentTargetId: settlesTargetId,
      bankAccountCode: input.record.bankAccountCode ?? p.mapping.bankAccountCode ?? 'BANK',
      idempotencyKey: idempotencyKey(p.id, 'refund', input.record.sourceId),
    },
  }));
  await deliver(ctx, refundDelivery, outgoing, out);
}

export const paymentDeliveries = [paymentDelivery, refundDelivery];
