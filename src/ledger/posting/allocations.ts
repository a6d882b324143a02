import { DomainError } from '../../domain/errors.ts';
import { type JournalLine, controlJournal, fxJournal } from '../../domain/documents.ts';
import { type VatShare, discountVatJournal, splitDiscount } from '../../domain/discount-vat.ts';
import { getVatSettings } from '../settings.ts';
import { formatAmount } from '../../domain/money.ts';
import { allocationBases } from '../../domain/allocation.ts';
import { laterDate } from '../../domain/dates.ts';
import { checkPeriodOpen, readLockDate } from '../periods.ts';
import { amountOf } from './common.ts';
import { remainingVatShares } from './discount-shares.ts';
import { type AccountUse, requireOpenAccounts, roleUse } from './role-accounts.ts';
import { type PostingCustomer, lockCustomer } from './references.ts';
import { loadOpenTransactions } from './open-items.ts';
import { type NewTransaction, insertTransaction } from './write.ts';
import type { AllocationInput, PostingContext } from './types.ts';

export interface AllocationResult {
  allocationId: number;
  debitTransactionId: number;
  creditTransactionId: number;
  amount: bigint;
  discountAmount: bigint;
  discountTransactionId: number | null;
  fxTransactionId: number | null;
  currency: string;
  /** Outstanding after the allocation, keyed by transaction id. */
  outstanding: Map<number, bigint>;
}

/** The realised exchange difference of an allocation, as a transaction of its own (type FX). */
export function buildFxTransaction(
  ctx: PostingContext,
  customer: PostingCustomer,
  date: string,
  reference: string,
  debitBase: bigint,
  creditBase: bigint,
  relatedTransactionId: number | null,
  details: Record<string, unknown>,
): NewTransaction {
  const diff = debitBase - creditBase;
  return {
    entityId: ctx.entity.id,
    type: 'FX',
    customerCode: customer.code,
    currency: customer.currency,
    exchangeRate: '1',
    transactionDate: date,
    dueDate: null,
    externalReference: reference.slice(0, 50),
    description: 'Realised exchange difference',
    net: 0n,
    tax: 0n,
    gross: 0n,
    baseGross: diff < 0n ? -diff : diff,
    duplicateChecked: false,
    relatedTransactionId,
    details,
    createdBy: ctx.actor,
    items: [],
    lines: fxJournal(customer.controlGlAccountCode, ctx.entity.roles.fxGainLoss, debitBase, creditBase),
  };
}

/**
 * The date of an allocation: as given, which may not be before either document (the allocation
 * would settle a document before it existed, and a statement of that day would disagree with the
 * balance), or by default the later of the two documents' dates.
 */
export function allocationDate(
  given: string | undefined,
  debit: { id: number; transactionDate: string },
  credit: { id: number; transactionDate: string },
  field: string,
): string {
  const earliest = laterDate(debit.transactionDate, credit.transactionDate);
  if (given === undefined) return earliest;
  if (given < earliest) {
    const doc = debit.transactionDate === earliest ? debit : credit;
    const message = `${given} is before transaction ${doc.id}, dated ${earliest}; date the allocation on or after ${earliest}`;
    throw new DomainError('ALLOCATION_DATE_BEFORE_TRANSACTION', `${field}: ${message}`, {
      field,
      date: given,
      transactionId: doc.id,
      transactionDate: earliest,
    });
  }
  return given;
}

function fail(code: ConstructorParameters<typeof DomainError>[0], message: string, field?: string): never {
  throw new DomainError(code, message, field ? [{ field, message }] : undefined);
}

/**
 * AccountsIQ AllocateTransactions / AllocateTransactionsWithDiscount. Pass `locked` when the
 * caller already holds the customer's row lock (post-pay-allocate).
 */
export async function allocate(
  ctx: PostingContext,
  input: AllocationInput,
  locked?: PostingCustomer,
): Promise<AllocationResult> {
  const reference = input.reference?.trim() ?? '';
  if (reference === '')
    fail('TRANSACTION_ALLOCATION_REFERENCE_IS_NULL', 'An allocation needs a reference', 'reference');
  const id1 = input.transactionId1;
  const id2 = input.transactionId2;
  if (id1 === id2)
    fail(
      'TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES',
      'A transaction cannot be allocated to itself',
      'transactionId2',
    );
  const first = await loadOpenTransactions(ctx.db, ctx.entity.id, [id1, id2]);
  if (!first.has(id1)) fail('TRANSACTION_DOES_NOT_EXIST', `Transaction ${id1} does not exist`, 'transactionId1');
  if (!first.has(id2)) fail('TRANSACTION_DOES_NOT_EXIST', `Transaction ${id2} does not exist`, 'transactionId2');
  const customerCode = first.get(id1)!.customerCode;
  if (first.get(id2)!.customerCode !== customerCode) {
    fail(
      'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS',
      `${first.get(id1)!.label} and ${first.get(id2)!.label} belong to different customers`,
      'transactionId2',
    );
  }
  const customer = locked ?? (await lockCustomer(ctx.db, ctx.entity.id, customerCode, 'transactionId1'));
  // Read again under the customer lock: a concurrent allocation may have committed meanwhile.
  const open = locked ? first : await loadOpenTransactions(ctx.db, ctx.entity.id, [id1, id2]);
  const t1 = open.get(id1)!;
  const t2 = open.get(id2)!;
  for (const [t, field] of [
    [t1, 'transactionId1'],
    [t2, 'transactionId2'],
  ] as const) {
    if (t.side === 'none') fail('TRANSACTION_IS_NOT_ALLOCATABLE', `${t.label} cannot be allocated`, field);
  }
  if (t1.side === t2.side) {
    fail(
      'TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES',
      `${t1.type} and ${t2.type} are both on the ${t1.side} side`,
      'transactionId2',
    );
  }
  const currency = customer.currency;
  const amount = amountOf(input.amount, currency, 'amount');
  if (amount <= 0n)
    fail(
      'TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO',
      'The allocation amount must be positive',
      'amount',
    );
  const discount = input.discountAmount === undefined ? 0n : amountOf(input.discountAmount, currency, 'discountAmount');
  if (discount < 0n) fail('VALIDATION_ERROR', 'discountAmount: must not be negative', 'discountAmount');
  const debit = t1.side === 'debit' ? t1 : t2;
  const credit = t1.side === 'debit' ? t2 : t1;
  if (discount > 0n && debit.type !== 'SI' && debit.type !== 'SD') {
    fail(
      'TRANSACTION_DISCOUNT_REQUIRES_DEBIT_DOCUMENT',
      'A discount can only be given on an invoice or debit journal',
      'discountAmount',
    );
  }
  for (const t of [t1, t2]) {
    if (t.outstanding === 0n) {
      fail(
        'TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION',
        `${t.label} is fully allocated`,
        t === t1 ? 'transactionId1' : 'transactionId2',
      );
    }
  }
  if (amount > credit.outstanding || amount + discount > debit.outstanding) {
    const which = amount > credit.outstanding ? credit : debit;
    throw new DomainError(
      'TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT',
      `${which.label} has ${formatAmount(which.outstanding, currency)} outstanding`,
      { field: 'amount', transactionId: which.id, outstanding: formatAmount(which.outstanding, currency) },
    );
  }
  const date = allocationDate(input.date, debit, credit, 'date');
  checkPeriodOpen(await readLockDate(ctx.db, ctx.entity.id), date, 'date', 'allocate');
  const base = ctx.entity.baseCurrency;
  const roles = ctx.entity.roles;

  const { debitBase, creditBase, discountBase } = allocationBases(debit, credit, amount, discount, base);
  // With adjustVat an invoice's discount carries its share of the VAT still on the invoice (after
  // the credit notes and discounts allocated to it) back out of output VAT.
  let parts: VatShare[] = [];
  if (
    discount > 0n &&
    debit.type === 'SI' &&
    (await getVatSettings(ctx.db, ctx.entity.id)).discountVatTreatment === 'adjustVat'
  ) {
    const left = await remainingVatShares(ctx.db, ctx.entity.id, debit.id);
    // A discount larger than what is left of the invoice's supplies (a credit note raised from it
    // left open to refund leaves it owing more than that) takes back at most the VAT left on each
    // code; the rest is net. Divided by the gross left, it took more VAT than the code had left.
    parts = splitDiscount(discount, left.shares, left.gross > 0n && discount > left.gross ? discount : left.gross);
  }
  // The accounts the ledger picks itself, checked before anything is written.
  const uses: AccountUse[] = [];
  if (debitBase !== creditBase)
    uses.push(roleUse(roles, 'fxGainLoss', 'amount', 'The exchange difference of the allocation'));
  if (discount > 0n) uses.push(roleUse(roles, 'discountAllowed', 'discountAmount', 'The settlement discount'));
  for (const p of parts) {
    if (p.tax === 0n) continue;
    uses.push({
      glAccountCode: p.glAccountCode,
      field: 'discountAmount',
      what: `The settlement discount's VAT on tax code ${p.taxCode}`,
      why: `the VAT account ${debit.label} posted tax code ${p.taxCode} to`,
      otherwise: '',
    });
  }
  await requireOpenAccounts(ctx.db, ctx.entity.id, uses);

  let fxTransactionId: number | null = null;
  if (debitBase !== creditBase) {
    const fx = buildFxTransaction(ctx, customer, date, reference, debitBase, creditBase, debit.id, {
      debitTransactionId: debit.id,
      creditTransactionId: credit.id,
    });
    fxTransactionId = (await insertTransaction(ctx.db, fx)).id;
  }

  const { rows } = await ctx.db.query<{ id: string }>(
    `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount, debit_base_amount,
                              credit_base_amount, allocation_date, reference, fx_transaction_id, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
    [
      ctx.entity.id,
      customer.code,
      debit.id,
      credit.id,
      amount,
      debitBase,
      creditBase,
      date,
      reference,
      fxTransactionId,
      ctx.actor,
    ],
  );
  const allocationId = Number(rows[0]!.id);

  let discountTransactionId: number | null = null;
  if (discount > 0n) {
    const description = `Discount on ${debit.label}`;
    const conv = { currency, baseCurrency: base, rate: debit.exchangeRate };
    const lines: JournalLine[] =
      parts.length > 0
        ? discountVatJournal(
            customer.controlGlAccountCode,
            roles.discountAllowed,
            description,
            parts,
            discount,
            discountBase,
            conv,
          )
        : controlJournal(
            customer.controlGlAccountCode,
            description,
            [
              {
                role: 'discount',
                glAccountCode: roles.discountAllowed,
                departmentId: null,
                description,
                amount: discount,
              },
            ],
            conv,
            -1n,
            () => discountBase,
          ).lines;
    const discountTax = parts.reduce((sum, p) => sum + p.tax, 0n);
    const ds = await insertTransaction(ctx.db, {
      entityId: ctx.entity.id,
      type: 'DS',
      customerCode: customer.code,
      currency,
      exchangeRate: debit.exchangeRate,
      transactionDate: date,
      dueDate: null,
      externalReference: reference.slice(0, 50),
      description: `Settlement discount on ${debit.label}`,
      net: discount - discountTax,
      tax: discountTax,
      gross: discount,
      baseGross: discountBase,
      duplicateChecked: false,
      relatedTransactionId: debit.id,
      details: { allocationId },
      createdBy: ctx.actor,
      items: [],
      lines,
    });
    discountTransactionId = ds.id;
    await ctx.db.query(
      `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount, debit_base_amount,
                                credit_base_amount, allocation_date, reference, parent_allocation_id, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10)`,
      [ctx.entity.id, customer.code, debit.id, ds.id, discount, discountBase, date, reference, allocationId, ctx.actor],
    );
  }
  return {
    allocationId,
    debitTransactionId: debit.id,
    creditTransactionId: credit.id,
    amount,
    discountAmount: discount,
    discountTransactionId,
    fxTransactionId,
    currency,
    outstanding: new Map([
      [debit.id, debit.outstanding - amount - discount],
      [credit.id, credit.outstanding - amount],
    ]),
  };
}
