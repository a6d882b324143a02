import type { Queryable } from '../../db/database.ts';
import { formatAmount } from '../../domain/money.ts';

/** One side of an allocation: the document it took money off. */
export interface AllocationSide {
  transactionId: number;
  type: string;
  number: number;
  externalReference: string;
}

/** An allocation as the query endpoints show it, in the currency of its two documents. */
export interface AllocationListItem {
  allocationId: number;
  customerCode: string;
  currency: string;
  /** The invoice, debit journal or refund side. */
  debit: AllocationSide;
  /** The receipt, credit note, credit journal or discount side. */
  credit: AllocationSide;
  amount: string;
  date: string;
  reference: string;
  active: boolean;
  reversalDate: string | null;
  createdAt: string;
}

export interface AllocationFilter {
  /** Allocation date on or after. */
  from?: string | undefined;
  /** Allocation date on or before. */
  to?: string | undefined;
  customerCode?: string | undefined;
  /** Only allocations that took part this transaction, on either side. */
  transactionId?: number | undefined;
  /** true: only those still in force; false: only reversed ones; absent: both. */
  active?: boolean | undefined;
}

interface AllocationRow {
  id: string;
  customer_code: string;
  currency: string;
  debit_id: string;
  debit_type: string;
  debit_number: string;
  debit_reference: string;
  credit_id: string;
  credit_type: string;
  credit_number: string;
  credit_reference: string;
  amount: string;
  allocation_date: string;
  reference: string;
  reversal_date: string | null;
  created_at: Date | string;
}

const FROM_ALLOCATIONS = `
    FROM allocations a
    JOIN transactions d ON d.id = a.debit_transaction_id
    JOIN transactions c ON c.id = a.credit_transaction_id
    LEFT JOIN allocation_reversals r ON r.allocation_id = a.id`;

function toItem(r: AllocationRow): AllocationListItem {
  return {
    allocationId: Number(r.id),
    customerCode: r.customer_code,
    currency: r.currency,
    debit: {
      transactionId: Number(r.debit_id),
      type: r.debit_type,
      number: Number(r.debit_number),
      externalReference: r.debit_reference,
    },
    credit: {
      transactionId: Number(r.credit_id),
      type: r.credit_type,
      number: Number(r.credit_number),
      externalReference: r.credit_reference,
    },
    // Both sides of an allocation belong to one customer, so they share the currency the amount is in.
    amount: formatAmount(BigInt(r.amount), r.currency),
    date: r.allocation_date,
    reference: r.reference,
    active: r.reversal_date === null,
    reversalDate: r.reversal_date,
    createdAt: (r.created_at instanceof Date ? r.created_at : new Date(r.created_at)).toISOString(),
  };
}

/**
 * AccountsIQ GetAllocationsBetween / GetAllocationsByTransactionId: the entity's allocations
 * filtered by allocation date (both ends inclusive), customer, transaction and whether they
 * were reversed, paged and ordered by allocation id.
 */
export async function listAllocations(
  db: Queryable,
  entityId: string,
  filter: AllocationFilter,
  paging: { page: number; pageSize: number },
): Promise<{ items: AllocationListItem[]; total: number }> {
  const params: (string | number)[] = [entityId];
  const where = ['a.entity_id = $1'];
  if (filter.from !== undefined) {
    params.push(filter.from);
    where.push(`a.allocation_date >= $${params.length}::date`);
  }
  if (filter.to !== undefined) {
    params.push(filter.to);
    where.push(`a.allocation_date <= $${params.length}::date`);
  }
  if (filter.customerCode !== undefined) {
    params.push(filter.customerCode);
    where.push(`a.customer_code = $${params.length}`);
  }
  if (filter.transactionId !== undefined) {
    params.push(filter.transactionId);
    where.push(`(a.debit_transaction_id = $${params.length} OR a.credit_transaction_id = $${params.length})`);
  }
  if (filter.active !== undefined)
    where.push(filter.active ? 'r.allocation_id IS NULL' : 'r.allocation_id IS NOT NULL');
  const condition = where.join(' AND ');
  const counted = await db.query<{ total: number }>(
    `SELECT count(*)::int AS total ${FROM_ALLOCATIONS} WHERE ${condition}`,
    params,
  );
  const limit = params.length + 1;
  const { rows } = await db.query<AllocationRow>(
    `SELECT a.id::text, a.customer_code, d.currency, d.id::text AS debit_id, d.type AS debit_type,
            d.number::text AS debit_number, d.external_reference AS debit_reference, c.id::text AS credit_id,
            c.type AS credit_type, c.number::text AS credit_number, c.external_reference AS credit_reference,
            a.amount::text, a.allocation_date::text, a.reference, r.reversal_date::text, a.created_at
     ${FROM_ALLOCATIONS}
     WHERE ${condition}
     ORDER BY a.id
     LIMIT $${limit} OFFSET $${limit + 1}`,
    [...params, paging.pageSize, (paging.page - 1) * paging.pageSize],
  );
  return { items: rows.map(toItem), total: counted.rows[0]?.total ?? 0 };
}

/** Whether the transaction exists in the entity, so a lookup by id can answer 404 rather than an empty list. */
export async function transactionExists(db: Queryable, entityId: string, id: number): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM transactions WHERE id = $1 AND entity_id = $2', [id, entityId]);
  return rows.length > 0;
}
