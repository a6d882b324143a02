import { formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { matchFees, readPaymentFees, remoteFeeRemedy } from '../../sync/fee-match.ts';
import type { ItemError, TargetDocument, TargetPayment } from '../../sync/target.ts';
import { type NsObject, describe, eid, refId, rows, text } from './api.ts';
import type { DocumentContext } from './documents.ts';
import { amount, minor, ref } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) as NetSuite records one: a journal entry
 * debiting a bank-fees expense account and crediting the account the payment's money went to (the
 * bank in accounts.bank; while payments wait in Undeposited Funds, the bank the provider pays out
 * to), both lines naming the payment's customer, the payment's reference in the memos. That is
 * the entry NetSuite's own guidance for a processing fee on a customer payment makes (SuiteAnswer
 * 23089, as integrations such as Kolleno follow it), and it leaves the payment gross: it settles
 * its invoice in full, and a deposit of it from Undeposited Funds stays the user's to make.
 *
 * Exactly once as every document here: the entry is upserted by an external id of its own,
 * `{reference}__fee__c{customer internal id}` (`feeExternalId`), read first so that one already
 * held (sent again after a lost answer, or corrected by hand) is found and never written again,
 * and written before its payment, so that a payment NetSuite holds always has its fee. The
 * customer is part of the external id because a reference is unique per customer only: two
 * customers' payments under one order number each get their own fee. `matchFees` tells whose fee
 * an entry is by that mark, as the other targets do by theirs.
 */

/** The record type of a fee. */
export const FEE_RECORD = 'journalEntry';

/** The external id of the fee of a customer's payment under a reference. */
export const feeExternalId = (reference: string, customerTargetId: string): string =>
  `${reference}__fee__c${customerTargetId}`;
const MARK = /__fee__c(\d+)$/;

/** The customer a fee entry is marked with: its external id's, else its lines' name; null when neither. */
const markOf = (e: NsObject): string | null =>
  MARK.exec(text(e.externalId))?.[1] ??
  (rows(e.line)
    .map((l) => refId(l.entity))
    .find((x) => x !== '') ||
    null);

/** An account of the chart, as SuiteQL reads it. */
export interface GlAccount {
  id: string;
  number: string;
  name: string;
  /** NetSuite's account type: Bank, Expense, OthExpense, Income, … */
  type: string;
  inactive: boolean;
}

const EXPENSE_TYPES = new Set(['Expense', 'OthExpense']);
/** The name of a bank-fees expense account: "Bank Fees", "Bank Service Charges", "Merchant Fees", … */
const FEES_NAME = /\b(bank|merchant|payment|processing|card)\b.*\b(fees?|charges?)\b/i;

/** The chart of accounts, read once a call (SuiteQL: one request per 1,000 accounts). */
export async function readChart(c: DocumentContext): Promise<GlAccount[]> {
  const got = await c.api.query(
    'SELECT id, acctnumber, fullname, accttype, isinactive FROM account ORDER BY id',
    c.signal,
  );
  return got.map((r) => ({
    id: text(r.id),
    number: text(r.acctnumber),
    name: text(r.fullname),
    type: text(r.accttype),
    inactive: text(r.isinactive) === 'T',
  }));
}

const settingMissing = (message: string, field: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field,
});
const isError = (v: unknown): v is ItemError => typeof v === 'object' && v !== null && 'code' in v && 'retryable' in v;
const named = (a: GlAccount) => `${a.number ? `${a.number} ` : ''}${a.name} (${a.id})`;

/**
 * The expense account fees go to: `accounts.fees` (an active Expense or Other Expense account),
 * else the chart's one active expense account named for bank or merchant fees.
 */
export function feesAccount(chart: GlAccount[], setting: string | undefined): GlAccount | ItemError {
  if (setting !== undefined) {
    const a = chart.find((x) => x.id === setting);
    if (a && EXPENSE_TYPES.has(a.type) && !a.inactive) return a;
    return settingMissing(
      a
        ? `accounts.fees ${named(a)} is ${a.inactive ? 'inactive' : `an account of type ${a.type}`}: the payment provider's fee needs an active expense account`
        : `accounts.fees "${setting}" is not an account of this ${SYSTEM} account`,
      'accounts.fees',
    );
  }
  const found = chart.filter((a) => EXPENSE_TYPES.has(a.type) && !a.inactive && FEES_NAME.test(a.name));
  if (found.length === 1) return found[0]!;
  return settingMissing(
    found.length === 0
      ? `this ${SYSTEM} account has no bank-fees expense account for the payment provider's fee: set target.accounts.fees (the internal id of an expense account)`
      : `this ${SYSTEM} account has ${found.length} bank-fees expense accounts (${found.map(named).join(', ')}): choose one in target.accounts.fees`,
    'accounts.fees',
  );
}

/**
 * The account the fee leaves: the payment's own (accounts.bank, when payments skip Undeposited
 * Funds); else `accounts.feesBank` (an active Bank account), else the chart's one active bank.
 */
export function feesBankAccount(
  chart: GlAccount[],
  paymentAccount: string | undefined,
  setting: string | undefined,
): GlAccount | ItemError {
  if (paymentAccount !== undefined) {
    const a = chart.find((x) => x.id === paymentAccount);
    return (
      a ??
      settingMissing(`accounts.bank "${paymentAccount}" is not an account of this ${SYSTEM} account`, 'accounts.bank')
    );
  }
  if (setting !== undefined) {
    const a = chart.find((x) => x.id === setting);
    if (a && a.type === 'Bank' && !a.inactive) return a;
    return settingMissing(
      a
        ? `accounts.feesBank ${named(a)} is ${a.inactive ? 'inactive' : `an account of type ${a.type}`}, not an active bank account`
        : `accounts.feesBank "${setting}" is not an account of this ${SYSTEM} account`,
      'accounts.feesBank',
    );
  }
  const banks = chart.filter((a) => a.type === 'Bank' && !a.inactive);
  if (banks.length === 1) return banks[0]!;
  return settingMissing(
    `payments go to Undeposited Funds, and this ${SYSTEM} account has ${banks.length === 0 ? 'no bank account' : `${banks.length} bank accounts`} to pay the provider's fee out of: set target.accounts.feesBank (the internal id of the bank the provider pays out to)`,
    'accounts.feesBank',
  );
}

/** A fee NetSuite now holds for a payment. */
export interface BookedFee {
  id: string;
  number: string;
  /** The fee as text ("EUR 1.20"), for the payment's run record. */
  label: string;
  found: boolean;
}

/** How a fee booking reads the chart: once a call, and only when a payment has a fee. */
export type ChartOnce = () => Promise<GlAccount[]>;

/**
 * Books a payment's fee before the payment: the fee NetSuite now holds (found or written), why
 * it could not be booked (the payment is then not sent), or null for a payment without a fee.
 */
export async function bookFee(
  c: DocumentContext,
  d: TargetPayment,
  chart: ChartOnce,
): Promise<BookedFee | ItemError | null> {
  const p = d.record;
  if (p.fee === null || p.fee === undefined) return null;
  const fee = parseAmount(p.fee, p.currency);
  if (!fee.ok) return { code: 'AMOUNT_INVALID', message: `fee: ${fee.error.message}`, retryable: false, field: 'fee' };
  if (fee.value === 0n) return null;
  if (fee.value < 0n)
    return { code: 'AMOUNT_INVALID', message: 'fee: a fee is never negative', retryable: false, field: 'fee' };
  const accounts = await chart();
  const expense = feesAccount(accounts, c.feesAccountId);
  if (isError(expense)) return expense;
  const bank = feesBankAccount(accounts, c.bankAccountId, c.feesBankAccountId);
  if (isError(bank)) return bank;
  const label = `${p.currency} ${formatAmount(fee.value, p.currency)}`;
  const externalId = feeExternalId(p.externalReference, d.customerTargetId);
  const match = matchFees(
    [{ reference: p.externalReference, customer: d.customerTargetId }],
    new Map([[p.externalReference, (await heldFees(c, [externalId])).flatMap((e) => (e ? [e] : []))]]),
    markOf,
  )[0]!;
  // Under its own external id: this payment's, marked or not (its lines' name edited away).
  if (match.kind === 'marked' || match.kind === 'unmarked') {
    const e = match.kind === 'marked' ? match.docs[0]! : match.doc;
    return { id: text(e.id), number: text(e.tranId), label, found: true };
  }
  const line = (account: GlAccount, side: 'debit' | 'credit') => ({
    account: ref(account.id),
    [side]: amount(fee.value, p.currency),
    memo: p.externalReference.slice(0, 999),
    entity: ref(d.customerTargetId),
  });
  const a = await c.api.upsert(
    FEE_RECORD,
    externalId,
    {
      tranDate: p.date,
      memo: `Payment provider fee on ${p.externalReference}`.slice(0, 999),
      ...(c.subsidiaryId ? { subsidiary: ref(c.subsidiaryId) } : {}),
      line: { items: [line(expense, 'debit'), line(bank, 'credit')] },
    },
    c.signal,
    'line',
  );
  if (!a.ok)
    return {
      code: 'TARGET_REFUSED',
      message: `${SYSTEM} refused the payment provider's fee of ${label} on payment ${p.externalReference} (the payment was not sent): ${describe(a)}`,
      retryable: false,
      field: 'fee',
    };
  const [e] = await heldFees(c, [externalId]);
  if (!e)
    throw new ConnectorError(
      SYSTEM,
      `journal entry ${externalId} was accepted but cannot be read back by its external id`,
      {
        retryable: true,
      },
    );
  return { id: text(e.id), number: text(e.tranId), label, found: false };
}

/** Fee entries by external id, with their lines (null where there is none). */
async function heldFees(c: DocumentContext, externalIds: string[]): Promise<(NsObject | null)[]> {
  const out: (NsObject | null)[] = [];
  for (const x of externalIds) out.push(await c.api.get(`/${FEE_RECORD}/${eid(x)}`, c.signal, true));
  return out;
}

/**
 * The journal entries under these external ids with their debits summed, in the transaction's
 * currency (SuiteQL; external ids take letters, digits, `_` and `-` only, so nothing needs quoting
 * beyond the quotes).
 */
export const feesQuery = (externalIds: readonly string[]): string =>
  `SELECT t.id, t.tranid, t.externalid, t.voided, SUM(l.debitforeignamount) AS debit ` +
  `FROM transaction t JOIN transactionline l ON l.transaction = t.id ` +
  `WHERE t.recordtype = 'journalentry' AND t.externalid IN (${externalIds.map((x) => `'${x.replace(/'/g, "''")}'`).join(', ')}) ` +
  `GROUP BY t.id, t.tranid, t.externalid, t.voided`;

/** External ids a fees query names at once (Oracle's limit on an IN list). */
const FEES_PER_QUERY = 1000;

/**
 * Sets the fee NetSuite holds for each of these payments (`TargetDocument.fee`, for
 * reconciliation): the entry under the fee's external id for the payment's reference and
 * customer, its debits in the target's currency; null when there is none (or it was voided).
 * One SuiteQL request per 1,000 payments.
 */
export async function readFees(c: DocumentContext, payments: TargetDocument[]): Promise<void> {
  await readPaymentFees(payments, {
    async byReference(references) {
      const wanted = new Set(references);
      const ids = [
        ...new Set(
          payments
            .filter((p) => wanted.has(p.externalReference))
            .map((p) => feeExternalId(p.externalReference, p.customerTargetId)),
        ),
      ];
      const out = new Map<string, NsObject[]>();
      for (let i = 0; i < ids.length; i += FEES_PER_QUERY)
        for (const e of await c.api.query(feesQuery(ids.slice(i, i + FEES_PER_QUERY)), c.signal)) {
          const mark = MARK.exec(text(e.externalid));
          if (!mark || text(e.voided) === 'T') continue;
          const reference = text(e.externalid).slice(0, -mark[0].length);
          out.set(reference, [...(out.get(reference) ?? []), e]);
        }
      return out;
    },
    markOf: (e) => MARK.exec(text(e.externalid))?.[1] ?? null,
    reader: () => ({
      currencyOf: () => c.currency,
      // SuiteQL writes a decimal below one without its leading zero (".5").
      amountOf: (e, currency) => minor(text(e.debit).replace(/^\./, '0.') || '0', currency),
      idOf: (e) => text(e.id),
      label: (ids) => `journal entry ${ids.join(' and ')}`,
      notAnAmount: (e) =>
        new ConnectorError(SYSTEM, `journal entry ${text(e.id)} has a debit that is not an amount`, {
          retryable: false,
        }),
    }),
  });
}

/** What to do in NetSuite about a payment whose fee is not what the source says (reconciliation). */
export const netsuiteFeeRemedy = remoteFeeRemedy(
  SYSTEM,
  (reference) =>
    `record it in ${SYSTEM} as a journal entry debiting the bank-fees expense account and crediting the account the payment went to, memo ${reference}, as ledgerlink books a fee`,
);
