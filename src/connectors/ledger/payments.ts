import type { Queryable } from '../../db/database.ts';
import { type TransactionType, documentLabel } from '../../domain/documents.ts';
import { DomainError } from '../../domain/errors.ts';
import { formatAmount, minBig, parseAmount } from '../../domain/money.ts';
import type { EntityContext } from '../../ledger/entities.ts';
import { allocate } from '../../ledger/posting/allocations.ts';
import { postLedgerJournal } from '../../ledger/posting/journals.ts';
import { loadOpenTransactions } from '../../ledger/posting/open-items.ts';
import { postReceipt } from '../../ledger/posting/receipts.ts';
import { lockCustomers } from '../../ledger/posting/references.ts';
import type { PostingContext } from '../../ledger/posting/types.ts';
import { duplicateError } from '../../ledger/posting/write.ts';
import { type ItemResult, type TargetPayment, type TargetRefund, failed, ok } from '../../sync/target.ts';
import { Refused, eachInSavepoint, refused } from './invoices.ts';
import { type LinkedFee, linkedFee, paymentFee, paymentFeeOf } from './fees.ts';
import { withReference } from '../../ledger/reference-lookup.ts';

/** A document already in the ledger under a reference, with the figures it was posted with. */
export interface FoundTransaction {
  id: number;
  number: string;
  customerCode: string;
  currency: string;
  date: string;
  gross: bigint;
  label: string;
}

/** The columns of a transaction a `FoundTransaction` is read from, as `withReference` selects them. */
export const FOUND_COLUMNS = 'id, number, customer_code, type, currency, transaction_date, gross, external_reference';

/** A transactions row (`FOUND_COLUMNS`) as a `FoundTransaction`. */
export function foundTransaction(r: {
  id: string;
  number: string;
  customer_code: string;
  type: TransactionType;
  currency: string;
  transaction_date: string;
  gross: string;
  external_reference: string;
}): FoundTransaction {
  return {
    id: Number(r.id),
    number: r.number,
    customerCode: r.customer_code,
    currency: r.currency.trim(),
    date: r.transaction_date,
    gross: BigInt(r.gross),
    label: documentLabel({ type: r.type, number: r.number, externalReference: r.external_reference }),
  };
}

/** The first transaction of a type with this reference for the customer. */
export async function findTransaction(
  db: Queryable,
  entityId: string,
  customerCode: string | null,
  type: TransactionType,
  reference: string,
): Promise<FoundTransaction | null> {
  const { rows } = await db.query<Parameters<typeof foundTransaction>[0]>(
    `SELECT id, number, customer_code, type, currency, transaction_date::text AS transaction_date, gross::text AS gross, external_reference
       FROM ${withReference('$1', '$4', FOUND_COLUMNS)} d
      WHERE ($2::text IS NULL OR d.customer_code = $2) AND d.type = $3 ORDER BY id LIMIT 1`,
    [entityId, customerCode, type, reference],
  );
  return rows[0] ? foundTransaction(rows[0]) : null;
}

/**
 * How a document already in the ledger under a reference differs from the one a pipeline sends
 * under it ("EUR 10.00 on 2026-11-02 in the ledger, EUR 20.00 on 2026-11-02 sent"), or null when it
 * is the same document: same currency and date, and a gross within `tolerance` minor units (the
 * VAT of each line of an invoice may round by one differently).
 */
export function differsFrom(
  found: Pick<FoundTransaction, 'currency' | 'date' | 'gross'>,
  sent: { currency: string; date: string; gross: bigint | null },
  tolerance = 0n,
): string | null {
  const gap = sent.gross === null ? null : found.gross - sent.gross;
  if (
    found.currency === sent.currency &&
    found.date === sent.date &&
    gap !== null &&
    gap <= tolerance &&
    -gap <= tolerance
  )
    return null;
  const said = (currency: string, gross: bigint | null, date: string) =>
    `${currency} ${gross === null ? '?' : formatAmount(gross, currency)} on ${date}`;
  return `${said(found.currency, found.gross, found.date)} in the ledger, ${said(sent.currency, sent.gross, sent.date)} sent`;
}

/**
 * A document the pipeline sends under a reference the customer already has on another document:
 * refused, never linked to it (which went by as "already in the ledger" while the money sent was
 * never booked). Parked with the ledger's duplicate code, saying what to do.
 */
export function referenceTaken(
  found: FoundTransaction,
  type: TransactionType,
  what: string,
  reference: string,
  differs: string,
): ItemResult {
  const dup = duplicateError(type, found.customerCode, reference, 'externalReference');
  return refused(
    new DomainError(
      dup.code,
      `${found.label} of customer ${found.customerCode} already carries the reference "${reference}" and is not this ${what} ` +
        `(${differs}); if it is another ${what}, give it a reference of its own in the source; if it is this one changed, ` +
        `book the difference by hand; then resolve this exception`,
      [{ field: 'externalReference', message: 'already used for this customer by a different document' }],
    ),
  );
}

/** The currency of each of these ledger customers. */
export async function customerCurrencies(
  db: Queryable,
  entityId: string,
  codes: string[],
): Promise<Map<string, string>> {
  const { rows } = await db.query<{ code: string; currency: string }>(
    `SELECT code, trim(currency) AS currency FROM customers WHERE entity_id = $1 AND code = ANY($2::text[])`,
    [entityId, [...new Set(codes)]],
  );
  return new Map(rows.map((r) => [r.code, r.currency]));
}

/** A payment or refund in another currency than its customer's account: refused, never booked as the same number in the customer's. */
function currencyMismatch(what: string, currency: string, customerCode: string, customerCurrency: string): ItemResult {
  return failed({
    code: 'CURRENCY_MISMATCH',
    message: `The ${what} is in ${currency}; customer ${customerCode} is in ${customerCurrency}`,
    retryable: false,
    field: 'currency',
  });
}

/**
 * Allocates what both documents still have open, dated the later of the two documents and the
 * given date (an allocation is never dated before either of its documents). Says how the two
 * documents are named in messages (by number and reference), and whether anything was allocated.
 */
async function allocateOpen(
  ctx: PostingContext,
  debitId: number,
  creditId: number,
  date: string | null,
  reference: string,
) {
  const open = await loadOpenTransactions(ctx.db, ctx.entity.id, [debitId, creditId]);
  const debit = open.get(debitId)!;
  const credit = open.get(creditId)!;
  const amount = minBig(debit.outstanding, credit.outstanding);
  const result = { allocated: amount > 0n, debit: debit.label, credit: credit.label };
  if (amount <= 0n) return result;
  const dates = [date ?? debit.transactionDate, debit.transactionDate, credit.transactionDate].sort();
  await allocate(ctx, {
    transactionId1: debitId,
    transactionId2: creditId,
    amount: formatAmount(amount, credit.currency),
    date: dates[2]!,
    reference,
  });
  return result;
}

/**
 * Payments become receipts, allocated to the invoice they pay when it is still open; a fee goes
 * to bank charges. Each payment is a savepoint of its own inside the engine's transaction, so a
 * refused one leaves nothing behind. A receipt reference the customer already has is linked, and
 * the payment's fee posted against that receipt when it has none yet (outcome `updated`). Either
 * way a fee journal keyed by hand under the payment's reference that is this fee is taken as it,
 * and one that may not be refuses the payment (fees.ts).
 */
export async function createPayments(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  items: TargetPayment[],
): Promise<ItemResult[]> {
  const currencies = await customerCurrencies(
    db,
    entity.id,
    items.map((i) => i.customerTargetId),
  );
  return eachInSavepoint(db, items, async (tx, item) => {
    const pay = item.record;
    const customerCode = item.customerTargetId;
    const customerCurrency = currencies.get(customerCode);
    if (customerCurrency !== undefined && customerCurrency !== pay.currency)
      return currencyMismatch('payment', pay.currency, customerCode, customerCurrency);
    const pctx: PostingContext = { db: tx, entity, actor };
    // The customer's row lock first (postReceipt takes it anyway): another run posting this
    // payment at the same moment has committed its receipt by the time it is looked for, so
    // the payment is linked to it rather than refused as a duplicate reference. It also
    // orders what follows after any posting for this customer at the same moment, which takes
    // it too: another run linking this payment has posted its fee, or waits for this one's;
    // the invoice (or a refund of this payment) is either found here, or the note left here
    // is found by its posting.
    await lockCustomers(tx, entity.id, [customerCode]);
    const existing = await findTransaction(tx, entity.id, customerCode, 'SR', pay.externalReference);
    const amount = parseAmount(pay.amount, pay.currency);
    const differs = existing
      ? differsFrom(existing, { currency: pay.currency, date: pay.date, gross: amount.ok ? amount.value : null })
      : null;
    if (existing && differs) return referenceTaken(existing, 'SR', 'payment', pay.externalReference, differs);
    let receiptId: number;
    let message: string | null = existing ? 'already in the ledger; linked' : null;
    let waitsForInvoice = false;
    let linkedFeeWas: LinkedFee['fee'] | null = null;
    let feeSaid = '';
    if (existing) {
      receiptId = existing.id;
      const fee = paymentFee(pay);
      if (fee > 0n) {
        const f = await linkedFee(pctx, existing, fee, item.bankAccountCode, pay.externalReference);
        if ('ok' in f) return f;
        linkedFeeWas = f.fee;
        if (f.fee === 'posted') feeSaid = '; fee posted';
        if (f.fee === 'recognised') feeSaid = `; fee already in the ledger as ${f.journal}, keyed by hand`;
      }
    } else {
      const r = await postReceipt(
        pctx,
        {
          customerCode,
          checkReference: pay.externalReference,
          paymentAmount: pay.amount,
          paymentDate: pay.date,
          bankAccountCode: item.bankAccountCode,
          description: pay.description,
        },
        true,
      );
      receiptId = r.id;
      const fee = paymentFee(pay);
      if (fee > 0n) {
        // A fee keyed by hand before the payment came is found as when linking (fees.ts).
        const label = documentLabel({ type: 'SR', number: r.number, externalReference: pay.externalReference });
        const receipt = { id: r.id, label, customerCode, currency: r.currency, date: pay.date, isNew: true };
        const bank = { code: item.bankAccountCode, gl: r.bankGl, rate: r.bankRate };
        const f = await paymentFeeOf(pctx, receipt, fee, bank, pay.externalReference);
        // Refused after the receipt was written: thrown, so the savepoint takes the receipt back too.
        if ('ok' in f) throw new Refused(f);
        if (f.fee === 'recognised') feeSaid = `; fee already in the ledger as ${f.journal}, keyed by hand`;
      }
    }
    if (pay.invoiceExternalReference) {
      const invoiceId =
        item.invoiceTargetId !== null
          ? Number(item.invoiceTargetId)
          : ((await findTransaction(tx, entity.id, customerCode, 'SI', pay.invoiceExternalReference))?.id ?? null);
      if (invoiceId === null) {
        // Allocated by itself once a pipeline books that invoice (settleAwaitingPayments).
        await tx.query(
          `INSERT INTO payments_awaiting_invoice (receipt_id, entity_id, customer_code, invoice_reference)
           VALUES ($1, $2, $3, $4) ON CONFLICT (receipt_id) DO NOTHING`,
          [receiptId, entity.id, customerCode, pay.invoiceExternalReference],
        );
        waitsForInvoice = true;
        message = `unallocated: no invoice ${pay.invoiceExternalReference} for ${customerCode} yet; allocated to it once it is booked`;
      } else {
        // Sent again once its invoice is in the ledger: it waits no more.
        await tx.query(`DELETE FROM payments_awaiting_invoice WHERE receipt_id = $1`, [receiptId]);
        const a = await allocateOpen(pctx, invoiceId, receiptId, pay.date, pay.externalReference);
        message = a.allocated ? `allocated to ${a.debit}` : `unallocated: ${a.debit} has nothing outstanding`;
      }
    } else message ??= 'unallocated: the payment names no invoice';
    message = `${message}${feeSaid}`;
    // Refunds booked before this payment (a refund webhook that overtook it) are set against
    // what the payment has left once it paid its invoice: as if they had come after it. One
    // still waiting for its invoice keeps them waiting until that invoice is booked.
    const refunds = waitsForInvoice
      ? undefined
      : (
          await settleAwaitingRefunds(tx, entity, actor, [
            { id: receiptId, customerCode, reference: pay.externalReference },
          ])
        ).get(receiptId);
    if (refunds) message = `${message}; ${refunds.join(', ')} set against it, booked before it`;
    // A receipt the ledger had, whose fee was posted now: something was written, so it is
    // `updated` (the engine's run record says so), not `linked` (nothing written).
    const outcome = !existing ? 'created' : linkedFeeWas === 'posted' ? 'updated' : 'linked';
    return ok(String(receiptId), { outcome, message });
  });
}

/** Refunds become sales debit journals paid out of the bank, allocated against the refunded receipt. */
export async function createRefunds(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  items: TargetRefund[],
): Promise<ItemResult[]> {
  const currencies = await customerCurrencies(
    db,
    entity.id,
    items.map((i) => i.customerTargetId),
  );
  return eachInSavepoint(db, items, async (tx, item) => {
    const ref = item.record;
    const customerCode = item.customerTargetId;
    const customerCurrency = currencies.get(customerCode);
    if (customerCurrency !== undefined && customerCurrency !== ref.currency)
      return currencyMismatch('refund', ref.currency, customerCode, customerCurrency);
    const pctx: PostingContext = { db: tx, entity, actor };
    // Locked first, as for payments: the same refund posted at the same moment is linked, not refused.
    await lockCustomers(tx, entity.id, [customerCode]);
    const existing = await findTransaction(tx, entity.id, customerCode, 'SD', ref.externalReference);
    if (existing) {
      const amount = parseAmount(ref.amount, ref.currency);
      const differs = differsFrom(existing, {
        currency: ref.currency,
        date: ref.date,
        gross: amount.ok ? amount.value : null,
      });
      if (differs) return referenceTaken(existing, 'SD', 'refund', ref.externalReference, differs);
      return ok(String(existing.id), { outcome: 'linked', message: 'already in the ledger; linked' });
    }
    const j = await postLedgerJournal(
      pctx,
      'SD',
      {
        customerCode,
        transactionDate: ref.date,
        externalReference: ref.externalReference,
        description: ref.description || 'Refund',
        lines: [{ bankAccountCode: item.bankAccountCode, amount: ref.amount }],
      },
      true,
    );
    let message: string | null = null;
    if (ref.paymentExternalReference) {
      const receiptId =
        item.paymentTargetId !== null
          ? Number(item.paymentTargetId)
          : ((await findTransaction(tx, entity.id, customerCode, 'SR', ref.paymentExternalReference))?.id ?? null);
      // A receipt still waiting for the invoice it pays has not paid it yet: the refund takes
      // what the invoice leaves, so it waits for that invoice too, unless the invoice is in
      // the ledger by now (entered by hand, which settles nothing: a person allocates).
      const noted =
        receiptId === null
          ? undefined
          : (
              await tx.query<{ invoice_reference: string }>(
                `SELECT invoice_reference FROM payments_awaiting_invoice WHERE receipt_id = $1`,
                [receiptId],
              )
            ).rows[0]?.invoice_reference;
      const invoiceAwaited =
        noted !== undefined && !(await findTransaction(tx, entity.id, customerCode, 'SI', noted)) ? noted : null;
      if (receiptId === null || invoiceAwaited !== null) {
        // Set against that payment by itself once a pipeline books it, or its invoice
        // (settleAwaitingRefunds). postLedgerJournal holds the customer's row lock, as the
        // payment's and the invoice's postings do.
        await tx.query(
          `INSERT INTO refunds_awaiting_payment (refund_id, entity_id, customer_code, payment_reference)
           VALUES ($1, $2, $3, $4) ON CONFLICT (refund_id) DO NOTHING`,
          [j.id, entity.id, customerCode, ref.paymentExternalReference],
        );
        message =
          invoiceAwaited === null
            ? `unallocated: no receipt ${ref.paymentExternalReference} for ${customerCode} yet; set against it once it is booked`
            : `unallocated: receipt ${ref.paymentExternalReference} waits for its invoice ${invoiceAwaited}; set against what it leaves once that is booked`;
      } else {
        const a = await allocateOpen(pctx, j.id, receiptId, ref.date, ref.externalReference);
        message = a.allocated ? `allocated against ${a.credit}` : `unallocated: ${a.credit} has nothing open`;
      }
    }
    return ok(String(j.id), { outcome: 'created', message });
  });
}

/**
 * A document booked before the one it names (migrations 0104, 0105): a receipt waiting for the
 * invoice it pays, a refund waiting for the receipt it refunds. Which table notes it, and whether
 * the waiting document is the debit of the allocation (a refund) or the credit (a receipt).
 */
const AWAITING = {
  invoice: { table: 'payments_awaiting_invoice', waiting: 'receipt_id', names: 'invoice_reference', debit: false },
  receipt: { table: 'refunds_awaiting_payment', waiting: 'refund_id', names: 'payment_reference', debit: true },
} as const;

/**
 * Allocates to documents a pipeline has just booked (or linked) the documents booked before them
 * that named them: what both still have open, dated the later of the two, oldest waiting first.
 * Runs in the caller's transaction, which holds the customers' row locks (as the noting does).
 * Returns, per document id, how the waiting documents allocated to it are named.
 */
async function settleAwaiting(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  arrived: keyof typeof AWAITING,
  docs: { id: number; customerCode: string; reference: string }[],
): Promise<Settled> {
  const settled: Settled = new Map();
  if (docs.length === 0) return settled;
  const a = AWAITING[arrived];
  const { rows } = await db.query<{ waiting_id: string; doc_id: string; waiting_reference: string | null }>(
    `DELETE FROM ${a.table} w
      USING unnest($2::bigint[], $3::text[], $4::text[]) AS u(doc_id, customer_code, reference)
      WHERE w.entity_id = $1 AND ll_reference_key(w.${a.names}) = ll_reference_key(u.reference)
        AND w.customer_code = u.customer_code
      RETURNING w.${a.waiting} AS waiting_id, u.doc_id,
                (SELECT external_reference FROM transactions t WHERE t.id = w.${a.waiting}) AS waiting_reference`,
    [entity.id, docs.map((d) => d.id), docs.map((d) => d.customerCode), docs.map((d) => d.reference)],
  );
  const pctx: PostingContext = { db, entity, actor };
  for (const r of rows.sort((x, y) => Number(x.waiting_id) - Number(y.waiting_id))) {
    const docId = Number(r.doc_id);
    const waitingId = Number(r.waiting_id);
    const done = a.debit
      ? await allocateOpen(pctx, waitingId, docId, null, r.waiting_reference ?? '')
      : await allocateOpen(pctx, docId, waitingId, null, r.waiting_reference ?? '');
    const list = settled.get(docId) ?? [];
    list.push({
      id: waitingId,
      reference: r.waiting_reference ?? '',
      label: a.debit ? done.debit : done.credit,
      allocated: done.allocated,
    });
    settled.set(docId, list);
  }
  return settled;
}

/** Per document that arrived, the waiting documents settled against it (allocated, or nothing left to). */
type Settled = Map<number, { id: number; reference: string; label: string; allocated: boolean }[]>;

/**
 * Allocates to sales invoices a pipeline has just booked (or linked) the receipts booked before
 * them that named them (migration 0104), then sets against those receipts the refunds that waited
 * for them to pay their invoice (0105). Returns, per invoice id, what it says of them: `paid by
 * Receipt 7 (PAY-1)`, `Debit journal 9 (RF-1) set against Receipt 7 (PAY-1)`.
 */
export async function settleAwaitingPayments(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  invoices: { id: number; customerCode: string; reference: string }[],
): Promise<Map<number, string[]>> {
  const receipts = await settleAwaiting(db, entity, actor, 'invoice', invoices);
  const customerOf = new Map(invoices.map((i) => [i.id, i.customerCode]));
  const waited = [...receipts].flatMap(([invoiceId, list]) =>
    list.map((r) => ({ invoiceId, receipt: r, customerCode: customerOf.get(invoiceId)! })),
  );
  const refunds = await settleAwaiting(
    db,
    entity,
    actor,
    'receipt',
    waited.map((w) => ({ id: w.receipt.id, customerCode: w.customerCode, reference: w.receipt.reference })),
  );
  const out = new Map<number, string[]>();
  const say = (invoiceId: number, text: string) => out.set(invoiceId, [...(out.get(invoiceId) ?? []), text]);
  for (const w of waited) {
    if (w.receipt.allocated) say(w.invoiceId, `paid by ${w.receipt.label}, booked before it`);
    for (const r of refunds.get(w.receipt.id) ?? [])
      if (r.allocated) say(w.invoiceId, `${r.label} set against ${w.receipt.label}`);
  }
  return out;
}

/**
 * Sets against receipts a pipeline has just booked (or linked) the refunds booked before them that
 * named them (migration 0105). Returns, per receipt id, how the refunds set against it are named.
 */
export async function settleAwaitingRefunds(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  receipts: { id: number; customerCode: string; reference: string }[],
): Promise<Map<number, string[]>> {
  const settled = await settleAwaiting(db, entity, actor, 'receipt', receipts);
  return new Map(
    [...settled].flatMap(([id, list]) => {
      const labels = list.filter((r) => r.allocated).map((r) => r.label);
      return labels.length > 0 ? [[id, labels] as const] : [];
    }),
  );
}
