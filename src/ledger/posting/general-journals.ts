import type { Queryable } from '../../db/database.ts';
import { type Analysis, NO_ANALYSIS } from '../../domain/analysis.ts';
import type { JournalLine } from '../../domain/documents.ts';
import { DomainError } from '../../domain/errors.ts';
import { balancedBase } from '../../domain/documents.ts';
import { formatAmount, isStorable } from '../../domain/money.ts';
import { checkPeriodOpen, readLockDate } from '../periods.ts';
import { amountOf, exchangeRateFor, join, outOfRange, positiveAmountOf, rateWanted } from './common.ts';
import { loadReferences } from './references.ts';
import type { PostingContext } from './types.ts';
import { type NewTransaction, writeDocuments } from './write.ts';

/** A line of a general journal as sent: exactly one of debit and credit, in the journal's currency. */
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
  /** The journal's currency; the base currency when omitted. */
  currency?: string | undefined;
  /** Units of `currency` per unit of base currency; the entity's rate in force on `date` when omitted. */
  exchangeRate?: string | undefined;
  /** The rate sent is right although far from the last known one (rate-bounds.ts). */
  confirmExchangeRate?: boolean | undefined;
  /** Posts the reversal (debits and credits swapped) in the same transaction, dated `date`. */
  reversal?: { date: string } | undefined;
}

export interface PostedGeneralJournal {
  id: number;
  reversalId: number | null;
}

/**
 * Posts a balanced general journal (GJ, no customer), in the base currency or another one at
 * the rate given or in force on its date (each line converted, the sides' rounding taken by their
 * largest lines: `balancedBase`), and with `reversal` its reversing journal in the same database
 * transaction: both or neither. In a foreign currency, a line on a bank account's GL account
 * holding a third currency is refused, as a receipt into it would be (one in the base currency
 * may touch any bank: a foreign-currency bank revalued by hand). The
 * reversal names the journal it reverses (`details.reverses`, `related_transaction_id`); the
 * journal finds its reversal through it (a posted row never changes, so the link is one row's).
 * Control accounts are refused: customer balances move only with customer documents.
 */
export async function postGeneralJournal(
  ctx: PostingContext,
  input: GeneralJournalInput,
): Promise<PostedGeneralJournal> {
  const currency = input.currency ?? ctx.entity.baseCurrency;
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
    rates: rateWanted(ctx, currency, input.exchangeRate, input.date),
  });
  const rate = exchangeRateFor(ctx, currency, input.exchangeRate, 'exchangeRate', {
    rates: refs.rates,
    date: input.date,
  });
  await checkBankCurrencies(ctx, currency, input.lines);
  let debits = 0n;
  let credits = 0n;
  const drafts = input.lines.map((l, n) => {
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
    return { line: l, departmentId, amount };
  });
  if (debits !== credits) {
    const f = (v: bigint) => formatAmount(v, currency);
    throw new DomainError(
      'JOURNAL_NOT_BALANCED',
      `The journal's debits (${f(debits)}) do not equal its credits (${f(credits)}) by ${f(debits - credits)} ${currency}`,
      { field: 'lines', debits: f(debits), credits: f(credits), difference: f(debits - credits) },
    );
  }
  // Amounts were checked one by one; their total can still pass what a bigint holds, in either currency.
  amountOf(formatAmount(debits, currency), currency, 'lines');
  const base = balancedBase(
    drafts.map((d) => d.amount),
    { currency, baseCurrency: ctx.entity.baseCurrency, rate },
  );
  const baseDebits = base.reduce((sum, b) => (b > 0n ? sum + b : sum), 0n);
  if (!isStorable(baseDebits)) throw outOfRange('lines');
  const lines: JournalLine[] = drafts.map(({ line: l, departmentId, amount }, n) => ({
    role: 'gl',
    glAccountCode: l.glAccountCode,
    departmentId,
    taxCode: null,
    description: l.description ?? input.description ?? '',
    amount,
    baseAmount: base[n]!,
    analysis: l.analysis ?? null,
  }));
  const reference = input.reference ?? '';
  const description = input.description ?? '';
  const journal: NewTransaction = {
    entityId: ctx.entity.id,
    type: 'GJ',
    customerCode: null,
    currency,
    exchangeRate: rate,
    // A rate from the entity's dated rates was set deliberately; only a rate sent is checked.
    rateCheck: {
      field: 'exchangeRate',
      confirmed: input.exchangeRate === undefined || input.confirmExchangeRate === true,
    },
    transactionDate: input.date,
    dueDate: null,
    externalReference: reference,
    description,
    net: debits,
    tax: 0n,
    gross: debits,
    baseGross: baseDebits,
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

/**
 * Refuses a line of a foreign-currency journal on the GL account of a bank account that holds
 * neither the journal's currency nor the base currency: its money would be counted in a currency
 * the bank does not hold.
 */
async function checkBankCurrencies(
  ctx: PostingContext,
  currency: string,
  lines: readonly GeneralJournalLineInput[],
): Promise<void> {
  if (currency === ctx.entity.baseCurrency) return;
  const { rows } = await ctx.db.query<{ code: string; gl: string; currency: string }>(
    `SELECT code, gl_account_code AS gl, trim(currency) AS currency FROM bank_accounts
      WHERE entity_id = $1 AND gl_account_code = ANY($2::text[]) AND currency NOT IN ($3, $4)
      ORDER BY code`,
    [ctx.entity.id, [...new Set(lines.map((l) => l.glAccountCode))], currency, ctx.entity.baseCurrency],
  );
  const bank = rows[0];
  if (!bank) return;
  const n = lines.findIndex((l) => l.glAccountCode === bank.gl);
  const field = `lines[${n}].glAccountCode`;
  throw new DomainError(
    'BANK_ACCOUNT_CURRENCY_MISMATCH',
    `${field}: GL account ${bank.gl} is bank account ${bank.code}'s, which holds ${bank.currency}; the journal is in ${currency}`,
    [{ field, message: `bank account ${bank.code} holds ${bank.currency}` }],
  );
}
