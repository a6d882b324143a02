import type { Queryable } from '../../db/database.ts';
import { type Analysis, NO_ANALYSIS } from '../../domain/analysis.ts';
import type { JournalLine } from '../../domain/documents.ts';
import { DomainError } from '../../domain/errors.ts';
import { formatAmount } from '../../domain/money.ts';
import { checkPeriodOpen, readLockDate } from '../periods.ts';
import { amountOf, join, positiveAmountOf } from './common.ts';
import { loadReferences } from './references.ts';
import type { PostingContext } from './types.ts';
import { type NewTransaction, writeDocuments } from './write.ts';

/** A line of a general journal as sent: exactly one of debit and credit, in the base currency. */
export interface GeneralJournalLineInput {
  glAccountCode: string;
  debit?: string | undefined;
  credit?: string | undefined;
  departmentId?: string | undefined;
  analysis?: Analysis | undefined;
  description?: string | undefined;
}

export interface GeneralJournalInput {
  date: string;
  reference?: string | undefined;
  description?: string | undefined;
  lines: GeneralJournalLineInput[];
  /** Posts the reversal (debits and credits swapped) in the same transaction, dated `date`. */
  reversal?: { date: string } | undefined;
}

export interface PostedGeneralJournal {
  id: number;
  reversalId: number | null;
}

/**
 * Posts a balanced general journal (GJ, no customer) in the entity's base currency, and with
 * `reversal` its reversing journal in the same database transaction: both or neither. The
 * reversal names the journal it reverses (`details.reverses`, `related_transaction_id`); the
 * journal finds its reversal through it (a posted row never changes, so the link is one row's).
 * Control accounts are refused: customer balances move only with customer documents.
 */
export async function postGeneralJournal(
  ctx: PostingContext,
  input: GeneralJournalInput,
): Promise<PostedGeneralJournal> {
  const currency = ctx.entity.baseCurrency;
  const lockDate = await readLockDate(ctx.db, ctx.entity.id);
  checkPeriodOpen(lockDate, input.date, 'date', 'post a journal');
  if (input.reversal) {
    checkPeriodOpen(lockDate, input.reversal.date, 'reversal.date', 'post a journal reversal');
    if (input.reversal.date <= input.date) {
      throw new DomainError(
        'JOURNAL_REVERSAL_DATE_NOT_AFTER_JOURNAL',
        `reversal.date: ${input.reversal.date} is not after the journal's date ${input.date}`,
        [{ field: 'reversal.date', message: 'must be after the journal date' }],
      );
    }
  }
  const refs = await loadReferences(ctx.db, ctx.entity.id, {
    gl: input.lines.map((l) => l.glAccountCode),
    departments: input.lines.map((l) => l.departmentId ?? null),
    analysis: input.lines.map((l) => l.analysis),
  });
  let debits = 0n;
  let credits = 0n;
  const lines: JournalLine[] = input.lines.map((l, n) => {
    const at = (f: string) => join('', `lines[${n}].${f}`);
    if ((l.debit === undefined) === (l.credit === undefined)) {
      throw new DomainError('VALIDATION_ERROR', `${at('debit')}: give exactly one of debit and credit`, [
        { field: at('debit'), message: 'give exactly one of debit and credit' },
      ]);
    }
    const departmentId = l.departmentId ?? null;
    refs.requireDepartment(departmentId, at('departmentId'));
    refs.requireGl(l.glAccountCode, at('glAccountCode'), departmentId);
    refs.requireAnalysis(l.analysis, at('analysis'));
    const amount =
      l.debit !== undefined
        ? positiveAmountOf(l.debit, currency, at('debit'))
        : -positiveAmountOf(l.credit!, currency, at('credit'));
    if (amount > 0n) debits += amount;
    else credits -= amount;
    return {
      role: 'gl',
      glAccountCode: l.glAccountCode,
      departmentId,
      taxCode: null,
      description: l.description ?? input.description ?? '',
      amount,
      baseAmount: amount,
      analysis: l.analysis ?? null,
    };
  });
  if (debits !== credits) {
    const f = (v: bigint) => formatAmount(v, currency);
    throw new DomainError(
      'JOURNAL_NOT_BALANCED',
      `The journal's debits (${f(debits)}) do not equal its credits (${f(credits)}) by ${f(debits - credits)} ${currency}`,
      { field: 'lines', debits: f(debits), credits: f(credits), difference: f(debits - credits) },
    );
  }
  // Amounts were checked one by one; their total can still pass what a bigint holds.
  amountOf(formatAmount(debits, currency), currency, 'lines');
  const reference = input.reference ?? '';
  const description = input.description ?? '';
  const journal: NewTransaction = {
    entityId: ctx.entity.id,
    type: 'GJ',
    customerCode: null,
    currency,
    exchangeRate: '1',
    transactionDate: input.date,
    dueDate: null,
    externalReference: reference,
    description,
    net: debits,
    tax: 0n,
    gross: debits,
    baseGross: debits,
    duplicateChecked: false,
    relatedTransactionId: null,
    details: input.reversal ? { journal: true, reversalDate: input.reversal.date } : { journal: true },
    createdBy: ctx.actor,
    items: [],
    lines,
  };
  const posted = (await writeDocuments(ctx.db, ctx.entity.id, [journal])).documents[0]!;
  if (!input.reversal) return { id: posted.id, reversalId: null };
  // The reversal keeps each line's department and the analysis codes the line was stored with,
  // so the two journals cancel out per code as well as per account.
  const stored = await storedAnalysis(ctx.db, posted.id);
  const reversal: NewTransaction = {
    ...journal,
    transactionDate: input.reversal.date,
    description: `Reversal of ${description || `journal ${posted.number}`}`.slice(0, 500),
    relatedTransactionId: posted.id,
    details: { journal: true, reverses: posted.id },
    lines: lines.map((l, n) => ({
      ...l,
      amount: -l.amount,
      baseAmount: -l.baseAmount,
      analysis: { ...NO_ANALYSIS, ...(stored[n] ?? {}) },
    })),
  };
  const reversed = (await writeDocuments(ctx.db, ctx.entity.id, [reversal])).documents[0]!;
  return { id: posted.id, reversalId: reversed.id };
}

async function storedAnalysis(db: Queryable, transactionId: number): Promise<(Analysis | null)[]> {
  const { rows } = await db.query<{ analysis: Analysis | null }>(
    `SELECT analysis FROM journal_lines WHERE transaction_id = $1 ORDER BY line_no`,
    [transactionId],
  );
  return rows.map((r) => r.analysis);
}
