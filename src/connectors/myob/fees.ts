import { formatAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { ambiguity, feeAmbiguous, matchBatchFee, readPaymentFees, remoteFeeRemedy } from '../../sync/fee-match.ts';
import type { ItemError, TargetDocument, TargetPayment } from '../../sync/target.ts';
import { type MyobApi, type MyobObject, describe, literal, orFilters, text } from './api.ts';
import { type Company, dateTime, minor, num } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) in MYOB: the customer payment keeps its gross
 * amount, applied in full to its invoice, and the fee is a Spend Money transaction
 * (Banking/SpendMoneyTxn) out of the same bank account (`accounts.bank`), one line on the bank-fees
 * expense account with that account's own default tax code, tax inclusive, so that exactly the fee
 * leaves the bank. That is how a MYOB user records a merchant fee against a payout: the gross
 * receipt and the fee spent, together the one net line of the bank statement.
 *
 * Exactly once, without a second kind in the engine: MYOB takes no idempotency key, so a payment's
 * fee is looked up under the payment's reference (the spend money's `Memo`, as the payment's own
 * Memo carries it) and written only when MYOB holds none, before the payment; the payment is sent
 * only once its fee is held. An attempt after a lost answer finds the fee instead of spending it
 * twice, and a payment that MYOB holds always has its fee: the engine's lookup of the payment stays
 * the proof that both are done.
 *
 * A reference is unique per customer, not per company file (two customers' payments may both be
 * "Order 1001"), so the memo alone does not tell whose fee a spend money is. Its line's memo ends
 * with a mark naming the customer's card, "(ledgerlink customer <UID>)" (`markOf`). A fee keyed
 * by hand under the reference without the mark is taken as the payment's own only when nothing
 * else can be meant (`matchFees`); otherwise the payment is parked (PAYMENT_FEE_AMBIGUOUS) rather
 * than its fee spent twice or lost. Reconciliation reads the fees back the same way (`readFees`).
 */

export const SPEND = 'Banking/SpendMoneyTxn';

/** The account fees are spent to, and the tax code its lines take (the account's own default). */
export interface FeesAccount {
  uid: string;
  displayId: string;
  taxCodeUid: string;
}

/** A fee MYOB now holds for a payment. */
export interface BookedFee {
  id: string;
  /** The fee as text ("AUD 2.50"), for the payment's run record. */
  label: string;
  found: boolean;
}

/** Classifications an account a fee goes to may have (MYOB's expense sides of the chart: 5-, 6-, 9-). */
const EXPENSES = new Set(['Expense', 'CostOfSales', 'OtherExpense']);
/** MYOB's charts name it "Bank Fees", "Bank Charges" or "Merchant Fees". */
const BANK_FEES = /\b(bank|merchant)\s+(fees|charges|service\s+charges)\b/i;

const missing = (message: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field: 'accounts.fees',
});

const uidOf = (v: unknown): string => text((v as MyobObject | null | undefined)?.UID);

/** How an account is named in messages: "6-1100 (Bank Fees)". */
const named = (a: MyobObject) => `${text(a.DisplayID)} (${text(a.Name)})`;

/**
 * The account fees go to: `accounts.fees` (its display id, e.g. 6-1100), else the company file's
 * one active expense account named for bank or merchant fees; it must be a detail (not header)
 * expense account with a default tax code. Anything else names the setting.
 */
export async function loadFeesAccount(
  api: MyobApi,
  displayId: string | undefined,
  signal?: AbortSignal,
): Promise<FeesAccount | ItemError> {
  let account: MyobObject;
  if (displayId !== undefined) {
    const rows = await api.list('GeneralLedger/Account', `DisplayID eq ${literal(displayId)}`, signal);
    const found = rows.find((r) => text(r.DisplayID) === displayId);
    if (!found) return missing(`accounts.fees is ${displayId}, which is not an account of this MYOB company file`);
    if (found.IsHeader === true)
      return missing(`accounts.fees is ${named(found)}, a header account: name the detail expense account fees go to`);
    if (!EXPENSES.has(text(found.Classification)))
      return missing(
        `accounts.fees is ${named(found)}, ${text(found.Classification) || 'not an expense'} account: name the expense account fees go to (such as Bank Fees)`,
      );
    if (found.IsActive === false) return missing(`accounts.fees is ${named(found)}, which is inactive in MYOB`);
    account = found;
  } else {
    const matches = (await api.list('GeneralLedger/Account', undefined, signal)).filter(
      (a) =>
        EXPENSES.has(text(a.Classification)) &&
        a.IsHeader !== true &&
        a.IsActive !== false &&
        BANK_FEES.test(text(a.Name)),
    );
    if (matches.length !== 1)
      return missing(
        matches.length === 0
          ? "the MYOB company file has no Bank Fees expense account for the payment provider's fee: create one, or set accounts.fees in the target's settings to the account fees go to (its display id, e.g. 6-1100)"
          : `the MYOB company file has ${matches.length} bank-fee accounts (${matches.map(named).join(', ')}): choose one in accounts.fees`,
      );
    account = matches[0]!;
  }
  const taxCodeUid = uidOf(account.TaxCode);
  if (!taxCodeUid)
    return missing(
      `The fees account ${named(account)} has no default tax code in MYOB: give it the tax code the provider's fee takes (FRE, ITS or N-T where the fee carries no GST, GST where it does), or choose another account in accounts.fees`,
    );
  return { uid: text(account.UID), displayId: text(account.DisplayID), taxCodeUid };
}

/** The mark at the end of a fee line's memo naming the customer (card) whose payment it is. */
export const feeMark = (customerTargetId: string) => `(ledgerlink customer ${customerTargetId})`;
const MARK = /\(ledgerlink customer ([^\s()]+)\)/g;

/** The customer a fee's lines name, or null for a fee keyed without the mark (or whose mark was edited away). */
export function markOf(spend: MyobObject): string | null {
  const lines = Array.isArray(spend.Lines) ? (spend.Lines as MyobObject[]) : [];
  for (const l of lines) {
    const marks = [...text(l.Memo).matchAll(MARK)];
    if (marks.length > 0) return marks[marks.length - 1]![1]!;
  }
  return null;
}

/**
 * The spend money under these references (their Memo, matched exactly), by reference: as many
 * references a list as fit one `$filter` (`Memo eq '…' or …`, orFilters), one for a single payment.
 */
async function spendsUnder(api: MyobApi, references: string[], signal?: AbortSignal) {
  const wanted = new Set(references);
  const out = new Map<string, MyobObject[]>();
  for (const filter of orFilters([...wanted].map((r) => `Memo eq ${literal(r)}`)))
    for (const r of await api.list(SPEND, filter, signal)) {
      // MYOB compares text without regard to case: the memo must be the reference exactly.
      const memo = text(r.Memo);
      if (wanted.has(memo)) out.set(memo, [...(out.get(memo) ?? []), r]);
    }
  return out;
}

/** A payment parked because which unmarked fee is its own cannot be told. */
function ambiguous(reference: string, customer: string, spends: MyobObject[], why: string): ItemError {
  const ids = spends.map((s) => `${text(s.PaymentNumber)} (${text(s.UID)})`).join(', ');
  return feeAmbiguous(
    `MYOB holds spend money with the memo ${reference} keyed without ledgerlink's mark of its payment's customer (${ids}), and whether it is this payment's fee cannot be told: ${why}. Nothing was booked, so that no fee is spent twice or lost. If one is this payment's fee, end its line's memo with "${feeMark(customer)}"; if one is another payment's, end it with "(ledgerlink customer <UID of that payment's customer card>)"; then retry.`,
  );
}

/** What the fee booking needs of the target. */
export interface FeeContext {
  api: MyobApi;
  company: Company;
  feesAccount: () => Promise<FeesAccount | ItemError>;
  signal?: AbortSignal | undefined;
}

/**
 * Books the fee of payment `d` before the payment is sent: the fee MYOB now holds (found or
 * written), or why it could not be booked. `fee` is the payment's fee (paymentFee); `batch` the
 * payments sent with it, so that an unmarked fee under a reference two of them share is never
 * taken as either's.
 */
export async function bookFee(
  c: FeeContext,
  d: TargetPayment,
  fee: bigint,
  batch: readonly TargetPayment[],
): Promise<BookedFee | ItemError> {
  const p = d.record;
  const account = await c.feesAccount();
  if ('code' in account) return account;
  const label = `${p.currency} ${formatAmount(fee, p.currency)}`;
  const e = matchBatchFee(d, batch, await spendsUnder(c.api, [p.externalReference], c.signal), markOf);
  const found = (s: MyobObject): BookedFee => ({ id: text(s.UID), label, found: true });
  if (e.kind === 'marked') return found(e.docs[0]!);
  if (e.kind === 'unmarked') {
    const s = e.doc;
    // An unmarked fee is this payment's as it would book it (amount and date), or not told.
    if (minor(s.AmountPaid, p.currency) === fee && text(s.Date).slice(0, 10) === p.date) return found(s);
    return ambiguous(
      p.externalReference,
      d.customerTargetId,
      [s],
      `it is ${text(s.AmountPaid)} on ${text(s.Date).slice(0, 10)}, and this payment's fee ${label} on ${p.date}`,
    );
  }
  if (e.kind === 'ambiguous')
    return ambiguous(
      p.externalReference,
      d.customerTargetId,
      e.docs,
      ambiguity(e, `there are ${e.docs.length} with that memo`),
    );
  const a = await c.api.call(
    {
      method: 'POST',
      path: SPEND,
      json: {
        PayFrom: 'Account',
        Account: { UID: c.company.bankAccountUid },
        Date: dateTime(p.date),
        // The fee is what left the bank, whatever tax it carries.
        IsTaxInclusive: true,
        Memo: p.externalReference,
        Lines: [
          {
            Account: { UID: account.uid },
            TaxCode: { UID: account.taxCodeUid },
            Amount: num(formatAmount(fee, p.currency)),
            Memo: `Payment provider fee on ${p.externalReference} ${feeMark(d.customerTargetId)}`,
          },
        ],
      },
    },
    c.signal,
  );
  if (!a.ok)
    return {
      code: 'TARGET_REFUSED',
      message:
        `${SYSTEM} refused the payment provider's fee of ${label} on payment ${p.externalReference} (the payment was not sent): ${describe(a)}`.slice(
          0,
          1000,
        ),
      retryable: false,
      field: 'fee',
    };
  const uid = a.uid ?? uidOf(a.body);
  if (!uid)
    throw new ConnectorError(SYSTEM, `POST ${SPEND} answered ${a.status} without the new record's Location`, {
      retryable: false,
    });
  return { id: uid, label, found: false };
}

/**
 * Sets the fee MYOB holds for each of these payments (`TargetDocument.fee`, for reconciliation):
 * its spend money as the fee booking identifies it (marked with the payment's customer, or the one
 * unmarked fee under a reference no other payment read here has), its AmountPaid; null when there
 * is none. A payment without a reference, or whose unmarked fee cannot be told from another
 * payment's, is left unknown. Many references a list of spend money (spendsUnder).
 */
export async function readFees(api: MyobApi, payments: TargetDocument[], signal?: AbortSignal): Promise<void> {
  const numbers = new Map<string, string>();
  await readPaymentFees(payments, {
    byReference: async (references) => {
      const found = await spendsUnder(api, references, signal);
      for (const s of [...found.values()].flat()) numbers.set(text(s.UID), text(s.PaymentNumber));
      return found;
    },
    markOf,
    reader: (p) => ({
      // A company file keeps one currency: the payment's.
      currencyOf: () => p.currency,
      amountOf: (s, currency) => minor(s.AmountPaid, currency),
      idOf: (s) => text(s.UID),
      label: (ids) => `spend money ${ids.map((id) => numbers.get(id) || id).join(' and ')}`,
      notAnAmount: (s) =>
        new ConnectorError(SYSTEM, `GET ${SPEND} answered an AmountPaid that is not an amount: ${text(s.AmountPaid)}`, {
          retryable: false,
        }),
    }),
  });
}

/** What to do in MYOB about a payment whose fee is not what the source says (reconciliation). */
export const myobFeeRemedy = remoteFeeRemedy(
  SYSTEM,
  (reference) =>
    `record it in MYOB as Spend Money out of the payment's bank account to the bank fees account, with the memo ${reference}, as ledgerlink books a fee`,
);
