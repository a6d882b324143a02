import { Dec, formatAmount } from '../../domain/money.ts';
import { creditNoteAsInvoice } from '../../sync/canonical.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { LedgerProduct } from '../../sync/mapping.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import { appliedEarly, invoiceMissing, nothingToApply, paymentGone } from '../../sync/remote/early.ts';
import type { PipelineMapping } from '../../sync/pipelines.ts';
import {
  BatchInterrupted,
  type EarlyPayment,
  type FoundDocument,
  type ItemError,
  type ItemResult,
  type TargetAllocation,
  type TargetCallContext,
  type TargetCreditNote,
  type TargetInvoice,
  type TargetKind,
  type TargetPayment,
  type TargetRefund,
  failed,
  ok,
} from '../../sync/target.ts';
import { type AccountsIqApi, type WsAnswer, describe, wsResult } from './api.ts';
import { paymentFee } from '../../sync/fee-match.ts';
import { type BookedFee, type FeeAccount, bookFee, withFeeNote } from './fees.ts';
import {
  type Summary,
  type TaxCode,
  batchLines,
  dateTime,
  idsQuery,
  kindOf,
  minor,
  referenceQuery,
  smaller,
  summariesOf,
} from './map.ts';
import { SYSTEM } from './settings.ts';
import { type Value, type Xml, items, text } from './wsdl.ts';

/*
 * Invoices, credit notes, receipts and allocations. Invoices and receipts go through
 * PostPayAndAllocateSalesInvoices: one call for a batch, each element atomic, with AccountsIQ's own
 * duplicate checks switched on (an invoice's ExternalReference per customer, a receipt's
 * CheckReference), so that a document sent again is refused rather than booked twice. Credit notes
 * are CreateBatchSalesCreditNoteGetBackTransactionID, one call each; refunds sales debit journals.
 * A receipt that pays an invoice, and a journal that refunds a receipt, is then allocated to it
 * (AllocateTransactions), for what both still have outstanding.
 */

export interface DocumentContext {
  api: AccountsIqApi;
  mapping: PipelineMapping;
  taxCodes: () => Promise<TaxCode[]>;
  /** The stock items lines name (source product id → stock item id), with their accounts. */
  products: (ids: Record<string, string>, signal?: AbortSignal) => Promise<Map<string, LedgerProduct>>;
  defaultGl: string | null;
  defaultBank: string | null;
  /** Where payment providers' fees go (fees.ts), read once a payment with a fee comes. */
  feeAccount: () => Promise<FeeAccount | ItemError>;
}

const refused = (a: Pick<WsAnswer, 'errorCode' | 'errorMessage' | 'status'>, what: string): ItemResult =>
  failed({ code: 'TARGET_REFUSED', message: `AccountsIQ refused ${what}: ${describe(a)}`, retryable: false });

/**
 * Transactions by id (GetTransactionsBy), one call per 500 ids. AccountsIQ publishes no page size:
 * while some ids of a call are not in its answer, the next page (`Skip`) is asked for, until one
 * holds none, so that an id missing from the answer is one AccountsIQ does not hold.
 */
export async function summariesById(
  ctx: DocumentContext,
  ids: string[],
  signal?: AbortSignal,
): Promise<Map<string, Summary>> {
  const out = new Map<string, Summary>();
  const wanted = [...new Set(ids)].filter((id) => /^\d+$/.test(id));
  for (let i = 0; i < wanted.length; i += 500) {
    const chunk = wanted.slice(i, i + 500);
    for (let skip = 0; ;) {
      const result = await ctx.api.readOk('GetTransactionsBy', { query: idsQuery(chunk, skip) }, signal);
      const page = summariesOf(result);
      for (const s of page) out.set(s.id, s);
      skip += page.length;
      if (page.length === 0 || chunk.every((id) => out.has(id))) break;
    }
  }
  return out;
}

/** Sales transactions of a kind under exactly this external reference, of this customer when given. */
export async function byReference(
  ctx: DocumentContext,
  kind: 'invoice' | 'creditNote' | 'payment' | 'refund',
  reference: string,
  customer: string | null | undefined,
  signal?: AbortSignal,
): Promise<Summary[]> {
  const result = await ctx.api.readOk(
    'GetTransactionsByExternalReference',
    { query: referenceQuery(reference) },
    signal,
  );
  // A reversed transaction (and its reversal) is out of the books: not the document looked for.
  return summariesOf(result).filter(
    (s) =>
      s.reference === reference && kindOf(s.type) === kind && !s.reversed && (!customer || s.customer === customer),
  );
}

/** The lookup after an unknown outcome (see the target's findByReference). */
export async function findDocument(
  ctx: DocumentContext,
  tc: TargetCallContext,
  kind: Exclude<TargetKind, 'customer' | 'product'>,
  reference: string,
  customer: string | null | undefined,
): Promise<FoundDocument | null> {
  if (kind === 'allocation') return null;
  const [found] = await byReference(ctx, kind, reference, customer, tc.signal);
  if (!found) return null;
  // A receipt or refund journal not yet allocated may still owe its allocation: createPayments and
  // createRefunds finish it (sent again, it is recognised by its reference, linked, then allocated).
  const currency = found.currency || 'EUR';
  if (
    (kind === 'payment' || kind === 'refund') &&
    minor(found.outstanding, currency) === minor(found.control, currency)
  )
    return null;
  return { targetId: found.id, number: found.number, customerTargetId: found.customer };
}

function elementResults(a: WsAnswer, n: number): Omit<WsAnswer, 'outs'>[] {
  const list = items(a.result, 'WSResult2OfWSPostPayAndAllocateSalesInvoiceResult').map(wsResult);
  if (list.length !== n)
    throw new ConnectorError(
      SYSTEM,
      `PostPayAndAllocateSalesInvoices answered ${list.length} results for ${n} documents`,
      { status: 200, retryable: false },
    );
  return list;
}

const field = (r: Xml | undefined, name: string) =>
  r && typeof r === 'object' && !Array.isArray(r) ? text(r[name]) : '';

/** Invoices as batch invoices, with the duplicate check on our reference per customer. */
export async function createInvoices(
  ctx: DocumentContext,
  tc: TargetCallContext,
  invoices: TargetInvoice[],
): Promise<ItemResult[]> {
  const taxCodes = await ctx.taxCodes();
  const results: (ItemResult | null)[] = invoices.map(() => null);
  const queries: { n: number; query: Record<string, Value> }[] = [];
  for (const [n, item] of invoices.entries()) {
    const inv = item.record;
    const products = await ctx.products(item.productTargetIds, tc.signal);
    const lines = batchLines(inv, ctx.mapping, taxCodes, ctx.defaultGl, products);
    if ('reasonCode' in lines) {
      results[n] = failed({ code: lines.reasonCode, message: lines.message, retryable: false, field: lines.field });
      continue;
    }
    queries.push({
      n,
      query: {
        PerformExternalReferenceDuplicateCheckOnInvoice: true,
        PerformExternalReferenceDuplicateCheckOnReceipt: false,
        BatchInvoice: {
          CustomerCode: item.customerTargetId,
          InvoiceDate: dateTime(inv.invoiceDate),
          ExternalReference: inv.externalReference,
          Description: inv.description || inv.externalReference,
          Lines: lines,
          ExchangeRate: inv.exchangeRate ?? '1',
          DueDate: inv.dueDate ? dateTime(inv.dueDate) : undefined,
        },
        PerformAllocation: false,
        AllocationAmount: '0',
        ClientUniqueReference: inv.externalReference,
        EnforceCreditLimit: false,
      },
    });
  }
  await postQueries(
    ctx,
    tc,
    queries,
    results,
    'InvoiceTransactionID',
    (q) => `invoice ${q.ClientUniqueReference as string}`,
  );
  return results.map((r) => r!);
}

/**
 * Sends PostPayAndAllocate queries and fills each one's result with the transaction it booked and
 * its number (one more read for the numbers).
 */
async function postQueries(
  ctx: DocumentContext,
  tc: TargetCallContext,
  queries: { n: number; query: Record<string, Value> }[],
  results: (ItemResult | null)[],
  idField: 'InvoiceTransactionID' | 'ReceiptTransactionID',
  what: (q: Record<string, Value>) => string,
  onDuplicate?: (n: number) => Promise<ItemResult>,
): Promise<void> {
  if (queries.length === 0) return;
  const answer = await ctx.api.write(
    'PostPayAndAllocateSalesInvoices',
    { queries: queries.map((q) => q.query) },
    tc.signal,
  );
  if (answer.status !== 'Success' && answer.result === undefined) {
    // Refused as a whole (nothing booked): every document of the call.
    for (const q of queries) results[q.n] = refused(answer, what(q.query));
    return;
  }
  const each = elementResults(answer, queries.length);
  const booked = new Map<number, string>();
  for (const [i, q] of queries.entries()) {
    const r = each[i]!;
    const id = field(r.result, idField);
    if (r.status === 'Success' && /^\d+$/.test(id)) booked.set(q.n, id);
    else if (r.status === 'Success')
      throw new ConnectorError(SYSTEM, `PostPayAndAllocateSalesInvoices answered success without ${idField}`, {
        status: 200,
        retryable: false,
      });
    else if (onDuplicate && /DUPLICATE|ALREADY_EXISTS/.test(r.errorCode)) results[q.n] = await onDuplicate(q.n);
    else results[q.n] = refused(r, what(q.query));
  }
  const numbers = await summariesById(ctx, [...booked.values()], tc.signal);
  for (const [n, id] of booked) results[n] = ok(id, { number: numbers.get(id)?.number ?? null, outcome: 'created' });
}

/** Credit notes as batch credit notes, one call each (AccountsIQ books each as a transaction of its own). */
export async function createCreditNotes(
  ctx: DocumentContext,
  tc: TargetCallContext,
  notes: TargetCreditNote[],
): Promise<ItemResult[]> {
  const taxCodes = await ctx.taxCodes();
  // The numbers of the credit notes booked, read in one call once they are.
  const numbered = async (results: readonly (ItemResult | undefined)[]) => {
    const numbers = await summariesById(
      ctx,
      results.flatMap((r) => (r?.ok ? [r.targetId] : [])),
      tc.signal,
    );
    return results.map((r) =>
      r?.ok ? ok(r.targetId, { number: numbers.get(r.targetId)?.number ?? null, outcome: 'created' }) : r,
    );
  };
  let results: ItemResult[];
  try {
    // One call a credit note: one that fails leaves those before it done (mapAtMost says which).
    results = await mapAtMost(notes, 1, async (item) => {
      const note = item.record;
      const products = await ctx.products(item.productTargetIds, tc.signal);
      const lines = batchLines(creditNoteAsInvoice(note), ctx.mapping, taxCodes, ctx.defaultGl, products);
      if ('reasonCode' in lines)
        return failed({ code: lines.reasonCode, message: lines.message, retryable: false, field: lines.field });
      const a = await ctx.api.write(
        'CreateBatchSalesCreditNoteGetBackTransactionID',
        {
          creditNote: {
            CustomerCode: item.customerTargetId,
            InvoiceDate: dateTime(note.date),
            ExternalReference: note.externalReference,
            Description: note.description || note.externalReference,
            Lines: lines,
            ExchangeRate: note.exchangeRate ?? '1',
          },
        },
        tc.signal,
      );
      const id = text(a.outs.transactionID);
      if (a.status === 'Success' && /^\d+$/.test(id)) return ok(id, { outcome: 'created' });
      if (a.status === 'Success')
        throw new ConnectorError(
          SYSTEM,
          'CreateBatchSalesCreditNoteGetBackTransactionID answered without transactionID',
          {
            status: 200,
            retryable: false,
          },
        );
      return refused(a, `credit note ${note.externalReference}`);
    });
  } catch (err) {
    if (!(err instanceof BatchInterrupted)) throw err;
    // Those booked before the failure are kept, with their numbers when they can be read now.
    throw new BatchInterrupted(await numbered(err.results).catch(() => err.results), err.error);
  }
  return (await numbered(results)) as ItemResult[];
}

/**
 * Payments as sales receipts (CheckReference = our reference, duplicate check on), each then
 * allocated to the invoice it pays for what both still have outstanding. A receipt already booked
 * under the reference (an earlier attempt whose allocation did not finish) is linked and allocated.
 */
export async function createPayments(
  ctx: DocumentContext,
  tc: TargetCallContext,
  payments: TargetPayment[],
): Promise<ItemResult[]> {
  const results: (ItemResult | null)[] = payments.map(() => null);
  const receipts = new Map<number, { id: string; outcome: 'created' | 'linked' }>();
  const bankOf = (item: TargetPayment) =>
    (item.bankAccountCode === 'BANK' && ctx.defaultBank ? ctx.defaultBank : item.bankAccountCode).toUpperCase();
  // A provider's fee first (fees.ts), out of the receipt's bank: a payment whose fee AccountsIQ does
  // not hold is not sent. One at a time, so that a lost answer leaves those before it found next time.
  const fees = new Map<number, BookedFee>();
  for (const [n, item] of payments.entries()) {
    const fee = paymentFee(item.record);
    if (fee === null) continue;
    const booked =
      typeof fee === 'bigint'
        ? await bookFee(
            { api: ctx.api, feeAccount: ctx.feeAccount, signal: tc.signal },
            item,
            fee,
            bankOf(item),
            payments,
          )
        : fee;
    if ('code' in booked) results[n] = failed(booked);
    else fees.set(n, booked);
  }
  const queries = payments.flatMap((item, n) => {
    if (results[n]) return [];
    const p = item.record;
    return {
      n,
      query: {
        PerformExternalReferenceDuplicateCheckOnInvoice: false,
        PerformExternalReferenceDuplicateCheckOnReceipt: true,
        Receipt: {
          CustomerCode: item.customerTargetId,
          CheckReference: p.externalReference,
          PaymentAmount: p.amount,
          BankAccountCode: bankOf(item),
          PaymentDate: dateTime(p.date),
          ExchangeRate: '1',
          BankExchangeRate: '1',
          Description: p.description || p.externalReference,
        },
        PerformAllocation: false,
        AllocationAmount: '0',
        ClientUniqueReference: p.externalReference,
        EnforceCreditLimit: false,
      } satisfies Record<string, Value>,
    };
  });
  await postQueries(
    ctx,
    tc,
    queries,
    results,
    'ReceiptTransactionID',
    (q) => `payment ${q.ClientUniqueReference as string}`,
    async (n) => {
      const item = payments[n]!;
      const [found] = await byReference(
        ctx,
        'payment',
        item.record.externalReference,
        item.customerTargetId,
        tc.signal,
      );
      if (!found) {
        // The check is the entity's, a reference unique per customer only: another customer's
        // receipt has it and this customer's has not (just looked up), so it is booked with the check off.
        const once: (ItemResult | null)[] = [null];
        const query = queries.find((q) => q.n === n)!.query;
        await postQueries(
          ctx,
          tc,
          [{ n: 0, query: { ...query, PerformExternalReferenceDuplicateCheckOnReceipt: false } }],
          once,
          'ReceiptTransactionID',
          (q) => `payment ${q.ClientUniqueReference as string}`,
        );
        return once[0]!;
      }
      receipts.set(n, { id: found.id, outcome: 'linked' });
      return ok(found.id, { number: found.number, outcome: 'linked' });
    },
  );
  for (const [n, r] of results.entries())
    if (r?.ok && !receipts.has(n)) receipts.set(n, { id: r.targetId, outcome: 'created' });
  const toAllocate = payments
    .map((item, n) => ({ item, n, receipt: receipts.get(n) }))
    .filter((x) => x.receipt && x.item.invoiceTargetId);
  const said = () => results.map((r, n) => withFeeNote(r!, fees.get(n)));
  if (toAllocate.length === 0) return said();
  const held = await summariesById(
    ctx,
    toAllocate.flatMap((x) => [x.receipt!.id, x.item.invoiceTargetId!]),
    tc.signal,
  );
  for (const { item, n, receipt } of toAllocate) {
    const r = held.get(receipt!.id);
    const inv = held.get(item.invoiceTargetId!);
    const currency = item.record.currency;
    if (!r || !inv) continue;
    const amount = smaller(r.outstanding, inv.outstanding, currency);
    if (new Dec(amount).lte(0)) continue;
    const a = await ctx.api.write(
      'AllocateTransactions',
      {
        transactionID_1: inv.id,
        transactionID_2: r.id,
        allocationReference: item.record.externalReference,
        allocationAmount: amount,
        allocationDate: dateTime(item.record.date),
      },
      tc.signal,
    );
    if (a.status !== 'Success')
      results[n] = failed({
        code: 'TARGET_REFUSED',
        message: `AccountsIQ booked receipt ${r.number} but refused to allocate it to invoice ${inv.number}: ${describe(a)}`,
        retryable: false,
      });
  }
  return said();
}

/**
 * Receipts booked before the invoice they name (the engine's note, src/sync/engine/early-payments.ts),
 * allocated to it now that it is booked: for what both still have outstanding, read just before,
 * so that running it again after a lost answer allocates nothing twice; dated the later of the two
 * (as the embedded ledger dates its own). The invoice handed over must be the customer's under the
 * named reference, else that invoice is looked up by reference. One call a receipt: one that fails
 * leaves those before it done.
 */
export async function applyEarlyPayments(
  ctx: DocumentContext,
  tc: TargetCallContext,
  early: EarlyPayment[],
): Promise<ItemResult[]> {
  const held = await summariesById(
    ctx,
    early.flatMap((e) => [e.paymentTargetId, e.invoiceTargetId]),
    tc.signal,
  );
  // What each still has outstanding, less what this call has allocated (two receipts, one invoice).
  const taken = new Map<string, bigint>();
  const open = (s: Summary, currency: string) => minor(s.outstanding, currency) - (taken.get(s.id) ?? 0n);
  return mapAtMost(early, 1, async (item) => {
    const receipt = held.get(item.paymentTargetId);
    if (!receipt || kindOf(receipt.type) !== 'payment') return paymentGone(item, 'AccountsIQ');
    let invoice = held.get(item.invoiceTargetId);
    if (
      !invoice ||
      kindOf(invoice.type) !== 'invoice' ||
      invoice.reference !== item.invoiceReference ||
      invoice.customer !== receipt.customer
    ) {
      // Booked by another pipeline of the entity into another AccountsIQ entity: this one's, by reference.
      [invoice] = await byReference(ctx, 'invoice', item.invoiceReference, receipt.customer, tc.signal);
      if (!invoice) return invoiceMissing(item, 'AccountsIQ', receipt.customer);
    }
    const currency = item.currency;
    const left = open(receipt, currency);
    const owed = open(invoice, currency);
    const amount = left < owed ? left : owed;
    const where = `AccountsIQ ${invoice.number}`;
    if (amount <= 0n) return nothingToApply(item, where, left <= 0n, 'allocate');
    const a = await ctx.api.write(
      'AllocateTransactions',
      {
        transactionID_1: invoice.id,
        transactionID_2: receipt.id,
        allocationReference: item.paymentReference,
        allocationAmount: formatAmount(amount, currency),
        allocationDate: dateTime(receipt.date > invoice.date ? receipt.date : invoice.date),
      },
      tc.signal,
    );
    if (a.status !== 'Success') return refused(a, `to allocate receipt ${receipt.number} to invoice ${invoice.number}`);
    taken.set(receipt.id, (taken.get(receipt.id) ?? 0n) + amount);
    taken.set(invoice.id, (taken.get(invoice.id) ?? 0n) + amount);
    const rest = left > amount ? 'the rest stays unallocated on the customer' : null;
    return appliedEarly(item, where, formatAmount(amount, currency), rest, 'allocate');
  });
}

/**
 * Refunds as sales debit journals (the customer owes the money paid back: a debit against the
 * bank), each allocated to the receipt it refunds. Read before written: AccountsIQ has no duplicate
 * check on journals, and a journal booked by an earlier attempt is linked and its allocation
 * finished.
 */
export async function createRefunds(
  ctx: DocumentContext,
  tc: TargetCallContext,
  refunds: TargetRefund[],
): Promise<ItemResult[]> {
  return mapAtMost(refunds, 1, async (item) => {
    const r = item.record;
    const [earlier] = await byReference(ctx, 'refund', r.externalReference, item.customerTargetId, tc.signal);
    let id = earlier?.id ?? null;
    const outcome = earlier ? 'linked' : 'created';
    if (!id) {
      const bank = item.bankAccountCode === 'BANK' && ctx.defaultBank ? ctx.defaultBank : item.bankAccountCode;
      const a = await ctx.api.write(
        'PostSalesDebitJournalGetBackTransactionID',
        {
          journal: {
            AccountCode: item.customerTargetId,
            ExchangeRate: '1',
            ExternalReference: r.externalReference,
            TransactionDate: dateTime(r.date),
            Lines: [
              {
                GLAccountCode: bank.toUpperCase(),
                Description: r.description || r.externalReference,
                Amount: r.amount,
              },
            ],
          },
        },
        tc.signal,
      );
      const booked = text(a.outs.transactionID);
      if (a.status !== 'Success') return refused(a, `refund ${r.externalReference}`);
      if (!/^\d+$/.test(booked))
        throw new ConnectorError(SYSTEM, 'PostSalesDebitJournalGetBackTransactionID answered without transactionID', {
          status: 200,
          retryable: false,
        });
      id = booked;
    }
    const held = await summariesById(ctx, [id, ...(item.paymentTargetId ? [item.paymentTargetId] : [])], tc.signal);
    const journal = held.get(id);
    const receipt = item.paymentTargetId ? held.get(item.paymentTargetId) : undefined;
    if (journal && receipt) {
      const amount = smaller(journal.outstanding, receipt.outstanding, r.currency);
      if (new Dec(amount).gt(0)) {
        const a = await ctx.api.write(
          'AllocateTransactions',
          {
            transactionID_1: journal.id,
            transactionID_2: receipt.id,
            allocationReference: r.externalReference,
            allocationAmount: amount,
            allocationDate: dateTime(r.date),
          },
          tc.signal,
        );
        if (a.status !== 'Success') {
          return failed({
            code: 'TARGET_REFUSED',
            message: `AccountsIQ booked refund journal ${journal.number} but refused to allocate it to receipt ${receipt.number}: ${describe(a)}`,
            retryable: false,
          });
        }
      }
    }
    return ok(id, { number: journal?.number ?? null, outcome });
  });
}

interface AllocationEntry {
  id: string;
  to: string;
  toType: string;
  toReference: string;
  amount: string;
  date: string;
}

/** The allocations of a transaction, each naming the transaction on the other side. */
async function allocationsOf(ctx: DocumentContext, id: string, signal?: AbortSignal): Promise<AllocationEntry[]> {
  const result = await ctx.api.readOk('GetAllocationsByTransactionId', { transactionId: id }, signal);
  return items(result, 'WSAllocationTransactionDTO')
    .filter((t) => text(t.TransactionID) === id)
    .flatMap((t) => items(t.AllocationEntries, 'WSAllocationEntryDTO'))
    .map((e) => ({
      id: text(e.AllocationId),
      to: text(e.AllocatedToTransactionID),
      toType: text(e.AllocatedToTransactionType),
      toReference: text(e.AllocatedToExternalReference),
      amount: text(e.AllocationAmount),
      date: text(e.AllocationDate).slice(0, 10),
    }));
}

const sameAllocation = (e: AllocationEntry, item: TargetAllocation) =>
  e.to === item.fromTargetId && new Dec(e.amount).abs().eq(new Dec(item.record.amount)) && e.date === item.record.date;

/** A payment or credit note set against an invoice (AllocateTransactions); its id read back. */
export async function createAllocations(
  ctx: DocumentContext,
  tc: TargetCallContext,
  allocations: TargetAllocation[],
): Promise<ItemResult[]> {
  return mapAtMost(allocations, 1, async (item) => {
    const before = new Set(
      (await allocationsOf(ctx, item.invoiceTargetId, tc.signal))
        .filter((e) => sameAllocation(e, item))
        .map((e) => e.id),
    );
    const a = await ctx.api.write(
      'AllocateTransactions',
      {
        transactionID_1: item.invoiceTargetId,
        transactionID_2: item.fromTargetId,
        allocationReference: item.record.fromExternalReference,
        allocationAmount: item.record.amount,
        allocationDate: dateTime(item.record.date),
      },
      tc.signal,
    );
    if (a.status !== 'Success') return refused(a, `allocation ${item.record.sourceId}`);
    const made = (await allocationsOf(ctx, item.invoiceTargetId, tc.signal)).find(
      (e) => sameAllocation(e, item) && !before.has(e.id),
    );
    if (!made)
      throw new ConnectorError(SYSTEM, `AllocateTransactions succeeded but the allocation is not listed`, {
        status: 200,
        retryable: false,
      });
    return ok(made.id, { outcome: 'created' });
  });
}

/** An allocation AccountsIQ holds between the same two transactions, amount and date, none of `taken`. */
export async function findAllocation(
  ctx: DocumentContext,
  tc: TargetCallContext,
  item: TargetAllocation,
  taken: ReadonlySet<string>,
): Promise<FoundDocument | null> {
  const found = (await allocationsOf(ctx, item.invoiceTargetId, tc.signal)).find(
    (e) => sameAllocation(e, item) && !taken.has(e.id),
  );
  return found ? { targetId: found.id, customerTargetId: item.customerTargetId } : null;
}

/**
 * Of these invoices, those with nothing outstanding, each with the reference of the receipt
 * allocated to it last ('' when credit notes settled it).
 */
export async function paidInvoices(
  ctx: DocumentContext,
  tc: TargetCallContext,
  ids: string[],
): Promise<Map<string, string>> {
  const paid = new Map<string, string>();
  for (const [id, s] of await summariesById(ctx, ids, tc.signal)) {
    // A reversed invoice owes nothing either, and is not paid.
    if (kindOf(s.type) !== 'invoice' || s.reversed || minor(s.outstanding, s.currency || 'EUR') !== 0n) continue;
    const receipts = (await allocationsOf(ctx, id, tc.signal)).filter((e) => kindOf(e.toType) === 'payment');
    const last = receipts.sort((a, b) => Number(a.id) - Number(b.id)).at(-1);
    paid.set(id, last?.toReference ?? '');
  }
  return paid;
}
