import type { Queryable } from '../../db/database.ts';
import { DomainError, isDomainError, type ErrorCode } from '../../domain/errors.ts';
import { formatAmount, minBig } from '../../domain/money.ts';
import { allocationBases } from '../../domain/allocation.ts';
import { type PostingWarning, type TransactionType, referenceKey } from '../../domain/documents.ts';
import { amountOf, rateWanted } from './common.ts';
import { buildInvoice, lineReferences } from './invoices.ts';
import { refuseDeferrals } from './deferrals.ts';
import { buildReceipt, receiptReferences } from './receipts.ts';
import {
  type PostingCustomer,
  type References,
  customerBalances,
  loadReferences,
  lockCustomers,
  requireCustomer,
} from './references.ts';
import { type NewAllocation, type NewTransaction, checkStorable, duplicateError, writeDocuments } from './write.ts';
import { buildFxTransaction } from './allocations.ts';
import { RateBounds } from './rate-bounds.ts';
import { checkPeriodOpen, dateRuleViolation, readLockDate } from '../periods.ts';
import { laterDate } from '../../domain/dates.ts';
import type { BatchInvoiceInput, PostingContext, ReceiptInput } from './types.ts';
import { withReference } from '../reference-lookup.ts';

export interface PostPayAllocateInput {
  batchInvoice?: BatchInvoiceInput | undefined;
  receipt?: ReceiptInput | undefined;
  performExternalReferenceDuplicateCheckOnInvoice: boolean;
  performExternalReferenceDuplicateCheckOnReceipt: boolean;
  performAllocation: boolean;
  allocationDate?: string | undefined;
  allocationAmount?: string | undefined;
  allocationReference?: string | undefined;
  clientUniqueReference?: string | undefined;
  enforceCreditLimit?: boolean | undefined;
}

export interface PostPayAllocateResult {
  invoiceTransactionId: number | null;
  receiptTransactionId: number | null;
  invoiceNumber: number | null;
  receiptNumber: number | null;
  allocationId: number | null;
  allocatedAmount: string | null;
  clientUniqueReference: string | null;
  /** Warnings on the invoice's lines (supplied VAT far from net × rate), only when there are some. */
  warnings?: PostingWarning[];
}

export interface BulkItemResult extends Partial<PostPayAllocateResult> {
  status: 'Success' | 'Failure';
  errorCode?: string;
  errorMessage?: string;
  errorDetails?: unknown;
  clientUniqueReference: string | null;
}

function fail(code: ErrorCode, message: string, field: string): never {
  throw new DomainError(code, message, [{ field, message }]);
}

/** Duplicate checks compare references trimmed and case-insensitively (`referenceKey`). */
const key = (customer: string, type: TransactionType, reference: string) =>
  `${customer}\u0000${type}\u0000${referenceKey(reference)}`;

/**
 * What a group of queries shares, read with one statement each: the locked customers, setup
 * data, references already used, and balances for credit checks. Queries of the group see each
 * other's effects (a reference used by an earlier query is a duplicate for a later one).
 */
export class Batch {
  readonly docs: NewTransaction[] = [];
  readonly allocations: NewAllocation[] = [];
  private constructor(
    readonly customers: Map<string, PostingCustomer>,
    readonly refs: References,
    readonly used: Set<string>,
    readonly balances: Map<string, bigint>,
    readonly lockDate: string | null,
    readonly rates: RateBounds,
  ) {}

  static async load(ctx: PostingContext, queries: PostPayAllocateInput[]): Promise<Batch> {
    const db = ctx.db;
    const entityId = ctx.entity.id;
    const codes = new Set<string>();
    const req = {
      gl: [] as string[],
      tax: [] as string[],
      departments: [] as (string | null)[],
      banks: [] as string[],
    };
    const wanted: [string, TransactionType, string][] = [];
    const credit = new Set<string>();
    for (const q of queries) {
      if (q.batchInvoice) {
        codes.add(q.batchInvoice.customerCode);
        const r = lineReferences(q.batchInvoice.lines);
        req.gl.push(...r.gl);
        req.tax.push(...r.tax);
        req.departments.push(...r.departments);
        if (q.batchInvoice.externalReference)
          wanted.push([q.batchInvoice.customerCode, 'SI', q.batchInvoice.externalReference]);
        if (q.enforceCreditLimit) credit.add(q.batchInvoice.customerCode);
      }
      if (q.receipt) {
        codes.add(q.receipt.customerCode);
        const r = receiptReferences(q.receipt);
        req.banks.push(...r.banks);
        req.departments.push(...r.departments);
        wanted.push([q.receipt.customerCode, 'SR', q.receipt.checkReference]);
      }
    }
    const customers = await lockCustomers(db, entityId, codes);
    // The rate in force on each document's date, for those without their own rate.
    const datedRates = queries.flatMap((q) => [
      ...(q.batchInvoice
        ? rateWanted(
            ctx,
            customers.get(q.batchInvoice.customerCode)?.currency,
            q.batchInvoice.exchangeRate,
            q.batchInvoice.invoiceDate,
          )
        : []),
      ...(q.receipt
        ? rateWanted(
            ctx,
            customers.get(q.receipt.customerCode)?.currency,
            q.receipt.exchangeRate,
            q.receipt.paymentDate,
          )
        : []),
    ]);
    const refs = await loadReferences(db, entityId, { ...req, rates: datedRates });
    const used = await usedReferences(db, entityId, wanted);
    const balances = credit.size ? await customerBalances(db, entityId, [...credit]) : new Map<string, bigint>();
    const currencies = [...customers.values()].map((c) => c.currency);
    const rates = await RateBounds.load(db, entityId, currencies);
    return new Batch(customers, refs, used, balances, await readLockDate(db, entityId), rates);
  }

  /** Plans one query against the group; throws a DomainError and changes nothing when it fails. */
  add(
    ctx: PostingContext,
    q: PostPayAllocateInput,
  ): (posted: { ids: number[]; numbers: number[]; allocationIds: number[] }) => PostPayAllocateResult {
    const inv = q.batchInvoice;
    const rec = q.receipt;
    if (!inv && !rec) fail('NOTHING_TO_POST', 'Send a batchInvoice, a receipt, or both', 'batchInvoice');
    if (q.performAllocation && !(inv && rec)) {
      fail(
        'ALLOCATION_REQUIRES_INVOICE_AND_RECEIPT',
        'performAllocation needs both a batchInvoice and a receipt',
        inv ? 'receipt' : 'batchInvoice',
      );
    }
    if (inv && rec && inv.customerCode !== rec.customerCode) {
      fail(
        'INVOICE_AND_RECEIPT_CUSTOMER_MISMATCH',
        `The invoice is for ${inv.customerCode}, the receipt for ${rec.customerCode}`,
        'receipt.customerCode',
      );
    }
    const reference = q.allocationReference?.trim() ?? '';
    if (q.performAllocation && reference === '') {
      fail(
        'TRANSACTION_ALLOCATION_REFERENCE_IS_NULL',
        'An allocation needs an allocationReference',
        'allocationReference',
      );
    }
    const code = (inv ?? rec)!.customerCode;
    const customerField = inv ? 'batchInvoice.customerCode' : 'receipt.customerCode';
    const customer = requireCustomer(this.customers.get(code), code, customerField);
    const invoiceOptions = {
      performExternalReferenceDuplicateCheck: q.performExternalReferenceDuplicateCheckOnInvoice,
      enforceCreditLimit: false,
    };
    // A deferred line needs its schedule written with the invoice: post it as a batch invoice.
    if (inv) refuseDeferrals(inv.lines, 'batchInvoice', 'post-pay-allocate; post the invoice as a batch invoice');
    const invoice = inv ? buildInvoice(ctx, customer, inv, this.refs, invoiceOptions, 'batchInvoice') : null;
    const receipt = rec
      ? buildReceipt(ctx, customer, rec, this.refs, q.performExternalReferenceDuplicateCheckOnReceipt, 'receipt')
      : null;
    if (invoice) checkPeriodOpen(this.lockDate, invoice.transactionDate, 'batchInvoice.invoiceDate', 'post an invoice');
    if (receipt) checkPeriodOpen(this.lockDate, receipt.transactionDate, 'receipt.paymentDate', 'post a receipt');
    let date = '';
    if (q.performAllocation) {
      // Defaults to the later of the two documents; never before either.
      const earliest = laterDate(invoice!.transactionDate, receipt!.transactionDate);
      date = q.allocationDate ?? earliest;
      if (date < earliest) {
        const which = invoice!.transactionDate === earliest ? 'invoice' : 'receipt';
        const message = `${date} is before the ${which}, dated ${earliest}; date the allocation on or after ${earliest}`;
        throw new DomainError('ALLOCATION_DATE_BEFORE_TRANSACTION', `allocationDate: ${message}`, {
          field: 'allocationDate',
          date,
          transactionDate: earliest,
        });
      }
      checkPeriodOpen(this.lockDate, date, 'allocationDate', 'allocate');
    }
    if (
      invoice?.duplicateChecked &&
      referenceKey(invoice.externalReference) !== '' &&
      this.used.has(key(code, 'SI', invoice.externalReference))
    ) {
      throw duplicateError('SI', code, invoice.externalReference, 'batchInvoice.externalReference');
    }
    if (
      receipt?.duplicateChecked &&
      referenceKey(receipt.externalReference) !== '' &&
      this.used.has(key(code, 'SR', receipt.externalReference))
    ) {
      throw duplicateError('SR', code, receipt.externalReference, 'receipt.checkReference');
    }
    const increase = (invoice?.gross ?? 0n) - (receipt?.gross ?? 0n);
    if (q.enforceCreditLimit) {
      if (customer.onHold) fail('CUSTOMER_IS_ON_HOLD', `Customer ${code} is on hold`, customerField);
      const balance = this.balances.get(code) ?? 0n;
      if (customer.creditLimit > 0n && increase > 0n && balance + increase > customer.creditLimit) {
        const c = customer.currency;
        throw new DomainError(
          'CUSTOMER_CREDIT_LIMIT_EXCEEDED',
          `The balance would be ${formatAmount(balance + increase, c)} ${c}, over the credit limit of ${formatAmount(customer.creditLimit, c)}`,
          {
            field: customerField,
            balance: formatAmount(balance, c),
            increase: formatAmount(increase, c),
            creditLimit: formatAmount(customer.creditLimit, c),
          },
        );
      }
    }
    let allocationAmount = 0n;
    if (q.performAllocation) {
      const most = minBig(invoice!.gross, receipt!.gross);
      allocationAmount =
        q.allocationAmount === undefined ? most : amountOf(q.allocationAmount, customer.currency, 'allocationAmount');
      if (allocationAmount <= 0n) {
        fail(
          'TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO',
          'The allocation amount must be positive',
          'allocationAmount',
        );
      }
      if (allocationAmount > most) {
        fail(
          'TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT',
          `The allocation amount may not exceed ${formatAmount(most, customer.currency)}, the smaller of the invoice and the receipt`,
          'allocationAmount',
        );
      }
    }

    const side = (t: NewTransaction) => ({
      outstanding: t.gross,
      baseOutstanding: t.baseGross,
      currency: t.currency,
      exchangeRate: t.exchangeRate,
    });
    const bases = q.performAllocation
      ? allocationBases(side(invoice!), side(receipt!), allocationAmount, 0n, ctx.entity.baseCurrency)
      : null;
    if (bases && bases.debitBase !== bases.creditBase) {
      const what = 'The exchange difference between the invoice and the receipt';
      this.refs.requireRole(ctx.entity.roles, 'fxGainLoss', 'allocationAmount', what);
    }

    // Totals and base values are checked per query, so that one overflowing query is refused on
    // its own instead of failing the whole group's write.
    if (invoice) checkStorable([invoice], [], 'batchInvoice.');
    if (receipt) checkStorable([receipt], [], 'receipt.');
    // Rates too, against the last known rates read before the group: writing them checks no more.
    if (invoice) this.rates.check(invoice);
    if (receipt) this.rates.check(receipt);

    // Every check passed: only now does the query change the group's state.
    if (invoice && referenceKey(invoice.externalReference) !== '') {
      this.used.add(key(code, 'SI', invoice.externalReference));
    }
    if (receipt && referenceKey(receipt.externalReference) !== '') {
      this.used.add(key(code, 'SR', receipt.externalReference));
    }
    if (this.balances.has(code)) this.balances.set(code, this.balances.get(code)! + increase);
    const invoiceOrd = invoice ? this.docs.push(invoice) - 1 : -1;
    const receiptOrd = receipt ? this.docs.push(receipt) - 1 : -1;
    const allocationOrd = this.allocations.length;
    if (q.performAllocation && bases) {
      let fx: { ord: number } | null = null;
      if (bases.debitBase !== bases.creditBase) {
        fx = {
          ord:
            this.docs.push(
              buildFxTransaction(ctx, customer, date, reference, bases.debitBase, bases.creditBase, null, {}),
            ) - 1,
        };
      }
      this.allocations.push({
        customerCode: code,
        debit: { ord: invoiceOrd },
        credit: { ord: receiptOrd },
        amount: allocationAmount,
        debitBase: bases.debitBase,
        creditBase: bases.creditBase,
        date,
        reference,
        fx,
        createdBy: ctx.actor,
      });
    }
    return (posted) => ({
      invoiceTransactionId: invoiceOrd >= 0 ? posted.ids[invoiceOrd]! : null,
      receiptTransactionId: receiptOrd >= 0 ? posted.ids[receiptOrd]! : null,
      invoiceNumber: invoiceOrd >= 0 ? posted.numbers[invoiceOrd]! : null,
      receiptNumber: receiptOrd >= 0 ? posted.numbers[receiptOrd]! : null,
      allocationId: q.performAllocation ? posted.allocationIds[allocationOrd]! : null,
      allocatedAmount: q.performAllocation ? formatAmount(allocationAmount, customer.currency) : null,
      clientUniqueReference: q.clientUniqueReference ?? null,
      ...(invoice?.warnings?.length ? { warnings: invoice.warnings } : {}),
    });
  }

  async write(ctx: PostingContext) {
    const r = await writeDocuments(ctx.db, ctx.entity.id, this.docs, this.allocations, this.rates);
    return {
      ids: r.documents.map((d) => d.id),
      numbers: r.documents.map((d) => d.number),
      allocationIds: r.allocationIds,
    };
  }
}

/** Which of these (customer, type, reference) triples are already used by a posted document. */
async function usedReferences(
  db: Queryable,
  entityId: string,
  wanted: [string, TransactionType, string][],
): Promise<Set<string>> {
  const used = new Set<string>();
  if (wanted.length === 0) return used;
  const { rows } = await db.query<{ customer_code: string; type: TransactionType; external_reference: string }>(
    `SELECT DISTINCT t.customer_code, t.type, t.external_reference
       FROM unnest($2::text[], $3::text[], $4::text[]) AS w(customer_code, type, reference)
       CROSS JOIN LATERAL ${withReference('$1', 'w.reference', 'customer_code, type, external_reference')} t
      WHERE t.customer_code = w.customer_code AND t.type = w.type`,
    [entityId, wanted.map((w) => w[0]), wanted.map((w) => w[1]), wanted.map((w) => w[2])],
  );
  for (const r of rows) used.add(key(r.customer_code, r.type, r.external_reference));
  return used;
}

/**
 * AccountsIQ PostPayAndAllocateSalesInvoice: duplicate-check the invoice, then the receipt, post
 * the invoice, post the receipt, allocate one to the other. Run it inside a transaction: any
 * failure throws and the caller's rollback leaves nothing behind.
 */
export async function postPayAllocate(ctx: PostingContext, q: PostPayAllocateInput): Promise<PostPayAllocateResult> {
  const batch = await Batch.load(ctx, [q]);
  const finish = batch.add(ctx, q);
  return finish(await batch.write(ctx));
}

/** The customer codes raw queries name (before validation: an unknown code locks nothing). */
function namedCustomers(queries: unknown[]): string[] {
  const codes: string[] = [];
  for (const q of queries) {
    if (!q || typeof q !== 'object') continue;
    for (const part of [(q as { batchInvoice?: unknown }).batchInvoice, (q as { receipt?: unknown }).receipt]) {
      const code = part && typeof part === 'object' ? (part as { customerCode?: unknown }).customerCode : undefined;
      if (typeof code === 'string') codes.push(code);
    }
  }
  return codes;
}

/** Queries per set-based write: large enough to amortise round trips, small enough to keep locks short. */
export const BULK_CHUNK = 250;

export interface BulkOptions {
  parse: (raw: unknown, index: number) => PostPayAllocateInput;
  onUnexpected: (err: unknown, index: number) => void;
  chunkSize?: number;
}

function failure(err: DomainError, cur: string | null): BulkItemResult {
  return {
    status: 'Failure',
    errorCode: err.code,
    errorMessage: err.message,
    errorDetails: err.details,
    clientUniqueReference: cur,
  };
}

/**
 * PostPayAndAllocateSalesInvoices: each query atomic on its own, the batch not. Queries are
 * planned in chunks against shared state and each chunk is written in one statement; a query that
 * fails validation or a business rule is reported and left out. Should a chunk's write fail
 * unexpectedly, that chunk is redone query by query, each in its own savepoint.
 */
export async function postPayAllocateBulk(
  ctx: PostingContext,
  queries: unknown[],
  options: BulkOptions,
): Promise<{ status: 'Success' | 'Failure'; results: BulkItemResult[] }> {
  const results: BulkItemResult[] = new Array<BulkItemResult>(queries.length);
  const size = options.chunkSize ?? BULK_CHUNK;
  // Chunks lock their customers in code order, but chunk after chunk in one transaction would hold
  // them in no global order (A, Z, then B): every customer named is locked first, all at once.
  if (queries.length > size && ctx.db.inTransaction)
    await lockCustomers(ctx.db, ctx.entity.id, namedCustomers(queries));
  for (let start = 0; start < queries.length; start += size) {
    const slice = queries.slice(start, start + size);
    const cur = (raw: unknown) =>
      raw &&
      typeof raw === 'object' &&
      typeof (raw as { clientUniqueReference?: unknown }).clientUniqueReference === 'string'
        ? (raw as { clientUniqueReference: string }).clientUniqueReference
        : null;
    const parsed: (PostPayAllocateInput | null)[] = slice.map((raw, k) => {
      try {
        return options.parse(raw, start + k);
      } catch (err) {
        if (!isDomainError(err)) throw err;
        results[start + k] = failure(err, cur(raw));
        return null;
      }
    });
    const valid = parsed.filter((q): q is PostPayAllocateInput => q !== null);
    try {
      await ctx.db.transaction(async (db) => {
        const chunkCtx = { ...ctx, db };
        const batch = await Batch.load(chunkCtx, valid);
        const finishers = parsed.map((q, k) => {
          if (!q) return null;
          try {
            return batch.add(chunkCtx, q);
          } catch (err) {
            if (!isDomainError(err)) throw err;
            results[start + k] = failure(err, q.clientUniqueReference ?? null);
            return null;
          }
        });
        const posted = await batch.write(chunkCtx);
        finishers.forEach((f, k) => {
          if (f) results[start + k] = { status: 'Success', ...f(posted) };
        });
      });
    } catch (err) {
      options.onUnexpected(err, start);
      // Redo this chunk one query at a time so one odd query cannot sink its neighbours.
      for (let k = 0; k < slice.length; k++) {
        const q = parsed[k];
        if (!q) continue;
        try {
          const r = await ctx.db.transaction((db) => postPayAllocate({ ...ctx, db }, q));
          results[start + k] = { status: 'Success', ...r };
        } catch (inner) {
          // A date rule the database refused (a lock date set while this request was in flight) is a business error too.
          const domain = isDomainError(inner) ? inner : dateRuleViolation(inner);
          if (domain) results[start + k] = failure(domain, q.clientUniqueReference ?? null);
          else {
            options.onUnexpected(inner, start + k);
            results[start + k] = {
              status: 'Failure',
              errorCode: 'INTERNAL_ERROR',
              errorMessage: 'This query failed on the server; it was logged and nothing was posted for it.',
              clientUniqueReference: q.clientUniqueReference ?? null,
            };
          }
        }
      }
    }
  }
  return { status: results.every((r) => r.status === 'Success') ? 'Success' : 'Failure', results };
}
