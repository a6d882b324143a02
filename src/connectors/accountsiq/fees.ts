import { Dec, formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { ambiguity, feeAmbiguous, matchBatchFee, readPaymentFees, remoteFeeRemedy } from '../../sync/fee-match.ts';
import type { ItemError, ItemResult, TargetDocument, TargetPayment } from '../../sync/target.ts';
import { failed } from '../../sync/target.ts';
import { type AccountsIqApi, describe, wsResult } from './api.ts';
import { type TaxCode, dateTime, datedQuery, dayOf, minor, referenceQuery } from './map.ts';
import { SYSTEM } from './settings.ts';
import { type Xml, items, text } from './wsdl.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) in AccountsIQ: the receipt keeps its gross amount,
 * allocated to its invoice as before, and the fee is a sundry bank payment out of the receipt's bank
 * to the bank-charges GL account (`feesGlAccountCode`), through
 * SaveSundryReceiptPaymentsGetBackTransactionIDs: one WSSundryReceiptPayment whose Value is the fee
 * negated (the API wiki: "the sign decides ... between a bank receipt or payment"), under the
 * payment's reference, with a tax code of rate 0 (a fee carries no VAT here). That is how an
 * AccountsIQ user records a merchant fee against a payout: the gross receipt and the bank charge,
 * together the one net line of the bank statement.
 *
 * Exactly once, without a second kind in the engine: the operation takes no idempotency key and
 * has no duplicate check, so a payment's fee is looked up under the payment's reference
 * (GetTransactionsByExternalReference, its bank payments) and written only when AccountsIQ holds
 * none, before the receipt; the receipt is sent only once its fee is held. An attempt after a lost
 * answer finds the fee instead of paying it twice, and a receipt AccountsIQ holds always has its fee.
 *
 * A reference is unique per customer, not per entity, and a sundry payment names no customer. Its
 * description ends with a mark naming the customer, "(ledgerlink customer <CODE>)" (`markOf`, read
 * from the transaction's line descriptions). A fee keyed by hand under the reference without the
 * mark is taken as the payment's own only when nothing else can be meant (`matchFees`); otherwise
 * the payment is parked (PAYMENT_FEE_AMBIGUOUS) rather than its fee paid twice or lost.
 *
 * A fee a person reversed in AccountsIQ (`IsReversed`, it and its reversing transaction) is no fee
 * held. Reconciliation reads the fees back the same way (`readFees`).
 */

export const SUNDRY = 'SaveSundryReceiptPaymentsGetBackTransactionIDs';

/** How a sundry bank payment's type reads in a transaction summary (the Type enum, or its short code). */
const BANK_PAYMENT = new Set(['BankPayment', 'BP']);

/** Where fees go: the GL account, and the tax code (of rate 0) their sundry payments take. */
export interface FeeAccount {
  glAccountCode: string;
  taxCode: string;
}

/** A fee AccountsIQ now holds for a payment. */
export interface BookedFee {
  id: string;
  /** The fee as text ("EUR 2.50"), for the payment's run record. */
  label: string;
  found: boolean;
}

const missing = (field: 'feesGlAccountCode' | 'feesTaxCode', message: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field,
});

/**
 * Where fees go: `feesGlAccountCode` (ledgerlink reads no chart of accounts from AccountsIQ, so it
 * cannot choose one), and the tax code of rate 0: `feesTaxCode`, else the entity's one code of
 * rate 0 in GetTaxCodeList. Anything else names the setting.
 */
export function feeAccount(
  settings: { feesGlAccountCode?: string | undefined; feesTaxCode?: string | undefined },
  taxCodes: TaxCode[],
): FeeAccount | ItemError {
  const gl = settings.feesGlAccountCode;
  if (!gl)
    return missing(
      'feesGlAccountCode',
      "AccountsIQ books a payment provider's fee as a sundry bank payment to a GL account: set feesGlAccountCode in the target's settings to the bank-charges posting account (e.g. 6100)",
    );
  const zero = (t: TaxCode) => new Dec(t.rate).isZero();
  const named = settings.feesTaxCode?.toUpperCase();
  if (named !== undefined) {
    const t = taxCodes.find((c) => c.code === named);
    if (!t) return missing('feesTaxCode', `feesTaxCode is ${named}, which is not a tax code of this AccountsIQ entity`);
    if (!zero(t))
      return missing(
        'feesTaxCode',
        `feesTaxCode is ${named}, of rate ${t.rate}: a fee is booked without VAT, so name a code of rate 0 (exempt or zero-rated)`,
      );
    return { glAccountCode: gl.toUpperCase(), taxCode: t.code };
  }
  const zeros = taxCodes.filter(zero);
  if (zeros.length !== 1)
    return missing(
      'feesTaxCode',
      zeros.length === 0
        ? "the AccountsIQ entity has no tax code of rate 0 for a payment provider's fee (booked without VAT): create an exempt one, or set feesTaxCode"
        : `the AccountsIQ entity has ${zeros.length} tax codes of rate 0 (${zeros.map((t) => t.code).join(', ')}): choose the one fees take in feesTaxCode`,
    );
  return { glAccountCode: gl.toUpperCase(), taxCode: zeros[0]!.code };
}

/** The mark at the end of a fee's description naming the customer whose payment it is. */
export const feeMark = (customerTargetId: string) => `(ledgerlink customer ${customerTargetId})`;
const MARK = /\(ledgerlink customer ([^\s()]+)\)/g;

/** A bank payment under a reference, as the fee booking reads it (one WSTransactionSummary). */
interface HeldFee {
  id: string;
  number: string;
  date: string;
  currency: string;
  /** Its line descriptions: where the mark is. */
  descriptions: string[];
  /** The fee: half the sum of its lines' amounts, whatever their signs (the bank's side and the rest). */
  amount: Dec;
}

function heldFee(s: Record<string, Xml>): HeldFee {
  // WSTransactionDetail is the item of LineDetails (ArrayOfWSTransactionDetail) in the WSDL.
  const lines = items(s.LineDetails, 'WSTransactionDetail');
  const amount = lines.reduce((sum, l) => sum.add(new Dec(text(l.Amount) || '0').abs()), new Dec(0)).div(2);
  return {
    id: text(s.TransactionID),
    number: text(s.InternalNumber),
    date: dayOf(text(s.TransactionDate)),
    currency: text(s.CurrencyCode),
    descriptions: lines.map((l) => text(l.Description)),
    amount,
  };
}

/** The customer a fee's lines name, or null for a fee keyed without the mark (or whose mark was edited away). */
export function markOf(fee: { descriptions: string[] }): string | null {
  for (const d of fee.descriptions) {
    const marks = [...d.matchAll(MARK)];
    if (marks.length > 0) return marks[marks.length - 1]![1]!;
  }
  return null;
}

/** Whether a transaction summary is a bank payment AccountsIQ holds (not reversed). */
const isFee = (s: Record<string, Xml>) => BANK_PAYMENT.has(text(s.TransactionType)) && text(s.IsReversed) !== 'true';

/** The bank payments under exactly this reference. */
async function feesUnder(api: AccountsIqApi, reference: string, signal?: AbortSignal): Promise<HeldFee[]> {
  const result = await api.readOk('GetTransactionsByExternalReference', { query: referenceQuery(reference) }, signal);
  return items(result, 'WSTransactionSummary')
    .filter((s) => text(s.ExternalReference) === reference && isFee(s))
    .map(heldFee);
}

/**
 * The bank payments dated between `from` and `to` under these references, by reference:
 * GetTransactionsBy over the dates, page after page (`Skip`) until one holds none. A fee is booked
 * on its payment's date, so the payments' dates bound where theirs are; one reference a call
 * (GetTransactionsByExternalReference) would be a call a payment.
 */
async function feesDated(
  api: AccountsIqApi,
  references: ReadonlySet<string>,
  from: string,
  to: string,
  signal?: AbortSignal,
): Promise<Map<string, HeldFee[]>> {
  const out = new Map<string, HeldFee[]>();
  for (let skip = 0; ;) {
    const query = datedQuery(from, to, skip);
    const page = items(await api.readOk('GetTransactionsBy', { query }, signal), 'WSTransactionSummary');
    if (page.length === 0) return out;
    skip += page.length;
    for (const s of page) {
      const reference = text(s.ExternalReference);
      if (!references.has(reference) || !isFee(s)) continue;
      out.set(reference, [...(out.get(reference) ?? []), heldFee(s)]);
    }
  }
}

/**
 * Sets the fee AccountsIQ holds for each of these payments (`TargetDocument.fee`, for
 * reconciliation): its bank payments as the fee booking identifies them (marked with the payment's
 * customer, or the one unmarked under a reference no other payment read here has), each the sum
 * of its lines halved as the booking reads it; null when there is none. A payment without a
 * reference, or whose unmarked fee cannot be told from another payment's, is left unknown (not
 * compared, and the report says so). A fee keyed by hand on a day outside these payments' dates
 * (earliest to latest) is not seen.
 */
export async function readFees(api: AccountsIqApi, payments: TargetDocument[], signal?: AbortSignal): Promise<void> {
  const dated = payments.filter((p) => p.externalReference !== '');
  if (dated.length === 0) return;
  const days = dated.map((p) => p.date).sort();
  const numbers = new Map<string, string>();
  await readPaymentFees(dated, {
    byReference: async (references) => {
      const found = await feesDated(api, new Set(references), days[0]!, days.at(-1)!, signal);
      for (const f of [...found.values()].flat()) numbers.set(f.id, f.number);
      return found;
    },
    markOf,
    reader: (p) => ({
      currencyOf: (f) => f.currency || p.currency,
      amountOf: (f, currency) => {
        const v = parseAmount(f.amount.toFixed(), currency);
        return v.ok ? v.value : null;
      },
      idOf: (f) => f.id,
      label: (ids) => `bank payment ${ids.map((id) => numbers.get(id) || id).join(' and ')}`,
      notAnAmount: (f) =>
        new ConnectorError(SYSTEM, `GetTransactionsBy answered bank payment ${f.id} with lines that are no amount`, {
          status: 200,
          retryable: false,
        }),
    }),
  });
}

/** What to do in AccountsIQ about a payment whose fee is not what the source says (reconciliation). */
export const accountsIqFeeRemedy = remoteFeeRemedy(
  SYSTEM,
  (reference) =>
    `record it in AccountsIQ as a bank payment out of the payment's bank to the bank-charges account, with the reference ${reference}, as ledgerlink books a fee`,
);

/** A payment parked because which unmarked fee is its own cannot be told. */
function ambiguous(reference: string, customer: string, fees: HeldFee[], why: string): ItemError {
  const ids = fees.map((f) => `${f.number || '?'} (transaction ${f.id})`).join(', ');
  return feeAmbiguous(
    `AccountsIQ holds bank payments under the reference ${reference} keyed without ledgerlink's mark of its payment's customer (${ids}), and whether one is this payment's fee cannot be told: ${why}. Nothing was booked, so that no fee is paid twice or lost. If one is this payment's fee, end its description with "${feeMark(customer)}"; if one is another payment's, end it with "(ledgerlink customer <code of that payment's customer>)"; then retry.`,
  );
}

/** What the fee booking needs of the target. */
export interface FeeContext {
  api: AccountsIqApi;
  feeAccount: () => Promise<FeeAccount | ItemError>;
  signal?: AbortSignal | undefined;
}

/**
 * Books the fee of payment `d` out of `bank` before its receipt is sent: the fee AccountsIQ now
 * holds (found or written), or why it could not be booked. `batch` is the payments sent with it,
 * so that an unmarked fee under a reference two of them share is never taken as either's.
 */
export async function bookFee(
  c: FeeContext,
  d: TargetPayment,
  fee: bigint,
  bank: string,
  batch: readonly TargetPayment[],
): Promise<BookedFee | ItemError> {
  const p = d.record;
  const account = await c.feeAccount();
  if ('code' in account) return account;
  const label = `${p.currency} ${formatAmount(fee, p.currency)}`;
  const held = await feesUnder(c.api, p.externalReference, c.signal);
  const e = matchBatchFee(d, batch, new Map(held.length > 0 ? [[p.externalReference, held]] : []), markOf);
  const found = (f: HeldFee): BookedFee => ({ id: f.id, label, found: true });
  if (e.kind === 'marked') return found(e.docs[0]!);
  if (e.kind === 'unmarked') {
    const f = e.doc;
    // An unmarked fee is this payment's as it would book it (amount and date), or not told.
    if (minor(f.amount.toFixed(), p.currency) === fee && f.date === p.date) return found(f);
    return ambiguous(
      p.externalReference,
      d.customerTargetId,
      [f],
      `it is ${f.amount.toFixed(2)} on ${f.date}, and this payment's fee ${label} on ${p.date}`,
    );
  }
  if (e.kind === 'ambiguous') return ambiguous(p.externalReference, d.customerTargetId, e.docs, ambiguity(e));
  const a = await c.api.write(
    SUNDRY,
    {
      entries: [
        {
          ExternalReference: p.externalReference,
          TransactionDate: dateTime(p.date),
          Description: `Payment provider fee on ${p.externalReference} ${feeMark(d.customerTargetId)}`,
          // Negative: money out of the bank, a bank payment.
          Value: `-${formatAmount(fee, p.currency)}`,
          GLAccountCode: account.glAccountCode,
          BankAccountCode: bank,
          TaxID: account.taxCode,
          TaxRate: '0',
          ExchangeRate: '1',
          TaxAmount: '0',
        },
      ],
    },
    c.signal,
  );
  const [r] = items(a.result, 'WSResultStatus').map(wsResult);
  const one = r ?? a;
  if (one.status !== 'Success') {
    const why = `${SYSTEM} refused the payment provider's fee of ${label} on payment ${p.externalReference} (the payment was not sent): ${describe(one)}`;
    // An account AccountsIQ does not hold as a posting account is the setting's fault.
    if (/^GLACCOUNT_/.test(one.errorCode))
      return missing('feesGlAccountCode', `feesGlAccountCode is ${account.glAccountCode}: ${why}`.slice(0, 1000));
    return { code: 'TARGET_REFUSED', message: why.slice(0, 1000), retryable: false, field: 'fee' };
  }
  const id = text(items(a.outs.transactionIDs, 'int')[0]);
  if (!/^[1-9]\d*$/.test(id))
    throw new ConnectorError(SYSTEM, `${SUNDRY} answered success without the new transaction's ID`, {
      status: 200,
      retryable: false,
    });
  return { id, label, found: false };
}

/** A payment's result with what became of its fee said: booked or found, and kept when the payment was refused. */
export function withFeeNote(result: ItemResult, fee: BookedFee | undefined): ItemResult {
  if (!fee) return result;
  if (!result.ok)
    return failed({
      ...result.error,
      message: `${result.error.message} (its fee ${fee.label} is booked as bank payment ${fee.id} and is not booked again when the payment is sent again)`,
    });
  const said = `fee ${fee.label} ${fee.found ? 'already booked' : 'booked'} as bank payment ${fee.id}`;
  return { ...result, message: result.message ? `${said}; ${result.message}` : said };
}
