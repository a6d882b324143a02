import type { Queryable } from '../db/database.ts';
import { documentLabel } from '../domain/documents.ts';
import { DomainError } from '../domain/errors.ts';
import { formatAmount } from '../domain/money.ts';
import { lockCustomers } from './posting/references.ts';
import type { PostingContext } from './posting/types.ts';

/*
 * A receipt's payment provider's fee: the general journal (bank charges debited, the bank
 * credited) kept against it in `receipt_fees` (migration 0114), at most one per receipt and one
 * receipt per journal. A pipeline posting or linking a payment records it (connectors/ledger/
 * fees.ts); a bookkeeper records one keyed by hand (`recordReceiptFee`, PUT
 * /v1/transactions/{id}/fee) when the pipeline cannot tell it is the fee, or that it is another
 * receipt's; reversing the journal takes it off (journal-reversal.ts).
 */

/** A receipt's fee journal, as answered and as the pipelines compare it. */
export interface ReceiptFee {
  transactionId: number;
  number: number;
  reference: string;
  label: string;
  date: string;
  currency: string;
  /** What it takes out of the bank, in minor units of its currency. */
  gross: bigint;
  /** False for a fee a pipeline posted; true for a journal keyed by hand (POST /v1/journals). */
  keyedByHand: boolean;
}

type FeeRow = {
  id: string;
  number: string;
  external_reference: string;
  date: string;
  currency: string;
  gross: string;
  keyed: boolean;
};

const toFee = (r: FeeRow): ReceiptFee => ({
  transactionId: Number(r.id),
  number: Number(r.number),
  reference: r.external_reference,
  label: documentLabel({ type: 'GJ', number: r.number, externalReference: r.external_reference }),
  date: r.date,
  currency: r.currency,
  gross: BigInt(r.gross),
  keyedByHand: r.keyed,
});

const FEE_COLUMNS = `t.id, t.number, t.external_reference, t.transaction_date::text AS date, trim(t.currency) AS currency,
  t.gross::text AS gross, (t.details->>'fee') IS DISTINCT FROM 'true' AS keyed`;

/** The fee journal recorded for a receipt, or null when it has none. */
export async function receiptFee(db: Queryable, entityId: string, receiptId: number): Promise<ReceiptFee | null> {
  const { rows } = await db.query<FeeRow>(
    `SELECT ${FEE_COLUMNS} FROM receipt_fees f JOIN transactions t ON t.id = f.fee_transaction_id
      WHERE f.receipt_id = $1 AND f.entity_id = $2`,
    [receiptId, entityId],
  );
  return rows[0] ? toFee(rows[0]) : null;
}

/** The receipt whose fee general journal `journalId` is (its id and label), or null when it is no receipt's fee. */
export async function receiptOfFee(
  db: Queryable,
  entityId: string,
  journalId: number,
): Promise<{ id: number; label: string } | null> {
  const { rows } = await db.query<{ id: string; number: string; external_reference: string }>(
    `SELECT r.id, r.number, r.external_reference FROM receipt_fees f JOIN transactions r ON r.id = f.receipt_id
      WHERE f.fee_transaction_id = $1 AND f.entity_id = $2`,
    [journalId, entityId],
  );
  const r = rows[0];
  return r
    ? {
        id: Number(r.id),
        label: documentLabel({ type: 'SR', number: r.number, externalReference: r.external_reference }),
      }
    : null;
}

/** A receipt of the entity (NOT_FOUND on `field` otherwise), with the GL account its money went into. */
async function findReceipt(db: Queryable, entityId: string, id: number, field: string) {
  const { rows } = await db.query<{
    number: string;
    external_reference: string;
    customer_code: string;
    currency: string;
    gl: string | null;
  }>(
    `SELECT t.number, t.external_reference, t.customer_code, trim(t.currency) AS currency,
            (SELECT l.gl_account_code FROM journal_lines l WHERE l.transaction_id = t.id AND l.role = 'bank'
              ORDER BY l.line_no LIMIT 1) AS gl
       FROM transactions t WHERE t.entity_id = $1 AND t.id = $2 AND t.type = 'SR'`,
    [entityId, id],
  );
  const r = rows[0];
  if (!r)
    throw new DomainError('NOT_FOUND', `receipt ${id} does not exist in this entity`, [
      { field, message: 'no such receipt' },
    ]);
  return {
    id,
    label: documentLabel({ type: 'SR', number: r.number, externalReference: r.external_reference }),
    customerCode: r.customer_code,
    currency: r.currency,
    gl: r.gl,
  };
}

/** The receipt `id`'s fee (null when it has none); NOT_FOUND when it is no receipt of the entity. */
export async function feeOfReceipt(db: Queryable, entityId: string, id: number): Promise<ReceiptFee | null> {
  await findReceipt(db, entityId, id, 'params.id');
  return receiptFee(db, entityId, id);
}

/**
 * Records general journal `journalId`, keyed by hand, as receipt `receiptId`'s payment provider's
 * fee. The journal must take money out of the GL account the receipt's money went into, be in the
 * receipt's currency, and be neither a reversal nor reversed; its amount is the bookkeeper's word
 * (a pipeline sending the payment with another fee is refused, PAYMENT_FEE_DIFFERS, as for any fee
 * in the books). The same journal again changes nothing (`changed: false`); another fee of the
 * receipt, or another receipt's journal, is refused: reverse the fee journal first. Takes the
 * customer's row lock, as a pipeline posting the payment's fee does, so the two are ordered.
 */
export async function recordReceiptFee(
  ctx: PostingContext,
  receiptId: number,
  journalId: number,
): Promise<{ fee: ReceiptFee; changed: boolean }> {
  const receipt = await findReceipt(ctx.db, ctx.entity.id, receiptId, 'params.id');
  await lockCustomers(ctx.db, ctx.entity.id, [receipt.customerCode]);
  const booked = await receiptFee(ctx.db, ctx.entity.id, receiptId);
  if (booked?.transactionId === journalId) return { fee: booked, changed: false };
  if (booked)
    throw new DomainError(
      'RECEIPT_ALREADY_HAS_FEE',
      `${receipt.label} has a payment provider's fee already: ${booked.label} (${booked.currency} ` +
        `${formatAmount(booked.gross, booked.currency)}). If it is not the fee, reverse it ` +
        `(POST /v1/journals/${booked.transactionId}/reverse), then record the right one`,
      [{ field: 'journalId', message: 'the receipt has a fee' }],
    );
  const { rows } = await ctx.db.query<{
    id: string;
    number: string;
    external_reference: string;
    currency: string;
    reversal: boolean;
    reversed: boolean;
    taken: string | null;
    fee_of: string | null;
  }>(
    `SELECT t.id, t.number, t.external_reference, trim(t.currency) AS currency, t.details ? 'reverses' AS reversal,
            EXISTS (SELECT 1 FROM transactions r WHERE r.related_transaction_id = t.id AND r.type = 'GJ'
                       AND r.details ? 'reverses') AS reversed,
            (SELECT (-sum(l.amount))::text FROM journal_lines l
              WHERE l.transaction_id = t.id AND l.gl_account_code = $3) AS taken,
            (SELECT f.receipt_id::text FROM receipt_fees f WHERE f.fee_transaction_id = t.id) AS fee_of
       FROM transactions t WHERE t.entity_id = $1 AND t.id = $2 AND t.type = 'GJ'`,
    [ctx.entity.id, journalId, receipt.gl],
  );
  const j = rows[0];
  if (!j)
    throw new DomainError('NOT_FOUND', `general journal ${journalId} does not exist in this entity`, [
      { field: 'journalId', message: 'no such general journal' },
    ]);
  const label = documentLabel({ type: 'GJ', number: j.number, externalReference: j.external_reference });
  const notEligible = (why: string) =>
    new DomainError('FEE_JOURNAL_NOT_ELIGIBLE', `${label} cannot be ${receipt.label}'s fee: ${why}`, [
      { field: 'journalId', message: why },
    ]);
  if (j.reversal) throw notEligible('it is a reversal');
  if (j.reversed) throw notEligible('it has been reversed, so it takes nothing out of the bank');
  if (j.taken === null || BigInt(j.taken) <= 0n)
    throw notEligible(
      `it takes no money out of GL account ${receipt.gl ?? '(none)'}, where the receipt went; a fee is the bank credited`,
    );
  if (j.currency !== receipt.currency)
    throw notEligible(
      `it is in ${j.currency} and the receipt in ${receipt.currency}; reverse it and key the fee in ` +
        `${receipt.currency} (POST /v1/journals with "currency": "${receipt.currency}")`,
    );
  if (j.fee_of !== null)
    throw new DomainError(
      'FEE_JOURNAL_ALREADY_USED',
      `${label} is the payment provider's fee of receipt ${j.fee_of} already; a journal is one receipt's fee`,
      [{ field: 'journalId', message: 'another receipt’s fee' }],
    );
  // Both keys of receipt_fees: a pipeline or request recording either at the same moment loses here.
  const inserted = await ctx.db.query(
    `INSERT INTO receipt_fees (receipt_id, fee_transaction_id, entity_id) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING RETURNING receipt_id`,
    [receiptId, journalId, ctx.entity.id],
  );
  if (inserted.rows.length === 0)
    throw new DomainError(
      'FEE_JOURNAL_ALREADY_USED',
      `${label} was recorded as another receipt's fee at the same moment; read both and try again`,
      [{ field: 'journalId', message: 'another receipt’s fee' }],
    );
  return { fee: (await receiptFee(ctx.db, ctx.entity.id, receiptId))!, changed: true };
}
