import { DomainError, isDomainError, type ErrorCode } from '../../domain/errors.ts';
import { type JournalLine, fxJournal } from '../../domain/documents.ts';
import { laterDate, today } from '../../domain/dates.ts';
import { checkPeriodOpen, readLockDate } from '../periods.ts';
import { lockCustomer, lockCustomers } from './references.ts';
import { loadOpenTransactions } from './open-items.ts';
import { insertTransaction } from './write.ts';
import type { PostingContext } from './types.ts';
import { type AccountUse, requireOpenAccounts, roleUse } from './role-accounts.ts';

export interface UnallocateResult {
  transactionId: number;
  status: 'Success' | 'Failure';
  errorCode?: ErrorCode;
  errorMessage?: string;
  reversedAllocationIds: number[];
}

interface ActiveAllocation {
  id: string;
  debit_transaction_id: string;
  credit_transaction_id: string;
  debit_type: string;
  credit_type: string;
  amount: string;
  debit_base_amount: string;
  credit_base_amount: string;
  currency: string;
  exchange_rate: string;
  reference: string;
  fx_transaction_id: string | null;
  parent_allocation_id: string | null;
  allocation_date: string;
}

/**
 * AccountsIQ UnallocateTransactions. `date` is the reversal date: never before the allocation it
 * reverses (UNALLOCATION_DATE_BEFORE_ALLOCATION); when omitted, today, or the allocation's own
 * date if that is later.: reverses every active allocation touching each id, with the
 * discount allocations hanging off them. Nothing is deleted: a reversal row is recorded, a realised
 * FX journal is reversed by an opposite one, and a settlement discount by a discount reversal (DX)
 * that is allocated against it. Each id succeeds or fails on its own.
 */
export async function unallocate(
  ctx: PostingContext,
  transactionIds: number[],
  date?: string,
): Promise<UnallocateResult[]> {
  const results: UnallocateResult[] = [];
  // Every customer involved is locked first, in one global order (lockCustomers sorts by code):
  // taken one id at a time, [C1's, C2's] and [C2's, C1's] in two concurrent calls would deadlock.
  await lockCustomersOf(ctx, transactionIds);
  for (const transactionId of transactionIds) {
    try {
      const reversed = await ctx.db.transaction((db) => unallocateOne({ ...ctx, db }, transactionId, date));
      results.push({ transactionId, status: 'Success', reversedAllocationIds: reversed });
    } catch (err) {
      if (!isDomainError(err)) throw err;
      results.push({
        transactionId,
        status: 'Failure',
        errorCode: err.code,
        errorMessage: err.message,
        reversedAllocationIds: [],
      });
    }
  }
  return results;
}

/** Locks the customers of these transactions (those that exist), all at once, in code order. */
async function lockCustomersOf(ctx: PostingContext, transactionIds: number[]): Promise<void> {
  if (transactionIds.length < 2) return;
  const { rows } = await ctx.db.query<{ customer_code: string }>(
    `SELECT DISTINCT customer_code FROM transactions WHERE entity_id = $1 AND id = ANY($2::bigint[]) AND customer_code IS NOT NULL`,
    [ctx.entity.id, transactionIds],
  );
  await lockCustomers(
    ctx.db,
    ctx.entity.id,
    rows.map((r) => r.customer_code),
  );
}

async function unallocateOne(ctx: PostingContext, transactionId: number, given: string | undefined): Promise<number[]> {
  const found = (await loadOpenTransactions(ctx.db, ctx.entity.id, [transactionId])).get(transactionId);
  if (!found) throw new DomainError('TRANSACTION_DOES_NOT_EXIST', `Transaction ${transactionId} does not exist`);
  const customer = await lockCustomer(ctx.db, ctx.entity.id, found.customerCode, 'transactionIds');
  const { rows } = await ctx.db.query<ActiveAllocation>(
    `WITH direct AS (
       SELECT a.id FROM allocations a
        WHERE a.entity_id = $1 AND (a.debit_transaction_id = $2 OR a.credit_transaction_id = $2)
          AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)
     ), targets AS (
       SELECT id FROM direct
       UNION
       SELECT c.id FROM allocations c
        WHERE c.parent_allocation_id IN (SELECT id FROM direct)
          AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = c.id)
     )
     SELECT a.id, a.debit_transaction_id, a.credit_transaction_id, d.type AS debit_type, c.type AS credit_type, a.amount,
            a.debit_base_amount, a.credit_base_amount, c.currency, c.exchange_rate::text AS exchange_rate, a.reference,
            a.fx_transaction_id, a.parent_allocation_id, a.allocation_date::text AS allocation_date
       FROM allocations a
       JOIN transactions d ON d.id = a.debit_transaction_id
       JOIN transactions c ON c.id = a.credit_transaction_id
      WHERE a.id IN (SELECT id FROM targets)
      ORDER BY a.id`,
    [ctx.entity.id, transactionId],
  );
  if (rows.length === 0) {
    throw new DomainError('TRANSACTION_HAS_NO_ACTIVE_ALLOCATIONS', `${found.label} has no active allocation`);
  }
  const lockDate = await readLockDate(ctx.db, ctx.entity.id);
  const dates = new Map<string, string>();
  for (const a of rows) {
    if (given !== undefined && given < a.allocation_date) {
      const message = `${given} is before allocation ${a.id}, dated ${a.allocation_date}; date the unallocation on or after it`;
      throw new DomainError('UNALLOCATION_DATE_BEFORE_ALLOCATION', `date: ${message}`, {
        field: 'date',
        date: given,
        allocationId: Number(a.id),
        allocationDate: a.allocation_date,
      });
    }
    const date = given ?? laterDate(today(), a.allocation_date);
    checkPeriodOpen(lockDate, date, 'date', 'unallocate');
    dates.set(a.id, date);
  }
  const control = customer.controlGlAccountCode;
  const roles = ctx.entity.roles;
  await requireReversalAccounts(ctx, rows);
  const reversedIds: number[] = [];
  for (const a of rows) {
    const date = dates.get(a.id)!;
    const debitBase = BigInt(a.debit_base_amount);
    const creditBase = BigInt(a.credit_base_amount);
    let fxReversalId: number | null = null;
    if (a.fx_transaction_id !== null) {
      const fx = await insertTransaction(ctx.db, {
        entityId: ctx.entity.id,
        type: 'FX',
        customerCode: customer.code,
        currency: customer.currency,
        exchangeRate: '1',
        transactionDate: date,
        dueDate: null,
        externalReference: a.reference.slice(0, 50),
        description: `Reversal of exchange difference ${a.fx_transaction_id}`,
        net: 0n,
        tax: 0n,
        gross: 0n,
        baseGross: debitBase > creditBase ? debitBase - creditBase : creditBase - debitBase,
        duplicateChecked: false,
        relatedTransactionId: Number(a.fx_transaction_id),
        details: { reversesAllocationId: Number(a.id) },
        createdBy: ctx.actor,
        items: [],
        lines: fxJournal(control, roles.fxGainLoss, creditBase, debitBase),
      });
      fxReversalId = fx.id;
    }
    await ctx.db.query(
      `INSERT INTO allocation_reversals (allocation_id, entity_id, reversal_date, fx_reversal_transaction_id, created_by)
       VALUES ($1, $2, $3, $4, $5)`,
      [a.id, ctx.entity.id, date, fxReversalId, ctx.actor],
    );
    reversedIds.push(Number(a.id));
    // Only a discount's own allocation (the child of the payment allocation) cancels the discount;
    // reversing any other allocation that involves a DS (a reopened one allocated by hand, or its
    // DX) just reopens both sides.
    if (isDiscountAllocation(a)) {
      await reverseDiscount(ctx, a, date, customer.code);
    }
  }
  return reversedIds;
}

/**
 * Refuses the unallocation, before anything is written, when an exchange difference it reverses
 * would post to an inactive or header exchange gains and losses account, or a discount it cancels
 * to an account of the discount's journal (discount allowed, VAT) that is no longer one
 * (role-accounts.ts).
 */
async function requireReversalAccounts(ctx: PostingContext, rows: ActiveAllocation[]): Promise<void> {
  const field = 'transactionIds';
  const uses: AccountUse[] = [];
  if (rows.some((a) => a.fx_transaction_id !== null))
    uses.push(roleUse(ctx.entity.roles, 'fxGainLoss', field, 'The reversal of the exchange difference'));
  const discounts = rows.filter(isDiscountAllocation).map((a) => a.credit_transaction_id);
  if (discounts.length > 0) {
    const { rows: lines } = await ctx.db.query<{ transaction_id: string; gl_account_code: string }>(
      `SELECT DISTINCT transaction_id, gl_account_code FROM journal_lines
        WHERE entity_id = $1 AND transaction_id = ANY($2::bigint[]) AND role <> 'control'
        ORDER BY transaction_id, gl_account_code`,
      [ctx.entity.id, discounts],
    );
    for (const l of lines) {
      uses.push({
        glAccountCode: l.gl_account_code,
        field,
        what: `The reversal (DX) of settlement discount ${l.transaction_id}`,
        why: "the discount's own account, which its reversal mirrors",
        otherwise: '',
      });
    }
  }
  await requireOpenAccounts(ctx.db, ctx.entity.id, uses);
}

/** A discount's own allocation (the child of the payment allocation): reversing it cancels the discount. */
function isDiscountAllocation(a: ActiveAllocation): boolean {
  return a.parent_allocation_id !== null && a.credit_type === 'DS';
}

/**
 * Cancels a settlement discount whose allocation was reversed: a DX, the exact mirror of the DS
 * journal (so a VAT part taken off output VAT goes back on), closes the DS it reverses.
 */
async function reverseDiscount(ctx: PostingContext, a: ActiveAllocation, date: string, customerCode: string) {
  const amount = BigInt(a.amount);
  const base = BigInt(a.credit_base_amount);
  const dsId = Number(a.credit_transaction_id);
  const ds = await ctx.db.query<{
    role: JournalLine['role'];
    gl_account_code: string;
    department_id: string | null;
    tax_code: string | null;
    amount: string;
    base_amount: string;
  }>(
    `SELECT role, gl_account_code, department_id, tax_code, amount, base_amount
       FROM journal_lines WHERE transaction_id = $1 ORDER BY line_no`,
    [dsId],
  );
  const description = `Reversal of discount ${dsId}`;
  const lines: JournalLine[] = ds.rows.map((l) => ({
    role: l.role,
    glAccountCode: l.gl_account_code,
    departmentId: l.department_id,
    taxCode: l.tax_code,
    description,
    amount: -BigInt(l.amount),
    baseAmount: -BigInt(l.base_amount),
  }));
  const tax = lines.filter((l) => l.role === 'tax').reduce((sum, l) => sum - l.amount, 0n);
  const dx = await insertTransaction(ctx.db, {
    entityId: ctx.entity.id,
    type: 'DX',
    customerCode,
    currency: a.currency.trim(),
    exchangeRate: a.exchange_rate,
    transactionDate: date,
    dueDate: null,
    externalReference: a.reference.slice(0, 50),
    description: `Reversal of settlement discount ${dsId}`,
    net: amount - tax,
    tax,
    gross: amount,
    baseGross: base,
    duplicateChecked: false,
    relatedTransactionId: dsId,
    details: { reversesAllocationId: Number(a.id) },
    createdBy: ctx.actor,
    items: [],
    lines,
  });
  await ctx.db.query(
    `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount, debit_base_amount,
                              credit_base_amount, allocation_date, reference, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9)`,
    [
      ctx.entity.id,
      customerCode,
      dx.id,
      dsId,
      amount,
      base,
      date,
      `Discount reversal ${a.reference}`.slice(0, 100),
      ctx.actor,
    ],
  );
}
