import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { readLockDate } from './periods.ts';

/**
 * The only two changes a posted document accepts: its due date moved, and a dispute flag. The
 * database allows exactly these columns to change (migration 0070); everything else about a
 * posted document is corrected by posting another one.
 */
export interface Amendable {
  transactionId: number;
  type: string;
  number: number;
  customerCode: string;
  transactionDate: string;
  dueDate: string | null;
  disputed: boolean;
  disputeReason: string | null;
}

interface AmendableRow {
  id: string;
  type: string;
  number: string;
  customer_code: string;
  transaction_date: string;
  due_date: string | null;
  disputed: boolean;
  dispute_reason: string | null;
}

/** Documents with a due date that ages them: the debit side a customer owes. */
const DUE_DATE_TYPES = new Set(['SI', 'SD']);
/** Customer documents; discounts, their reversals and exchange differences are the ledger's own. */
const DISPUTABLE_TYPES = new Set(['SI', 'SN', 'SR', 'SD', 'SC']);

const COLUMNS = `id::text, type, number::text, customer_code, transaction_date::text, due_date::text, disputed,
                 dispute_reason`;

function toAmendable(r: AmendableRow): Amendable {
  return {
    transactionId: Number(r.id),
    type: r.type,
    number: Number(r.number),
    customerCode: r.customer_code,
    transactionDate: r.transaction_date,
    dueDate: r.due_date,
    disputed: r.disputed,
    disputeReason: r.dispute_reason,
  };
}

/** The document locked until the transaction ends, so two changes to it queue rather than both read the old value. */
async function lockDocument(db: Queryable, entityId: string, transactionId: number): Promise<Amendable> {
  const { rows } = await db.query<AmendableRow>(
    `SELECT ${COLUMNS} FROM transactions WHERE id = $1 AND entity_id = $2 FOR UPDATE`,
    [transactionId, entityId],
  );
  const row = rows[0];
  if (!row) throw new DomainError('NOT_FOUND', `No transaction ${transactionId} in this entity.`, { transactionId });
  return toAmendable(row);
}

async function update(db: Queryable, transactionId: number, set: string, params: unknown[]): Promise<Amendable> {
  const { rows } = await db.query<AmendableRow>(
    `UPDATE transactions SET ${set}, amended_at = now(), amended_xid = ll_change_id() WHERE id = $1 RETURNING ${COLUMNS}`,
    [transactionId, ...(params as (string | boolean | null)[])],
  );
  return toAmendable(rows[0]!);
}

/**
 * Moves the due date of a posted invoice or debit journal; statements and aging read the new one.
 * Not before the document date; the same date again changes nothing and says so (`changed: false`).
 * Not for a document dated on or before the lock date: it is in the statements and aged reports of
 * the locked period, which would age it from the new date (PERIOD_LOCKED, as posting there is).
 */
export async function changeDueDate(
  db: Queryable,
  entityId: string,
  transactionId: number,
  dueDate: string,
): Promise<{ before: Amendable; after: Amendable; changed: boolean }> {
  const before = await lockDocument(db, entityId, transactionId);
  if (!DUE_DATE_TYPES.has(before.type) || before.dueDate === null) {
    throw new DomainError(
      'TRANSACTION_DUE_DATE_CANNOT_CHANGE',
      `Transaction ${transactionId} is a ${before.type}${before.dueDate === null ? ' without a due date' : ''}; ` +
        'only an invoice (SI) or debit journal (SD) has a due date to move.',
      { transactionId, type: before.type },
    );
  }
  if (dueDate < before.transactionDate) {
    throw new DomainError(
      'DUE_DATE_BEFORE_TRANSACTION_DATE',
      `dueDate: ${dueDate} is before the document date ${before.transactionDate}`,
      [{ field: 'dueDate', message: `is before the document date ${before.transactionDate}` }],
    );
  }
  if (dueDate === before.dueDate) return { before, after: before, changed: false };
  // Read FOR SHARE, as the posting paths do: a lock date being set waits for this change, or this sees it.
  const lockDate = await readLockDate(db, entityId);
  if (lockDate !== null && before.transactionDate <= lockDate) {
    throw new DomainError(
      'PERIOD_LOCKED',
      `dueDate: transaction ${transactionId} is dated ${before.transactionDate}, in the period locked up to and ` +
        `including ${lockDate}; its due date cannot move, as the aged reports of that period would change`,
      { field: 'dueDate', date: before.transactionDate, lockDate },
    );
  }
  const after = await update(db, transactionId, 'due_date = $2::date', [dueDate]);
  return { before, after, changed: true };
}

/**
 * Flags a customer document as disputed (with a reason) or clears the flag. Clearing drops the
 * reason; setting it again with the same reason changes nothing (`changed: false`).
 */
export async function setDispute(
  db: Queryable,
  entityId: string,
  transactionId: number,
  dispute: { disputed: boolean; reason: string | null },
): Promise<{ before: Amendable; after: Amendable; changed: boolean }> {
  const before = await lockDocument(db, entityId, transactionId);
  if (!DISPUTABLE_TYPES.has(before.type)) {
    throw new DomainError(
      'TRANSACTION_CANNOT_BE_DISPUTED',
      `Transaction ${transactionId} is a ${before.type}, which the ledger posts itself; dispute the document it belongs to.`,
      { transactionId, type: before.type },
    );
  }
  const reason = dispute.disputed ? dispute.reason : null;
  if (before.disputed === dispute.disputed && before.disputeReason === reason) {
    return { before, after: before, changed: false };
  }
  const after = await update(db, transactionId, 'disputed = $2, dispute_reason = $3', [dispute.disputed, reason]);
  return { before, after, changed: true };
}
