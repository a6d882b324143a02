import { DomainError } from '../../domain/errors.ts';
import { controlJournal } from '../../domain/documents.ts';
import { exchangeRateFor, join, positiveAmountOf, rateWanted } from './common.ts';
import { loadReferences, lockCustomer } from './references.ts';
import { duplicateError, insertTransaction, referenceExists } from './write.ts';
import type { LedgerJournalInput, PostingContext } from './types.ts';
import { requirePeriodOpen } from '../periods.ts';

export interface PostedJournal {
  id: number;
  number: number;
  amount: bigint;
  currency: string;
}

/**
 * A sales debit journal (SD: refunds, the customer debited, a bank or GL account credited) or a
 * sales credit journal (SC: the customer credited, a bank or GL account debited).
 */
export async function postLedgerJournal(
  ctx: PostingContext,
  type: 'SD' | 'SC',
  input: LedgerJournalInput,
  duplicateCheck: boolean,
): Promise<PostedJournal> {
  const customer = await lockCustomer(ctx.db, ctx.entity.id, input.customerCode, 'customerCode');
  const currency = customer.currency;
  const refs = await loadReferences(ctx.db, ctx.entity.id, {
    rates: rateWanted(ctx, currency, input.exchangeRate, input.transactionDate),
    gl: input.lines.flatMap((l) => (l.glAccountCode ? [l.glAccountCode] : [])),
    banks: input.lines.flatMap((l) => (l.bankAccountCode ? [l.bankAccountCode] : [])),
    departments: input.lines.map((l) => l.departmentId ?? null),
  });
  const rate = exchangeRateFor(ctx, currency, input.exchangeRate, 'exchangeRate', {
    rates: refs.rates,
    date: input.transactionDate,
  });
  const others = input.lines.map((l, n) => {
    const at = (f: string) => join('', `lines[${n}].${f}`);
    if ((l.glAccountCode === undefined) === (l.bankAccountCode === undefined)) {
      throw new DomainError(
        'VALIDATION_ERROR',
        `${at('glAccountCode')}: give exactly one of glAccountCode and bankAccountCode`,
        [{ field: at('glAccountCode'), message: 'give exactly one of glAccountCode and bankAccountCode' }],
      );
    }
    const departmentId = l.departmentId ?? null;
    refs.requireDepartment(departmentId, at('departmentId'));
    let glAccountCode: string;
    if (l.bankAccountCode !== undefined) {
      const bank = refs.requireBank(l.bankAccountCode, at('bankAccountCode'));
      if (bank.currency !== currency && bank.currency !== ctx.entity.baseCurrency) {
        throw new DomainError(
          'BANK_ACCOUNT_CURRENCY_MISMATCH',
          `Bank account ${l.bankAccountCode} holds ${bank.currency}`,
          [{ field: at('bankAccountCode'), message: 'currency mismatch' }],
        );
      }
      glAccountCode = bank.glAccountCode;
    } else {
      glAccountCode = l.glAccountCode!;
      refs.requireGl(glAccountCode, at('glAccountCode'), departmentId);
    }
    return {
      role: l.bankAccountCode !== undefined ? ('bank' as const) : ('gl' as const),
      glAccountCode,
      departmentId,
      description: l.description ?? input.description ?? '',
      amount: positiveAmountOf(l.amount, currency, at('amount')),
    };
  });
  const reference = input.externalReference ?? '';
  await requirePeriodOpen(ctx.db, ctx.entity.id, input.transactionDate, 'transactionDate', 'post a journal');
  if (duplicateCheck && (await referenceExists(ctx.db, ctx.entity.id, customer.code, type, reference))) {
    throw duplicateError(type, customer.code, reference, 'externalReference');
  }
  const description = input.description ?? '';
  const journal = controlJournal(
    customer.controlGlAccountCode,
    description,
    others,
    { currency, baseCurrency: ctx.entity.baseCurrency, rate },
    type === 'SD' ? 1n : -1n,
  );
  const posted = await insertTransaction(ctx.db, {
    entityId: ctx.entity.id,
    type,
    customerCode: customer.code,
    currency,
    exchangeRate: rate,
    // A rate from the entity's dated rates was set deliberately; only a rate sent is checked.
    rateCheck: {
      field: 'exchangeRate',
      confirmed: input.exchangeRate === undefined || input.confirmExchangeRate === true,
    },
    transactionDate: input.transactionDate,
    dueDate: type === 'SD' ? input.transactionDate : null,
    externalReference: reference,
    description,
    net: journal.gross,
    tax: 0n,
    gross: journal.gross,
    baseGross: journal.baseGross,
    duplicateChecked: duplicateCheck,
    relatedTransactionId: null,
    details: {},
    createdBy: ctx.actor,
    items: [],
    lines: journal.lines,
  });
  return { ...posted, amount: journal.gross, currency };
}
