import { formatAmount } from '../../domain/money.ts';
import { feeAmbiguous, feeDocs, type FeeMatch, matchFees, paymentFee, remoteFeeRemedy } from '../../sync/fee-match.ts';
import type { ItemError, TargetCallContext, TargetPayment } from '../../sync/target.ts';
import { type BcEntity, type BusinessCentralApi, Refused, key, literal } from './api.ts';
import { externalOf, minor, num, paymentDocumentNumber, text } from './map.ts';
import type { BusinessCentralSettings } from './settings.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) in Business Central, as its users enter one in a
 * cash receipt journal: beside the customer's payment (gross, applied to its invoice), a line on
 * the bank-fees G/L account for the fee, balanced by the account the payment goes into, under the
 * payment's Document No. and External Document No. The bank then takes the net amount the provider
 * paid out, and the customer's ledger the gross.
 *
 * Through API v2.0 that line is a journal line (journals({id})/journalLines, page 30049 "APIV2 -
 * JournalLines": accountType `G/L Account`, accountNumber, balanceAccountType and
 * balancingAccountNumber) entered in ledgerlink's own customer payment journal: journals({id})
 * finds any journal batch by its id, and journals({id})/Microsoft.NAV.post posts every line of the
 * batch in one transaction. So the fee is posted with its payment, by the same post, or neither is:
 * a payment Business Central holds posted has its fee posted, and the engine's lookup of the payment
 * stays the proof that both are done.
 *
 * Exactly once: before a fee line is entered, the payment's fee is looked up where it can be,
 * waiting in the journal (a line entered before an answer was lost) and posted (its G/L entry under
 * the payment's Document No.); one found is not entered again. A reference is unique per customer,
 * not per company (two customers' payments may both be "ORDER 1001", and so share a Document No.),
 * so the line's Description ends with a mark naming the payment's customer, "(ledgerlink customer
 * <customer id>)", which the G/L entries keep; `matchFees` tells whose fee each is. A fee entered by
 * hand without the mark is taken as the payment's own only when nothing else can be meant;
 * otherwise the payment is parked (PAYMENT_FEE_AMBIGUOUS) rather than its fee booked twice or lost.
 */

/** The mark ending a fee line's description: the customer whose payment it is. */
export const feeMark = (customerId: string) => `(ledgerlink customer ${customerId})`;
const MARK = /\(ledgerlink customer ([0-9a-fA-F-]{36})\)/g;

/** Business Central's default and localised charts name it "Bank Charges" (BE) or "Banking fees" (GB, NL, US). */
const BANK_FEES = /\bbank(ing)?\s+(fees|charges|service\s+charges)\b/i;
/** Categories (G/L Account Category) a fee may be posted to. */
const EXPENSE_CATEGORIES = /^(Expense|Cost_of_Goods_Sold|Cost of Goods Sold)$/i;

/** A fee Business Central holds: a journal line waiting in the payment journal, or its posted G/L entry. */
export interface FeeDoc {
  /** A waiting line's id; a posted entry's "G/L entry <Entry No.>". */
  id: string;
  waiting: boolean;
  amount: bigint | null;
  date: string;
  description: string;
}

/** Where a payment's fee goes: the expense account, and the account the payment journal balances to. */
export interface FeeSetup {
  account: string;
  bank: { type: 'Bank Account' | 'G/L Account'; number: string };
}

/** A fee that Business Central holds for a payment, or will post with it. */
export interface HeldFee {
  /** A line waiting in the journal (entered now, or found): posted by the payment's post, taken out if the payment is refused. */
  lineId: string | null;
  /** The fee as text ("EUR 2.50"), for the payment's run record. */
  label: string;
  /** What the payment's result says of it. */
  note: string;
}

const missing = (message: string, field: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field,
});

const isError = (v: unknown): v is ItemError => typeof v === 'object' && v !== null && 'code' in v && 'retryable' in v;

/** The customer a fee's description names (its last mark), or null for a fee entered without one. */
export function markOf(doc: Pick<FeeDoc, 'description'>): string | null {
  const marks = [...doc.description.matchAll(MARK)];
  return marks.length > 0 ? marks[marks.length - 1]![1]! : null;
}

/** A fee line's description (Text[100]): the reference cut short where it must be, the mark whole. */
export function feeDescription(reference: string, customerId: string): string {
  const mark = feeMark(customerId);
  return `${`Provider fee ${reference}`.slice(0, 100 - mark.length - 1)} ${mark}`;
}

/** Why an account cannot take a fee, or null when it can. */
function unfit(a: BcEntity): string | null {
  if (!EXPENSE_CATEGORIES.test(text(a.category)))
    return `a ${text(a.category) || 'uncategorised'} account, not an expense account`;
  if (text(a.accountType) !== 'Posting') return `a ${text(a.accountType)} account, not a posting account`;
  if (a.blocked === true) return 'blocked';
  if (a.directPosting === false) return 'not open to direct posting';
  return null;
}

/** The expense account fees go to: `accounts.fees`, else the company's one posting expense account named for bank fees. */
async function feesAccount(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  settings: BusinessCentralSettings,
): Promise<string | ItemError> {
  const named = settings.accounts?.fees;
  if (named) {
    const [a] = await api.list('accounts', `number eq ${literal(named)}`, ctx.signal);
    if (!a) return missing(`accounts.fees is ${named}, which is not a G/L account of this company`, 'accounts.fees');
    const why = unfit(a);
    if (why)
      return missing(
        `accounts.fees is ${named} (${text(a.displayName)}), ${why}: name the expense account providers' fees are posted to`,
        'accounts.fees',
      );
    return text(a.number);
  }
  const found = (await api.list('accounts', `category eq 'Expense'`, ctx.signal)).filter(
    (a) => BANK_FEES.test(text(a.displayName)) && unfit(a) === null,
  );
  if (found.length === 1) return text(found[0]!.number);
  return missing(
    found.length === 0
      ? "this Business Central company has no posting expense account named for bank fees or charges for the payment provider's fee: create one, or set accounts.fees in the target's settings to the G/L account number fees go to"
      : `this Business Central company has ${found.length} bank-fee accounts (${found.map((a) => text(a.number)).join(', ')}): choose one in accounts.fees`,
    'accounts.fees',
  );
}

/** The fee booking of one target instance (it keeps the accounts once resolved). */
export function businessCentralFees(api: BusinessCentralApi, settings: BusinessCentralSettings) {
  let resolved: FeeSetup | null = null;

  /** The accounts of a fee line; an unusable setting is said again on every call, not kept. */
  async function setup(ctx: TargetCallContext, journal: BcEntity): Promise<FeeSetup | ItemError> {
    if (resolved) return resolved;
    const account = await feesAccount(api, ctx, settings);
    if (isError(account)) return account;
    const number = text(journal.balancingAccountNumber);
    if (!number)
      return missing(
        `the payment journal ${settings.paymentJournal} has no balancing account, so the fee has no account to come out of: set its Bal. Account Type and Bal. Account No. to the bank the payments arrive in`,
        'paymentJournal',
      );
    const bank = (await api.list('bankAccounts', `number eq ${literal(number)}`, ctx.signal)).length > 0;
    resolved = { account, bank: { type: bank ? 'Bank Account' : 'G/L Account', number } };
    return resolved;
  }

  /** The fee lines waiting in the journal and the fee entries posted under a payment's references. */
  async function held(
    ctx: TargetCallContext,
    jid: string,
    ext: string,
    documentNumber: string,
    account: string | null,
    currency: string,
  ): Promise<FeeDoc[]> {
    const isFee = (d: FeeDoc, on: string) => markOf(d) !== null || (account !== null && on === account);
    const waiting = (
      await api.list(`journals${key(jid)}/journalLines`, `externalDocumentNumber eq ${literal(ext)}`, ctx.signal)
    ).map((l) => ({
      doc: {
        id: l.id,
        waiting: true,
        amount: minor(l.amount, currency),
        date: text(l.postingDate),
        description: text(l.description),
      },
      on: text(l.accountNumber),
    }));
    // A posted fee is the debit of its line's G/L account; the balancing credit carries the same description.
    const posted = (await api.list('generalLedgerEntries', `documentNumber eq ${literal(documentNumber)}`, ctx.signal))
      .filter((e) => text(e.documentType) !== 'Payment' && (minor(e.debitAmount, currency) ?? 0n) > 0n)
      .map((e) => ({
        doc: {
          id: `G/L entry ${text(e.entryNumber)}`,
          waiting: false,
          amount: minor(e.debitAmount, currency),
          date: text(e.postingDate),
          description: text(e.description),
        },
        on: text(e.accountNumber),
      }));
    return [...waiting, ...posted].filter((x) => isFee(x.doc, x.on)).map((x) => x.doc);
  }

  /**
   * The fee of a payment held or entered now, before its payment line: null when it has none; an
   * error when it cannot be booked (the payment is not sent). `batch`: the payments of the call, so
   * that an unmarked fee under a reference two of them share is never taken for either.
   */
  async function prepare(
    ctx: TargetCallContext,
    journal: BcEntity,
    item: TargetPayment,
    batch: readonly TargetPayment[],
  ): Promise<HeldFee | ItemError | null> {
    const p = item.record;
    const fee = paymentFee(p);
    if (fee === null || isError(fee)) return fee;
    const ext = externalOf(p.externalReference);
    if (typeof ext !== 'string') return ext;
    const s = await setup(ctx, journal);
    if (isError(s)) return s;
    // Amounts are compared as the payment's currency counts them (the fee line takes the bank's).
    const amountText = formatAmount(fee, p.currency);
    const label = `${p.currency} ${amountText}`;
    const documentNumber = paymentDocumentNumber(p.externalReference);
    const docs = await held(ctx, journal.id, ext, documentNumber, s.account, p.currency);
    const sharing = batch.filter((b) => externalOf(b.record.externalReference) === ext);
    const payments = (sharing.includes(item) ? sharing : [item, ...sharing]).map((b) => ({
      reference: ext,
      customer: b.customerTargetId,
    }));
    const at = Math.max(
      0,
      payments.findIndex((x) => x.customer === item.customerTargetId),
    );
    const match: FeeMatch<FeeDoc> = matchFees(payments, new Map([[ext, docs]]), markOf)[at]!;
    const mine = feeDocs(match);
    if (mine === null || (match.kind === 'unmarked' && !(match.doc.amount === fee && match.doc.date === p.date)))
      return ambiguous(p.externalReference, item.customerTargetId, match, label, p.date, p.currency);
    const found = mine[0];
    if (found)
      return {
        lineId: found.waiting ? found.id : null,
        label,
        note: found.waiting
          ? `fee ${label} found waiting in the journal and posted with it`
          : `fee ${label} already posted (${found.id})`,
      };
    let line: BcEntity;
    try {
      line = await api.create(
        `/journals${key(journal.id)}/journalLines`,
        {
          accountType: 'G/L Account',
          accountNumber: s.account,
          balanceAccountType: s.bank.type,
          balancingAccountNumber: s.bank.number,
          postingDate: p.date,
          documentNumber,
          externalDocumentNumber: ext,
          amount: num(amountText),
          description: feeDescription(ext, item.customerTargetId),
        },
        ctx.signal,
      );
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      return {
        code: 'TARGET_REFUSED',
        message: `Business Central refused the payment provider's fee of ${label} on G/L account ${s.account} (the payment was not sent): ${err.detail}`,
        retryable: false,
        field: 'fee',
      };
    }
    return {
      lineId: line.id,
      label,
      note: `fee ${label} posted with it to G/L account ${s.account}, out of ${s.bank.type.toLowerCase()} ${s.bank.number}`,
    };
  }

  /** Takes a fee line out of the journal (its payment was refused), so that no later post books it alone. */
  async function withdraw(ctx: TargetCallContext, jid: string, lineId: string): Promise<void> {
    await api.delete(`/journals${key(jid)}/journalLines${key(lineId)}`, ctx.signal);
  }

  /** Takes out the fee lines waiting under a reference for these customers (their payments' lines were refused). */
  async function withdrawWaiting(ctx: TargetCallContext, jid: string, ext: string, customers: Set<string>) {
    const lines = await api.list(
      `journals${key(jid)}/journalLines`,
      `externalDocumentNumber eq ${literal(ext)}`,
      ctx.signal,
    );
    for (const l of lines) {
      const mark = markOf({ description: text(l.description) });
      if (mark !== null && customers.has(mark)) await withdraw(ctx, jid, l.id);
    }
  }

  /** The fees account once known (set, or found by a booking): reading fees back counts only marked entries elsewhere. */
  const knownFeesAccount = (): string | null => resolved?.account ?? settings.accounts?.fees ?? null;

  return { prepare, withdraw, withdrawWaiting, feesAccount: knownFeesAccount };
}

/** What to do in Business Central about a payment whose fee is not what the source says (reconciliation). */
export const businessCentralFeeRemedy = remoteFeeRemedy(
  'Business Central',
  (reference) =>
    `enter it in the payment journal as a G/L account line on the bank-fees account under the payment's Document No. (${reference}), balanced by the bank, ending its description with the customer's mark, and post it`,
);

export type BusinessCentralFees = ReturnType<typeof businessCentralFees>;

/** A payment parked because which unmarked fee is its own cannot be told. */
function ambiguous(
  reference: string,
  customer: string,
  match: FeeMatch<FeeDoc>,
  label: string,
  date: string,
  currency: string,
): ItemError {
  const docs = match.kind === 'ambiguous' ? match.docs : match.kind === 'unmarked' ? [match.doc] : [];
  const why =
    match.kind === 'unmarked'
      ? `it is ${typeof docs[0]?.amount === 'bigint' ? `${currency} ${formatAmount(docs[0].amount, currency)}` : 'not an amount'} on ${docs[0]?.date ?? '?'}, and this payment's fee ${label} on ${date}`
      : match.kind === 'ambiguous' && match.shared
        ? 'another payment sent with it has the same reference'
        : `there are ${docs.length} under the reference`;
  return feeAmbiguous(
    `Business Central holds fee lines under the reference ${reference} without ledgerlink's mark naming the payment's customer (${docs.map((d) => d.id).join(', ')}), and whether one is this payment's fee cannot be told: ${why}. Nothing was booked, so that no fee is booked twice or lost. If one is this payment's fee, end its description with "${feeMark(customer)}"; then retry.`,
  );
}
