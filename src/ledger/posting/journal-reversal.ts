import { type Analysis, NO_ANALYSIS } from '../../domain/analysis.ts';
import { type JournalLine, documentLabel } from '../../domain/documents.ts';
import { DomainError } from '../../domain/errors.ts';
import { checkDateInRange, requirePeriodOpen } from '../periods.ts';
import type { PostingContext } from './types.ts';
import { type NewTransaction, writeDocuments } from './write.ts';

/*
 * A general journal reversed after it was posted: the correction of a journal keyed in error, or
 * of a payment provider's fee that was not the fee. Posted documents never change, so the reversal
 * is a new journal with every line's sign turned (same accounts, departments, analysis codes,
 * currency and rate), linked to the journal as a reversal posted with it is (`details.reverses`,
 * `related_transaction_id`). A journal is reversed once (migration 0121).
 *
 * Only the journals people post can be reversed here: those of POST /v1/journals and the payment
 * provider's fees a pipeline posted. The general journals other documents post (deferral
 * releases, revaluations) are corrected through their own documents, which know what they belong
 * to. A fee journal reversed leaves its receipt without a fee (`receipt_fees`): the right one keyed
 * by hand can be recorded (receipt-fees.ts), and a payment not booked yet that links to the receipt
 * posts its fee. A payment already booked is not sent to the ledger again, so nothing follows by itself.
 */

export interface JournalReversalInput {
  /** The reversal's date: the journal's own when omitted; never before it. */
  date?: string | undefined;
  description?: string | undefined;
}

export interface PostedJournalReversal {
  id: number;
  date: string;
  /** The receipt whose payment provider's fee the reversed journal was: it has none now. */
  feeOfReceipt: number | null;
}

/** What the audit trail keeps of a reversal, on the journal reversed (`journal.reversed`), whoever asked for it. */
export function reversalAudit(journalId: number, posted: PostedJournalReversal) {
  return {
    action: 'journal.reversed',
    objectType: 'transaction',
    objectId: journalId,
    after: { reversal: posted.id, date: posted.date, feeOfReceipt: posted.feeOfReceipt },
  };
}

/** Whether a general journal with these details may be reversed here (see above), reversed or not. */
export function reversibleKind(details: Record<string, unknown>): boolean {
  return !('reverses' in details) && (details.journal === true || details.fee === true);
}

/** A posted journal's lines as a reversal reads them (over `journal_lines j`, one document per group). */
export const STORED_LINES = `json_agg(json_build_object('role', j.role, 'gl', j.gl_account_code, 'dept', j.department_id,
                                  'descr', j.description, 'amount', j.amount::text, 'base', j.base_amount::text,
                                  'analysis', j.analysis) ORDER BY j.line_no)`;

export interface StoredLine {
  role: JournalLine['role'];
  gl: string;
  dept: string | null;
  descr: string;
  amount: string;
  base: string;
  analysis: Analysis | null;
}

/**
 * The lines of a journal's reversal: each stored line with its sign turned, in the document and the
 * base currency, same account, department and description, and the analysis codes it was stored
 * with (not its department's today), so the two cancel out per account and per code.
 */
export function turnedLines(lines: StoredLine[]): JournalLine[] {
  return lines.map((l) => ({
    role: l.role,
    glAccountCode: l.gl,
    departmentId: l.dept,
    taxCode: null,
    description: l.descr,
    amount: -BigInt(l.amount),
    baseAmount: -BigInt(l.base),
    analysis: { ...NO_ANALYSIS, ...(l.analysis ?? {}) },
  }));
}

/** A posted general journal as a reversal reads it (with `STORED_LINES AS lines`). */
export interface StoredJournal {
  id: string;
  currency: string;
  exchange_rate: string;
  date: string;
  external_reference: string;
  description: string;
  gross: string;
  base_gross: string;
  lines: StoredLine[];
}

interface JournalRow extends StoredJournal {
  number: string;
  details: Record<string, unknown>;
  reversed_by: string | null;
}

/**
 * Reverses general journal `id` of the entity (see above). The journal's row lock orders two
 * requests reversing it at once: the second finds the first's reversal and is refused
 * (JOURNAL_ALREADY_REVERSED). NOT_FOUND when it is no general journal of the entity.
 */
export async function reverseGeneralJournal(
  ctx: PostingContext,
  id: number,
  input: JournalReversalInput,
): Promise<PostedJournalReversal> {
  // The lock first, on its own: the statement reading the journal then sees a reversal another
  // request committed while this one waited (a statement's subqueries see its start, not the lock).
  await ctx.db.query(`SELECT 1 FROM transactions WHERE entity_id = $1 AND id = $2 AND type = 'GJ' FOR UPDATE`, [
    ctx.entity.id,
    id,
  ]);
  const { rows } = await ctx.db.query<JournalRow>(
    `SELECT t.id, t.number, trim(t.currency) AS currency, t.exchange_rate::text AS exchange_rate,
            t.transaction_date::text AS date, t.external_reference, t.description, t.gross::text AS gross,
            t.base_gross::text AS base_gross, t.details,
            (SELECT r.number::text FROM transactions r
              WHERE r.related_transaction_id = t.id AND r.type = 'GJ' AND r.details ? 'reverses') AS reversed_by,
            (SELECT ${STORED_LINES}
               FROM journal_lines j WHERE j.transaction_id = t.id) AS lines
       FROM transactions t
      WHERE t.entity_id = $1 AND t.id = $2 AND t.type = 'GJ'`,
    [ctx.entity.id, id],
  );
  const j = rows[0];
  if (!j)
    throw new DomainError('NOT_FOUND', `general journal ${id} does not exist in this entity`, [
      { field: 'params.id', message: 'no such general journal' },
    ]);
  const label = documentLabel({ type: 'GJ', number: j.number, externalReference: j.external_reference });
  if ('reverses' in j.details)
    throw new DomainError(
      'JOURNAL_CANNOT_BE_REVERSED',
      `${label} is a reversal itself; to put its amounts back, post a new journal (POST /v1/journals)`,
      [{ field: 'params.id', message: 'a reversal' }],
    );
  if (j.details.journal !== true && j.details.fee !== true)
    throw new DomainError(
      'JOURNAL_CANNOT_BE_REVERSED',
      `${label} was posted by another document (a deferral release or a revaluation) and is corrected through it, ` +
        `not reversed on its own`,
      [{ field: 'params.id', message: 'posted by another document' }],
    );
  if (j.reversed_by !== null)
    throw new DomainError('JOURNAL_ALREADY_REVERSED', `${label} was reversed already, by journal ${j.reversed_by}`, [
      { field: 'params.id', message: 'reversed already' },
    ]);
  const date = input.date ?? j.date;
  // A day the calendar does not have, before it is compared with the journal's.
  checkDateInRange(date, 'date');
  if (date < j.date)
    throw new DomainError(
      'JOURNAL_REVERSAL_DATE_BEFORE_JOURNAL',
      `date: ${date} is before ${label}'s date ${j.date}; a reversal is dated on or after the journal it reverses`,
      [{ field: 'date', message: 'before the journal' }],
    );
  await requirePeriodOpen(
    ctx.db,
    ctx.entity.id,
    date,
    'date',
    input.date === undefined
      ? `reverse ${label} on its own date (give a date in an open period)`
      : 'post a journal reversal',
  );
  const reversal: NewTransaction = {
    entityId: ctx.entity.id,
    type: 'GJ',
    customerCode: null,
    currency: j.currency,
    exchangeRate: j.exchange_rate,
    // The rate the journal was booked at, so the two cancel out in the base currency too.
    rateCheck: { field: 'id', confirmed: true },
    transactionDate: date,
    dueDate: null,
    externalReference: j.external_reference,
    description: (input.description ?? `Reversal of ${j.description || label}`).slice(0, 500),
    net: BigInt(j.gross),
    tax: 0n,
    gross: BigInt(j.gross),
    baseGross: BigInt(j.base_gross),
    duplicateChecked: false,
    relatedTransactionId: Number(j.id),
    details: { ...(j.details.fee === true ? { fee: true } : { journal: true }), reverses: Number(j.id) },
    createdBy: ctx.actor,
    items: [],
    lines: turnedLines(j.lines),
  };
  const posted = (await writeDocuments(ctx.db, ctx.entity.id, [reversal])).documents[0]!;
  const fee = await ctx.db.query<{ receipt_id: string }>(
    `DELETE FROM receipt_fees WHERE fee_transaction_id = $1 AND entity_id = $2 RETURNING receipt_id`,
    [id, ctx.entity.id],
  );
  return { id: posted.id, date, feeOfReceipt: fee.rows[0] ? Number(fee.rows[0].receipt_id) : null };
}
